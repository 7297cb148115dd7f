import assert from "node:assert/strict";
import request from "supertest";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("SCIM Groups", () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  before(async () => {
    ctx = await createTestContext();
  });
  after(async () => {
    await ctx.close();
  });
  beforeEach(async () => {
    tenant = await createTestTenant(ctx);
  });

  async function createUser(userName: string): Promise<string> {
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .send({ schemas: [USER], userName });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  }

  async function createGroup(
    displayName: string,
    members: string[] = [],
  ): Promise<string> {
    const res = await request(ctx.app)
      .post("/scim/v2/Groups")
      .set(tenant.auth)
      .send({
        schemas: [GROUP],
        displayName,
        members: members.map((value) => ({ value })),
      });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  }

  async function patchGroup(id: string, Operations: unknown[]) {
    return request(ctx.app)
      .patch(`/scim/v2/Groups/${id}`)
      .set(tenant.auth)
      .send({ schemas: [PATCH], Operations });
  }

  async function memberIds(groupId: string): Promise<string[]> {
    const res = await request(ctx.app)
      .get(`/scim/v2/Groups/${groupId}`)
      .set(tenant.auth);
    assert.equal(res.status, 200);
    return (res.body.members as { value: string }[]).map((m) => m.value).sort();
  }

  async function eventTypes(resourceId: string): Promise<string[]> {
    const rows = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: resourceId })
      .orderBy("id");
    return rows.map((r) => r.type as string);
  }

  it("creates a group with members and shows them with display names", async () => {
    const ada = await createUser("ada");
    const group = await createGroup("Engineering", [ada]);
    const res = await request(ctx.app)
      .get(`/scim/v2/Groups/${group}`)
      .set(tenant.auth);
    assert.deepEqual(res.body.members, [
      {
        value: ada,
        display: "ada",
        type: "User",
        $ref: `${res.body.meta.location.replace(/Groups\/.*/, "")}Users/${ada}`,
      },
    ]);
    assert.deepEqual(await eventTypes(group), [
      "group.created",
      "group.member_added",
    ]);
  });

  it("adds a member once even when Okta sends the add twice, answering 204", async () => {
    const ada = await createUser("ada");
    const group = await createGroup("Sales");
    for (let i = 0; i < 2; i++) {
      const res = await patchGroup(group, [
        { op: "add", path: "members", value: [{ value: ada }] },
      ]);
      assert.equal(res.status, 204);
    }
    assert.deepEqual(await memberIds(group), [ada]);
    assert.deepEqual(await eventTypes(group), [
      "group.created",
      "group.member_added",
    ]);
  });

  it("removes members by Okta's filter path and by Entra's value array", async () => {
    const [a, b, c] = [
      await createUser("a"),
      await createUser("b"),
      await createUser("c"),
    ];
    const group = await createGroup("Ops", [a, b, c]);
    assert.equal(
      (
        await patchGroup(group, [
          { op: "remove", path: `members[value eq "${a}"]` },
        ])
      ).status,
      204,
    );
    assert.equal(
      (
        await patchGroup(group, [
          { op: "Remove", path: "members", value: [{ value: b }] },
        ])
      ).status,
      204,
    );
    assert.deepEqual(await memberIds(group), [c]);
  });

  it("replaces all members and records only real arrivals and departures", async () => {
    const [a, b, c] = [
      await createUser("a"),
      await createUser("b"),
      await createUser("c"),
    ];
    const group = await createGroup("Support", [a, b]);
    const res = await patchGroup(group, [
      { op: "replace", path: "members", value: [{ value: b }, { value: c }] },
    ]);
    assert.equal(res.status, 204);
    assert.deepEqual(await memberIds(group), [b, c].sort());
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: group })
      .orderBy("id");
    assert.deepEqual(
      events.slice(3).map((e) => [e.type, e.data.memberId]),
      [
        ["group.member_removed", a],
        ["group.member_added", c],
      ],
    );
  });

  it("skips members for excludedAttributes=members and finds groups by displayName", async () => {
    const a = await createUser("a");
    const group = await createGroup("Finance Team", [a]);
    const res = await request(ctx.app)
      .get("/scim/v2/Groups")
      .query({
        filter: 'displayName eq "finance team"',
        excludedAttributes: "members",
      })
      .set(tenant.auth);
    assert.equal(res.body.totalResults, 1);
    assert.equal(res.body.Resources[0].id, group);
    assert.equal("members" in res.body.Resources[0], false);
  });

  it("removes a deleted user from its groups and records member_removed", async () => {
    const a = await createUser("a");
    const group = await createGroup("Legal", [a]);
    assert.equal(
      (await request(ctx.app).delete(`/scim/v2/Users/${a}`).set(tenant.auth))
        .status,
      204,
    );
    assert.deepEqual(await memberIds(group), []);
    assert.deepEqual((await eventTypes(group)).slice(-1), [
      "group.member_removed",
    ]);
  });

  it("ignores member references to users of another tenant and notes them in the audit entry", async () => {
    const other = await createTestTenant(ctx);
    const foreign = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(other.auth)
      .send({ schemas: [USER], userName: "x" });
    const group = await createGroup("Mixed");
    const res = await patchGroup(group, [
      { op: "add", path: "members", value: [{ value: foreign.body.id }] },
    ]);
    assert.equal(res.status, 204);
    assert.deepEqual(await memberIds(group), []);
    const audit = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: group })
      .orderBy("id");
    assert.deepEqual(audit.at(-1).detail.ignoredMembers, [foreign.body.id]);
  });

  it("shows a user's groups on the user", async () => {
    const a = await createUser("a");
    const group = await createGroup("Readers", [a]);
    const res = await request(ctx.app)
      .get(`/scim/v2/Users/${a}`)
      .set(tenant.auth);
    assert.deepEqual(
      res.body.groups.map((g: { value: string; display: string }) => [
        g.value,
        g.display,
      ]),
      [[group, "Readers"]],
    );
  });

  it("adds a member to a large group without reading or rewriting its member list", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2_000; i++) ids.push(crypto.randomUUID());
    const at = ctx.clock.now();
    await ctx.knex.batchInsert(
      "users",
      ids.map((id, i) => ({
        tenant_id: tenant.id,
        id,
        user_name: `bulk${i}`,
        active: true,
        resource: JSON.stringify({ userName: `bulk${i}`, active: true }),
        created_at: at,
        updated_at: at,
      })),
      500,
    );
    const group = await createGroup("Everyone", ids.slice(0, 1_999));
    const newcomer = ids[1_999]!;
    const statements: string[] = [];
    const listen = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", listen);
    try {
      const res = await patchGroup(group, [
        { op: "add", path: "members", value: [{ value: newcomer }] },
      ]);
      assert.equal(res.status, 204);
    } finally {
      ctx.knex.off("query", listen);
    }
    const touchingMembers = statements.filter((sql) =>
      /group_members/.test(sql),
    );
    assert.ok(touchingMembers.length > 0);
    // Inserts, and reads bounded by the ids the request names: never the member list.
    for (const sql of touchingMembers) {
      assert.match(
        sql,
        /^insert into "group_members"|"member_id" in \(\$\d+\)/i,
        `unexpected member query: ${sql}`,
      );
    }
    assert.equal((await memberIds(group)).length, 2_000);
  });

  it("applies concurrent membership PATCHes of one group in one transaction, as if one after another", async () => {
    const group = await createGroup("Busy");
    const users = await Promise.all(
      Array.from({ length: 12 }, (_, i) => createUser(`busy${i}@example.com`)),
    );
    const [stayer, leaver] = users.slice(0, 2) as [string, string];
    await patchGroup(group, [
      { op: "add", path: "members", value: [{ value: leaver }] },
    ]);
    const start = await request(ctx.app)
      .get(`/scim/v2/Groups/${group}`)
      .set(tenant.auth);
    const startVersion = Number(/\d+/.exec(start.headers.etag as string)![0]);
    const token = await ctx
      .knex("tokens")
      .where({ tenant_id: tenant.id })
      .first();
    const bodies = [
      ...users
        .slice(2)
        .map((id) => [{ op: "Add", path: "members", value: [{ value: id }] }]),
      [{ op: "add", path: "members", value: [{ value: stayer }] }],
      [{ op: "remove", path: `members[value eq "${leaver}"]` }],
      // Removing a non-member changes nothing; adding the group to itself is refused.
      [{ op: "remove", path: `members[value eq "${crypto.randomUUID()}"]` }],
      [{ op: "add", path: "members", value: [{ value: group }] }],
    ].map((Operations) => ({ schemas: [PATCH], Operations }));

    const statements: string[] = [];
    const listen = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", listen);
    // Called in one turn, as concurrent requests arrive: the first runs, the rest queue behind it.
    const results = await Promise.allSettled(
      bodies.map((body, i) =>
        ctx.services.groups.patchGroup(
          {
            principal: {
              tenantId: tenant.id,
              tenantName: tenant.name,
              tokenId: token.id as string,
              scopes: ["scim:write"],
            },
            requestId: `busy-${i}`,
            method: "PATCH",
            path: `/Groups/${group}`,
            body,
          },
          group,
          body,
        ),
      ),
    );
    ctx.knex.off("query", listen);

    const locks = statements.filter((sql) => /for update/i.test(sql));
    assert.equal(locks.length, 2, "one lock for the first, one for the rest");
    const rejected = results.at(-1)!;
    assert.equal(rejected.status, "rejected");
    assert.match(String(rejected.reason), /member of itself/);
    const versions = results.slice(0, 13).map((r) => {
      assert.equal(r.status, "fulfilled");
      return r.value.version;
    });
    assert.deepEqual(
      await memberIds(group),
      users.filter((id) => id !== leaver).sort(),
    );
    // Each change got the next version, in arrival order; the no-op kept the version it saw.
    const expected = Array.from({ length: 12 }, (_, i) => startVersion + 1 + i);
    assert.deepEqual(versions, [...expected, startVersion + 12]);
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: group })
      .where("resource_version", ">", startVersion)
      .orderBy("id");
    assert.deepEqual(
      events.map((e) => [e.type, e.resource_version, e.data.memberId]),
      [
        ...users
          .slice(2)
          .map((id, i) => ["group.member_added", startVersion + 1 + i, id]),
        ["group.member_added", startVersion + 11, stayer],
        ["group.member_removed", startVersion + 12, leaver],
      ],
    );
    const audits = await ctx
      .knex("audit_entries")
      .where({
        tenant_id: tenant.id,
        resource_id: group,
        key: "scim.group.patched",
      })
      .orderBy("id")
      .select("request_id");
    // One entry per request that succeeded, in order (the refused self-add writes nothing).
    assert.deepEqual(
      audits.slice(1).map((a) => a.request_id),
      Array.from({ length: 13 }, (_, i) => `busy-${i}`),
    );
    const after = await request(ctx.app)
      .get(`/scim/v2/Groups/${group}`)
      .set(tenant.auth);
    assert.equal(after.headers.etag, `W/"${startVersion + 12}"`);
  });

  it("cancels, in one batch of membership PATCHes, the action an earlier PATCH of the batch planned", async () => {
    await ctx.services.policies.apply(
      tenant.id,
      {
        apps: [{ id: "wiki", connector: "log" }],
        rules: [
          {
            id: "joined",
            on: "group.member_added",
            when: 'displayName eq "Editors"',
            do: [{ app: "wiki", action: "provision", after: "1h" }],
          },
          {
            id: "left",
            on: "group.member_removed",
            when: 'displayName eq "Editors"',
            cancel: [{ app: "wiki" }],
            do: [{ app: "wiki", action: "remove" }],
          },
        ],
      },
      { source: "api" },
    );
    const group = await createGroup("Editors");
    const [user, other] = await Promise.all([
      createUser("editor@example.com"),
      createUser("other@example.com"),
    ]);
    const token = await ctx
      .knex("tokens")
      .where({ tenant_id: tenant.id })
      .first();
    const patch = (requestId: string, Operations: unknown[]) => {
      const body = { schemas: [PATCH], Operations };
      return ctx.services.groups.patchGroup(
        {
          principal: {
            tenantId: tenant.id,
            tenantName: tenant.name,
            tokenId: token.id as string,
            scopes: ["scim:write"],
          },
          requestId,
          method: "PATCH",
          path: `/Groups/${group}`,
          body,
        },
        group,
        body,
      );
    };
    // The IdP adds the user and takes them out again; the first PATCH runs alone, the rest batch.
    await Promise.all([
      patch("add-other", [
        { op: "add", path: "members", value: [{ value: other }] },
      ]),
      patch("add", [{ op: "add", path: "members", value: [{ value: user }] }]),
      patch("remove", [{ op: "remove", path: `members[value eq "${user}"]` }]),
    ]);
    const actions = await ctx
      .knex("actions")
      .where({ tenant_id: tenant.id, user_id: user })
      .orderBy("id")
      .select("kind", "state");
    assert.deepEqual(
      actions.map((a) => [a.kind, a.state]),
      [
        ["provision", "cancelled"],
        ["remove", "pending"],
      ],
      "the deferred provision planned by the add is cancelled by the remove",
    );
  });
});
