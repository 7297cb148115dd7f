import type { Db } from "../db/open-database.ts";
import type { ActionRecord } from "../domain/action.ts";

/** A claimed action, as the worker sees it: running, under this worker's lease. */
export type ClaimedAction = ActionRecord & {
  state: "running";
  lease_owner: string;
  lease_expires_at: Date;
};

/**
 * Claims up to `limit` due actions for one worker, under a lease.
 *
 * Only the head of each user's actions in an app is eligible: an action waits while an earlier one
 * of the same user and app runs, polls a downstream job, is due, or waits to be retried. So at most one
 * action per app and user runs at a time, in the order they were planned, and a suspend never
 * overtakes the create. Deferred actions (`after: 30d`) that are not yet due do not block later
 * ones. Two workers never claim the same row (`SKIP LOCKED`), and never two heads of one user and app:
 * the second head only exists once the first has finished. Apps inside a Retry-After window are
 * skipped. "Deferred" means never claimed (`claims` = 0): an action that waits after a claim (a
 * retry, a Retry-After, a rate-limit wait) keeps its place.
 */
export async function claimActions(
  db: Db,
  options: { workerId: string; now: Date; limit: number; leaseMs: number },
): Promise<ClaimedAction[]> {
  const now = options.now.toISOString();
  const result = await db.raw<{ rows: ClaimedAction[] }>(
    `WITH candidates AS (
       SELECT a.id FROM actions a
       WHERE a.state IN ('pending', 'in_progress') AND a.run_at <= ?::timestamptz
         AND NOT EXISTS (
           SELECT 1 FROM actions b
           WHERE b.tenant_id = a.tenant_id AND b.user_id = a.user_id AND b.app_id = a.app_id
             AND b.id < a.id
             AND b.state IN ('pending', 'running', 'in_progress')
             AND (b.state <> 'pending' OR b.run_at <= ?::timestamptz OR b.claims > 0))
         AND NOT EXISTS (
           SELECT 1 FROM app_throttles t
           WHERE t.tenant_id = a.tenant_id AND t.app_id = a.app_id
             AND t.blocked_until > ?::timestamptz)
       ORDER BY a.run_at, a.id
       LIMIT ?
       FOR UPDATE OF a SKIP LOCKED
     )
     UPDATE actions SET
       state = 'running',
       attempts = actions.attempts + CASE WHEN actions.state = 'pending' THEN 1 ELSE 0 END,
       claims = actions.claims + 1,
       lease_owner = ?, lease_expires_at = ?::timestamptz, updated_at = ?::timestamptz
     FROM candidates WHERE actions.id = candidates.id
     RETURNING actions.*`,
    [
      now,
      now,
      now,
      options.limit,
      options.workerId,
      new Date(options.now.getTime() + options.leaseMs).toISOString(),
      now,
    ] as never[],
  );
  return result.rows.sort((x, y) => Number(x.id) - Number(y.id));
}

/** Extends the leases of actions a live worker still runs. */
export async function extendLeases(
  db: Db,
  options: { workerId: string; ids: string[]; until: Date },
): Promise<void> {
  if (options.ids.length === 0) return;
  await db("actions")
    .whereIn("id", options.ids)
    .andWhere({ lease_owner: options.workerId, state: "running" })
    .update({ lease_expires_at: options.until });
}

/**
 * Returns actions whose lease ran out (their worker died or hung) to the queue, at once. The
 * downstream call may have happened: connectors treat a repeat as done (idempotency), so the
 * effect stays single. Returns how many were swept.
 */
export async function sweepExpiredLeases(db: Db, now: Date): Promise<number> {
  return db("actions")
    .where({ state: "running" })
    .andWhere("lease_expires_at", "<", now)
    .update({
      state: db.raw(
        "CASE WHEN job IS NULL THEN 'pending' ELSE 'in_progress' END",
      ),
      lease_owner: null,
      lease_expires_at: null,
      run_at: now,
      updated_at: now,
    });
}

/** How a run ended, for `finishRun`. */
export type RunOutcome =
  | { state: "succeeded"; result: Record<string, unknown> }
  | { state: "skipped"; result: Record<string, unknown> }
  | { state: "failed"; error: Record<string, unknown> }
  | {
      /** Back to the queue: a retry after backoff, a Retry-After wait, or a token-bucket wait. */
      state: "pending";
      runAt: Date;
      error?: Record<string, unknown>;
      /** False for waits that are not the action's fault (rate limits): the attempt is given back. */
      countAttempt: boolean;
    }
  | {
      state: "in_progress";
      runAt: Date;
      job: Record<string, unknown>;
      jobDeadline: Date;
      result?: Record<string, unknown>;
    };

/**
 * Records how a claimed run ended, only while this worker still holds the lease (a fence: a worker
 * whose lease was swept cannot overwrite the newer run). Returns false when the lease was lost.
 */
export async function finishRun(
  db: Db,
  action: { id: string; workerId: string; now: Date },
  outcome: RunOutcome,
): Promise<boolean> {
  const common = {
    lease_owner: null,
    lease_expires_at: null,
    updated_at: action.now,
  };
  let changes: Record<string, unknown>;
  switch (outcome.state) {
    case "succeeded":
    case "skipped":
      changes = {
        state: outcome.state,
        result: JSON.stringify(outcome.result),
        finished_at: action.now,
      };
      break;
    case "failed":
      changes = {
        state: "failed",
        last_error: JSON.stringify(outcome.error),
        finished_at: action.now,
      };
      break;
    case "pending":
      changes = {
        state: "pending",
        run_at: outcome.runAt,
        ...(outcome.error ? { last_error: JSON.stringify(outcome.error) } : {}),
        ...(outcome.countAttempt
          ? {}
          : { attempts: db.raw("greatest(attempts - 1, 0)") }),
      };
      break;
    case "in_progress":
      changes = {
        state: "in_progress",
        run_at: outcome.runAt,
        job: JSON.stringify(outcome.job),
        job_deadline: outcome.jobDeadline,
        ...(outcome.result ? { result: JSON.stringify(outcome.result) } : {}),
      };
      break;
  }
  const updated = await db("actions")
    .where({ id: action.id, lease_owner: action.workerId, state: "running" })
    .update({ ...common, ...changes });
  return updated === 1;
}

/**
 * Blocks an app until `until` (a Retry-After window): no worker claims its actions before then.
 * Keeps the later of the current and the new window.
 */
export async function blockApp(
  db: Db,
  key: { tenantId: string; appId: string },
  until: Date,
): Promise<void> {
  await db.raw(
    `INSERT INTO app_throttles (tenant_id, app_id, blocked_until) VALUES (?, ?, ?::timestamptz)
     ON CONFLICT (tenant_id, app_id) DO UPDATE
     SET blocked_until = greatest(app_throttles.blocked_until, excluded.blocked_until)`,
    [key.tenantId, key.appId, until.toISOString()] as never[],
  );
}

/** The end of an app's Retry-After window, if it is in one. */
export async function appBlockedUntil(
  db: Db,
  key: { tenantId: string; appId: string },
  now: Date,
): Promise<Date | undefined> {
  const row = await db("app_throttles")
    .where({ tenant_id: key.tenantId, app_id: key.appId })
    .andWhere("blocked_until", ">", now)
    .first<{ blocked_until: Date } | undefined>("blocked_until");
  return row ? new Date(row.blocked_until) : undefined;
}

/**
 * Takes one token from an app's bucket (`perMinute` refill, `burst` capacity), shared by every
 * worker through the database. Returns undefined when granted, else when the next token is due.
 */
export async function takeRateToken(
  db: Db,
  key: { tenantId: string; appId: string },
  limit: { perMinute: number; burst: number },
  now: Date,
): Promise<Date | undefined> {
  const ratePerMs = limit.perMinute / 60_000;
  // One statement: refill by the time elapsed since the last refill, then take a token. A
  // negative balance means there was no whole token: it is given back below.
  const result = await db.raw<{ rows: { tokens: number }[] }>(
    `INSERT INTO app_throttles (tenant_id, app_id, tokens, refilled_at)
     VALUES (?, ?, ?::double precision - 1, ?::timestamptz)
     ON CONFLICT (tenant_id, app_id) DO UPDATE SET
       tokens = least(?::double precision,
         coalesce(app_throttles.tokens, ?::double precision) + greatest(0,
           extract(epoch FROM (excluded.refilled_at
             - coalesce(app_throttles.refilled_at, excluded.refilled_at))) * 1000)
           * ?::double precision) - 1,
       refilled_at = greatest(app_throttles.refilled_at, excluded.refilled_at)
     RETURNING tokens`,
    [
      key.tenantId,
      key.appId,
      limit.burst,
      now.toISOString(),
      limit.burst,
      limit.burst,
      ratePerMs,
    ] as never[],
  );
  const tokens = Number(result.rows[0]!.tokens);
  if (tokens >= 0) return undefined;
  // The token was borrowed (tokens < 0): give it back and say when one will be whole.
  await db("app_throttles")
    .where({ tenant_id: key.tenantId, app_id: key.appId })
    .increment("tokens", 1);
  const missing = 1 - (tokens + 1);
  return new Date(now.getTime() + Math.ceil(missing / ratePerMs));
}

/** Operator verb: puts a failed (or cancelled) action back in the queue, with fresh attempts. */
export async function retryAction(
  db: Db,
  key: { tenantId: string; id: string },
  now: Date,
): Promise<boolean> {
  const updated = await db("actions")
    .where({ tenant_id: key.tenantId, id: key.id })
    .whereIn("state", ["failed", "cancelled"])
    .update({
      state: "pending",
      attempts: 0,
      run_at: now,
      finished_at: null,
      updated_at: now,
      // A fresh start: a kept deadline would time the retry out before it runs, and a kept job
      // (failed or stuck) would be polled instead of started again.
      job: null,
      job_deadline: null,
    });
  return updated === 1;
}

/** Operator verb: cancels an action that has not started (pending, or failed). */
export async function cancelAction(
  db: Db,
  key: { tenantId: string; id: string },
  now: Date,
  reason: string,
): Promise<boolean> {
  const updated = await db("actions")
    .where({ tenant_id: key.tenantId, id: key.id })
    .whereIn("state", ["pending", "failed"])
    .update({
      state: "cancelled",
      finished_at: now,
      updated_at: now,
      last_error: JSON.stringify({ reason }),
    });
  return updated === 1;
}
