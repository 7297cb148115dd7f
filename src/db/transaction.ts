import type { Knex } from "knex";
import { isRetryableTransactionError, translatePgError } from "./pg-errors.ts";

const MAX_TRANSACTION_ATTEMPTS = 3;

/**
 * Runs `work` in one transaction: everything it writes commits together or not at all.
 * Deadlocks and serialization failures are retried; database errors come out as AppErrors.
 */
export async function inTransaction<T>(
  knex: Knex,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await knex.transaction(work);
    } catch (error) {
      if (
        attempt < MAX_TRANSACTION_ATTEMPTS &&
        isRetryableTransactionError(error)
      )
        continue;
      throw translatePgError(error) ?? error;
    }
  }
}

/** Runs one database call outside an explicit transaction, translating database errors. */
export async function withDbErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translatePgError(error) ?? error;
  }
}
