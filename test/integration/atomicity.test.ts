import assert from "node:assert/strict";
import request from "supertest";
import {
  useTestTenantPerTest,
  URN,
  type ScimClient,
} from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

// STYLE.md rule 3: the state change, its lifecycle events and its audit entry commit together or
// not at all. A failed write must leave every table of the tenant as it was.
describe("atomicity of writes", () => {
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

  async function userRow(id: string) {
    return ctx.knex("users").where({ tenant_id: tenant.id, id }).first();
  }

  function assertScimError(res: request.Response, status: number) {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.match(
      String(res.headers["content-type"]),
      /application\/scim\+json/,
    );
    assert.deepEqual(res.body.schemas, [URN.error]);
    assert.equal(res.body.status, String(status));
    assert.equal(typeof res.body.detail, "string");
  }

  describe("rejected writes", () => {
    it("leaves no row, event or audit entry after a duplicate userName", async () => {
      await scim.createUser({ userName: "dup@example.com" });
      const before = await scim.rowCounts();
      const res = await request(ctx.app)
        .post("/scim/v2/Users")
        .set(tenant.auth)
        .send({ schemas: [URN.user], userName: "DUP@example.com", title: "x" });
      assertScimError(res, 409);
      assert.deepEqual(await scim.rowCounts(), before);
    });

    it("applies none of a user PATCH whose last operation fails", async () => {
      const user = await scim.createUser({
        userName: "half",
        displayName: "Before",
      });
      const before = await scim.rowCounts();
      const row = await userRow(user.id);
      const res = await scim.patch("Users", user.id, [
        { op: "replace", path: "displayName", value: "After" },
        { op: "replace", path: "active", value: false },
        { op: "replace", path: "nosuchattribute", value: "x" },
      ]);
      assertScimError(res, 400);
      assert.equal(res.body.scimType, "invalidPath");
      assert.deepEqual(await scim.rowCounts(), before);
      assert.deepEqual(await userRow(user.id), row);
      const now = await scim.get("Users", user.id);
      assert.deepEqual(
        [
          now.displayName,
          now.active,
          (now.meta as { version: string }).version,
        ],
        ["Before", true, 'W/"1"'],
      );
    });

    it("adds no member when a later operation of the group PATCH fails", async () => {
      const user = await scim.createUser({ userName: "member" });
      const group = await scim.createGroup("Team");
      const before = await scim.rowCounts();
      const res = await scim.patch("Groups", group.id, [
        { op: "add", path: "members", value: [{ value: user.id }] },
        { op: "replace", path: "displayName", value: "Renamed" },
        { op: "remove", path: 'members[value eq "x"' },
      ]);
      assertScimError(res, 400);
      assert.deepEqual(await scim.rowCounts(), before);
      assert.deepEqual(await scim.memberIds(group.id), []);
      assert.equal((await scim.get("Groups", group.id)).displayName, "Team");
    });

    it("changes nothing on a PUT or DELETE whose If-Match names another version", async () => {
      const user = await scim.createUser({ userName: "etag", title: "One" });
      await scim.patch("Users", user.id, [
        { op: "replace", path: "title", value: "Two" },
      ]);
      const before = await scim.rowCounts();
      const row = await userRow(user.id);
      const put = await request(ctx.app)
        .put(`/scim/v2/Users/${user.id}`)
        .set(tenant.auth)
        .set("If-Match", 'W/"1"')
        .send({ schemas: [URN.user], userName: "etag", title: "Three" });
      assertScimError(put, 412);
      const del = await request(ctx.app)
        .delete(`/scim/v2/Users/${user.id}`)
        .set(tenant.auth)
        .set("If-Match", 'W/"1"');
      assertScimError(del, 412);
      assert.deepEqual(await scim.rowCounts(), before);
      assert.deepEqual(await userRow(user.id), row);
    });
  });

  describe("a database failure after the row was written", () => {
    // A trigger makes the audit insert (the last write of every transaction) fail for one tenant.
    let trigger: string | undefined;

    async function failAuditInsertsOf(tenantId: string): Promise<void> {
      trigger = `fail_audit_${tenantId.replace(/-/g, "")}`;
      await ctx.knex.raw(`
        CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.tenant_id = '${tenantId}'::uuid THEN
            RAISE EXCEPTION 'simulated audit failure with a secret detail';
          END IF;
          RETURN NEW;
        END $$`);
      await ctx.knex.raw(
        `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_entries
         FOR EACH ROW EXECUTE FUNCTION ${trigger}()`,
      );
    }

    async function dropTrigger(): Promise<void> {
      if (!trigger) return;
      await ctx.knex.raw(`DROP TRIGGER IF EXISTS ${trigger} ON audit_entries`);
      await ctx.knex.raw(`DROP FUNCTION IF EXISTS ${trigger}()`);
      trigger = undefined;
    }

    afterEach(dropTrigger);

    it("rolls back every kind of write and answers a 500 SCIM error that leaks nothing", async () => {
      const user = await scim.createUser({ userName: "kept" });
      const group = await scim.createGroup("Kept team");
      const before = await scim.rowCounts();
      await failAuditInsertsOf(tenant.id);

      const post = await request(ctx.app)
        .post("/scim/v2/Users")
        .set(tenant.auth)
        .send({ schemas: [URN.user], userName: "never" });
      assertScimError(post, 500);
      assert.doesNotMatch(
        JSON.stringify(post.body),
        /secret|simulated|audit_entries/,
      );
      const attempts = [
        scim.patch("Users", user.id, [
          { op: "replace", path: "active", value: false },
        ]),
        scim.patch("Groups", group.id, [
          { op: "add", path: "members", value: [{ value: user.id }] },
        ]),
        request(ctx.app)
          .post("/scim/v2/Groups")
          .set(tenant.auth)
          .send({
            schemas: [URN.group],
            displayName: "Never",
            members: [{ value: user.id }],
          }),
        request(ctx.app).delete(`/scim/v2/Users/${user.id}`).set(tenant.auth),
      ];
      for (const res of await Promise.all(attempts)) assertScimError(res, 500);

      assert.deepEqual(await scim.rowCounts(), before);
      const never = await ctx
        .knex("users")
        .where({ tenant_id: tenant.id, user_name: "never" });
      assert.deepEqual(never, []);
      const kept = await scim.get("Users", user.id);
      assert.deepEqual(
        [kept.active, (kept.meta as { version: string }).version],
        [true, 'W/"1"'],
      );
      assert.deepEqual(await scim.memberIds(group.id), []);

      // Other tenants write as usual meanwhile.
      const other = await createTestTenant(ctx);
      const ok = await request(ctx.app)
        .post("/scim/v2/Users")
        .set(other.auth)
        .send({ schemas: [URN.user], userName: "never" });
      assert.equal(ok.status, 201);

      await dropTrigger();
      const retry = await request(ctx.app)
        .post("/scim/v2/Users")
        .set(tenant.auth)
        .send({ schemas: [URN.user], userName: "never" });
      assert.equal(retry.status, 201);
      assert.deepEqual(await scim.eventTypes(retry.body.id), ["user.created"]);
    });

    it("keeps a bulk operation's failure to that operation", async () => {
      await failAuditInsertsOf(tenant.id);
      const res = await request(ctx.app)
        .post("/scim/v2/Bulk")
        .set(tenant.auth)
        .send({
          schemas: [URN.bulkRequest],
          Operations: [
            {
              method: "POST",
              path: "/Users",
              bulkId: "a",
              data: { schemas: [URN.user], userName: "a" },
            },
          ],
        });
      assert.equal(res.status, 200);
      assert.equal(res.body.Operations[0].status, "500");
      assert.equal((await scim.rowCounts()).users, 0);
    });
  });

  describe("a database outage", () => {
    /** Builds an app on its own database, warms one token's cache, then closes the pool. */
    async function closedDatabase() {
      const down = await createTestContext();
      const t = await createTestTenant(down);
      const fresh = await down.services.tokens.createToken({
        tenant: t.name,
        scopes: ["admin"],
      });
      const warm = await request(down.app).get("/scim/v2/Users").set(t.auth);
      assert.equal(warm.status, 200);
      await down.database.close();
      return {
        app: down.app,
        // The token was just authenticated: its cached principal lets a request reach the query.
        requests: {
          list: () => request(down.app).get("/scim/v2/Users").set(t.auth),
          get: () =>
            request(down.app)
              .get("/scim/v2/Users/00000000-0000-4000-8000-000000000000")
              .set(t.auth),
          post: () =>
            request(down.app)
              .post("/scim/v2/Users")
              .set(t.auth)
              .send({ schemas: [URN.user], userName: "x" }),
          // A token not yet cached fails while authenticating.
          auth: () =>
            request(down.app)
              .get("/scim/v2/Users")
              .set("Authorization", `Bearer ${fresh.secret}`),
        },
      };
    }

    it("answers every request with a SCIM error body and keeps serving", async () => {
      const { app, requests } = await closedDatabase();
      for (const [name, send] of Object.entries(requests)) {
        const res = await send();
        assert.ok(res.status >= 500, `${name}: ${res.status}`);
        assert.deepEqual(res.body.schemas, [URN.error], name);
        assert.equal(res.body.status, String(res.status), name);
        assert.doesNotMatch(res.body.detail, /acquire|knex|pool/i, name);
      }
      assert.equal((await request(app).get("/healthz")).status, 200);
      assert.equal((await request(app).get("/readyz")).status, 503);
    });
    it("answers 503 to reads, writes and authentication", async () => {
      const { requests } = await closedDatabase();
      for (const [name, send] of Object.entries(requests)) {
        const res = await send();
        assert.equal(res.status, 503, `${name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.status, "503", name);
      }
    });
  });
});
