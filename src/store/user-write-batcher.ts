import type { Db } from "../db/open-database.ts";
import { prepared } from "../db/prepared.ts";
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
// ord = its position, rn = its position among the rows written), in input order: ids are drawn in
// that order. With `withActions`, also each row's planned actions (x.log.actions, linked to their
// event by its index among the row's events) and cancels (x.log.cancels), each with an audit entry
// of its own, as a statement of their own would (change-log-store). Data-modifying CTEs share one
// snapshot, so a cancel never sees actions planned in the same statement; cancels only touch the
// row's own user, and a user is written at most once per statement.
function changeLogsOfDone(withActions: boolean): string {
  const logs = `
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
    RETURNING id, audit_entry_id
  )`;
  if (!withActions) return logs;
  return `${logs}, event_ids AS (
    SELECT id, audit_entry_id,
           row_number() OVER (PARTITION BY audit_entry_id ORDER BY id) - 1 AS idx
    FROM events
  ), planned AS (
    INSERT INTO actions
      (tenant_id, app_id, kind, user_id, group_id, state, run_at, max_attempts,
       params, condition, subject, idempotency_key, policy_version, rule_id, step, event_id,
       event_type, event_occurred_at, created_at, updated_at)
    SELECT (done.x->'log'->>'tenant')::uuid, p->>'app_id', p->>'kind', (p->>'user_id')::uuid,
           (p->>'group_id')::uuid, 'pending',
           (p->>'run_at')::timestamptz, (p->>'max_attempts')::int, p->'params',
           nullif(p->'condition', 'null'::jsonb), p->'subject', p->>'idempotency_key',
           (p->>'policy_version')::int, p->>'rule_id', (p->>'step')::int, ev.id,
           p->>'event_type', (p->>'event_occurred_at')::timestamptz,
           (done.x->'log'->>'at')::timestamptz, (done.x->'log'->>'at')::timestamptz
    FROM done JOIN numbered USING (rn),
         jsonb_array_elements(done.x->'log'->'actions') WITH ORDINALITY AS a(p, aord),
         event_ids ev
    WHERE ev.audit_entry_id = numbered.id AND ev.idx = (p->>'event_index')::int
    ORDER BY done.ord, a.aord
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING id, app_id, kind, user_id, policy_version, rule_id, run_at, event_id
  ), cancelled AS (
    UPDATE actions a
    SET state = 'cancelled', finished_at = (done.x->'log'->>'at')::timestamptz,
        updated_at = (done.x->'log'->>'at')::timestamptz,
        last_error = jsonb_build_object('reason', 'cancelled by rule ' || (c->>'rule_id'))
    FROM done, jsonb_array_elements(done.x->'log'->'cancels') AS c
    WHERE a.tenant_id = (done.x->'log'->>'tenant')::uuid AND a.state = 'pending'
      AND a.user_id = (c->>'user_id')::uuid AND a.app_id = c->>'app_id'
      AND (jsonb_typeof(c->'kinds') <> 'array' OR a.kind IN
           (SELECT jsonb_array_elements_text(c->'kinds')))
    RETURNING a.id, a.app_id, a.kind, a.user_id, a.policy_version, c->>'rule_id' AS rule_id,
              (c->>'policy_version')::int AS cancel_policy_version, done.ord,
              done.x->'log' AS log
  ), action_audit AS (
    INSERT INTO audit_entries
      (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
    SELECT tenant_id, occurred_at, actor_token_id, key, 'User', user_id, request_id, detail
    FROM (
      SELECT (done.x->'log'->>'tenant')::uuid AS tenant_id,
             (done.x->'log'->>'at')::timestamptz AS occurred_at,
             (done.x->'log'->>'actor')::uuid AS actor_token_id, 'action.planned' AS key,
             planned.user_id, done.x->'log'->>'request' AS request_id,
             jsonb_build_object('actionId', planned.id, 'app', planned.app_id,
               'action', planned.kind, 'policyVersion', planned.policy_version,
               'rule', planned.rule_id, 'runAt', planned.run_at,
               'eventId', planned.event_id) AS detail,
             done.ord, 0 AS part, planned.id AS action_id
      FROM planned JOIN event_ids ev ON ev.id = planned.event_id
           JOIN numbered ON numbered.id = ev.audit_entry_id JOIN done USING (rn)
      UNION ALL
      SELECT (log->>'tenant')::uuid, (log->>'at')::timestamptz, (log->>'actor')::uuid,
             'action.cancelled', user_id, log->>'request',
             jsonb_build_object('actionId', id, 'app', app_id, 'action', kind,
               'policyVersion', policy_version, 'cancelledByRule', rule_id,
               'cancelledByPolicyVersion', cancel_policy_version),
             ord, 1, id
      FROM cancelled
    ) audits
    ORDER BY ord, part, action_id
  )`;
}

const updateUsersSql = (withActions: boolean) => `
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
  ), ${changeLogsOfDone(withActions)}
  SELECT ord FROM updated`;

const insertUsersSql = (withActions: boolean) => `
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
  ), ${changeLogsOfDone(withActions)}
  SELECT i.ord FROM input i JOIN done USING (ord)`;

const SQL = {
  update: { plain: updateUsersSql(false), withActions: updateUsersSql(true) },
  insert: { plain: insertUsersSql(false), withActions: insertUsersSql(true) },
};

function logPayload(log: ChangeLog): Record<string, unknown> {
  const [tenant, at, actor, key, type, id, request, detail, events] =
    changeLogBindings(log);
  return {
    tenant,
    at,
    actor,
    key,
    type,
    id,
    request,
    detail,
    events,
    actions: log.actions ?? [],
    cancels: log.cancels ?? [],
  };
}

/** Whether any write of a batch plans or cancels actions (the statement then does too). */
function plansActions(batch: { log: ChangeLog }[]): boolean {
  return batch.some(({ log }) => log.actions?.length || log.cancels?.length);
}

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
      const result = await prepared(
        db.raw<{ rows: { ord: string }[] }>(
          plansActions(batch) ? SQL.update.withActions : SQL.update.plain,
          [JSON.stringify(payload)],
        ),
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
      const result = await prepared(
        db.raw<{ rows: { ord: string }[] }>(
          plansActions(batch) ? SQL.insert.withActions : SQL.insert.plain,
          [JSON.stringify(payload)],
        ),
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

/** The batcher's interface. */
export type UserWriteBatcher = ReturnType<typeof createUserWriteBatcher>;
