import type { Db } from "../db/open-database.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import {
  changeLogBindings,
  insertUserWithChangeLog,
  updateUserWithChangeLog,
  type ChangeLog,
} from "./change-log-store.ts";
import { userColumnsOf } from "./users-store.ts";

/** A user rewrite that only lands if the user is still at `expectedVersion`. */
export interface UserUpdate {
  tenantId: string;
  id: string;
  expectedVersion: number;
  resource: StoredResource;
  updatedAt: Date;
}

/** A new user. */
export interface UserInsert {
  tenantId: string;
  id: string;
  resource: StoredResource;
  createdAt: Date;
}

interface Pending<T, R> {
  write: T;
  log: ChangeLog;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** Largest batch in one statement. */
const MAX_BATCH = 200;

// The audit entries and events of the rows the statement wrote (CTE `done`: x = the input row,
// ord = its position), in input order: ids are drawn in that order.
const CHANGE_LOGS_OF_DONE = `
  entries AS (
    INSERT INTO audit_entries
      (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
    SELECT (x->'log'->>'tenant')::uuid, (x->'log'->>'at')::timestamptz,
           (x->'log'->>'actor')::uuid, x->'log'->>'key', x->'log'->>'type',
           (x->'log'->>'id')::uuid, x->'log'->>'request', (x->'log'->>'detail')::jsonb
    FROM done ORDER BY ord
    RETURNING id
  ), numbered AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn FROM entries
  ), events AS (
    INSERT INTO lifecycle_events
      (tenant_id, type, resource_type, resource_id, resource_version, occurred_at,
       actor_token_id, request_id, audit_entry_id, data)
    SELECT (e.value->>'tenant_id')::uuid, e.value->>'type', e.value->>'resource_type',
           (e.value->>'resource_id')::uuid, (e.value->>'resource_version')::int,
           (e.value->>'occurred_at')::timestamptz, (e.value->>'actor_token_id')::uuid,
           e.value->>'request_id', numbered.id, e.value->'data'
    FROM done JOIN numbered USING (rn),
         jsonb_array_elements((done.x->'log'->>'events')::jsonb) WITH ORDINALITY AS e(value, eord)
    ORDER BY done.ord, e.eord
  )`;

const UPDATE_USERS_SQL = `
  WITH input AS (
    SELECT x, ord FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS t(x, ord)
  ), updated AS (
    UPDATE users u
    SET user_name = i.x->>'user_name', external_id = i.x->>'external_id',
        display_name = i.x->>'display_name', active = (i.x->>'active')::boolean,
        emails_search = i.x->>'emails_search', resource = i.x->'resource',
        version = u.version + 1, updated_at = (i.x->>'at')::timestamptz
    FROM input i
    WHERE u.tenant_id = (i.x->>'tenant_id')::uuid AND u.id = (i.x->>'id')::uuid
      AND u.version = (i.x->>'expected')::int
    RETURNING i.ord
  ), done AS (
    SELECT i.x, i.ord, row_number() OVER (ORDER BY i.ord) AS rn
    FROM input i JOIN updated USING (ord)
  ), ${CHANGE_LOGS_OF_DONE}
  SELECT ord FROM updated`;

const INSERT_USERS_SQL = `
  WITH input AS (
    SELECT x, ord FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS t(x, ord)
  ), inserted AS (
    INSERT INTO users
      (tenant_id, id, user_name, external_id, display_name, active, emails_search, resource,
       version, created_at, updated_at)
    SELECT (x->>'tenant_id')::uuid, (x->>'id')::uuid, x->>'user_name', x->>'external_id',
           x->>'display_name', (x->>'active')::boolean, x->>'emails_search', x->'resource', 1,
           (x->>'at')::timestamptz, (x->>'at')::timestamptz
    FROM input ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, id
  ), done AS (
    SELECT i.x, i.ord, row_number() OVER (ORDER BY i.ord) AS rn
    FROM input i JOIN inserted n
      ON n.tenant_id = (i.x->>'tenant_id')::uuid AND n.id = (i.x->>'id')::uuid
  ), ${CHANGE_LOGS_OF_DONE}
  SELECT i.ord FROM input i JOIN done USING (ord)`;

function logPayload(log: ChangeLog): Record<string, unknown> {
  const [tenant, at, actor, key, type, id, request, detail, events] =
    changeLogBindings(log);
  return { tenant, at, actor, key, type, id, request, detail, events };
}

/**
 * Group commit for user creates and rewrites: the writes that arrive in the same event-loop turn
 * share one statement (one parse, one plan, one commit) that writes every row with its audit entry
 * and events, each row all-or-nothing as a statement of its own would. Writes that plan or cancel
 * actions, lone writes, and every write of a batch whose statement failed (a taken userName, say)
 * run as statements of their own, so each request gets exactly the outcome and error it would
 * have had alone.
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
    const payload = batch.map(({ write, log }) => ({
      ...userColumnsOf(write.resource),
      tenant_id: write.tenantId,
      id: write.id,
      expected: write.expectedVersion,
      resource: write.resource,
      at: write.updatedAt.toISOString(),
      log: logPayload(log),
    }));
    let written: Set<number>;
    try {
      const result = await db.raw<{ rows: { ord: string }[] }>(
        UPDATE_USERS_SQL,
        [JSON.stringify(payload)],
      );
      written = new Set(result.rows.map((r) => Number(r.ord) - 1));
    } catch {
      for (const pending of batch) alone(pending, updateUserWithChangeLog);
      return;
    }
    // A row not written had moved on from the version read: the caller reads it again.
    batch.forEach((pending, i) => pending.resolve(written.has(i)));
  }

  async function runInserts(batch: Pending<UserInsert, void>[]) {
    if (batch.length === 1) return alone(batch[0]!, insertUserWithChangeLog);
    const payload = batch.map(({ write, log }) => ({
      ...userColumnsOf(write.resource),
      tenant_id: write.tenantId,
      id: write.id,
      resource: write.resource,
      at: write.createdAt.toISOString(),
      log: logPayload(log),
    }));
    let written: Set<number>;
    try {
      const result = await db.raw<{ rows: { ord: string }[] }>(
        INSERT_USERS_SQL,
        [JSON.stringify(payload)],
      );
      written = new Set(result.rows.map((r) => Number(r.ord) - 1));
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
      if (log.actions?.length || log.cancels?.length)
        return updateUserWithChangeLog(db, write, log);
      return new Promise((resolve, reject) => {
        updates.push({ write, log, resolve, reject });
        schedule();
      });
    },
    /** Inserts a user with its change log; fails as the single insert would (e.g. a taken userName). */
    insert(write: UserInsert, log: ChangeLog): Promise<void> {
      if (log.actions?.length || log.cancels?.length)
        return insertUserWithChangeLog(db, write, log);
      return new Promise((resolve, reject) => {
        inserts.push({ write, log, resolve, reject });
        schedule();
      });
    },
  };
}

/** The batcher's interface. */
export type UserWriteBatcher = ReturnType<typeof createUserWriteBatcher>;
