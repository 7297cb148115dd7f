import assert from "node:assert/strict";
import request from "supertest";
import {
  createTestContext,
  createTestTenant,
  createTestToken,
  type TestContext,
} from "../support/test-app.ts";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("authentication, scopes and tenant isolation", () => {
  let ctx: TestContext;

  before(async () => {
    ctx = await createTestContext();
  });
  after(async () => {
    await ctx.close();
  });

  it("answers 401 with a SCIM body and a Bearer challenge without a token or with a bad one", async () => {
    const missing = await request(ctx.app).get("/scim/v2/Users");
    assert.equal(missing.status, 401);
    assert.equal(missing.body.status, "401");
    assert.match(String(missing.headers["www-authenticate"]), /^Bearer realm=/);
    const bad = await request(ctx.app)
      .get("/scim/v2/Users")
      .set("Authorization", "Bearer scl_not-a-real-token");
    assert.equal(bad.status, 401);
    assert.match(
      String(bad.headers["www-authenticate"]),
      /error="invalid_token"/,
    );
    assert.ok(bad.body.detail.length > 0);
  });

  it("stores only a SHA-256 digest of each token", async () => {
    const tenant = await createTestTenant(ctx);
    const rows = await ctx.knex("tokens").where({ tenant_id: tenant.id });
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(tenant.token.slice(4)));
    assert.equal(rows[0].digest.length, 32);
    assert.match(tenant.token, /^scl_[A-Za-z0-9_-]{43}$/);
  });

  it("refuses revoked and expired tokens", async () => {
    const tenant = await createTestTenant(ctx);
    const [row] = await ctx.knex("tokens").where({ tenant_id: tenant.id });
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(tenant.auth)).status,
      200,
    );
    await ctx.services.tokens.revokeToken(row.id);
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(tenant.auth)).status,
      401,
    );
    const expiring = await ctx.services.tokens.createToken({
      tenant: tenant.name,
      scopes: ["scim:read"],
      expiresAt: new Date(ctx.clock.now().getTime() + 60_000),
    });
    const auth = { Authorization: `Bearer ${expiring.secret}` };
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(auth)).status,
      200,
    );
    ctx.clock.advance("2m");
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(auth)).status,
      401,
    );
  });

  it("records each token's creation and revocation in the tenant's audit trail, never its secret", async () => {
    const tenant = await createTestTenant(ctx);
    const [row] = await ctx.knex("tokens").where({ tenant_id: tenant.id });
    await ctx.services.tokens.revokeToken(row.id, {
      actor: { tokenId: row.id, actor: "cli:ops@host" },
    });
    const entries = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: row.id })
      .orderBy("id");
    assert.deepEqual(
      entries.map((e) => [e.key, e.detail.prefix, e.detail.actor]),
      [
        ["token.created", row.prefix, undefined],
        ["token.revoked", row.prefix, "cli:ops@host"],
      ],
    );
    assert.ok(!JSON.stringify(entries).includes(tenant.token.slice(4)));
  });

  it("answers 403 when a read-only token writes, and lets it read", async () => {
    const tenant = await createTestTenant(ctx);
    const readOnly = await createTestToken(ctx, tenant, [
      "scim:read",
      "audit:read",
    ]);
    const write = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(readOnly)
      .send({ schemas: [USER], userName: "x" });
    assert.equal(write.status, 403);
    assert.equal(write.body.status, "403");
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(readOnly)).status,
      200,
    );
    const writeOnly = await createTestToken(ctx, tenant, ["scim:write"]);
    assert.equal(
      (await request(ctx.app).get("/scim/v2/Users").set(writeOnly)).status,
      403,
    );
  });

  it("never lets one tenant see or change another tenant's users and groups", async () => {
    const a = await createTestTenant(ctx);
    const b = await createTestTenant(ctx);
    const user = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(a.auth)
      .send({ schemas: [USER], userName: "shared-name" });
    const group = await request(ctx.app)
      .post("/scim/v2/Groups")
      .set(a.auth)
      .send({
        schemas: [GROUP],
        displayName: "A team",
        members: [{ value: user.body.id }],
      });
    const uid = user.body.id as string;
    const gid = group.body.id as string;
    const patch = {
      schemas: [PATCH],
      Operations: [{ op: "replace", path: "active", value: false }],
    };
    const attempts = [
      request(ctx.app).get(`/scim/v2/Users/${uid}`).set(b.auth),
      request(ctx.app)
        .put(`/scim/v2/Users/${uid}`)
        .set(b.auth)
        .send({ schemas: [USER], userName: "stolen" }),
      request(ctx.app).patch(`/scim/v2/Users/${uid}`).set(b.auth).send(patch),
      request(ctx.app).delete(`/scim/v2/Users/${uid}`).set(b.auth),
      request(ctx.app).get(`/scim/v2/Groups/${gid}`).set(b.auth),
      request(ctx.app)
        .put(`/scim/v2/Groups/${gid}`)
        .set(b.auth)
        .send({ schemas: [GROUP], displayName: "x" }),
      request(ctx.app)
        .patch(`/scim/v2/Groups/${gid}`)
        .set(b.auth)
        .send({
          schemas: [PATCH],
          Operations: [{ op: "remove", path: "members" }],
        }),
      request(ctx.app).delete(`/scim/v2/Groups/${gid}`).set(b.auth),
    ];
    for (const res of await Promise.all(attempts))
      assert.equal(res.status, 404);
    for (const filter of [
      `id eq "${uid}"`,
      'userName eq "shared-name"',
      `groups.value eq "${gid}"`,
    ]) {
      const res = await request(ctx.app)
        .get("/scim/v2/Users")
        .query({ filter })
        .set(b.auth);
      assert.equal(res.body.totalResults, 0, filter);
    }
    const groups = await request(ctx.app)
      .get("/scim/v2/Groups")
      .query({ filter: `members.value eq "${uid}"` })
      .set(b.auth);
    assert.equal(groups.body.totalResults, 0);
    // Tenant B may use the same userName: uniqueness is per tenant.
    const same = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(b.auth)
      .send({ schemas: [USER], userName: "shared-name" });
    assert.equal(same.status, 201);
    const still = await request(ctx.app)
      .get(`/scim/v2/Users/${uid}`)
      .set(a.auth);
    assert.equal(still.body.active, true);
    assert.equal(still.body.userName, "shared-name");
    const members = await request(ctx.app)
      .get(`/scim/v2/Groups/${gid}`)
      .set(a.auth);
    assert.equal(members.body.members.length, 1);
  });
});
