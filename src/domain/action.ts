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
