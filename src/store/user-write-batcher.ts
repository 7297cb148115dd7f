import type { Db } from "../db/open-database.ts";
import {
  insertUserWithChangeLog,
  insertUsersWithChangeLogs,
  updateUserWithChangeLog,
  updateUsersWithChangeLogs,
  type ChangeLog,
  type UserInsert,
  type UserUpdate,
} from "./change-log-store.ts";

interface Pending<T, R> {
  write: T;
  log: ChangeLog;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** Largest batch in one statement. */
const MAX_BATCH = 200;

/**
 * Group commit for user creates and rewrites: the writes that arrive in the same event-loop turn
 * share one statement (one parse, one plan, one commit) that writes every row with its audit entry,
 * events and the actions its policy planned or cancelled, each row all-or-nothing as a statement
 * of its own would. Lone writes, and every write of a batch whose statement failed (a taken
 * userName, say), run as statements of their own, so each request gets exactly the outcome and
 * error it would have had alone.
 */
export function createUserWriteBatcher(db: Db) {
  let updates: Pending<UserUpdate, boolean>[] = [];
  let inserts: Pending<UserInsert, void>[] = [];
  let scheduled = false;

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    // As in the read batcher: after the poll phase, so the writes computed this turn share it.
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    const u = updates;
    const n = inserts;
    updates = [];
    inserts = [];
    for (let i = 0; i < u.length; i += MAX_BATCH)
      void runUpdates(u.slice(i, i + MAX_BATCH));
    for (let i = 0; i < n.length; i += MAX_BATCH)
      void runInserts(n.slice(i, i + MAX_BATCH));
  }

  function alone<T, R>(
    pending: Pending<T, R>,
    write: (db: Db, write: T, log: ChangeLog) => Promise<R>,
  ): void {
    write(db, pending.write, pending.log).then(pending.resolve, pending.reject);
  }

  async function runUpdates(batch: Pending<UserUpdate, boolean>[]) {
    if (batch.length === 1) return alone(batch[0]!, updateUserWithChangeLog);
    // Rows in key order: two batches touching the same users lock them in the same order.
    batch.sort((a, b) =>
      `${a.write.tenantId}/${a.write.id}`.localeCompare(
        `${b.write.tenantId}/${b.write.id}`,
      ),
    );
    let written: Set<number>;
    try {
      written = await updateUsersWithChangeLogs(db, batch);
    } catch {
      for (const pending of batch) alone(pending, updateUserWithChangeLog);
      return;
    }
    // A row not written had moved on from the version read: the caller reads it again.
    batch.forEach((pending, i) => pending.resolve(written.has(i)));
  }

  async function runInserts(batch: Pending<UserInsert, void>[]) {
    if (batch.length === 1) return alone(batch[0]!, insertUserWithChangeLog);
    let written: Set<number>;
    try {
      written = await insertUsersWithChangeLogs(db, batch, {
        skipConflicts: true,
      });
    } catch {
      for (const pending of batch) alone(pending, insertUserWithChangeLog);
      return;
    }
    batch.forEach((pending, i) => {
      // Skipped on a conflict (a taken userName): alone, it fails with the database's own error.
      if (written.has(i)) pending.resolve();
      else alone(pending, insertUserWithChangeLog);
    });
  }

  return {
    /** Rewrites a user with its change log; false when the user is no longer at that version. */
    update(write: UserUpdate, log: ChangeLog): Promise<boolean> {
      return new Promise((resolve, reject) => {
        updates.push({ write, log, resolve, reject });
        schedule();
      });
    },
    /** Inserts a user with its change log; fails as the single insert would (e.g. a taken userName). */
    insert(write: UserInsert, log: ChangeLog): Promise<void> {
      return new Promise((resolve, reject) => {
        inserts.push({ write, log, resolve, reject });
        schedule();
      });
    },
  };
}

export type { UserInsert, UserUpdate };

/** The batcher's interface. */
export type UserWriteBatcher = ReturnType<typeof createUserWriteBatcher>;
