import type { Knex } from "knex";

// app_id and user_id say which actions run one at a time and in order; the queue and the index
// use them directly, so the copy in serial_key only had to be kept in step.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE actions DROP COLUMN serial_key`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE actions ADD COLUMN serial_key text`);
  await knex.raw(`UPDATE actions SET serial_key = app_id || ':' || user_id`);
  await knex.raw(`ALTER TABLE actions ALTER COLUMN serial_key SET NOT NULL`);
}
