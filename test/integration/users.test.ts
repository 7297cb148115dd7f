import assert from "node:assert/strict";
import request from "supertest";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

describe("SCIM Users", () => {
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

  async function createUser(body: Record<string, unknown>) {
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .send({ schemas: [USER], ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as Record<string, unknown> & { id: string };
  }

  it("creates a user and answers 201 with Location, ETag and meta.version", async () => {
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .set("Content-Type", "application/scim+json")
      .send(
        JSON.stringify({
          schemas: [USER],
          userName: "ada@example.com",
          name: { givenName: "Ada" },
        }),
      );
    assert.equal(res.status, 201);
    assert.match(
      String(res.headers["content-type"]),
      /application\/scim\+json/,
    );
    assert.equal(res.headers.location, `${res.body.meta.location}`);
    assert.match(
      String(res.headers.location),
      new RegExp(`/scim/v2/Users/${res.body.id}$`),
    );
    assert.equal(res.headers.etag, 'W/"1"');
    assert.equal(res.body.meta.version, 'W/"1"');
    assert.equal(res.body.meta.resourceType, "User");
    assert.equal(res.body.active, true);
    assert.deepEqual(res.body.schemas, [USER]);
  });

  it("rejects a second user whose userName differs only in case with 409 uniqueness", async () => {
    await createUser({ userName: "Grace@Example.com" });
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .send({ schemas: [USER], userName: "grace@example.COM" });
    assert.equal(res.status, 409);
    assert.equal(res.body.scimType, "uniqueness");
    assert.ok(res.body.detail.length > 0);
  });

  it("treats null values in a create as not set", async () => {
    const user = await createUser({
      userName: "nulls",
      displayName: null,
      title: null,
      emails: null,
    });
    assert.equal("displayName" in user, false);
    assert.equal("emails" in user, false);
  });

  it("finds a user by userName case-insensitively and answers an empty page for unknown names", async () => {
    const user = await createUser({ userName: "Linus@Example.com" });
    const found = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({
        filter: 'userName eq "linus@example.com"',
        startIndex: 1,
        count: 100,
      })
      .set(tenant.auth);
    assert.equal(found.status, 200);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.Resources[0].id, user.id);
    const missing = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({ filter: 'userName eq "2f6c1d7e-0000-4000-8000-000000000000"' })
      .set(tenant.auth);
    assert.deepEqual(
      {
        total: missing.body.totalResults,
        items: missing.body.itemsPerPage,
        resources: missing.body.Resources,
      },
      { total: 0, items: 0, resources: [] },
    );
  });

  it("deactivates with Entra's string boolean and records user.deactivated with its audit entry", async () => {
    const user = await createUser({ userName: "entra-user", active: true });
    const res = await request(ctx.app)
      .patch(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .send({
        schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        Operations: [{ op: "Replace", path: "active", value: "False" }],
      });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.active, false);
    assert.equal(res.body.meta.version, 'W/"2"');
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: user.id })
      .orderBy("id");
    assert.deepEqual(
      events.map((e) => e.type),
      ["user.created", "user.deactivated"],
    );
    assert.equal(events[1].data.before.active, true);
    assert.equal(events[1].data.after.active, false);
    const audit = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: user.id })
      .orderBy("id");
    assert.deepEqual(
      audit.map((a) => a.key),
      ["scim.user.created", "scim.user.deactivated"],
    );
    assert.equal(events[1].audit_entry_id, audit[1].id);
  });

  it("masks passwords in the audit trail and never returns them", async () => {
    const user = await createUser({
      userName: "pw",
      password: "hunter2-secret",
    });
    assert.equal("password" in user, false);
    const [entry] = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: user.id });
    assert.equal(entry.detail.body.password, "[masked]");
    assert.ok(!JSON.stringify(entry).includes("hunter2"));
  });

  it("answers 412 when If-Match names an old version and applies nothing", async () => {
    const user = await createUser({ userName: "etag", displayName: "Before" });
    const patch = {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "displayName", value: "After" }],
    };
    const ok = await request(ctx.app)
      .patch(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .set("If-Match", 'W/"1"')
      .send(patch);
    assert.equal(ok.status, 200);
    const stale = await request(ctx.app)
      .patch(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .set("If-Match", 'W/"1"')
      .send({
        ...patch,
        Operations: [{ op: "replace", path: "displayName", value: "Lost" }],
      });
    assert.equal(stale.status, 412);
    const now = await request(ctx.app)
      .get(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(now.body.displayName, "After");
  });

  it("records no change when Okta PUTs back the user it just read", async () => {
    const user = await createUser({
      userName: "roundtrip@example.com",
      name: {
        givenName: "Ada",
        familyName: "Lovelace",
        formatted: "Ada Lovelace",
      },
      emails: [{ value: "roundtrip@example.com", type: "work", primary: true }],
    });
    const read = await request(ctx.app)
      .get(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    const put = await request(ctx.app)
      .put(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      // Okta sends the attributes in an order of its own.
      .send({
        ...read.body,
        name: {
          familyName: "Lovelace",
          formatted: "Ada Lovelace",
          givenName: "Ada",
        },
        emails: [
          { primary: true, type: "work", value: "roundtrip@example.com" },
        ],
      });
    assert.equal(put.status, 200);
    assert.equal(put.headers.etag, read.headers.etag, "the version stays");
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, resource_id: user.id });
    assert.deepEqual(
      events.map((e) => e.type),
      ["user.created"],
    );
  });

  it("keeps both of two concurrent PATCHes to different attributes", async () => {
    const user = await createUser({ userName: "race" });
    const patch = (path: string, value: string) =>
      request(ctx.app)
        .patch(`/scim/v2/Users/${user.id}`)
        .set(tenant.auth)
        .send({
          schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          Operations: [{ op: "add", path, value }],
        });
    const results = await Promise.all([
      patch("title", "Engineer"),
      patch("nickName", "Racer"),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200],
    );
    const now = await request(ctx.app)
      .get(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(now.body.title, "Engineer");
    assert.equal(now.body.nickName, "Racer");
    assert.equal(now.body.meta.version, 'W/"3"');
  });

  it("stores the enterprise extension and filters on it", async () => {
    const user = await createUser({
      userName: "ext",
      schemas: [USER, ENTERPRISE],
      [ENTERPRISE]: {
        department: "Sales",
        employeeNumber: "42",
        manager: { value: "boss-id" },
      },
    });
    assert.deepEqual(user.schemas, [USER, ENTERPRISE]);
    const res = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({
        filter: `${ENTERPRISE}:department eq "sales" and ${ENTERPRISE}:employeeNumber pr`,
      })
      .set(tenant.auth);
    assert.equal(res.body.totalResults, 1);
    assert.equal(res.body.Resources[0].id, user.id);
  });

  it("deletes a user with 204 and then answers 404 with a SCIM error", async () => {
    const user = await createUser({ userName: "gone" });
    const del = await request(ctx.app)
      .delete(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(del.status, 204);
    const res = await request(ctx.app)
      .get(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body.schemas, [
      "urn:ietf:params:scim:api:messages:2.0:Error",
    ]);
    assert.equal(res.body.status, "404");
  });

  it("answers 400 invalidFilter for unknown attributes and malformed filters", async () => {
    for (const filter of [
      'nope eq "x"',
      "userName eq",
      'userName zz "x"',
      '(userName eq "x"',
    ]) {
      const res = await request(ctx.app)
        .get("/scim/v2/Users")
        .query({ filter })
        .set(tenant.auth);
      assert.equal(res.status, 400, filter);
      assert.equal(res.body.scimType, "invalidFilter", filter);
    }
  });

  it("answers 400 invalidSyntax for a body that is not JSON and 413 for one over the limit", async () => {
    const bad = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .set("Content-Type", "application/scim+json")
      .send('{"userName": tre}');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.scimType, "invalidSyntax");
    const big = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ userName: "big", title: "x".repeat(2_000_000) }));
    assert.equal(big.status, 413);
    const count = await ctx
      .knex("users")
      .where({ tenant_id: tenant.id })
      .count<{ count: string }[]>({ count: "*" });
    assert.equal(Number(count[0]!.count), 0);
  });

  it("answers 400 invalidFilter for a filter with too many terms or too much nesting", async () => {
    const chain = Array.from(
      { length: 40 },
      (_, i) => `(userName eq "a${i}" or title eq "b${i}")`,
    ).join(" and ");
    const deep = "not (".repeat(40) + 'userName eq "x"' + ")".repeat(40);
    for (const filter of [chain, deep, `userName eq "${"x".repeat(5_000)}"`]) {
      const res = await request(ctx.app)
        .get("/scim/v2/Users")
        .query({ filter })
        .set(tenant.auth);
      assert.equal(res.status, 400);
      assert.equal(res.body.scimType, "invalidFilter");
      assert.ok(res.body.detail.length > 0);
    }
  });
});
