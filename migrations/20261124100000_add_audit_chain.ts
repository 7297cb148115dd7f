import type { Knex } from "knex";

// A hash chain per tenant over audit_entries (tamper evidence). Writers keep inserting entries as
// before, unsealed (chain_index NULL): reading the previous hash at insert time would serialise a
// tenant's writes. A sealer chains committed entries later, under the tenant's head row lock.
export async function up(knex: Knex): Promise<void> {
  // Nullable columns without a default: a catalogue change, no table rewrite.
  await knex.raw(`
    ALTER TABLE audit_entries
      ADD COLUMN chain_index bigint,
      ADD COLUMN prev_hash bytea,
      ADD COLUMN hash bytea`);
  await knex.raw(`
    ALTER TABLE audit_entries ADD CONSTRAINT audit_entries__chain_index_prev_hash_hash CHECK (
      (chain_index IS NULL AND prev_hash IS NULL AND hash IS NULL)
      OR (chain_index > 0 AND octet_length(prev_hash) = 32 AND octet_length(hash) = 32))`);
  // Verification and chain-ordered reads walk this; unique so that no index is ever given twice.
  // Partial: inserts of unsealed entries (the SCIM write path) do not touch it.
  await knex.raw(
    `CREATE UNIQUE INDEX audit_entries__tenant_id_chain_index ON audit_entries (tenant_id, chain_index)
     WHERE chain_index IS NOT NULL`,
  );
  // What the sealer scans: small, as the sealer keeps up.
  await knex.raw(
    `CREATE INDEX audit_entries__tenant_id_id_unsealed ON audit_entries (tenant_id, id)
     WHERE chain_index IS NULL`,
  );
  // Auditors ask for one key (`action.failed`) or a family (`action.`): byte order makes a prefix a
  // range whatever the database's collation.
  await knex.raw(
    `CREATE INDEX audit_entries__tenant_id_key_id ON audit_entries (tenant_id, key COLLATE "C", id)`,
  );

  // The end of each tenant's chain. Sealers take it FOR UPDATE SKIP LOCKED: one seals a tenant at a
  // time, the others move on to other tenants.
  await knex.raw(`
    CREATE TABLE audit_chain_heads (
      tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
      last_index bigint NOT NULL,
      last_hash bytea NOT NULL,
      updated_at timestamptz NOT NULL
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS audit_chain_heads`);
  await knex.raw(`DROP INDEX IF EXISTS audit_entries__tenant_id_key_id`);
  await knex.raw(`DROP INDEX IF EXISTS audit_entries__tenant_id_id_unsealed`);
  await knex.raw(`DROP INDEX IF EXISTS audit_entries__tenant_id_chain_index`);
  await knex.raw(`
    ALTER TABLE audit_entries
      DROP CONSTRAINT IF EXISTS audit_entries__chain_index_prev_hash_hash,
      DROP COLUMN IF EXISTS hash,
      DROP COLUMN IF EXISTS prev_hash,
      DROP COLUMN IF EXISTS chain_index`);
}
