/** The states of a queued action. */
export const ACTION_STATES = [
  "pending",
  "running",
  "in_progress",
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
] as const;

/** One of the action states. */
export type ActionState = (typeof ACTION_STATES)[number];

/** A row of the action queue (`actions`), as the store and the queue read it. */
export interface ActionRecord {
  id: string;
  tenant_id: string;
  app_id: string;
  kind: string;
  user_id: string;
  group_id: string | null;
  state: ActionState;
  run_at: Date;
  attempts: number;
  /** Times workers claimed it (runs, retries, polls, rate-limit waits). */
  claims: number;
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

/**
 * An action as the JSON APIs and the CLI show it (camelCase, the event that planned it nested).
 * One shape everywhere an operator or auditor reads actions.
 */
export function actionView(row: ActionRecord) {
  const user = (row.subject as { user?: { userName?: unknown } } | null)?.user;
  return {
    id: row.id,
    app: row.app_id,
    action: row.kind,
    userId: row.user_id,
    userName: typeof user?.userName === "string" ? user.userName : null,
    groupId: row.group_id,
    state: row.state,
    runAt: row.run_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    params: row.params,
    lastError: row.last_error,
    result: row.result,
    rule: row.rule_id,
    step: row.step,
    policyVersion: row.policy_version,
    event: {
      id: row.event_id,
      type: row.event_type,
      at: row.event_occurred_at,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}
