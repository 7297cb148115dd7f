import type { Db } from "../db/open-database.ts";

/** The states of a queued action. */
export type ActionState =
  | "pending"
  | "running"
  | "in_progress"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "skipped";

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
export interface ActionRow {
  id: string;
  tenant_id: string;
  app_id: string;
  kind: string;
  user_id: string;
  group_id: string | null;
  serial_key: string;
  state: ActionState;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  params: Record<string, unknown>;
  condition: Record<string, unknown> | null;
  subject: Record<string, unknown>;
  idempotency_key: string;
  policy_version: number;
  rule_id: string;
  step: number;
  event_id: string | null;
  event_type: string;
  event_occurred_at: Date;
  job: Record<string, unknown> | null;
  job_deadline: Date | null;
  result: Record<string, unknown> | null;
  last_error: Record<string, unknown> | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** The serial key: actions with the same one run one at a time, in insertion order. */
export function serialKeyOf(appId: string, userId: string): string {
  return `${appId}:${userId}`;
}

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
