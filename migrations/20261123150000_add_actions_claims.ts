import type { Knex } from "knex";

// How many times workers claimed an action (first runs, retries, polls, rate-limit waits). An
// action that was never claimed and is not due is a deferred step, which must not hold back later
// actions of the same user and app; one that was claimed and waits (a retry, a Retry-After or a
// rate-limit wait) must. `attempts` cannot tell: rate-limit waits give their attempt back.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE actions ADD COLUMN claims integer NOT NULL DEFAULT 0`,
  );
  await knex.raw(`UPDATE actions SET claims = attempts WHERE attempts > 0`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE actions DROP COLUMN claims`);
}
