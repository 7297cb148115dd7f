import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // Every version of a tenant's apps and rules; planned actions name the version that planned them.
  await knex.raw(`
    CREATE TABLE policy_versions (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      version integer NOT NULL,
      document jsonb NOT NULL,
      digest text NOT NULL,
      source text NOT NULL,
      created_at timestamptz NOT NULL,
      created_by_token_id uuid,
      PRIMARY KEY (tenant_id, version)
    )`);

  // The action queue. Rows are never deleted: auditors read what was done, when, and why.
  // user_id has no foreign key: actions outlive the user (Entra deletes 30 days after disabling).
  await knex.raw(`
    CREATE TABLE actions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      app_id text NOT NULL,
      kind text NOT NULL,
      user_id uuid NOT NULL,
      group_id uuid,
      serial_key text NOT NULL,
      state text NOT NULL CHECK (state IN
        ('pending', 'running', 'in_progress', 'succeeded', 'failed', 'cancelled', 'skipped')),
      run_at timestamptz NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      max_attempts integer NOT NULL,
      params jsonb NOT NULL,
      condition jsonb,
      subject jsonb NOT NULL,
      idempotency_key text NOT NULL,
      policy_version integer NOT NULL,
      rule_id text NOT NULL,
      step integer NOT NULL,
      event_id bigint REFERENCES lifecycle_events (id),
      event_type text NOT NULL,
      event_occurred_at timestamptz NOT NULL,
      job jsonb,
      job_deadline timestamptz,
      result jsonb,
      last_error jsonb,
      lease_owner text,
      lease_expires_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      finished_at timestamptz,
      CONSTRAINT actions__tenant_id_idempotency_key UNIQUE (tenant_id, idempotency_key)
    )`);
  // Claiming: due work in run_at order.
  await knex.raw(
    `CREATE INDEX actions__run_at_id ON actions (run_at, id) WHERE state IN ('pending', 'in_progress')`,
  );
  // Ordering per (app, user): the earlier unfinished action of the same serial key goes first.
  await knex.raw(
    `CREATE INDEX actions__tenant_id_serial_key_id ON actions (tenant_id, serial_key, id)
     WHERE state IN ('pending', 'running', 'in_progress')`,
  );
  // Sweeping leases of crashed workers.
  await knex.raw(
    `CREATE INDEX actions__lease_expires_at ON actions (lease_expires_at) WHERE state = 'running'`,
  );
  // Operators and auditors: a user's actions; an app's actions by state.
  await knex.raw(
    `CREATE INDEX actions__tenant_id_user_id_id ON actions (tenant_id, user_id, id)`,
  );
  await knex.raw(
    `CREATE INDEX actions__tenant_id_app_id_state_id ON actions (tenant_id, app_id, state, id)`,
  );

  // Each user's state in each app, as our succeeded actions left it.
  await knex.raw(`
    CREATE TABLE app_states (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      user_id uuid NOT NULL,
      app_id text NOT NULL,
      state text NOT NULL CHECK (state IN ('provisioned', 'suspended', 'archived', 'removed', 'unknown')),
      since timestamptz NOT NULL,
      ref jsonb NOT NULL DEFAULT '{}'::jsonb,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, user_id, app_id)
    )`);
  await knex.raw(
    `CREATE INDEX app_states__tenant_id_app_id_state ON app_states (tenant_id, app_id, state)`,
  );

  // Per-app throttles shared by every worker process: a Retry-After window and a token bucket.
  await knex.raw(`
    CREATE TABLE app_throttles (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      app_id text NOT NULL,
      blocked_until timestamptz,
      tokens double precision,
      refilled_at timestamptz,
      PRIMARY KEY (tenant_id, app_id)
    )`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "app_throttles",
    "app_states",
    "actions",
    "policy_versions",
  ]) {
    await knex.raw(`DROP TABLE IF EXISTS ${table}`);
  }
}
