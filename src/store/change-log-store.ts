import type { Db } from "../db/open-database.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import type { NewAuditEntry } from "./audit-store.ts";
import type { NewLifecycleEvent } from "./lifecycle-events-store.ts";
import type { CancelRequest, NewAction } from "./actions-store.ts";
import { userColumnsOf } from "./users-store.ts";

/** An event of the same write as its audit entry; the entry's id links them. */
export type LinkedLifecycleEvent = Omit<NewLifecycleEvent, "audit_entry_id">;

/** Everything one write appends besides the resource itself. */
export interface ChangeLog {
  entry: NewAuditEntry;
  events: LinkedLifecycleEvent[];
  /** Actions the tenant's policy planned for these events. */
  actions?: NewAction[];
  /** Pending actions the policy cancels because of these events. */
  cancels?: CancelRequest[];
}

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

/** A change log as one element of a statement's JSON input (`x->'log'` in CHANGE_LOGS_OF_DONE). */
function logPayload(log: ChangeLog): Record<string, unknown> {
  const { entry } = log;
  return {
    tenant: entry.tenant_id,
    at: entry.occurred_at.toISOString(),
    actor: entry.actor_token_id,
    key: entry.key,
    type: entry.resource_type,
    id: entry.resource_id,
    request: entry.request_id,
    detail: entry.detail,
    events: log.events,
    actions: log.actions ?? [],
    cancels: log.cancels ?? [],
  };
}

/** Whether any of the logs plans or cancels actions (the statement then has those parts too). */
function plansActions(logs: ChangeLog[]): boolean {
  return logs.some((log) => log.actions?.length || log.cancels?.length);
}

// Every write's audit trail, one statement for one write or a group commit's many. Given a CTE
// `done` of the writes that landed (x = the input row with its log under x->'log', ord = its
// position in the input, rn = its position among the writes that landed), it appends, in input
// order (ids are drawn in that order): each write's audit entry, then its lifecycle events linked
// to the entry. With `withActions`, also each write's planned actions (x.log.actions, linked to
// their event by its index among the write's events) and cancels (x.log.cancels), each with an
// audit entry of its own; those entries follow all the writes' entries, in input order.
// Data-modifying CTEs share one snapshot, so a cancel never sees actions planned in the same
// statement: callers never put a cancel after a write that planned actions in one statement
// (insertChangeLogs splits there; a batch of user writes writes each user once, and a user's
// cancels only touch that user).
function changeLogsOfDone(withActions: boolean): string {
  const logs = `
  entries AS (
    INSERT INTO audit_entries
      (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
    SELECT (x->'log'->>'tenant')::uuid, (x->'log'->>'at')::timestamptz,
           (x->'log'->>'actor')::uuid, x->'log'->>'key', x->'log'->>'type',
           (x->'log'->>'id')::uuid, x->'log'->>'request', x->'log'->'detail'
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
         jsonb_array_elements(done.x->'log'->'events') WITH ORDINALITY AS e(value, eord)
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

const INPUT = `input AS (
    SELECT x, ord FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS t(x, ord)
  )`;

const appendLogsSql = (withActions: boolean) => `
  WITH ${INPUT}, done AS (SELECT x, ord, ord AS rn FROM input),
  ${changeLogsOfDone(withActions)}
  SELECT id FROM numbered ORDER BY rn`;

const updateUsersSql = (withActions: boolean) => `
  WITH ${INPUT}, updated AS (
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

// With `skipConflicts`, a row whose userName (or id) is taken is left out and the others land;
// without, the statement fails on the unique index, as a lone create must.
const insertUsersSql = (withActions: boolean, skipConflicts: boolean) => `
  WITH ${INPUT}, inserted AS (
    INSERT INTO users
      (tenant_id, id, user_name, external_id, display_name, active, emails_search, resource,
       version, created_at, updated_at)
    SELECT (x->>'tenant_id')::uuid, (x->>'id')::uuid, x->>'user_name', x->>'external_id',
           x->>'display_name', (x->>'active')::boolean, x->>'emails_search', x->'resource', 1,
           (x->>'at')::timestamptz, (x->>'at')::timestamptz
    FROM input ORDER BY ord
    ${skipConflicts ? "ON CONFLICT DO NOTHING" : ""}
    RETURNING tenant_id, id
  ), done AS (
    SELECT i.x, i.ord, row_number() OVER (ORDER BY i.ord) AS rn
    FROM input i JOIN inserted n
      ON n.tenant_id = (i.x->>'tenant_id')::uuid AND n.id = (i.x->>'id')::uuid
  ), ${changeLogsOfDone(withActions)}
  SELECT i.ord FROM input i JOIN done USING (ord)`;

const SQL = {
  append: [appendLogsSql(false), appendLogsSql(true)],
  update: [updateUsersSql(false), updateUsersSql(true)],
  insert: [insertUsersSql(false, false), insertUsersSql(true, false)],
  insertSkipping: [insertUsersSql(false, true), insertUsersSql(true, true)],
} as const;

function sqlFor(variants: readonly [string, string], logs: ChangeLog[]) {
  return variants[plansActions(logs) ? 1 : 0];
}

/** Positions (0-based) of the input rows a statement wrote, from its `ord` column. */
function writtenPositions(rows: { ord: string }[]): Set<number> {
  return new Set(rows.map((r) => Number(r.ord) - 1));
}

/**
 * Appends writes' audit entries, events and planned or cancelled actions, in the order given, in
 * one statement (more only where a cancel follows planned actions); returns the audit entries' ids
 * in that order.
 */
export async function insertChangeLogs(
  db: Db,
  logs: ChangeLog[],
): Promise<string[]> {
  // A cancel must see the actions the writes before it planned (a membership added, then removed,
  // in one batch): those writes go in a statement of their own first.
  const ids: string[] = [];
  let start = 0;
  for (let i = 1; i <= logs.length; i++) {
    const split =
      i === logs.length ||
      (Boolean(logs[i]!.cancels?.length) &&
        logs.slice(start, i).some((log) => log.actions?.length));
    if (!split) continue;
    ids.push(...(await appendChangeLogs(db, logs.slice(start, i))));
    start = i;
  }
  return ids;
}

/** appendLogsSql for logs none of which cancels what an earlier one planned. */
async function appendChangeLogs(db: Db, logs: ChangeLog[]): Promise<string[]> {
  if (logs.length === 0) return [];
  const result = await db.raw<{ rows: { id: string }[] }>(
    sqlFor(SQL.append, logs),
    [JSON.stringify(logs.map((log) => ({ log: logPayload(log) })))],
  );
  return result.rows.map((r) => r.id);
}

/** Appends one write's audit entry with its events and actions; returns the entry's id. */
export async function insertAuditEntryWithEvents(
  db: Db,
  log: ChangeLog,
): Promise<string> {
  return (await insertChangeLogs(db, [log]))[0]!;
}

/**
 * Rewrites users, each only if it is still at its `expectedVersion`, with their change logs: one
 * statement, each row all or nothing. Returns the positions of the writes that landed; the others
 * found their user moved on (or gone), and append nothing.
 */
export async function updateUsersWithChangeLogs(
  db: Db,
  writes: { write: UserUpdate; log: ChangeLog }[],
): Promise<Set<number>> {
  const payload = writes.map(({ write, log }) => ({
    ...userColumnsOf(write.resource),
    tenant_id: write.tenantId,
    id: write.id,
    expected: write.expectedVersion,
    resource: write.resource,
    at: write.updatedAt.toISOString(),
    log: logPayload(log),
  }));
  const logs = writes.map((w) => w.log);
  const result = await db.raw<{ rows: { ord: string }[] }>(
    sqlFor(SQL.update, logs),
    [JSON.stringify(payload)],
  );
  return writtenPositions(result.rows);
}

/**
 * Inserts users with their change logs in one statement. With `skipConflicts`, a write whose
 * userName is taken is left out (not in the positions returned); without, a taken userName fails
 * the statement with the database's unique violation.
 */
export async function insertUsersWithChangeLogs(
  db: Db,
  writes: { write: UserInsert; log: ChangeLog }[],
  options: { skipConflicts: boolean },
): Promise<Set<number>> {
  const payload = writes.map(({ write, log }) => ({
    ...userColumnsOf(write.resource),
    tenant_id: write.tenantId,
    id: write.id,
    resource: write.resource,
    at: write.createdAt.toISOString(),
    log: logPayload(log),
  }));
  const logs = writes.map((w) => w.log);
  const variants = options.skipConflicts ? SQL.insertSkipping : SQL.insert;
  const result = await db.raw<{ rows: { ord: string }[] }>(
    sqlFor(variants, logs),
    [JSON.stringify(payload)],
  );
  return writtenPositions(result.rows);
}

/**
 * Rewrites a user only if it is still at `expectedVersion`, with its audit entry, events and
 * actions in the same statement: one atomic round trip. False when another write got there first.
 */
export async function updateUserWithChangeLog(
  db: Db,
  update: UserUpdate,
  log: ChangeLog,
): Promise<boolean> {
  const written = await updateUsersWithChangeLogs(db, [{ write: update, log }]);
  return written.has(0);
}

/**
 * Inserts a new user with its audit entry, events and actions in one statement: one atomic round
 * trip. A taken userName fails the whole statement on the unique index.
 */
export async function insertUserWithChangeLog(
  db: Db,
  user: UserInsert,
  log: ChangeLog,
): Promise<void> {
  await insertUsersWithChangeLogs(db, [{ write: user, log }], {
    skipConflicts: false,
  });
}
