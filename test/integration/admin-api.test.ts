import assert from "node:assert/strict";
import request from "supertest";
import { createScimClient } from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  createTestToken,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const POLICY = {
  apps: [
    { id: "audit-log", connector: "log" },
    {
      // Nothing listens on port 1: every call fails at once, and one attempt is all it gets.
      id: "dropbox",
      connector: "dropbox",
      maxAttempts: 1,
      config: { baseUrl: "http://127.0.0.1:1", token: { env: "DBX" } },
    },
  ],
  rules: [
    {
      id: "leavers",
      on: "user.deactivated",
      do: [
        { app: "audit-log", action: "archive" },
        { app: "dropbox", action: "suspend" },
        { app: "audit-log", action: "remove", after: "30d" },
      ],
    },
  ],
};

describe("admin API: policy and action queue", () => {
  let ctx: TestContext;
  let tenant: TestTenant;

  before(async () => {
    ctx = await createTestContext({
      readSecret: (name) => (name === "DBX" ? "secret-token" : undefined),
    });
  });
  after(async () => {
    await ctx.close();
  });
  beforeEach(async () => {
    tenant = await createTestTenant(ctx);
  });

  const api = () => request(ctx.app);

  it("refuses an invalid policy with every problem listed, and stores nothing", async () => {
    const res = await api()
      .put("/admin/v1/policy")
      .set(tenant.auth)
      .send({
        apps: [{ id: "x", connector: "nope" }],
        rules: [
          {
            id: "r",
            on: "user.deactivated",
            do: [{ app: "y", action: "suspend", after: "later" }],
          },
        ],
      });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "policy.invalid");
    assert.deepEqual(
      res.body.details.problems.map((p: { path: string }) => p.path),
      ["apps[0]", "rules[0].do[0].app"],
    );
    const current = await api().get("/admin/v1/policy").set(tenant.auth);
    assert.equal(current.body.version, 0);
  });

  it("names a secret written inline instead of read from the environment", async () => {
    const res = await api()
      .post("/admin/v1/policy/validate")
      .set(tenant.auth)
      .send({
        apps: [
          { id: "d", connector: "dropbox", config: { token: "sl.inline" } },
        ],
      });
    assert.equal(res.status, 200);
    assert.match(res.body.problems[0].message, /secret.*\{ env: NAME \}/);
    assert.ok(!JSON.stringify(res.body).includes("sl.inline"));
  });

  it("versions the policy: a change makes a new version, the same document does not", async () => {
    const first = await api()
      .put("/admin/v1/policy")
      .set(tenant.auth)
      .send(POLICY);
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, { version: 1, changed: true });
    const same = await api()
      .put("/admin/v1/policy")
      .set(tenant.auth)
      .send(POLICY);
    assert.deepEqual(
      [same.status, same.body],
      [200, { version: 1, changed: false }],
    );
    const changed = await api()
      .put("/admin/v1/policy")
      .set(tenant.auth)
      .send({ ...POLICY, rules: [] });
    assert.deepEqual(changed.body, { version: 2, changed: true });
    const current = await api().get("/admin/v1/policy").set(tenant.auth);
    assert.equal(current.body.version, 2);
    assert.deepEqual(current.body.document.rules, []);
  });

  it("shows in a dry run what an event would do, without doing it", async () => {
    await api().put("/admin/v1/policy").set(tenant.auth).send(POLICY);
    const ada = await createScimClient(ctx, tenant).createUser({
      userName: "ada@example.com",
    });
    const res = await api()
      .post("/admin/v1/policy/plan")
      .set(tenant.auth)
      .send({ event: "user.deactivated", userId: ada.id });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.actions.map((a: { app: string; action: string }) => [
        a.app,
        a.action,
      ]),
      [
        ["audit-log", "archive"],
        ["dropbox", "suspend"],
        ["audit-log", "remove"],
      ],
    );
    const queued = await ctx.knex("actions").where({ tenant_id: tenant.id });
    assert.equal(queued.length, 0);
  });

  it("lists failed actions, retries and cancels them, and audits each verb", async () => {
    await api().put("/admin/v1/policy").set(tenant.auth).send(POLICY);
    const scim = createScimClient(ctx, tenant);
    const ada = await scim.createUser({
      userName: "ada@example.com",
      emails: [{ type: "work", value: "ada@example.com" }],
    });
    await scim.patch("Users", ada.id, [
      { op: "replace", path: "active", value: false },
    ]);
    await ctx.services.worker.runUntilIdle();

    const failed = await api()
      .get("/admin/v1/actions?state=failed")
      .set(tenant.auth);
    assert.equal(failed.status, 200);
    assert.equal(failed.body.actions.length, 1);
    const action = failed.body.actions[0];
    assert.equal(action.app, "dropbox");
    assert.equal(
      action.lastError.kind,
      "retryable",
      JSON.stringify(action.lastError),
    );

    const reader = await createTestToken(ctx, tenant, ["audit:read"]);
    const forbidden = await api()
      .post(`/admin/v1/actions/${action.id}/retry`)
      .set(reader);
    assert.equal(forbidden.status, 403);
    const readable = await api().get("/admin/v1/actions").set(reader);
    assert.equal(readable.body.actions.length, 3);

    const retried = await api()
      .post(`/admin/v1/actions/${action.id}/retry`)
      .set(tenant.auth);
    assert.deepEqual([retried.status, retried.body.state], [200, "pending"]);
    const cancelled = await api()
      .post(`/admin/v1/actions/${action.id}/cancel`)
      .set(tenant.auth);
    assert.equal(cancelled.body.state, "cancelled");
    const again = await api()
      .post(`/admin/v1/actions/${action.id}/cancel`)
      .set(tenant.auth);
    assert.equal(again.status, 409);

    const verbs = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id })
      .whereIn("key", ["action.retried", "action.cancelled"])
      .orderBy("id")
      .select("key", "actor_token_id");
    assert.deepEqual(
      verbs.map((v) => v.key),
      ["action.retried", "action.cancelled"],
    );
    assert.ok(verbs.every((v) => v.actor_token_id));
  });

  it("never shows another tenant's actions", async () => {
    await api().put("/admin/v1/policy").set(tenant.auth).send(POLICY);
    const scim = createScimClient(ctx, tenant);
    const ada = await scim.createUser({ userName: "ada@example.com" });
    await scim.patch("Users", ada.id, [
      { op: "replace", path: "active", value: false },
    ]);
    const other = await createTestTenant(ctx);
    const res = await api().get("/admin/v1/actions").set(other.auth);
    assert.deepEqual(res.body.actions, []);
    const id = (
      await ctx.knex("actions").where({ tenant_id: tenant.id }).first()
    ).id;
    const cancel = await api()
      .post(`/admin/v1/actions/${id}/cancel`)
      .set(other.auth);
    assert.equal(cancel.status, 404);
  });
});
