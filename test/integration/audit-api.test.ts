import assert from "node:assert/strict";
import request from "supertest";
import { hashAuditEntry } from "../../src/domain/audit-hash.ts";
import { createLogger } from "../../src/logger.ts";
import { createAuditSealer } from "../../src/services/audit-sealer.ts";
import { insertAuditEntry } from "../../src/store/audit-store.ts";
import { createScimClient, type ScimResource } from "../support/scim-client.ts";
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
      // Nothing listens on port 1: each call fails at once; two attempts, then a dead letter.
      id: "dropbox",
      connector: "dropbox",
      maxAttempts: 2,
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

/** An audit entry as the auditor API returns it. */
interface AuditEvent {
  id: string;
  tenantId: string;
  occurredAt: string;
  key: string;
  resourceId: string | null;
  detail: Record<string, unknown>;
  chain: { index: number; prevHash: string; hash: string } | null;
}

describe("auditor API and the audit hash chain", () => {
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
  const seal = () => ctx.services.auditSealer.sealUntilIdle();

  async function createUsers(
    owner: TestTenant,
    count: number,
    prefix = "user",
  ): Promise<ScimResource[]> {
    const scim = createScimClient(ctx, owner);
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        scim.createUser({ userName: `${prefix}-${i}@example.com` }),
      ),
    );
  }

  async function entryIds(owner: TestTenant): Promise<string[]> {
    const rows = await ctx
      .knex("audit_entries")
      .where({ tenant_id: owner.id })
      .orderBy("id")
      .select<{ id: string }[]>("id");
    return rows.map((r) => r.id);
  }

  async function entryAt(owner: TestTenant, chainIndex: number) {
    return ctx
      .knex("audit_entries")
      .where({ tenant_id: owner.id, chain_index: chainIndex })
      .first<{ id: string; detail: Record<string, unknown> }>();
  }

  async function verify(owner: TestTenant, query = "") {
    const res = await api().get(`/audit/v1/verify${query}`).set(owner.auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /** Every page of a listing, following nextCursor while hasMore. */
  async function readAll(
    path: string,
    owner: TestTenant,
    between: () => Promise<void> = async () => {},
  ): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const sep = path.includes("?") ? "&" : "?";
      const res = await api()
        .get(
          `${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`,
        )
        .set(owner.auth);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      events.push(...res.body.events);
      if (!res.body.hasMore) return events;
      cursor = res.body.nextCursor;
      await between();
    }
    throw new Error("too many pages");
  }

  describe("hash chain", () => {
    it("chains every entry of concurrent writes, sealed by two cooperating sealers, and verifies it", async () => {
      const other = createAuditSealer({
        db: ctx.knex,
        clock: ctx.clock,
        logger: createLogger({ silent: true }),
        batchSize: 7,
      });
      const scim = createScimClient(ctx, tenant);
      // Writes and sealing overlap: entries committed while a batch is sealed are chained later.
      const users = await createUsers(tenant, 20);
      await Promise.all([
        ...users.map((u, i) =>
          scim.patch("Users", u.id, [
            { op: "replace", path: "displayName", value: `User ${i}` },
          ]),
        ),
        createUsers(tenant, 20, "second"),
        seal(),
        other.sealUntilIdle(),
      ]);
      await Promise.all([seal(), other.sealUntilIdle()]);

      const ids = await entryIds(tenant);
      assert.ok(ids.length >= 60, `only ${ids.length} entries`);
      const chained = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id })
        .orderBy("chain_index")
        .select<{ id: string; chain_index: string }[]>("id", "chain_index");
      assert.deepEqual(
        chained.map((r) => Number(r.chain_index)),
        ids.map((_, i) => i + 1),
      );

      const report = await verify(tenant);
      assert.equal(report.ok, true, JSON.stringify(report));
      assert.equal(report.checked, ids.length);
      assert.equal(report.unsealed, 0);
      assert.equal(report.head.index, ids.length);
      const last = await api()
        .get(`/audit/v1/events?order=chain&limit=1000`)
        .set(tenant.auth);
      assert.equal(
        report.head.hash,
        last.body.events[last.body.events.length - 1].chain.hash,
      );
      assert.equal(report.firstBroken, undefined);
    });

    it("seals in the background once started, and stops without leaving a timer behind", async () => {
      const sealer = createAuditSealer({
        db: ctx.knex,
        clock: ctx.clock,
        logger: createLogger({ silent: true }),
        pollMs: 5,
      });
      sealer.start();
      try {
        await createUsers(tenant, 3);
        // The loop polls every 5 ms; give it a bounded while to catch up.
        for (let tries = 0; ; tries++) {
          const unsealed = await ctx
            .knex("audit_entries")
            .where({ tenant_id: tenant.id })
            .whereNull("chain_index")
            .count<{ count: string }[]>({ count: "*" });
          if (Number(unsealed[0]!.count) === 0) break;
          assert.ok(tries < 500, "the background sealer did not catch up");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await sealer.stop();
      }
      const report = await verify(tenant);
      // The tenant's token (token.created) and the three users.
      assert.deepEqual([report.ok, report.checked], [true, 4]);
    });

    it("verifies entries whose detail jsonb reorders and renormalises, timestamps to the microsecond", async () => {
      await ctx.knex.raw(
        `INSERT INTO audit_entries (tenant_id, occurred_at, key, detail)
         VALUES (?, '2026-03-01T09:00:00.123456Z', 'test.raw',
                 '{"zeta": 1.50, "b": 1e3, "é": [1.0, {"y": null, "x": true}], "big": 12345678901234567890}')`,
        [tenant.id],
      );
      await insertAuditEntry(ctx.knex, {
        tenant_id: tenant.id,
        occurred_at: ctx.clock.now(),
        actor_token_id: null,
        key: "test.inserted",
        resource_type: null,
        resource_id: null,
        request_id: null,
        detail: { "😀": "\u0001", long_key_first: 0.1, a: [1e21, -0] },
      });
      await seal();
      const report = await verify(tenant);
      // The two entries and the tenant's token.created.
      assert.deepEqual([report.ok, report.checked], [true, 3]);
      const res = await api()
        .get("/audit/v1/events?key=test.raw")
        .set(tenant.auth);
      assert.equal(
        res.body.events[0].occurredAt,
        "2026-03-01T09:00:00.123456Z",
      );
    });

    it("chains an entry that commits after entries with larger ids", async function () {
      // PGlite is one connection: a transaction held open would block the writes below.
      if (ctx.database.kind !== "postgres") this.skip();
      const trx = await ctx.knex.transaction();
      try {
        await insertAuditEntry(trx, {
          tenant_id: tenant.id,
          occurred_at: ctx.clock.now(),
          actor_token_id: null,
          key: "test.late",
          resource_type: null,
          resource_id: null,
          request_id: null,
          detail: {},
        });
        await createUsers(tenant, 3);
        await seal();
        await trx.commit();
      } catch (error) {
        await trx.rollback();
        throw error;
      }
      await seal();
      const late = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, key: "test.late" })
        .first();
      const ids = await entryIds(tenant);
      const userEntries = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id })
        .whereLike("key", "scim.%")
        .select("id");
      assert.equal(userEntries.length, 3);
      assert.ok(
        userEntries.every((e) => BigInt(late.id) < BigInt(e.id)),
        "the late entry's id is smaller than those of the users' entries",
      );
      assert.equal(Number(late.chain_index), ids.length, "and is chained last");
      const report = await verify(tenant);
      assert.deepEqual([report.ok, report.checked], [true, ids.length]);
    });

    it("names an entry edited with SQL as the first broken link", async () => {
      await createUsers(tenant, 6);
      await seal();
      const before = await verify(tenant);
      assert.equal(before.ok, true);
      const target = await entryAt(tenant, 4);
      await ctx.knex.raw(
        `UPDATE audit_entries SET detail = jsonb_set(detail, '{method}', '"DELETE"') WHERE id = ?`,
        [target!.id],
      );
      const report = await verify(tenant);
      assert.equal(report.ok, false);
      assert.equal(report.checked, 3);
      assert.equal(report.firstBroken.index, 4);
      assert.equal(report.firstBroken.id, target!.id);
      assert.equal(report.firstBroken.reason, "hash_mismatch");
      assert.match(report.firstBroken.message, /changed after it was sealed/);
      assert.equal(report.head.index, before.head.index);
    });

    it("names the next entry when an edited entry's hash was recomputed to hide the edit", async () => {
      await createUsers(tenant, 5);
      await seal();
      const target = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, chain_index: 2 })
        .select(
          "*",
          ctx.knex.raw(
            `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
          ),
          ctx.knex.raw(`encode(prev_hash, 'hex') AS prev_hex`),
        )
        .first();
      const forged = hashAuditEntry(
        {
          id: target.id,
          tenantId: target.tenant_id,
          occurredAt: target.at,
          actorTokenId: target.actor_token_id,
          key: target.key,
          resourceType: target.resource_type,
          resourceId: target.resource_id,
          requestId: target.request_id,
          detail: { forged: true },
        },
        { chainIndex: 2, prevHash: target.prev_hex },
      );
      await ctx.knex.raw(
        `UPDATE audit_entries SET detail = '{"forged": true}', hash = decode(?, 'hex') WHERE id = ?`,
        [forged, target.id],
      );
      const report = await verify(tenant);
      assert.equal(report.ok, false);
      assert.equal(report.firstBroken.index, 3);
      assert.equal(report.firstBroken.reason, "prev_hash_mismatch");
    });

    it("detects a deleted entry, in the middle or at the end", async () => {
      await createUsers(tenant, 6);
      await seal();
      const middle = await entryAt(tenant, 3);
      const next = await entryAt(tenant, 4);
      await ctx.knex.transaction(async (trx) => {
        await trx("lifecycle_events")
          .where({ audit_entry_id: middle!.id })
          .del();
        await trx("audit_entries").where({ id: middle!.id }).del();
      });
      const report = await verify(tenant);
      assert.equal(report.ok, false);
      assert.deepEqual(
        [
          report.firstBroken.index,
          report.firstBroken.id,
          report.firstBroken.reason,
        ],
        [3, null, "missing"],
      );
      assert.equal(report.firstBroken.nextId, next!.id);
      assert.equal(report.checked, 2);

      const other = await createTestTenant(ctx);
      await createUsers(other, 3);
      await seal();
      const last = await entryAt(other, 3);
      await ctx.knex.transaction(async (trx) => {
        await trx("lifecycle_events").where({ audit_entry_id: last!.id }).del();
        await trx("audit_entries").where({ id: last!.id }).del();
      });
      const tail = await verify(other);
      assert.deepEqual(
        [
          tail.ok,
          tail.checked,
          tail.firstBroken.index,
          tail.firstBroken.reason,
        ],
        [false, 2, 3, "missing"],
      );
    });

    it("detects a chain rewritten from an edited entry onwards, given a head recorded earlier", async () => {
      await createUsers(tenant, 4);
      await seal();
      const recorded = (await verify(tenant)).head;
      // Whoever holds the database can rewrite the rest of the chain and its head consistently...
      const rows = await ctx.knex.raw(
        `SELECT id, tenant_id, actor_token_id, key, resource_type, resource_id, request_id, detail,
                chain_index,
                to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
                encode(prev_hash, 'hex') AS prev_hex
         FROM audit_entries WHERE tenant_id = ? ORDER BY chain_index`,
        [tenant.id],
      );
      let prevHash: string = rows.rows[0].prev_hex;
      for (const row of rows.rows) {
        const detail =
          Number(row.chain_index) === 1 ? { forged: true } : row.detail;
        const hash = hashAuditEntry(
          {
            id: row.id,
            tenantId: row.tenant_id,
            occurredAt: row.at,
            actorTokenId: row.actor_token_id,
            key: row.key,
            resourceType: row.resource_type,
            resourceId: row.resource_id,
            requestId: row.request_id,
            detail,
          },
          { chainIndex: Number(row.chain_index), prevHash },
        );
        await ctx.knex.raw(
          `UPDATE audit_entries SET detail = ?::jsonb, prev_hash = decode(?, 'hex'), hash = decode(?, 'hex')
           WHERE id = ?`,
          [JSON.stringify(detail), prevHash, hash, row.id],
        );
        prevHash = hash;
      }
      await ctx.knex.raw(
        `UPDATE audit_chain_heads SET last_hash = decode(?, 'hex') WHERE tenant_id = ?`,
        [prevHash, tenant.id],
      );
      // ...which the chain alone cannot tell (tamper-evident, not tamper-proof)...
      assert.equal((await verify(tenant)).ok, true);
      // ...but the head kept outside the database can.
      const report = await verify(
        tenant,
        `?anchor=${recorded.index}:${recorded.hash}`,
      );
      assert.equal(report.ok, false);
      assert.equal(report.firstBroken.reason, "anchor_mismatch");
      assert.equal(report.firstBroken.index, recorded.index);
      assert.equal(report.anchor.ok, false);
    });
  });

  describe("events", () => {
    it("pages every entry exactly once, in id order, while writes continue", async () => {
      await createUsers(tenant, 15);
      const existing = await entryIds(tenant);
      let extra = 0;
      const events = await readAll(
        "/audit/v1/events?limit=4",
        tenant,
        async () => {
          extra += 1;
          await createUsers(tenant, 2, `during-${extra}`);
        },
      );
      const ids = events.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, "no entry twice");
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => Number(a) - Number(b)),
      );
      for (const id of existing)
        assert.ok(ids.includes(id), `entry ${id} missing`);
      assert.ok(
        ids.length > existing.length,
        "entries written meanwhile are listed too",
      );
      assert.ok(events.every((e) => e.tenantId === tenant.id));
    });

    it("pages the chain in chain order without skipping entries sealed meanwhile", async () => {
      await createUsers(tenant, 10);
      await seal();
      let round = 0;
      const events = await readAll(
        "/audit/v1/events?order=chain&limit=3",
        tenant,
        async () => {
          round += 1;
          if (round <= 4) await createUsers(tenant, 1, `more-${round}`);
          await seal();
        },
      );
      const all = await entryIds(tenant);
      assert.deepEqual(
        events.map((e) => e.chain!.index),
        all.map((_, i) => i + 1),
      );
      assert.deepEqual(new Set(events.map((e) => e.id)), new Set(all));
    });

    it("filters by user, key, key prefix, app and time range", async () => {
      await api().put("/admin/v1/policy").set(tenant.auth).send(POLICY);
      const scim = createScimClient(ctx, tenant);
      const ada = await scim.createUser({
        userName: "ada@example.com",
        emails: [{ type: "work", value: "ada@example.com" }],
      });
      ctx.clock.advance("1h");
      const later = ctx.clock.now().toISOString();
      const bob = await scim.createUser({
        userName: "bob@example.com",
        emails: [{ type: "work", value: "bob@example.com" }],
      });
      await scim.patch("Users", bob.id, [
        { op: "replace", path: "active", value: false },
      ]);
      await ctx.services.worker.runUntilIdle();

      const byUser = await readAll(`/audit/v1/events?user=${ada.id}`, tenant);
      assert.deepEqual(
        byUser.map((e) => [e.key, e.resourceId]),
        [["scim.user.created", ada.id]],
      );
      const created = await readAll(
        "/audit/v1/events?key=scim.user.created",
        tenant,
      );
      assert.deepEqual(
        created.map((e) => e.resourceId),
        [ada.id, bob.id],
      );
      const scimUser = await readAll("/audit/v1/events?key=scim.user.", tenant);
      assert.deepEqual(
        scimUser.map((e) => e.key),
        ["scim.user.created", "scim.user.created", "scim.user.deactivated"],
      );
      const actions = await readAll("/audit/v1/events?key=action.*", tenant);
      assert.ok(actions.length >= 5);
      assert.ok(actions.every((e) => e.key.startsWith("action.")));
      const dropbox = await readAll(
        "/audit/v1/events?app=dropbox&key=action.",
        tenant,
      );
      assert.deepEqual(
        dropbox.map((e) => e.key),
        ["action.planned", "action.attempt_failed"],
      );
      assert.ok(dropbox.every((e) => e.detail.app === "dropbox"));

      const since = await readAll(
        `/audit/v1/events?since=${encodeURIComponent(later)}&key=scim.`,
        tenant,
      );
      assert.deepEqual(
        since.map((e) => e.resourceId),
        [bob.id, bob.id],
      );
      const until = await readAll(
        `/audit/v1/events?until=${encodeURIComponent(later)}&key=scim.`,
        tenant,
      );
      assert.deepEqual(
        until.map((e) => e.resourceId),
        [ada.id],
      );
      const none = await readAll(
        `/audit/v1/events?user=${ada.id}&since=${encodeURIComponent(later)}`,
        tenant,
      );
      assert.deepEqual(none, []);
    });
  });

  describe("actions and app states", () => {
    it("lists actions with their attempts and outcome, and a user's state in each app", async () => {
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
      ctx.clock.advance("2h");
      await ctx.services.worker.runUntilIdle();

      const failed = await api()
        .get("/audit/v1/actions?app=dropbox")
        .set(tenant.auth);
      assert.equal(failed.status, 200, JSON.stringify(failed.body));
      assert.equal(failed.body.actions.length, 1);
      const action = failed.body.actions[0];
      assert.deepEqual(
        [action.state, action.attempts, action.maxAttempts, action.userId],
        ["failed", 2, 2, ada.id],
      );
      assert.deepEqual(
        action.history.map((h: AuditEvent) => [
          h.key,
          h.detail.attempt ?? null,
        ]),
        [
          ["action.planned", null],
          ["action.attempt_failed", 1],
          ["action.failed", 2],
        ],
      );
      assert.equal(action.lastError.kind, "retryable");

      const all = await api().get("/audit/v1/actions?limit=2").set(tenant.auth);
      assert.equal(all.body.actions.length, 2);
      assert.equal(all.body.hasMore, true);
      const rest = await api()
        .get(`/audit/v1/actions?limit=2&cursor=${all.body.nextCursor}`)
        .set(tenant.auth);
      assert.equal(rest.body.hasMore, false);
      assert.deepEqual(
        [...all.body.actions, ...rest.body.actions].map(
          (a: { app: string; action: string; state: string }) =>
            `${a.app} ${a.action} ${a.state}`,
        ),
        [
          "audit-log archive succeeded",
          "dropbox suspend failed",
          "audit-log remove pending",
        ],
      );
      const pending = await api()
        .get(`/audit/v1/actions?state=pending,running&user=${ada.id}`)
        .set(tenant.auth);
      assert.deepEqual(
        pending.body.actions.map((a: { action: string }) => a.action),
        ["remove"],
      );

      const apps = await api()
        .get(`/audit/v1/users/${ada.id}/apps`)
        .set(tenant.auth);
      assert.equal(apps.status, 200);
      assert.deepEqual(
        apps.body.apps.map((a: { app: string; state: string }) => [
          a.app,
          a.state,
        ]),
        [["audit-log", "archived"]],
      );
      assert.deepEqual(
        apps.body.pendingActions.map(
          (a: { app: string; action: string }) => `${a.app} ${a.action}`,
        ),
        ["audit-log remove"],
      );
    });
  });

  describe("access", () => {
    it("shows a tenant nothing of another tenant's, whatever it asks", async () => {
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
      await seal();
      const mine = await api().get("/audit/v1/events").set(tenant.auth);
      assert.ok(mine.body.events.length > 0);

      const other = await createTestTenant(ctx);
      for (const path of [
        "/audit/v1/events",
        `/audit/v1/events?user=${ada.id}`,
        "/audit/v1/events?key=scim.",
        "/audit/v1/events?app=audit-log",
        "/audit/v1/events?order=chain",
        `/audit/v1/events?cursor=${encodeURIComponent(mine.body.nextCursor)}`,
        "/audit/v1/actions",
        `/audit/v1/actions?user=${ada.id}`,
      ]) {
        const res = await api().get(path).set(other.auth);
        assert.equal(res.status, 200, path);
        const rows = (res.body.events ?? res.body.actions) as {
          key?: string;
        }[];
        // The other tenant sees only the creation of its own token.
        assert.deepEqual(
          rows.filter((r) => r.key !== "token.created"),
          [],
          path,
        );
      }
      const apps = await api()
        .get(`/audit/v1/users/${ada.id}/apps`)
        .set(other.auth);
      assert.deepEqual([apps.body.apps, apps.body.pendingActions], [[], []]);
      const verified = await verify(other);
      assert.deepEqual([verified.ok, verified.checked], [true, 0]);
    });

    it("needs the audit:read scope (or admin) and a token", async () => {
      const scimOnly = await createTestToken(ctx, tenant, [
        "scim:read",
        "scim:write",
      ]);
      const reader = await createTestToken(ctx, tenant, ["audit:read"]);
      const userId = "0b6a3c55-83a1-4b43-9a53-3b8f8a2f3e11";
      for (const path of [
        "/audit/v1/events",
        "/audit/v1/actions",
        `/audit/v1/users/${userId}/apps`,
        "/audit/v1/verify",
      ]) {
        const forbidden = await api().get(path).set(scimOnly);
        assert.equal(forbidden.status, 403, path);
        assert.equal(forbidden.body.error, "auth.missing_scope");
        const anonymous = await api().get(path);
        assert.equal(anonymous.status, 401, path);
        assert.match(anonymous.get("www-authenticate") ?? "", /^Bearer/);
        const allowed = await api().get(path).set(reader);
        assert.equal(allowed.status, 200, path);
      }
    });

    it("answers client mistakes with 400 and a message naming the problem", async () => {
      await createUsers(tenant, 3);
      await seal();
      const chainCursor = (
        await api().get("/audit/v1/events?order=chain&limit=1").set(tenant.auth)
      ).body.nextCursor;
      const idCursor = (
        await api().get("/audit/v1/events?limit=1").set(tenant.auth)
      ).body.nextCursor;
      const forged = Buffer.from('{"o":"id","k":"1 OR 1=1"}').toString(
        "base64url",
      );
      const cases: [string, RegExp][] = [
        ["/audit/v1/events?cursor=garbage", /cursor/],
        [`/audit/v1/events?cursor=${forged}`, /cursor/],
        [`/audit/v1/events?cursor=${idCursor}&order=chain`, /another/],
        [`/audit/v1/actions?cursor=${idCursor}`, /another/],
        ["/audit/v1/events?limit=0", /limit/],
        ["/audit/v1/events?limit=ten", /limit/],
        ["/audit/v1/events?since=yesterday", /since.*ISO 8601/],
        ["/audit/v1/events?since=2026-03-01T09:00:00", /since/],
        ["/audit/v1/events?since=2026-13-45", /since/],
        ["/audit/v1/events?until=2026-02-30T10:00:00Z", /until/],
        ["/audit/v1/events?app=%00", /app must be/],
        ["/audit/v1/actions?app=%00", /app must be/],
        ["/audit/v1/events?since=2026-03-02&until=2026-03-01", /until/],
        ["/audit/v1/events?user=ada", /user must be a UUID/],
        ["/audit/v1/events?key=action.%25", /key/],
        ["/audit/v1/events?order=time", /order/],
        ["/audit/v1/events?usr=x", /unknown parameter "usr"/],
        ["/audit/v1/events?key=a&key=b", /key must be given once/],
        ["/audit/v1/actions?state=done", /state must be among/],
        ["/audit/v1/actions?user=1", /user must be a UUID/],
        ["/audit/v1/users/not-a-uuid/apps", /id must be a UUID/],
        ["/audit/v1/verify?anchor=12", /anchor must be INDEX:HASH/],
      ];
      for (const [path, message] of cases) {
        const res = await api().get(path).set(tenant.auth);
        assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, "request.invalid", path);
        assert.match(res.body.message, message, path);
      }
      const capped = await api()
        .get("/audit/v1/events?limit=5000")
        .set(tenant.auth);
      assert.equal(capped.status, 200);
      const resumed = await api()
        .get(`/audit/v1/events?order=chain&cursor=${chainCursor}`)
        .set(tenant.auth);
      assert.equal(resumed.status, 200);
      const post = await api().post("/audit/v1/events").set(tenant.auth);
      assert.equal(post.status, 404);
      assert.equal(post.body.error, "request.not_found");
    });
  });
});
