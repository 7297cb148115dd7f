import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import request from "supertest";
import {
  useTestTenantPerTest,
  URN,
  type ScimClient,
  type ScimResource,
} from "../support/scim-client.ts";
import { type TestContext, type TestTenant } from "../support/test-app.ts";

const MANAGER = `${URN.enterprise}:manager`;

// Microsoft Entra ID provisioning requests ("Tutorial: develop a SCIM endpoint" and "Known issues
// with SCIM 2.0 protocol compliance" on learn.microsoft.com), replayed step by step. Without the
// aadOptscim062020 flag Entra capitalises ops and sends booleans as strings.
describe("Microsoft Entra ID provisioning replay", () => {
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

  function listUsers(filter: string) {
    return request(ctx.app)
      .get("/scim/v2/Users")
      .query({ filter })
      .set(tenant.auth);
  }

  // Entra's create: both schemas, the object id as externalId, nulls for unmapped values.
  async function createViaEntra(
    userName: string,
    extra: Record<string, unknown> = {},
  ): Promise<ScimResource> {
    for (const filter of [
      `userName eq "${userName}"`,
      `externalId eq "${userName}-oid"`,
    ]) {
      const match = await listUsers(filter);
      assert.equal(match.body.totalResults, 0, filter);
    }
    return scim.createUser({
      schemas: [URN.user, URN.enterprise],
      externalId: `${userName}-oid`,
      userName,
      active: true,
      emails: [{ primary: true, type: "work", value: userName }],
      meta: { resourceType: "User" },
      name: {
        formatted: "Ada Lovelace",
        familyName: "Lovelace",
        givenName: "Ada",
      },
      roles: [],
      ...extra,
    });
  }

  it("answers the test-connection query for a random GUID with an empty scim+json page", async () => {
    const res = await listUsers(`userName eq "${randomUUID()}"`);
    assert.equal(res.status, 200);
    assert.match(
      String(res.headers["content-type"]),
      /^application\/scim\+json/,
    );
    assert.deepEqual(res.body.schemas, [URN.listResponse]);
    assert.equal(res.body.totalResults, 0);
    assert.equal(res.body.itemsPerPage, 0);
    assert.deepEqual(res.body.Resources ?? [], []);
  });

  it("matches an existing user by userName, externalId and work email", async () => {
    const user = await createViaEntra("Ada@Contoso.com");
    for (const filter of [
      'userName eq "ada@contoso.com"',
      'externalId eq "Ada@Contoso.com-oid"',
      'emails[type eq "work" and value eq "ADA@contoso.com"]',
      'userName eq "ada@contoso.com" and active eq true',
    ]) {
      const res = await listUsers(filter);
      assert.equal(res.status, 200, filter);
      assert.equal(res.body.totalResults, 1, filter);
      assert.equal(res.body.Resources[0].id, user.id, filter);
    }
    // externalId is caseExact (RFC 7643 §3.1): another case is another object.
    assert.equal(
      (await listUsers('externalId eq "ADA@CONTOSO.COM-OID"')).body
        .totalResults,
      0,
    );
  });

  it("treats null values in a create as not set", async () => {
    const user = await createViaEntra("nulls@contoso.com", {
      displayName: null,
      title: null,
      phoneNumbers: null,
      addresses: null,
      [URN.enterprise]: {
        department: null,
        employeeNumber: "7",
        manager: null,
      },
    });
    for (const name of ["displayName", "title", "phoneNumbers", "addresses"])
      assert.equal(name in user, false, name);
    assert.deepEqual(user[URN.enterprise], { employeeNumber: "7" });
    assert.equal((await scim.eventTypes(user.id)).length, 1);
  });

  it("deactivates and reactivates with capitalised Replace and string booleans", async () => {
    const user = await createViaEntra("leaver@contoso.com");
    const off = await scim.patch("Users", user.id, [
      { op: "Replace", path: "active", value: "False" },
    ]);
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.active, false);
    const on = await scim.patch("Users", user.id, [
      { op: "Replace", path: "active", value: "True" },
    ]);
    assert.equal(on.status, 200);
    assert.equal(on.body.active, true);
    assert.deepEqual(await scim.eventTypes(user.id), [
      "user.created",
      "user.deactivated",
      "user.reactivated",
    ]);
  });

  it("creates the work email and work address that Add and Replace name by filter", async () => {
    const user = await createViaEntra("filters@contoso.com", {
      emails: [{ type: "home", value: "home@example.com" }],
    });
    const res = await scim.patch("Users", user.id, [
      { op: "Replace", path: "title", value: "Analyst" },
      {
        op: "Add",
        path: 'emails[type eq "work"].value',
        value: "work@contoso.com",
      },
      {
        op: "Replace",
        path: 'addresses[type eq "work"].streetAddress',
        value: "1 Microsoft Way",
      },
      {
        op: "Add",
        path: 'addresses[type eq "work"].locality',
        value: "Redmond",
      },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.title, "Analyst");
    const emails = res.body.emails as { type: string; value: string }[];
    assert.deepEqual(emails.map((e) => [e.type, e.value]).sort(), [
      ["home", "home@example.com"],
      ["work", "work@contoso.com"],
    ]);
    assert.deepEqual(res.body.addresses, [
      { type: "work", streetAddress: "1 Microsoft Way", locality: "Redmond" },
    ]);
    // A second Add on the same path updates the work email instead of adding one.
    const again = await scim.patch("Users", user.id, [
      {
        op: "Add",
        path: 'emails[type eq "work"].value',
        value: "new@contoso.com",
      },
    ]);
    const work = (
      again.body.emails as { type: string; value: string }[]
    ).filter((e) => e.type === "work");
    assert.deepEqual(
      work.map((e) => e.value),
      ["new@contoso.com"],
    );
    assert.deepEqual(await scim.eventTypes(user.id), [
      "user.created",
      "user.updated",
      "user.updated",
    ]);
  });

  it("stores the manager sent as an object and as a bare id", async () => {
    const boss = await createViaEntra("boss@contoso.com");
    const deputy = await createViaEntra("deputy@contoso.com");
    const user = await createViaEntra("report@contoso.com");
    const asObject = await scim.patch("Users", user.id, [
      { op: "Add", path: MANAGER, value: { value: boss.id } },
    ]);
    assert.equal(asObject.status, 200, JSON.stringify(asObject.body));
    assert.equal(
      (asObject.body[URN.enterprise] as { manager: { value: string } }).manager
        .value,
      boss.id,
    );
    const asId = await scim.patch("Users", user.id, [
      { op: "Replace", path: MANAGER, value: deputy.id },
    ]);
    assert.equal(asId.status, 200, JSON.stringify(asId.body));
    const stored = await scim.get("Users", user.id);
    assert.deepEqual(stored.schemas, [URN.user, URN.enterprise]);
    assert.equal(
      (stored[URN.enterprise] as { manager: { value: string } }).manager.value,
      deputy.id,
    );
    const reports = await listUsers(`${MANAGER}.value eq "${deputy.id}"`);
    assert.deepEqual(
      reports.body.Resources.map((r: ScimResource) => r.id),
      [user.id],
    );
  });

  it("looks groups up without members and changes membership the way Entra sends it", async () => {
    const [a, b, c] = [
      await createViaEntra("a@contoso.com"),
      await createViaEntra("b@contoso.com"),
      await createViaEntra("c@contoso.com"),
    ];
    const group = await scim.createGroup("Contoso Sales", [a.id, b.id, c.id]);
    const lookup = await request(ctx.app)
      .get("/scim/v2/Groups")
      .query({
        filter: 'displayName eq "Contoso Sales"',
        excludedAttributes: "members",
      })
      .set(tenant.auth);
    assert.equal(lookup.status, 200);
    assert.equal(lookup.body.totalResults, 1);
    assert.equal(lookup.body.Resources[0].id, group.id);
    assert.equal(lookup.body.Resources[0].displayName, "Contoso Sales");
    assert.equal("members" in lookup.body.Resources[0], false);
    const byId = await request(ctx.app)
      .get(`/scim/v2/Groups/${group.id}`)
      .query({ excludedAttributes: "members" })
      .set(tenant.auth);
    assert.equal("members" in byId.body, false);

    // Entra checks one membership with an id-and-member filter.
    const isMember = (userId: string) =>
      request(ctx.app)
        .get("/scim/v2/Groups")
        .query({
          filter: `id eq "${group.id}" and members[value eq "${userId}"]`,
          excludedAttributes: "members",
        })
        .set(tenant.auth);
    assert.equal((await isMember(a.id)).body.totalResults, 1);

    const removed = await scim.patch("Groups", group.id, [
      {
        op: "Remove",
        path: "members",
        value: [{ value: a.id }, { value: b.id }],
      },
    ]);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.deepEqual(await scim.memberIds(group.id), [c.id]);
    assert.equal((await isMember(a.id)).body.totalResults, 0);

    const added = await scim.patch("Groups", group.id, [
      { op: "Add", path: "members", value: [{ value: a.id }] },
    ]);
    assert.equal(added.status, 204);
    // With the flag: lower-case ops and a filter path.
    const flagged = await scim.patch("Groups", group.id, [
      { op: "remove", path: `members[value eq "${c.id}"]` },
      { op: "replace", path: "displayName", value: "Contoso Sales EU" },
    ]);
    assert.equal(flagged.status, 204);
    assert.deepEqual(await scim.memberIds(group.id), [a.id]);
    assert.equal(
      (await scim.get("Groups", group.id)).displayName,
      "Contoso Sales EU",
    );
  });

  it("applies a pathless replace of many attributes with dotted and URN keys (flag on)", async () => {
    const user = await createViaEntra("flag@contoso.com", {
      [URN.enterprise]: { department: "Sales", costCenter: "CC1" },
    });
    const res = await scim.patch("Users", user.id, [
      {
        op: "replace",
        value: {
          displayName: "Ada King",
          "name.givenName": "Augusta",
          "name.familyName": "King",
          [`${URN.enterprise}:department`]: "Research",
          active: false,
        },
      },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.displayName, "Ada King");
    assert.deepEqual(res.body.name, {
      formatted: "Ada Lovelace",
      givenName: "Augusta",
      familyName: "King",
    });
    assert.deepEqual(res.body[URN.enterprise], {
      department: "Research",
      costCenter: "CC1",
    });
    assert.equal(res.body.active, false);
    assert.equal(res.body.userName, "flag@contoso.com");
    assert.deepEqual(await scim.eventTypes(user.id), [
      "user.created",
      "user.updated",
      "user.deactivated",
    ]);
  });

  it("soft-deletes with active False, then hard-deletes 30 days later and drops memberships", async () => {
    const user = await createViaEntra("gone@contoso.com");
    const group = await scim.createGroup("Contoso Alumni", [user.id]);
    const soft = await scim.patch("Users", user.id, [
      { op: "Replace", path: "active", value: "False" },
    ]);
    assert.equal(soft.status, 200);
    // A soft-deleted user keeps its memberships until the hard delete.
    assert.deepEqual(await scim.memberIds(group.id), [user.id]);

    ctx.clock.advance("30d");
    const del = await request(ctx.app)
      .delete(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(del.status, 204);
    const after = await request(ctx.app)
      .get(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(after.status, 404);
    assert.deepEqual(await scim.memberIds(group.id), []);
    const memberRows = await ctx
      .knex("group_members")
      .where({ tenant_id: tenant.id, member_id: user.id });
    assert.deepEqual(memberRows, []);

    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id })
      .whereIn("resource_id", [user.id, group.id])
      .orderBy("id");
    assert.deepEqual(
      events.map((e) => [e.type, e.resource_id]),
      [
        ["user.created", user.id],
        ["group.created", group.id],
        ["group.member_added", group.id],
        ["user.deactivated", user.id],
        ["group.member_removed", group.id],
        ["user.deleted", user.id],
      ],
    );
    const deleted = events.at(-1)!;
    assert.equal(
      new Date(deleted.occurred_at).getTime() -
        new Date(events[3].occurred_at).getTime(),
      30 * 86_400_000,
    );
    assert.equal(deleted.data.before.userName, "gone@contoso.com");
    assert.equal(deleted.data.after, null);
    // Entra retries a DELETE it got no answer for: the second one is a 404, not a 500.
    const retry = await request(ctx.app)
      .delete(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(retry.status, 404);
    assert.deepEqual(retry.body.schemas, [URN.error]);
  });
});
