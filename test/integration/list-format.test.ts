import assert from "node:assert/strict";
import request from "supertest";
import {
  URN,
  useTestTenantPerTest,
  type ScimClient,
  type ScimResource,
} from "../support/scim-client.ts";
import { insertAction, insertAppState } from "../support/lifecycle-rows.ts";
import type { TestContext, TestTenant } from "../support/test-app.ts";

/** A resource as JSON text, without the port that changes with every supertest request. */
function comparableText(resource: Record<string, unknown>): string {
  return JSON.stringify(resource).replace(/http:\/\/[^/"]+\//g, "BASE/");
}

// Listings without attributes/excludedAttributes splice each stored resource's text into the page
// instead of parsing and re-serialising it. These tests hold every listing path to the one-user
// read, member for member and in the same order.
describe("SCIM Users: listings read as the one-user read", () => {
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

  /** Users that exercise every part of the formatted user. */
  async function createVariedUsers(): Promise<ScimResource[]> {
    const plain = await scim.createUser({ userName: "plain@example.com" });
    const rich = await scim.createUser({
      schemas: [URN.user, URN.enterprise],
      userName: "rich@example.com",
      externalId: "ext-1",
      displayName: 'Zoë "Z" O\'Brien\\ \u2028 \n ✓',
      name: { givenName: "Zoë", familyName: "O'Brien" },
      emails: [
        { value: "rich@example.com", type: "work", primary: true },
        { value: "home@example.com", type: "home" },
      ],
      active: false,
      [URN.enterprise]: {
        department: "Sales",
        employeeNumber: "0042",
        manager: { value: plain.id },
      },
    });
    const grouped = await scim.createUser({
      userName: "grouped@example.com",
      title: "Engineer",
    });
    // Group names whose order differs between byte order and most collations.
    for (const name of ["beta", "Alpha", "alpha two", "Beta"]) {
      await scim.createGroup(name, [grouped.id, rich.id]);
    }
    return [plain, rich, grouped];
  }

  async function listed(
    query: Record<string, string | number>,
  ): Promise<Record<string, unknown>[]> {
    const res = await request(ctx.app)
      .get("/scim/v2/Users")
      .query(query)
      .set(tenant.auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.Resources as Record<string, unknown>[];
  }

  async function assertSameAsOneUserReads(
    resources: Record<string, unknown>[],
    expectedCount: number,
  ): Promise<void> {
    assert.equal(resources.length, expectedCount);
    for (const resource of resources) {
      const one = await scim.get("Users", String(resource.id));
      assert.equal(comparableText(resource), comparableText(one));
    }
  }

  it("gives the same users in every listing path as GET /Users/{id}", async () => {
    await createVariedUsers();
    await assertSameAsOneUserReads(await listed({}), 3);
    await assertSameAsOneUserReads(await listed({ startIndex: 2 }), 2);
    await assertSameAsOneUserReads(await listed({ cursor: "", count: 2 }), 2);
    await assertSameAsOneUserReads(
      await listed({ sortBy: "userName", sortOrder: "descending" }),
      3,
    );
    await assertSameAsOneUserReads(
      await listed({ filter: 'userName ne "plain@example.com"' }),
      2,
    );
    const search = await request(ctx.app)
      .post("/scim/v2/Users/.search")
      .set(tenant.auth)
      .send({ schemas: [URN.searchRequest], startIndex: 1, count: 10 });
    assert.equal(search.status, 200);
    await assertSameAsOneUserReads(search.body.Resources, 3);
  });

  it("lists groups by display name, as the one-user read orders them", async () => {
    const [, rich] = await createVariedUsers();
    const [listedRich] = await listed({ filter: `id eq "${rich!.id}"` });
    const names = (listedRich!.groups as { display: string }[]).map(
      (g) => g.display,
    );
    assert.equal(names.length, 4);
    assert.deepEqual(
      names,
      ((await scim.get("Users", rich!.id)).groups as { display: string }[]).map(
        (g) => g.display,
      ),
    );
  });

  it("shows the apps extension in listings of a tenant with a lifecycle policy", async () => {
    await ctx.services.policies.apply(
      tenant.id,
      { apps: [], rules: [] },
      { source: "api" },
    );
    const [plain, rich] = await createVariedUsers();
    await insertAppState(ctx.knex, {
      tenantId: tenant.id,
      userId: rich!.id,
      app: "backup",
      state: "archived",
      since: "2026-02-01T10:00:00.123456Z",
    });
    await insertAction(ctx.knex, {
      tenantId: tenant.id,
      userId: plain!.id,
      app: "dropbox",
      kind: "remove",
      state: "pending",
      runAt: "2026-03-01T10:00:00Z",
    });
    const resources = await listed({});
    await assertSameAsOneUserReads(resources, 3);
    const withApps = resources.filter((r) => r[URN.apps] !== undefined);
    assert.deepEqual(
      withApps.map((r) => r.id).sort(),
      [plain!.id, rich!.id].sort(),
    );
    for (const r of withApps) {
      assert.deepEqual(r.schemas, [
        URN.user,
        ...(r.id === rich!.id ? [URN.enterprise] : []),
        URN.apps,
      ]);
    }
  });

  it("keeps meta timestamps to the millisecond, as the one-user read gives them", async () => {
    const [plain] = await createVariedUsers();
    await ctx.knex("users").where({ id: plain!.id }).update({
      created_at: "2026-01-02T03:04:05.678999Z",
      updated_at: "2026-01-02T03:04:06.000001Z",
    });
    const [first] = await listed({ filter: `id eq "${plain!.id}"` });
    assert.deepEqual(
      {
        created: (first!.meta as { created: string }).created,
        lastModified: (first!.meta as { lastModified: string }).lastModified,
      },
      {
        created: "2026-01-02T03:04:05.678Z",
        lastModified: "2026-01-02T03:04:06.000Z",
      },
    );
  });
});
