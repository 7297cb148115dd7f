import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
  await knex.raw(`
    CREATE TABLE tenants (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT tenants__name UNIQUE (name)
    )`);
  await knex.raw(`
    CREATE TABLE tokens (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      name text NOT NULL,
      prefix text NOT NULL,
      digest bytea NOT NULL,
      scopes text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz,
      CONSTRAINT tokens__digest UNIQUE (digest)
    )`);
  await knex.raw(`CREATE INDEX tokens__tenant_id ON tokens (tenant_id)`);

  // resource holds the SCIM attributes as stored (canonical names, no id/meta/groups);
  // the columns copy what filters, sorting and uniqueness need indexed.
  await knex.raw(`
    CREATE TABLE users (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      id uuid NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      user_name text NOT NULL,
      external_id text,
      display_name text,
      active boolean NOT NULL,
      resource jsonb NOT NULL,
      emails_search text NOT NULL DEFAULT '',
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, id)
    )`);
  await knex.raw(
    `CREATE UNIQUE INDEX users__tenant_id_lower_user_name ON users (tenant_id, lower(user_name))`,
  );
  await knex.raw(
    `CREATE INDEX users__tenant_id_external_id ON users (tenant_id, external_id)`,
  );
  await knex.raw(`CREATE INDEX users__tenant_id_seq ON users (tenant_id, seq)`);
  await knex.raw(
    `CREATE INDEX users__tenant_id_updated_at ON users (tenant_id, updated_at)`,
  );
  await knex.raw(
    `CREATE INDEX users__emails_search ON users USING gin (emails_search gin_trgm_ops)`,
  );

  await knex.raw(`
    CREATE TABLE groups (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      id uuid NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      display_name text NOT NULL,
      external_id text,
      resource jsonb NOT NULL,
      version integer NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, id)
    )`);
  await knex.raw(
    `CREATE INDEX groups__tenant_id_lower_display_name ON groups (tenant_id, lower(display_name))`,
  );
  await knex.raw(
    `CREATE INDEX groups__tenant_id_external_id ON groups (tenant_id, external_id)`,
  );
  await knex.raw(
    `CREATE INDEX groups__tenant_id_seq ON groups (tenant_id, seq)`,
  );

  // A member is a user or a group; the service keeps the reference valid.
  await knex.raw(`
    CREATE TABLE group_members (
      tenant_id uuid NOT NULL,
      group_id uuid NOT NULL,
      member_id uuid NOT NULL,
      member_type text NOT NULL,
      added_at timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, group_id, member_id),
      CONSTRAINT group_members__member_type CHECK (member_type IN ('User', 'Group')),
      CONSTRAINT group_members__tenant_id_group_id FOREIGN KEY (tenant_id, group_id)
        REFERENCES groups (tenant_id, id) ON DELETE CASCADE
    )`);
  await knex.raw(
    `CREATE INDEX group_members__tenant_id_member_id ON group_members (tenant_id, member_id)`,
  );

  await knex.raw(`
    CREATE TABLE audit_entries (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      occurred_at timestamptz NOT NULL,
      actor_token_id uuid,
      key text NOT NULL,
      resource_type text,
      resource_id uuid,
      request_id text,
      detail jsonb NOT NULL DEFAULT '{}'::jsonb
    )`);
  await knex.raw(
    `CREATE INDEX audit_entries__tenant_id_occurred_at_id ON audit_entries (tenant_id, occurred_at, id)`,
  );
  await knex.raw(
    `CREATE INDEX audit_entries__tenant_id_resource_id_id ON audit_entries (tenant_id, resource_id, id)`,
  );

  // Facts the mapping engine consumes; ordered per resource by id (writers hold the row lock).
  await knex.raw(`
    CREATE TABLE lifecycle_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      type text NOT NULL,
      resource_type text NOT NULL,
      resource_id uuid NOT NULL,
      resource_version integer NOT NULL,
      occurred_at timestamptz NOT NULL,
      actor_token_id uuid,
      request_id text,
      audit_entry_id bigint REFERENCES audit_entries (id),
      data jsonb NOT NULL
    )`);
  await knex.raw(
    `CREATE INDEX lifecycle_events__tenant_id_resource_id_id ON lifecycle_events (tenant_id, resource_id, id)`,
  );
  await knex.raw(
    `CREATE INDEX lifecycle_events__tenant_id_id ON lifecycle_events (tenant_id, id)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "lifecycle_events",
    "audit_entries",
    "group_members",
    "groups",
    "users",
    "tokens",
    "tenants",
  ]) {
    await knex.raw(`DROP TABLE IF EXISTS ${table}`);
  }
}
