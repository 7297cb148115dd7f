import type { Knex } from "knex";

// A PATCH of `active` changed updated_at, which was indexed, so every update wrote a new entry in
// every index (including the trigram GIN). Without that index and with free space left on each
// page, such updates are HOT: no index is touched. meta.lastModified filters still work (on the
// tenant's rows), they are just not index-driven; IdPs do not send them.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS users__tenant_id_updated_at`);
  await knex.raw(`ALTER TABLE users SET (fillfactor = 80)`);
  await knex.raw(`ALTER TABLE groups SET (fillfactor = 80)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE groups RESET (fillfactor)`);
  await knex.raw(`ALTER TABLE users RESET (fillfactor)`);
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS users__tenant_id_updated_at ON users (tenant_id, updated_at)`,
  );
}
