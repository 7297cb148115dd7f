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

/** A queue worker: claims due actions and runs them with the injected handler. */
export interface Worker {
  readonly id: string;
  /** Starts the loop (server processes with the worker role). */
  start(): void;
  /** Wakes the loop now: a write just planned actions due at once. */
  nudge(): void;
  /** Runs everything due until nothing is left (tests, CLI); returns how many runs it made. */
  runUntilIdle(): Promise<number>;
  /** Stops claiming, waits for runs in flight, then returns. */
  stop(): Promise<void>;
  /** True while the loop runs and its last cycle was recent. */
  isAlive(): boolean;
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
  let heartbeat: NodeJS.Timeout | undefined;

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
    async stop() {
      running = false;
      wake?.();
      if (heartbeat) clearInterval(heartbeat);
      await loop;
      await Promise.allSettled(inFlight.values());
    },
    isAlive() {
      return (
        running && Date.now() - lastCycleAt < Math.max(pollMs * 20, 30_000)
      );
    },
  };
}
