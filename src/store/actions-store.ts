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

/** Lists a tenant's actions, newest first, with optional filters; keyset paging on id. */
export async function listActions(
  db: Db,
  tenantId: string,
  filter: {
    userId?: string;
    appId?: string;
    states?: ActionState[];
    beforeId?: string;
    limit?: number;
  } = {},
): Promise<ActionRow[]> {
  const query = db<ActionRow>("actions").where({ tenant_id: tenantId });
  if (filter.userId) query.andWhere({ user_id: filter.userId });
  if (filter.appId) query.andWhere({ app_id: filter.appId });
  if (filter.states?.length) query.whereIn("state", filter.states);
  if (filter.beforeId) query.andWhere("id", "<", filter.beforeId);
  return query.orderBy("id", "desc").limit(filter.limit ?? 100);
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
