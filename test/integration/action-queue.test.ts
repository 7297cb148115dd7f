import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createFakeClock, type FakeClock } from "../../src/clock.ts";
import {
  appBlockedUntil,
  blockApp,
  cancelAction,
  claimActions,
  finishRun,
  retryAction,
  sweepExpiredLeases,
  takeRateToken,
  type ClaimedAction,
} from "../../src/queue/action-queue.ts";
import type { ActionRow, ActionState } from "../../src/store/actions-store.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const LEASE_MS = 30_000;
// claimActions and sweepExpiredLeases see every tenant's rows. The other test files plan actions
// from 2026 on (fake clocks) or now; this file lives in 2001, so on a shared PostgreSQL it neither
// takes their actions nor hands them its own.
const EPOCH = new Date("2001-02-03T04:05:06.000Z");

/** An action row to insert: due now, pending, never tried, unless told otherwise. */
interface QueuedRow {
  user: string;
  app?: string;
  kind?: string;
  state?: ActionState;
  runAt?: Date;
  attempts?: number;
  /** Times claimed (defaults to attempts). */
  claims?: number;
  maxAttempts?: number;
  job?: Record<string, unknown>;
  leaseOwner?: string;
  leaseExpiresAt?: Date;
  tenantId?: string;
}

describe("action queue on the database", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let clock: FakeClock;
  let keys = 0;

  before(async () => {
    ctx = await createTestContext();
  });
  after(async () => {
    await ctx.close();
  });
  beforeEach(async () => {
    tenant = await createTestTenant(ctx);
    clock = createFakeClock(EPOCH);
  });
  afterEach(async () => {
    // Leave nothing claimable behind for the next test (its clock starts at the same instant).
    await ctx
      .knex("actions")
      .where({ tenant_id: tenant.id })
      .whereIn("state", ["pending", "running", "in_progress"])
      .update({ state: "cancelled", lease_owner: null, finished_at: EPOCH });
  });

  async function enqueue(row: QueuedRow): Promise<string> {
    keys += 1;
    const app = row.app ?? "backup";
    const at = row.runAt ?? clock.now();
    const [inserted] = await ctx
      .knex("actions")
      .insert({
        tenant_id: row.tenantId ?? tenant.id,
        app_id: app,
        kind: row.kind ?? "archive",
        user_id: row.user,
        state: row.state ?? "pending",
        run_at: at,
        attempts: row.attempts ?? 0,
        // A row with attempts was claimed that many times at least.
        claims: row.claims ?? row.attempts ?? 0,
        max_attempts: row.maxAttempts ?? 5,
        params: JSON.stringify({}),
        subject: JSON.stringify({ user: { id: row.user } }),
        idempotency_key: `queue-test-${keys}-${randomUUID()}`,
        policy_version: 1,
        rule_id: "queue-test",
        step: 0,
        event_type: "user.deactivated",
        event_occurred_at: clock.now(),
        job: row.job ? JSON.stringify(row.job) : null,
        job_deadline: row.job ? new Date(at.getTime() + 3_600_000) : null,
        lease_owner: row.leaseOwner ?? null,
        lease_expires_at: row.leaseExpiresAt ?? null,
        created_at: clock.now(),
        updated_at: clock.now(),
      })
      .returning("id");
    return String((inserted as { id: string }).id);
  }

  /** Claims for one worker, at the fake clock's time. */
  function claim(workerId: string, limit = 100): Promise<ClaimedAction[]> {
    return claimActions(ctx.knex, {
      workerId,
      now: clock.now(),
      limit,
      leaseMs: LEASE_MS,
    });
  }

  /** The ids a worker claims now. */
  async function claimIds(workerId = "worker-a", limit = 100) {
    return (await claim(workerId, limit)).map((a) => a.id);
  }

  function succeed(id: string, workerId = "worker-a"): Promise<boolean> {
    return finishRun(
      ctx.knex,
      { id, workerId, now: clock.now() },
      { state: "succeeded", result: {} },
    );
  }

  async function row(id: string): Promise<ActionRow> {
    const found = await ctx.knex<ActionRow>("actions").where({ id }).first();
    assert.ok(found, `action ${id}`);
    return found;
  }

  const user = () => randomUUID();

  describe("claiming", () => {
    it("claims only the head of each app and user, and the next one once the head finished", async () => {
      const ada = user();
      const bob = user();
      const archive = await enqueue({ user: ada, kind: "archive" });
      const exportData = await enqueue({ user: ada, kind: "export" });
      const remove = await enqueue({ user: ada, kind: "remove" });
      const bobArchive = await enqueue({ user: bob, kind: "archive" });
      const adaInDropbox = await enqueue({
        user: ada,
        app: "dropbox",
        kind: "suspend",
      });

      const first = await claim("worker-a");
      assert.deepEqual(
        first.map((a) => a.id),
        [archive, bobArchive, adaInDropbox],
      );
      const head = first[0]!;
      assert.equal(head.state, "running");
      assert.equal(head.attempts, 1);
      assert.equal(head.lease_owner, "worker-a");
      assert.equal(
        new Date(head.lease_expires_at).getTime(),
        EPOCH.getTime() + LEASE_MS,
      );
      assert.deepEqual(await claimIds("worker-b"), [], "the rest wait");

      assert.equal(await succeed(archive), true);
      assert.deepEqual(await claimIds("worker-b"), [exportData]);
      assert.equal(await succeed(exportData, "worker-b"), true);
      assert.deepEqual(await claimIds(), [remove]);
    });

    it("runs each app and user's actions in the order they were planned, whatever their run_at", async () => {
      const ada = user();
      // Planned in this order; the later ones fell due earlier (a shorter `after`).
      const ids = [
        await enqueue({ user: ada, kind: "archive" }),
        await enqueue({
          user: ada,
          kind: "export",
          runAt: new Date(EPOCH.getTime() - 60_000),
        }),
        await enqueue({
          user: ada,
          kind: "remove",
          runAt: new Date(EPOCH.getTime() - 120_000),
        }),
      ];
      const order: string[] = [];
      for (;;) {
        const claimed = await claimIds();
        if (claimed.length === 0) break;
        assert.equal(claimed.length, 1, "one at a time");
        order.push(claimed[0]!);
        await succeed(claimed[0]!);
      }
      assert.deepEqual(order, ids);
    });

    it("holds a later action while the earlier one runs, polls a job, is due, or waits for a retry", async () => {
      const later = clock.now();
      const inAMinute = new Date(later.getTime() + 60_000);
      const earlier: QueuedRow[] = [
        {
          user: user(),
          state: "running",
          attempts: 1,
          leaseOwner: "worker-z",
          leaseExpiresAt: new Date(later.getTime() + LEASE_MS),
        },
        {
          user: user(),
          state: "in_progress",
          attempts: 1,
          runAt: inAMinute,
          job: { id: "job-1" },
        },
        { user: user(), state: "pending", attempts: 1, runAt: inAMinute },
        { user: user(), state: "pending", attempts: 0 },
      ];
      const waiting: string[] = [];
      for (const e of earlier) {
        await enqueue(e);
        waiting.push(await enqueue({ user: e.user, kind: "remove" }));
      }
      const claimed = await claim("worker-a");
      const dueHead = claimed.find((a) => a.user_id === earlier[3]!.user);
      assert.equal(dueHead?.kind, "archive", "the due earlier one goes first");
      assert.deepEqual(
        claimed.filter((a) => waiting.includes(a.id)),
        [],
        "no later action overtook",
      );
    });

    it("keeps an action's place while it waits out a rate limit (its attempt given back)", async () => {
      const waitingUser = user();
      const inAMinute = new Date(clock.now().getTime() + 60_000);
      await enqueue({
        user: waitingUser,
        state: "pending",
        attempts: 0,
        claims: 1,
        runAt: inAMinute,
      });
      const later = await enqueue({ user: waitingUser, kind: "remove" });
      const claimed = await claim("worker-a");
      assert.ok(!claimed.some((a) => a.id === later), "the later action waits");
    });

    it("lets a later action pass an earlier one that is only deferred, or already finished", async () => {
      const deferredUser = user();
      const deferred = await enqueue({
        user: deferredUser,
        kind: "remove",
        runAt: new Date(EPOCH.getTime() + 30 * 86_400_000),
      });
      const now = await enqueue({ user: deferredUser, kind: "archive" });
      const passing = [now];
      for (const state of [
        "succeeded",
        "failed",
        "cancelled",
        "skipped",
      ] as const) {
        const u = user();
        await enqueue({ user: u, state, attempts: 1 });
        passing.push(await enqueue({ user: u, kind: "remove" }));
      }
      assert.deepEqual((await claimIds()).sort(), passing.sort());
      for (const id of passing) await succeed(id);

      clock.advance("30d");
      assert.deepEqual(await claimIds(), [deferred], "due after 30 days");
    });

    it("never gives one action, or two of one app and user, to two workers claiming at once", async () => {
      const users = Array.from({ length: 12 }, user);
      const planned = new Map<string, string[]>();
      for (let step = 0; step < 3; step++) {
        for (const u of users) {
          for (const app of ["backup", "dropbox"]) {
            const id = await enqueue({ user: u, app, kind: `step-${step}` });
            const key = `${app}:${u}`;
            planned.set(key, [...(planned.get(key) ?? []), id]);
          }
        }
      }
      const total = [...planned.values()].flat().length;
      const workers = ["worker-a", "worker-b", "worker-c", "worker-d"];
      const ran = new Map<string, string[]>();
      const owner = new Map<string, string>();
      let finished = 0;
      for (let round = 0; finished < total; round++) {
        assert.ok(round < 100, "the queue drains");
        // Four workers claim at the same moment (truly in parallel on PostgreSQL).
        const batches = await Promise.all(workers.map((w) => claim(w, 7)));
        const running: {
          id: string;
          user_id: string;
          app_id: string;
          lease_owner: string;
        }[] = await ctx
          .knex("actions")
          .where({ tenant_id: tenant.id, state: "running" })
          .orderBy("id")
          .select("id", "user_id", "app_id", "lease_owner");
        assert.equal(
          new Set(running.map((r) => `${r.app_id}:${r.user_id}`)).size,
          running.length,
          "two actions of one app and user run at once",
        );
        for (const [i, batch] of batches.entries()) {
          for (const action of batch) {
            assert.equal(
              owner.get(action.id),
              undefined,
              `action ${action.id} claimed twice`,
            );
            owner.set(action.id, workers[i]!);
            const key = `${action.app_id}:${action.user_id}`;
            ran.set(key, [...(ran.get(key) ?? []), action.id]);
          }
        }
        // Every other run finishes now; the rest keep their lease into the next round (all
        // finish when nobody could claim anything, so the queue drains).
        const claimedAny = batches.some((batch) => batch.length > 0);
        for (const [i, r] of running.entries()) {
          if (claimedAny && i % 2 === 1) continue;
          assert.equal(await succeed(r.id, r.lease_owner), true);
          finished += 1;
        }
      }
      assert.equal(owner.size, total);
      assert.deepEqual(
        Object.fromEntries(ran),
        Object.fromEntries(planned),
        "each app and user's actions ran in planned order",
      );
    });
  });

  describe("leases", () => {
    it("refuses the outcome of a worker whose lease was swept and taken over", async () => {
      const id = await enqueue({ user: user() });
      assert.deepEqual(await claimIds("worker-a"), [id]);

      clock.advance(LEASE_MS - 1);
      assert.equal(await sweepExpiredLeases(ctx.knex, clock.now()), 0);
      clock.advance(2);
      assert.equal(await sweepExpiredLeases(ctx.knex, clock.now()), 1);
      const [again] = await claim("worker-b");
      assert.equal(again?.id, id);
      assert.equal(again.attempts, 2, "the lost run counts as an attempt");

      // worker-a comes back from a long pause and reports: too late.
      assert.equal(await succeed(id, "worker-a"), false);
      const taken = await row(id);
      assert.equal(taken.state, "running");
      assert.equal(taken.lease_owner, "worker-b");

      assert.equal(
        await finishRun(
          ctx.knex,
          { id, workerId: "worker-b", now: clock.now() },
          { state: "failed", error: { kind: "rejected" } },
        ),
        true,
      );
      const done = await row(id);
      assert.equal(done.state, "failed");
      assert.deepEqual(done.last_error, { kind: "rejected" });
      assert.equal(done.lease_owner, null);
    });

    it("returns runs with expired leases to the queue, polling again when a job was started", async () => {
      const expired = new Date(EPOCH.getTime() - 1);
      const plain = await enqueue({
        user: user(),
        state: "running",
        attempts: 1,
        leaseOwner: "worker-dead",
        leaseExpiresAt: expired,
      });
      const polling = await enqueue({
        user: user(),
        kind: "export",
        state: "running",
        attempts: 1,
        job: { id: "job-7" },
        leaseOwner: "worker-dead",
        leaseExpiresAt: expired,
      });
      const alive = await enqueue({
        user: user(),
        state: "running",
        attempts: 1,
        leaseOwner: "worker-alive",
        leaseExpiresAt: new Date(EPOCH.getTime() + 1_000),
      });

      assert.equal(await sweepExpiredLeases(ctx.knex, clock.now()), 2);
      const [p, j, a] = [
        await row(plain),
        await row(polling),
        await row(alive),
      ];
      assert.deepEqual(
        [p.state, p.lease_owner, new Date(p.run_at).getTime()],
        ["pending", null, EPOCH.getTime()],
      );
      assert.deepEqual(
        [j.state, j.lease_owner, j.job],
        ["in_progress", null, { id: "job-7" }],
      );
      assert.equal(a.state, "running");
      assert.equal(a.lease_owner, "worker-alive");

      const claimed = await claim("worker-b");
      const byId = new Map(claimed.map((c) => [c.id, c]));
      assert.equal(byId.get(plain)?.attempts, 2, "a new attempt");
      assert.equal(byId.get(polling)?.attempts, 1, "a poll is no new attempt");
      assert.deepEqual(byId.get(polling)?.job, { id: "job-7" });
      assert.equal(byId.has(alive), false);
    });
  });

  describe("throttles", () => {
    it("skips a blocked app's actions until its Retry-After window ends", async () => {
      const ada = user();
      const backup = await enqueue({ user: ada, app: "backup" });
      const dropbox = await enqueue({ user: ada, app: "dropbox" });
      const other = await createTestTenant(ctx);
      const otherBackup = await enqueue({
        user: user(),
        app: "backup",
        tenantId: other.id,
      });
      const until = new Date(EPOCH.getTime() + 60_000);
      await blockApp(ctx.knex, { tenantId: tenant.id, appId: "backup" }, until);
      // A shorter window announced later does not shorten the one we have.
      await blockApp(
        ctx.knex,
        { tenantId: tenant.id, appId: "backup" },
        new Date(EPOCH.getTime() + 5_000),
      );
      const key = { tenantId: tenant.id, appId: "backup" };
      assert.deepEqual(
        await appBlockedUntil(ctx.knex, key, clock.now()),
        until,
      );

      const claimed = await claimIds();
      assert.deepEqual(
        claimed.sort(),
        [dropbox, otherBackup].sort(),
        "other apps, and the same app of another tenant, go on",
      );
      await ctx
        .knex("actions")
        .where({ tenant_id: other.id })
        .update({ state: "succeeded", lease_owner: null });

      clock.advance(59_999);
      assert.deepEqual(await claimIds(), []);
      assert.ok(await appBlockedUntil(ctx.knex, key, clock.now()));

      clock.advance(1);
      assert.equal(
        await appBlockedUntil(ctx.knex, key, clock.now()),
        undefined,
      );
      assert.deepEqual(await claimIds(), [backup]);
    });

    it("grants a burst of tokens, then says when the next one is due, and refills with time", async () => {
      const key = { tenantId: tenant.id, appId: "backup" };
      const limit = { perMinute: 6, burst: 3 }; // one token every 10 s
      const take = () => takeRateToken(ctx.knex, key, limit, clock.now());
      const at = (ms: number) => new Date(EPOCH.getTime() + ms);

      assert.deepEqual(
        [await take(), await take(), await take()],
        [undefined, undefined, undefined],
      );
      assert.deepEqual(await take(), at(10_000));
      assert.deepEqual(await take(), at(10_000), "a refusal costs nothing");

      clock.advance(4_000);
      assert.deepEqual(await take(), at(10_000));
      clock.advance(6_000);
      assert.equal(await take(), undefined, "granted when promised");
      assert.deepEqual(await take(), at(20_000));

      // A long quiet spell refills up to the burst, not beyond.
      clock.advance("1h");
      const afterAnHour = [await take(), await take(), await take()];
      assert.deepEqual(afterAnHour, [undefined, undefined, undefined]);
      assert.ok(await take(), "no fourth token");

      // Each app of each tenant has its own bucket.
      assert.equal(
        await takeRateToken(
          ctx.knex,
          { tenantId: tenant.id, appId: "dropbox" },
          limit,
          clock.now(),
        ),
        undefined,
      );
    });

    it("grants a token at the time it promised, for rates that do not divide a minute", async () => {
      const key = { tenantId: tenant.id, appId: "backup" };
      const limit = { perMinute: 7, burst: 1 }; // one token every 8 571.43 ms
      let promised = 0;
      for (let i = 0; i < 20; i++) {
        assert.equal(
          await takeRateToken(ctx.knex, key, limit, clock.now()),
          undefined,
          `token ${i} was promised for ${clock.now().toISOString()}`,
        );
        const next = await takeRateToken(ctx.knex, key, limit, clock.now());
        assert.ok(next, `token ${i} was not the last`);
        promised += 1;
        clock.set(next);
      }
      assert.equal(promised, 20);
      // 20 tokens at 7 a minute take 20 × 60/7 s, give or take the rounding to whole milliseconds.
      const elapsed = clock.now().getTime() - EPOCH.getTime();
      assert.ok(
        Math.abs(elapsed - (20 * 60_000) / 7) <= 20,
        `${elapsed} ms for 20 tokens`,
      );
    });
  });

  describe("operator verbs", () => {
    const states: ActionState[] = [
      "pending",
      "running",
      "in_progress",
      "succeeded",
      "failed",
      "cancelled",
      "skipped",
    ];

    async function oneOfEach(): Promise<Map<ActionState, string>> {
      const ids = new Map<ActionState, string>();
      for (const state of states) {
        ids.set(
          state,
          await enqueue({
            user: user(),
            state,
            attempts: state === "pending" ? 0 : 3,
            ...(state === "running"
              ? {
                  leaseOwner: "worker-a",
                  leaseExpiresAt: new Date(EPOCH.getTime() + LEASE_MS),
                }
              : {}),
            ...(state === "in_progress"
              ? {
                  job: { id: "job-1" },
                  runAt: new Date(EPOCH.getTime() + 60_000),
                }
              : {}),
          }),
        );
      }
      return ids;
    }

    it("retries only failed or cancelled actions, with fresh attempts, now", async () => {
      const ids = await oneOfEach();
      clock.advance("2h");
      const key = (id: string) => ({ tenantId: tenant.id, id });
      const retried: ActionState[] = [];
      for (const [state, id] of ids) {
        const before = await row(id);
        if (await retryAction(ctx.knex, key(id), clock.now())) {
          retried.push(state);
          const after = await row(id);
          assert.equal(after.state, "pending");
          assert.equal(after.attempts, 0);
          assert.equal(after.finished_at, null);
          assert.deepEqual(after.run_at, clock.now());
        } else {
          assert.deepEqual(await row(id), before, `${state} changed`);
        }
      }
      assert.deepEqual(retried, ["failed", "cancelled"]);

      // Another tenant cannot retry ours.
      const other = await createTestTenant(ctx);
      const failed = await enqueue({ user: user(), state: "failed" });
      assert.equal(
        await retryAction(
          ctx.knex,
          { tenantId: other.id, id: failed },
          clock.now(),
        ),
        false,
      );

      // A retried action runs again, as its first attempt.
      const claimed = await claim("worker-a");
      const again = claimed.find((a) => a.id === ids.get("failed"));
      assert.equal(again?.attempts, 1);
    });

    it("retries a timed-out job from the start, with no deadline left over", async () => {
      const exportId = await enqueue({
        user: user(),
        kind: "export",
        state: "failed",
        attempts: 1,
        job: { id: "job-9" },
        runAt: new Date(EPOCH.getTime() - 7_200_000),
      });
      assert.ok((await row(exportId)).job_deadline! < clock.now());
      assert.equal(
        await retryAction(
          ctx.knex,
          { tenantId: tenant.id, id: exportId },
          clock.now(),
        ),
        true,
      );
      const retried = await row(exportId);
      assert.deepEqual(
        [retried.state, retried.job, retried.job_deadline],
        ["pending", null, null],
      );
    });

    it("cancels only pending or failed actions, with the reason", async () => {
      const ids = await oneOfEach();
      const cancelled: ActionState[] = [];
      for (const [state, id] of ids) {
        const before = await row(id);
        const ok = await cancelAction(
          ctx.knex,
          { tenantId: tenant.id, id },
          clock.now(),
          "left before the removal",
        );
        if (ok) {
          cancelled.push(state);
          const after = await row(id);
          assert.equal(after.state, "cancelled");
          assert.deepEqual(after.last_error, {
            reason: "left before the removal",
          });
          assert.deepEqual(after.finished_at, clock.now());
        } else {
          assert.deepEqual(await row(id), before, `${state} changed`);
        }
      }
      assert.deepEqual(cancelled, ["pending", "failed"]);
      assert.deepEqual(await claimIds(), [], "nothing cancelled is claimed");
    });
  });
});
