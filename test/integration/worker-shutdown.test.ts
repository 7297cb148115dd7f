import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createLogger } from "../../src/logger.ts";
import { finishRun, type ClaimedAction } from "../../src/queue/action-queue.ts";
import { createWorker } from "../../src/queue/worker.ts";
import { insertAction } from "../support/lifecycle-rows.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

/** A promise with its resolve, to hold a run until the test lets it go. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("stopping the worker", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  const logger = createLogger({ silent: true });

  before(async () => {
    ctx = await createTestContext();
    tenant = await createTestTenant(ctx);
    await ctx.services.policies.apply(
      tenant.id,
      { apps: [{ id: "slow-app", connector: "log" }], rules: [] },
      { source: "api" },
    );
  });
  after(() => ctx.close());

  /** Queues a suspend of the user in slow-app, due now. */
  function queueDue(userId: string) {
    return insertAction(ctx.knex, {
      tenantId: tenant.id,
      userId,
      app: "slow-app",
      kind: "suspend",
      state: "pending",
      runAt: ctx.clock.now().toISOString(),
    });
  }

  /** Queues one due action and starts a worker whose runs wait for `release` before recording. */
  async function startHeldRun() {
    const userId = randomUUID();
    await queueDue(userId);
    const started = deferred<ClaimedAction>();
    const release = deferred();
    const recorded = deferred<boolean>();
    const worker = createWorker({
      db: ctx.knex,
      clock: ctx.clock,
      logger,
      handle: async (action, workerId) => {
        // Due actions of other test files (a shared DATABASE_URL) are left to their lease.
        if (action.user_id !== userId) return;
        started.resolve(action);
        await release.promise;
        recorded.resolve(
          await finishRun(
            ctx.knex,
            { id: action.id, workerId, now: ctx.clock.now() },
            { state: "succeeded", result: {} },
          ),
        );
      },
    });
    worker.start();
    const action = await started.promise;
    return { worker, action, release, recorded };
  }

  const rowOf = (id: string) =>
    ctx.knex("actions").where({ id }).first<{
      state: string;
      lease_owner: string | null;
      attempts: number;
      claims: number;
      run_at: Date;
    }>("state", "lease_owner", "attempts", "claims", "run_at");

  it("waits for a run that ends within the grace", async () => {
    const { worker, action, release, recorded } = await startHeldRun();
    const stopping = worker.stop({ graceMs: 60_000 });
    assert.equal(worker.status(), "stopping");
    release.resolve();
    assert.deepEqual(await stopping, { abandoned: 0, released: 0 });
    assert.equal(await recorded.promise, true);
    assert.equal((await rowOf(action.id))?.state, "succeeded");
    assert.equal(worker.status(), "stopped");
  });

  it("releases a run that outlives the grace; its late outcome is not recorded and the next worker runs it", async () => {
    const { worker, action, release, recorded } = await startHeldRun();
    assert.deepEqual(await worker.stop({ graceMs: 0 }), {
      abandoned: 1,
      released: 1,
    });
    const released = await rowOf(action.id);
    assert.equal(released?.state, "pending");
    assert.equal(released?.lease_owner, null);
    assert.equal(released?.attempts, 0, "the attempt is given back");
    assert.equal(released?.claims, 1, "it keeps its place in line");
    assert.equal(
      new Date(released!.run_at).getTime(),
      ctx.clock.now().getTime(),
      "due at once",
    );
    // Stopping again does not wait for the abandoned run.
    assert.deepEqual(await worker.stop(), { abandoned: 1, released: 1 });

    release.resolve();
    assert.equal(await recorded.promise, false, "the lease was gone");
    assert.equal((await rowOf(action.id))?.state, "pending");

    // Another worker (the app's own, with the real executor) takes it at once.
    await ctx.services.worker.runUntilIdle();
    const done = await rowOf(action.id);
    assert.equal(done?.state, "succeeded");
    assert.equal(done?.attempts, 1);
  });

  it("still runs new work while slow runs hold more than half of its slots", async () => {
    const users: string[] = Array.from({ length: 4 }, () => randomUUID());
    for (const userId of users.slice(0, 3)) await queueDue(userId);
    const release = deferred();
    const started = new Set<string>();
    const fourthStarted = deferred();
    const worker = createWorker({
      db: ctx.knex,
      clock: ctx.clock,
      logger,
      concurrency: 4,
      pollMs: 100,
      handle: async (action, workerId) => {
        if (!users.includes(action.user_id)) return;
        started.add(action.user_id);
        if (action.user_id === users[3]) fourthStarted.resolve();
        else await release.promise;
        await finishRun(
          ctx.knex,
          { id: action.id, workerId, now: ctx.clock.now() },
          { state: "succeeded", result: {} },
        );
      },
    });
    worker.start();
    try {
      while (started.size < 3) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Three of four slots are held: fewer than half are free, yet the new action runs.
      await queueDue(users[3]!);
      worker.nudge();
      const timedOut = Symbol("timed out");
      const outcome = await Promise.race([
        fourthStarted.promise,
        new Promise((resolve) => setTimeout(() => resolve(timedOut), 5_000)),
      ]);
      assert.notEqual(
        outcome,
        timedOut,
        "the fourth action waited for the held runs",
      );
    } finally {
      release.resolve();
      await worker.stop({ graceMs: 10_000 });
    }
  });
});
