import type { Knex } from "knex";

/**
 * App states and actions only exist in tenants that have a lifecycle policy, and reads skip them
 * in tenants that never had one: give the tenant an (empty) policy version first.
 */
async function ensurePolicy(knex: Knex, tenantId: string): Promise<void> {
  await knex.raw(
    `INSERT INTO policy_versions (tenant_id, version, document, digest, source, created_at)
     VALUES (?, 1, '{"apps":[],"rules":[]}'::jsonb, 'test', 'api', now())
     ON CONFLICT DO NOTHING`,
    [tenantId],
  );
}

/** Inserts a user's state in an app, as the lifecycle engine records it after a succeeded action. */
export async function insertAppState(
  knex: Knex,
  row: {
    tenantId: string;
    userId: string;
    app: string;
    state: string;
    since: string;
  },
): Promise<void> {
  await ensurePolicy(knex, row.tenantId);
  await knex("app_states").insert({
    tenant_id: row.tenantId,
    user_id: row.userId,
    app_id: row.app,
    state: row.state,
    since: row.since,
    ref: JSON.stringify({}),
    updated_at: row.since,
  });
}

let actionKeys = 0;

/** Inserts a queued action with the columns the queue requires, in the given state. */
export async function insertAction(
  knex: Knex,
  row: {
    tenantId: string;
    userId: string;
    app: string;
    kind: string;
    state: string;
    runAt: string;
  },
): Promise<void> {
  actionKeys += 1;
  await ensurePolicy(knex, row.tenantId);
  await knex("actions").insert({
    tenant_id: row.tenantId,
    app_id: row.app,
    kind: row.kind,
    user_id: row.userId,
    state: row.state,
    run_at: row.runAt,
    max_attempts: 5,
    params: JSON.stringify({}),
    subject: JSON.stringify({ id: row.userId }),
    idempotency_key: `test-${actionKeys}-${row.userId}-${row.app}-${row.kind}`,
    policy_version: 1,
    rule_id: "test-rule",
    step: 0,
    event_type: "user.deactivated",
    event_occurred_at: row.runAt,
    created_at: row.runAt,
    updated_at: row.runAt,
  });
}
