import type { Db } from "../db/open-database.ts";
import type { ActionRecord } from "../domain/action.ts";
import type { AppStateRow } from "../store/app-states-store.ts";

/**
 * A claimed action, as the worker sees it: running, under this worker's lease, with the user's
 * state in the app, read by the claim itself (the claim also skips apps inside a Retry-After
 * window, so the run follows that check without another round trip).
 */
export type ClaimedAction = ActionRecord & {
  state: "running";
  lease_owner: string;
  lease_expires_at: Date;
  /** The user's state in the app when claimed (`since` as JSON text), null when it has none. */
  app_state: (Omit<AppStateRow, "since"> & { since: string }) | null;
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
     RETURNING actions.*,
       (SELECT to_jsonb(s) FROM app_states s
        WHERE s.tenant_id = actions.tenant_id AND s.user_id = actions.user_id
          AND s.app_id = actions.app_id) AS app_state`,
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

/** An audit entry to append with a run's outcome (the audit_entries columns). */
export interface RunAuditEntry {
  tenant_id: string;
  occurred_at: Date;
  actor_token_id: string | null;
  key: string;
  resource_type: string | null;
  resource_id: string | null;
  request_id: string | null;
  detail: Record<string, unknown>;
}

/** What a run's outcome writes besides the action row, all or nothing with it. */
export interface RunSideEffects {
  /** A Retry-After window for the app (the later of the current and this one is kept). */
  blockApp?: { tenantId: string; appId: string; until: Date };
  /** What the run left in the app: a new state (`since` moves only on a change) and ids merged into `ref`. */
  appState?: {
    tenantId: string;
    userId: string;
    appId: string;
    state?: string;
    ref?: Record<string, unknown>;
    at: Date;
  };
  audit?: RunAuditEntry;
}

function outcomeChanges(
  db: Db,
  now: Date,
  outcome: RunOutcome,
): Record<string, unknown> {
  const common = { lease_owner: null, lease_expires_at: null, updated_at: now };
  switch (outcome.state) {
    case "succeeded":
    case "skipped":
      return {
        ...common,
        state: outcome.state,
        result: JSON.stringify(outcome.result),
        finished_at: now,
      };
    case "failed":
      return {
        ...common,
        state: "failed",
        last_error: JSON.stringify(outcome.error),
        finished_at: now,
      };
    case "pending":
      return {
        ...common,
        state: "pending",
        run_at: outcome.runAt,
        ...(outcome.error ? { last_error: JSON.stringify(outcome.error) } : {}),
        ...(outcome.countAttempt
          ? {}
          : { attempts: db.raw("greatest(attempts - 1, 0)") }),
      };
    case "in_progress":
      return {
        ...common,
        state: "in_progress",
        run_at: outcome.runAt,
        job: JSON.stringify(outcome.job),
        job_deadline: outcome.jobDeadline,
        ...(outcome.result ? { result: JSON.stringify(outcome.result) } : {}),
      };
  }
}

/**
 * Records how a claimed run ended, only while this worker still holds the lease (a fence: a worker
 * whose lease was swept cannot overwrite the newer run), together with what the run changed
 * elsewhere (the app's Retry-After window, the user's state in the app, the audit entry). One
 * statement: the side effects are written only when the fence holds, and it all commits together
 * in one round trip instead of a transaction of five. Returns false when the lease was lost.
 */
export async function finishRun(
  db: Db,
  action: { id: string; workerId: string; now: Date },
  outcome: RunOutcome,
  effects: RunSideEffects = {},
): Promise<boolean> {
  const run = db("actions")
    .where({ id: action.id, lease_owner: action.workerId, state: "running" })
    .update(outcomeChanges(db, action.now, outcome))
    .returning("id")
    .toSQL();
  const parts = [`run AS (${run.sql})`];
  const bindings: unknown[] = [...run.bindings];
  const { blockApp: block, appState, audit } = effects;
  if (block) {
    parts.push(`blocked AS (
      INSERT INTO app_throttles (tenant_id, app_id, blocked_until)
      SELECT ?::uuid, ?, ?::timestamptz FROM run
      ON CONFLICT (tenant_id, app_id) DO UPDATE
      SET blocked_until = greatest(app_throttles.blocked_until, excluded.blocked_until))`);
    bindings.push(block.tenantId, block.appId, block.until.toISOString());
  }
  if (appState) {
    parts.push(`app_state AS (
      INSERT INTO app_states (tenant_id, user_id, app_id, state, since, ref, updated_at)
      SELECT ?::uuid, ?::uuid, ?, coalesce(?::text, 'unknown'), ?::timestamptz, ?::jsonb,
             ?::timestamptz
      FROM run
      ON CONFLICT (tenant_id, user_id, app_id) DO UPDATE SET
        state = coalesce(?::text, app_states.state),
        since = CASE WHEN ?::text IS NOT NULL AND ?::text <> app_states.state
                     THEN excluded.since ELSE app_states.since END,
        ref = app_states.ref || excluded.ref,
        updated_at = excluded.updated_at)`);
    const state = appState.state ?? null;
    const at = appState.at.toISOString();
    bindings.push(
      appState.tenantId,
      appState.userId,
      appState.appId,
      state,
      at,
      JSON.stringify(appState.ref ?? {}),
      at,
      state,
      state,
      state,
    );
  }
  if (audit) {
    parts.push(`audit AS (
      INSERT INTO audit_entries
        (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
      SELECT ?::uuid, ?::timestamptz, ?::uuid, ?, ?, ?::uuid, ?, ?::jsonb FROM run)`);
    bindings.push(
      audit.tenant_id,
      audit.occurred_at.toISOString(),
      audit.actor_token_id,
      audit.key,
      audit.resource_type,
      audit.resource_id,
      audit.request_id,
      JSON.stringify(audit.detail),
    );
  }
  const result = await db.raw<{ rows: { owned: string }[] }>(
    `WITH ${parts.join(", ")} SELECT count(*) AS owned FROM run`,
    bindings as never[],
  );
  return Number(result.rows[0]!.owned) === 1;
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
