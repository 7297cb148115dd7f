import type { Db } from "../db/open-database.ts";

import type { ActionRecord, ActionState } from "../domain/action.ts";

export type { ActionState } from "../domain/action.ts";

/** A planned action to insert with the write that caused it. */
export interface NewAction {
  app_id: string;
  kind: string;
  user_id: string;
  group_id: string | null;
  run_at: Date;
  max_attempts: number;
  params: Record<string, unknown>;
  condition: Record<string, unknown> | null;
  /** The user (and group) as they were when planned: actions outlive deleted users. */
  subject: Record<string, unknown>;
  idempotency_key: string;
  policy_version: number;
  rule_id: string;
  step: number;
  /** Position of the causing event among the write's events. */
  event_index: number;
  event_type: string;
  event_occurred_at: Date;
}

/** Pending actions of a user in an app to cancel with a write (all kinds when `kinds` is null). */
export interface CancelRequest {
  app_id: string;
  user_id: string;
  kinds: string[] | null;
  rule_id: string;
  policy_version: number;
}

/** A stored action. */
export type ActionRow = ActionRecord;

/** Finds one action of a tenant. */
export async function findActionById(
  db: Db,
  tenantId: string,
  id: string,
): Promise<ActionRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  return db<ActionRow>("actions").where({ tenant_id: tenantId, id }).first();
}

/**
 * Lists a tenant's actions with optional filters; keyset paging on id, newest first (`beforeId`,
 * the admin API) or oldest first (`afterId`, the auditor API).
 */
export async function listActions(
  db: Db,
  tenantId: string,
  filter: {
    userId?: string;
    appId?: string;
    states?: readonly ActionState[];
    beforeId?: string;
    afterId?: string;
    order?: "newest" | "oldest";
    limit?: number;
  } = {},
): Promise<ActionRow[]> {
  const query = db<ActionRow>("actions").where({ tenant_id: tenantId });
  if (filter.userId) query.andWhere({ user_id: filter.userId });
  if (filter.appId) query.andWhere({ app_id: filter.appId });
  if (filter.states?.length) query.whereIn("state", filter.states);
  if (filter.beforeId) query.andWhere("id", "<", filter.beforeId);
  if (filter.afterId) query.andWhere("id", ">", filter.afterId);
  return query
    .orderBy("id", filter.order === "oldest" ? "asc" : "desc")
    .limit(filter.limit ?? 100);
}

/** The deprovisioning clock of one app: IdP deactivation or deletion → the app's confirmation. */
export interface DeprovisioningClock {
  app_id: string;
  actions: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * Per app, how long succeeded actions caused at once (not deferred) by a deactivation or a
 * deletion took from the IdP's change to the app's confirmation, since `since`.
 */
export async function measureDeprovisioningClock(
  db: Db,
  tenantId: string,
  since: Date,
): Promise<DeprovisioningClock[]> {
  const result = await db.raw<{ rows: DeprovisioningClock[] }>(
    `SELECT app_id, count(*)::int AS actions,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::int AS p50_ms,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::int AS p99_ms,
            round(max(ms))::int AS max_ms
     FROM (
       SELECT app_id, extract(epoch FROM (finished_at - event_occurred_at)) * 1000 AS ms
       FROM actions
       WHERE tenant_id = ? AND state = 'succeeded'
         AND event_type IN ('user.deactivated', 'user.deleted')
         AND run_at <= event_occurred_at + interval '1 second'
         AND finished_at >= ?::timestamptz
     ) clocks
     GROUP BY app_id ORDER BY app_id`,
    [tenantId, since.toISOString()] as never[],
  );
  return result.rows;
}

/** A tenant's pending actions, the soonest due first; keyset paging on (run_at, id). */
export async function listPendingActionsByRunAt(
  db: Db,
  tenantId: string,
  options: { after?: { runAt: Date; id: string }; limit: number },
): Promise<ActionRow[]> {
  const query = db<ActionRow>("actions").where({
    tenant_id: tenantId,
    state: "pending",
  });
  if (options.after) {
    query.andWhereRaw("(run_at, id) > (?::timestamptz, ?::bigint)", [
      options.after.runAt.toISOString(),
      options.after.id,
    ]);
  }
  return query
    .orderBy([{ column: "run_at" }, { column: "id" }])
    .limit(options.limit);
}

/** What an app's actions did lately and what waits for it: the inputs of its health. */
export interface AppActionSummary {
  app_id: string;
  /** Finished since `since`. */
  succeeded: number;
  failed: number;
  /** Pending again after a failed attempt or a rate limit. */
  retrying: number;
  /** Unfinished and due by `now`. */
  due: number;
  /** Pending and not due yet (deferred steps such as `after: 30d`). */
  deferred: number;
  oldest_due_at: Date | null;
  last_succeeded_at: Date | null;
  last_failed_at: Date | null;
  /** The newest error among failed or retrying actions. */
  last_error: Record<string, unknown> | null;
}

/** Per app of a tenant, outcomes since `since` and the current queue (the console's Apps page). */
export async function summarizeActionsByApp(
  db: Db,
  tenantId: string,
  since: Date,
  now: Date,
): Promise<AppActionSummary[]> {
  const s = since.toISOString();
  const n = now.toISOString();
  const result = await db.raw<{ rows: AppActionSummary[] }>(
    `SELECT app_id,
       count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
       count(*) FILTER (WHERE state = 'failed')::int AS failed,
       count(*) FILTER (WHERE state = 'pending' AND claims > 0 AND last_error IS NOT NULL)::int AS retrying,
       count(*) FILTER (WHERE state IN ('pending', 'running', 'in_progress')
                          AND run_at <= ?::timestamptz)::int AS due,
       count(*) FILTER (WHERE state = 'pending' AND run_at > ?::timestamptz)::int AS deferred,
       min(run_at) FILTER (WHERE state IN ('pending', 'running', 'in_progress')
                             AND run_at <= ?::timestamptz) AS oldest_due_at,
       max(finished_at) FILTER (WHERE state = 'succeeded') AS last_succeeded_at,
       max(finished_at) FILTER (WHERE state = 'failed') AS last_failed_at,
       (array_agg(last_error ORDER BY updated_at DESC, id DESC)
          FILTER (WHERE last_error IS NOT NULL AND state IN ('failed', 'pending')))[1] AS last_error
     FROM actions
     WHERE tenant_id = ?
       AND (state IN ('pending', 'running', 'in_progress') OR finished_at >= ?::timestamptz)
     GROUP BY app_id ORDER BY app_id`,
    [n, n, n, tenantId, s] as never[],
  );
  return result.rows;
}

/** One app's deprovisioning clock on one UTC day. */
export interface DailyDeprovisioningClock {
  app_id: string;
  /** YYYY-MM-DD (UTC). */
  day: string;
  actions: number;
  p50_ms: number;
  p99_ms: number;
}

/** measureDeprovisioningClock per app and UTC day of the confirmation, since `since`. */
export async function measureDeprovisioningClockByDay(
  db: Db,
  tenantId: string,
  since: Date,
): Promise<DailyDeprovisioningClock[]> {
  const result = await db.raw<{ rows: DailyDeprovisioningClock[] }>(
    `SELECT app_id, day, count(*)::int AS actions,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::int AS p50_ms,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::int AS p99_ms
     FROM (
       SELECT app_id,
              to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
              extract(epoch FROM (finished_at - event_occurred_at)) * 1000 AS ms
       FROM actions
       WHERE tenant_id = ? AND state = 'succeeded'
         AND event_type IN ('user.deactivated', 'user.deleted')
         AND run_at <= event_occurred_at + interval '1 second'
         AND finished_at >= ?::timestamptz
     ) clocks
     GROUP BY app_id, day ORDER BY app_id, day`,
    [tenantId, since.toISOString()] as never[],
  );
  return result.rows;
}
