import request from "supertest";
import { createScimClient, URN } from "../support/scim-client.ts";
import { createTestContext, createTestTenant } from "../support/test-app.ts";

describe("probe", () => {
  it("probes", async () => {
    const ctx = await createTestContext();
    const tenant = await createTestTenant(ctx);
    const scim = createScimClient(ctx, tenant);
    const u = await scim.createUser({ userName: "p@x.com", emails: [{ type: "work", value: "p@x.com", primary: true }], [URN.enterprise]: { manager: { value: "m1" } }, schemas: [URN.user, URN.enterprise] });
    const show = (label: string, r: request.Response) => console.log(label, r.status, JSON.stringify(r.body).slice(0, 600));
    show("dotted filter", await request(ctx.app).get("/scim/v2/Users").query({ filter: 'emails[type eq "work"].value eq "p@x.com"' }).set(tenant.auth));
    show("emails.value filter", await request(ctx.app).get("/scim/v2/Users").query({ filter: 'emails.value eq "P@x.com"' }).set(tenant.auth));
    show("pathless emails key", await scim.patch("Users", u.id, [{ op: "replace", value: { 'emails[type eq "work"].value': "q@x.com" } }]));
    show("roles primary True", await scim.patch("Users", u.id, [{ op: "Add", path: "roles", value: [{ primary: "True", value: "Admin", type: "WindowsAzureActiveDirectoryRole" }] }]));
    show("remove manager", await scim.patch("Users", u.id, [{ op: "Remove", path: `${URN.enterprise}:manager`, value: [{ value: "m1" }] }]));
    show("manager null", await scim.patch("Users", u.id, [{ op: "Replace", path: `${URN.enterprise}:manager`, value: null }]));
    show("Replace name.givenName", await scim.patch("Users", u.id, [{ op: "Replace", path: "name.givenName", value: "G" }]));
    show("Add externalId", await scim.patch("Users", u.id, [{ op: "Add", path: "externalId", value: "ext" }]));
    show("replace userName dup-case", await scim.patch("Users", u.id, [{ op: "replace", path: "userName", value: "P@X.com" }]));
    show("DisplayName mixed case path", await scim.patch("Users", u.id, [{ op: "Replace", path: "DisplayName", value: "D" }]));
    show("active 'false' lowercase", await scim.patch("Users", u.id, [{ op: "Replace", path: "active", value: "false" }]));
    show("no-op patch", await scim.patch("Users", u.id, [{ op: "Replace", path: "active", value: false }]));
    show("get", await request(ctx.app).get(`/scim/v2/Users/${u.id}`).set(tenant.auth));
    show("events", { status: 0, body: await scim.eventTypes(u.id) } as never);
    show("put /Users", await request(ctx.app).put("/scim/v2/Users").set(tenant.auth).send({}));
    show("unknown", await request(ctx.app).get("/scim/v2/Nope").set(tenant.auth));
    show("unknown outside", await request(ctx.app).get("/nope").set(tenant.auth));
    show("spc", await request(ctx.app).get("/scim/v2/ServiceProviderConfig").set(tenant.auth));
    show("rt", await request(ctx.app).get("/scim/v2/ResourceTypes").set(tenant.auth));
    const s = await request(ctx.app).get("/scim/v2/Schemas").set(tenant.auth);
    console.log("schemas", s.status, s.headers["content-type"], JSON.stringify(s.body).slice(0, 300), (s.body.Resources ?? []).map((r: {id: string}) => r.id));
    show("schema user", await request(ctx.app).get(`/scim/v2/Schemas/${URN.user}`).set(tenant.auth));
    show("attrs", await request(ctx.app).get("/scim/v2/Users").query({ attributes: "userName" }).set(tenant.auth));
    await ctx.close();
  });
});
