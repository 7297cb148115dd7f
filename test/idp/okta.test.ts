import assert from "node:assert/strict";
import request from "supertest";
import {
  useTestTenantPerTest,
  URN,
  type ScimClient,
  type ScimResource,
} from "../support/scim-client.ts";
import { type TestContext, type TestTenant } from "../support/test-app.ts";

// Okta's documented SCIM 2.0 request sequences (developer.okta.com, "SCIM 2.0 protocol
// reference"), replayed step by step. Okta never sends DELETE for users.
describe("Okta provisioning replay", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let scim: ScimClient;

  useTestTenantPerTest(
    (c) => (ctx = c),
    (t, s) => {
      tenant = t;
      scim = s;
    },
  );

  // Okta's create body: note the readOnly `groups: []` and the password it always sends.
  const oktaUser = (userName: string, externalId: string) => ({
    schemas: [URN.user],
    userName,
    name: { givenName: "Test", familyName: "User" },
    emails: [{ primary: true, value: userName, type: "work" }],
    displayName: "Test User",
    locale: "en-US",
    externalId,
    groups: [],
    password: "1mz050nq",
    active: true,
  });

  function lookUp(userName: string) {
    return request(ctx.app)
      .get("/scim/v2/Users")
      .query({
        filter: `userName eq "${userName}"`,
        startIndex: 1,
        count: 100,
      })
      .set(tenant.auth);
  }

  async function createViaOkta(userName: string): Promise<ScimResource> {
    const empty = await lookUp(userName);
    assert.equal(empty.body.totalResults, 0);
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .set("Content-Type", "application/scim+json")
      .send(JSON.stringify(oktaUser(userName, `00u${userName.length}x`)));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as ScimResource;
  }

  function deactivation(active: boolean) {
    return { op: "replace", value: { active } };
  }

  it("answers the pre-create lookup with an empty ListResponse of integers", async () => {
    const res = await lookUp("test.user@okta.local");
    assert.equal(res.status, 200);
    assert.match(
      String(res.headers["content-type"]),
      /application\/scim\+json/,
    );
    assert.deepEqual(res.body, {
      schemas: [URN.listResponse],
      totalResults: 0,
      itemsPerPage: 0,
      startIndex: 1,
      Resources: [],
    });
  });

  it("creates the user, refuses the duplicate with 409 uniqueness and finds it in any case", async () => {
    const user = await createViaOkta("test.user@okta.local");
    assert.equal(user.userName, "test.user@okta.local");
    assert.equal(user.externalId, "00u20x");
    assert.equal(user.active, true);
    assert.deepEqual(user.name, { givenName: "Test", familyName: "User" });
    assert.equal("password" in user, false);
    assert.equal("groups" in user, false);

    const dup = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .send(oktaUser("Test.User@OKTA.local", "00u-other"));
    assert.equal(dup.status, 409);
    assert.deepEqual(dup.body.schemas, [URN.error]);
    assert.equal(dup.body.status, "409");
    assert.equal(dup.body.scimType, "uniqueness");

    const found = await lookUp("TEST.USER@okta.local");
    assert.equal(found.status, 200);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.itemsPerPage, 1);
    assert.equal(found.body.startIndex, 1);
    assert.equal(found.body.Resources[0].id, user.id);
    assert.deepEqual(await scim.eventTypes(), ["user.created"]);
  });

  it("updates a profile by reading the user and putting the whole resource back", async () => {
    const user = await createViaOkta("profile@okta.local");
    const read = await scim.get("Users", user.id);
    const put = await request(ctx.app)
      .put(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .send({
        ...read,
        name: { givenName: "Test", familyName: "Renamed" },
        displayName: "Test Renamed",
        title: "Engineer",
        password: "an0ther-pw",
      });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.id, user.id);
    assert.equal(put.body.displayName, "Test Renamed");
    assert.equal(put.body.title, "Engineer");
    assert.deepEqual(put.body.name, {
      givenName: "Test",
      familyName: "Renamed",
    });
    assert.equal(put.body.meta.version, 'W/"2"');
    assert.equal(put.headers.etag, 'W/"2"');
    assert.equal(
      put.body.meta.created,
      (read.meta as { created: string }).created,
    );
    assert.equal("password" in put.body, false);
    const again = await scim.get("Users", user.id);
    assert.equal(again.title, "Engineer");
    assert.deepEqual(await scim.eventTypes(user.id), [
      "user.created",
      "user.updated",
    ]);
  });

  it("deactivates and reactivates with a pathless replace, answering 200 with the user", async () => {
    const user = await createViaOkta("leaver@okta.local");
    const off = await scim.patch("Users", user.id, [deactivation(false)]);
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.id, user.id);
    assert.equal(off.body.active, false);
    assert.equal(off.body.userName, "leaver@okta.local");
    // Okta may resend the same deactivation: it changes nothing and records no event.
    const again = await scim.patch("Users", user.id, [deactivation(false)]);
    assert.equal(again.status, 200);
    assert.equal(again.body.active, false);
    const lookup = await lookUp("leaver@okta.local");
    assert.equal(lookup.body.Resources[0].active, false);
    const on = await scim.patch("Users", user.id, [deactivation(true)]);
    assert.equal(on.status, 200);
    assert.equal(on.body.active, true);
    assert.equal(on.body.meta.version, 'W/"3"');
    assert.deepEqual(await scim.eventTypes(user.id), [
      "user.created",
      "user.deactivated",
      "user.reactivated",
    ]);
  });

  it("records the whole lifecycle in order with one audit entry per write", async () => {
    const user = await createViaOkta("lifecycle@okta.local");
    const read = await scim.get("Users", user.id);
    const put = await request(ctx.app)
      .put(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .send({ ...read, title: "Manager" });
    assert.equal(put.status, 200);
    assert.equal(
      (await scim.patch("Users", user.id, [deactivation(false)])).status,
      200,
    );
    assert.equal(
      (await scim.patch("Users", user.id, [deactivation(true)])).status,
      200,
    );
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: user.id })
      .orderBy("id");
    assert.deepEqual(
      events.map((e) => [e.type, e.resource_version]),
      [
        ["user.created", 1],
        ["user.updated", 2],
        ["user.deactivated", 3],
        ["user.reactivated", 4],
      ],
    );
    assert.equal(events[2].data.before.active, true);
    assert.equal(events[2].data.after.active, false);
    const audit = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: user.id })
      .orderBy("id");
    assert.deepEqual(
      audit.map((a) => a.key),
      [
        "scim.user.created",
        "scim.user.updated",
        "scim.user.deactivated",
        "scim.user.reactivated",
      ],
    );
    assert.deepEqual(
      events.map((e) => e.audit_entry_id),
      audit.map((a) => a.id),
    );
  });

  it("pages an import of 250 users by 100 in a stable order without gaps or repeats", async () => {
    const created: string[] = [];
    for (let i = 0; i < 250; i++) {
      const user = await scim.createUser({
        userName: `import-${String(249 - i).padStart(3, "0")}@okta.local`,
      });
      created.push(user.id);
    }
    const pages: string[][] = [];
    for (const startIndex of [1, 101, 201]) {
      const res = await request(ctx.app)
        .get("/scim/v2/Users")
        .query({ startIndex, count: 100 })
        .set(tenant.auth);
      assert.equal(res.status, 200);
      assert.equal(res.body.totalResults, 250);
      assert.equal(res.body.startIndex, startIndex);
      assert.ok(Number.isInteger(res.body.itemsPerPage));
      assert.equal(res.body.itemsPerPage, res.body.Resources.length);
      pages.push(res.body.Resources.map((r: ScimResource) => r.id));
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [100, 100, 50],
    );
    const seen = pages.flat();
    assert.equal(new Set(seen).size, 250);
    assert.deepEqual(seen, created);
    // The same page asked again is the same page.
    const repeat = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({ startIndex: 101, count: 100 })
      .set(tenant.auth);
    assert.deepEqual(
      repeat.body.Resources.map((r: ScimResource) => r.id),
      pages[1],
    );
    const past = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({ startIndex: 301, count: 100 })
      .set(tenant.auth);
    assert.equal(past.body.totalResults, 250);
    assert.equal(past.body.itemsPerPage, 0);
    assert.deepEqual(past.body.Resources, []);
  });

  it("pushes a group: create, add, remove by filter, replace, rename, put and delete", async () => {
    const [a, b, c] = [
      await scim.createUser({ userName: "a@okta.local", displayName: "A" }),
      await scim.createUser({ userName: "b@okta.local", displayName: "B" }),
      await scim.createUser({ userName: "c@okta.local", displayName: "C" }),
    ];
    const lookup = await request(ctx.app)
      .get("/scim/v2/Groups")
      .query({
        filter: 'displayName eq "Okta Push"',
        startIndex: 1,
        count: 100,
      })
      .set(tenant.auth);
    assert.equal(lookup.body.totalResults, 0);
    const created = await request(ctx.app)
      .post("/scim/v2/Groups")
      .set(tenant.auth)
      .send({ schemas: [URN.group], displayName: "Okta Push", members: [] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const gid = created.body.id as string;
    assert.equal(created.body.displayName, "Okta Push");
    assert.match(
      String(created.headers.location),
      new RegExp(`/Groups/${gid}$`),
    );

    const add = await scim.patch("Groups", gid, [
      {
        op: "add",
        path: "members",
        value: [
          { value: a.id, display: "a@okta.local" },
          { value: b.id, display: "b@okta.local" },
        ],
      },
    ]);
    assert.equal(add.status, 204);
    assert.deepEqual(await scim.memberIds(gid), [a.id, b.id].sort());

    const remove = await scim.patch("Groups", gid, [
      { op: "remove", path: `members[value eq "${a.id}"]` },
    ]);
    assert.equal(remove.status, 204);
    assert.deepEqual(await scim.memberIds(gid), [b.id]);

    const replace = await scim.patch("Groups", gid, [
      {
        op: "replace",
        path: "members",
        value: [
          { value: b.id, display: "b@okta.local" },
          { value: c.id, display: "c@okta.local" },
        ],
      },
    ]);
    assert.equal(replace.status, 204);
    assert.deepEqual(await scim.memberIds(gid), [b.id, c.id].sort());

    // Okta renames with a pathless replace carrying the group's own id.
    const rename = await scim.patch("Groups", gid, [
      { op: "replace", value: { id: gid, displayName: "Okta Push Renamed" } },
    ]);
    assert.equal(rename.status, 204, JSON.stringify(rename.body));
    const renamed = await scim.get("Groups", gid);
    assert.equal(renamed.displayName, "Okta Push Renamed");
    assert.equal(renamed.id, gid);

    const put = await request(ctx.app)
      .put(`/scim/v2/Groups/${gid}`)
      .set(tenant.auth)
      .send({
        schemas: [URN.group],
        id: gid,
        displayName: "Okta Push Final",
        members: [{ value: a.id, display: "a@okta.local" }],
      });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.displayName, "Okta Push Final");
    assert.deepEqual(
      put.body.members.map((m: { value: string }) => m.value),
      [a.id],
    );

    const del = await request(ctx.app)
      .delete(`/scim/v2/Groups/${gid}`)
      .set(tenant.auth);
    assert.equal(del.status, 204);
    const gone = await request(ctx.app)
      .get(`/scim/v2/Groups/${gid}`)
      .set(tenant.auth);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.status, "404");
    // The users stay: deleting a group is not deprovisioning its members.
    assert.equal((await scim.get("Users", a.id)).active, true);

    assert.deepEqual(await scim.eventTypes(gid), [
      "group.created",
      "group.member_added",
      "group.member_added",
      "group.member_removed",
      "group.member_added",
      "group.updated",
      "group.updated",
      "group.member_removed",
      "group.member_removed",
      "group.member_added",
      "group.member_removed",
      "group.deleted",
    ]);
  });
});
