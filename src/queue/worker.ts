import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/open-database.ts";
import type { Logger } from "../logger.ts";
import {
  claimActions,
  extendLeases,
  sweepExpiredLeases,
  type ClaimedAction,
} from "./action-queue.ts";
import { releaseActions } from "./release-actions.ts";

/** How long a claim holds an action before another worker may take it over. */
export const ACTION_LEASE_MS = 30_000;
/** How often a worker looks for due actions when nobody told it about new ones. */
export const WORKER_POLL_MS = 250;
/** How often expired leases are swept (a crashed worker's actions run again within a minute). */
export const LEASE_SWEEP_MS = 10_000;

/** Runs one claimed action to its outcome (records it); must not throw for downstream errors. */
export type ActionHandler = (
  action: ClaimedAction,
  workerId: string,
) => Promise<void>;

/**
 * Where a worker's loop is: `idle` when it was never started (API-only processes, tests and the CLI
 * that call runUntilIdle), `stalled` when it runs but its last cycle is old.
 */
export type WorkerStatus =
  "idle" | "running" | "stalled" | "stopping" | "stopped";

/** What stop() did with the runs still in flight when its grace ran out. */
export interface WorkerStopReport {
  /** Runs still going when the grace ran out. */
  abandoned: number;
  /** Of those, actions given back to the queue (the others recorded their outcome in time). */
  released: number;
}

/** A queue worker: claims due actions and runs them with the injected handler. */
export interface Worker {
  readonly id: string;
  /** Starts the loop (server processes with the worker role). */
  start(): void;
  /** Wakes the loop now: a write just planned actions due at once. */
  nudge(): void;
  /** Runs everything due until nothing is left (tests, CLI); returns how many runs it made. */
  runUntilIdle(): Promise<number>;
  /**
   * Stops claiming and waits for runs in flight, keeping their leases alive. With `graceMs`, runs
   * still going after it are released (see releaseActions) and stop returns without them. Calling
   * it again returns the first call's result.
   */
  stop(options?: { graceMs?: number }): Promise<WorkerStopReport>;
  /** True while the loop runs and its last cycle was recent. */
  isAlive(): boolean;
  /** Where the loop is (readiness checks). */
  status(): WorkerStatus;
}

/** Creates a worker on the action queue. */
export function createWorker(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  handle: ActionHandler;
  concurrency?: number;
  leaseMs?: number;
  pollMs?: number;
}): Worker {
  const { db, clock, logger, handle } = deps;
  const id = `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
  const concurrency = deps.concurrency ?? 16;
  const leaseMs = deps.leaseMs ?? ACTION_LEASE_MS;
  const pollMs = deps.pollMs ?? WORKER_POLL_MS;
  const inFlight = new Map<string, Promise<void>>();
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let nudged = false;
  let lastCycleAt = 0;
  let lastSweepAt = 0;
  let lastClaimAt = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let started = false;
  let stopping: Promise<WorkerStopReport> | undefined;
  let stopped = false;

  function isAlive(): boolean {
    return running && Date.now() - lastCycleAt < Math.max(pollMs * 20, 30_000);
  }

  function launch(action: ClaimedAction): void {
    const run = handle(action, id)
      .catch((error: unknown) => {
        // The handler records outcomes itself; reaching here means the database failed while
        // recording. The lease expires and the sweep returns the action to the queue.
        logger.error("action run could not be recorded", {
          actionId: action.id,
          error: (error as Error).message,
        });
      })
      .finally(() => {
        inFlight.delete(action.id);
        wake?.();
      });
    inFlight.set(action.id, run);
  }

  async function claimAndLaunch(): Promise<number> {
    const free = concurrency - inFlight.size;
    if (free <= 0) return 0;
    // While runs are in flight, claim only once half the slots are free, or a poll interval after
    // the last claim: a claim is one statement whatever it takes, and claiming slot by slot as runs
    // finished cost a claim per action in a burst. Slow runs hold the free slots back for at most
    // that interval. An idle worker claims at once (the latency of a lone deactivation).
    if (
      inFlight.size > 0 &&
      free < Math.ceil(concurrency / 2) &&
      Date.now() - lastClaimAt < pollMs
    ) {
      return 0;
    }
    lastClaimAt = Date.now();
    const claimed = await claimActions(db, {
      workerId: id,
      now: clock.now(),
      limit: free,
      leaseMs,
    });
    for (const action of claimed) launch(action);
    return claimed.length;
  }

  async function sweepIfDue(force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - lastSweepAt < Math.min(LEASE_SWEEP_MS, leaseMs / 2))
      return;
    lastSweepAt = now;
    const swept = await sweepExpiredLeases(db, clock.now());
    if (swept > 0) logger.warn("returned actions of a lost worker", { swept });
  }

  async function cycle(): Promise<void> {
    while (running) {
      lastCycleAt = Date.now();
      nudged = false;
      let claimed = 0;
      try {
        await sweepIfDue();
        claimed = await claimAndLaunch();
      } catch (error) {
        // Database down: keep trying; the loop survives outages.
        logger.warn("worker cycle failed", {
          error: (error as Error).message,
        });
      }
      if (claimed > 0 && inFlight.size < concurrency) continue;
      if (nudged) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    id,
    start() {
      if (running) return;
      running = true;
      started = true;
      stopping = undefined;
      stopped = false;
      heartbeat = setInterval(() => {
        const until = new Date(clock.now().getTime() + leaseMs);
        extendLeases(db, {
          workerId: id,
          ids: [...inFlight.keys()],
          until,
        }).catch((error: unknown) =>
          logger.warn("could not extend leases", {
            error: (error as Error).message,
          }),
        );
      }, leaseMs / 3);
      heartbeat.unref();
      loop = cycle();
    },
    nudge() {
      nudged = true;
      wake?.();
    },
    async runUntilIdle() {
      let runs = 0;
      await sweepIfDue(true);
      for (;;) {
        const claimed = await claimAndLaunch();
        runs += claimed;
        if (inFlight.size === 0 && claimed === 0) return runs;
        if (inFlight.size > 0) await Promise.race(inFlight.values());
      }
    },
    stop(options = {}) {
      stopping ??= shutdown(options.graceMs);
      return stopping;
    },
    isAlive,
    status() {
      if (stopped) return "stopped";
      if (stopping) return "stopping";
      if (!started) return "idle";
      return isAlive() ? "running" : "stalled";
    },
  };

  async function shutdown(graceMs?: number): Promise<WorkerStopReport> {
    const deadline = graceMs === undefined ? undefined : Date.now() + graceMs;
    running = false;
    wake?.();
    // The heartbeat keeps running until the last run ends or is released: a lease that ran out
    // while we wait would let another worker sweep the action and run it a second time, at once.
    try {
      // The loop may still be launching what its last claim returned: wait for it, then the runs.
      const drained = (async () => {
        await loop;
        await Promise.allSettled(inFlight.values());
      })();
      if (deadline === undefined) {
        await drained;
        return { abandoned: 0, released: 0 };
      }
      const inTime = await settledBy(drained, deadline);
      const left = inTime ? [] : [...inFlight.keys()];
      if (left.length === 0) return { abandoned: 0, released: 0 };
      let released = 0;
      try {
        released = await releaseActions(db, {
          workerId: id,
          ids: left,
          now: clock.now(),
        });
      } catch (error) {
        // The leases still run out and the sweep returns the actions: later, but never lost.
        logger.error("could not release actions at shutdown", {
          actionIds: left,
          error: (error as Error).message,
        });
      }
      // Their runs go on without us; whatever they try to record finds the lease gone.
      for (const actionId of left) inFlight.delete(actionId);
      logger.warn("released actions still running at shutdown", {
        actionIds: left,
        released,
      });
      return { abandoned: left.length, released };
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      stopped = true;
    }
  }
}

/** Waits for `work` until `deadline` (epoch ms); true when it settled in time. */
async function settledBy(
  work: Promise<unknown>,
  deadline: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(
      () => resolve(false),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
