import type { Db } from "../db/open-database.ts";
import { prepared } from "../db/prepared.ts";
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

// The audit entry, its events, planned and cancelled actions (each with an audit entry of its
// own), as CTEs after an optional guard CTE named `guard`: nothing is written when the guard
// yields no row. Data-modifying CTEs share one snapshot, so a cancel never sees the actions
// planned by the same write.
function changeLogSql(guarded: boolean, log: ChangeLog): string {
  const parts = [
    `entry AS (
       INSERT INTO audit_entries
         (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
       SELECT ?::uuid, ?::timestamptz, ?::uuid, ?, ?, ?::uuid, ?, ?::jsonb
       ${guarded ? "FROM guard" : ""}
       RETURNING id, tenant_id, occurred_at, actor_token_id, request_id
     )`,
    `events AS (
       INSERT INTO lifecycle_events
         (tenant_id, type, resource_type, resource_id, resource_version, occurred_at,
          actor_token_id, request_id, audit_entry_id, data)
       SELECT (e.value->>'tenant_id')::uuid, e.value->>'type', e.value->>'resource_type',
              (e.value->>'resource_id')::uuid, (e.value->>'resource_version')::int,
              (e.value->>'occurred_at')::timestamptz, (e.value->>'actor_token_id')::uuid,
              e.value->>'request_id', entry.id, e.value->'data'
       FROM entry, jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(value, ord)
       ORDER BY e.ord
       RETURNING id
     )`,
  ];
  const audits: string[] = [];
  if (log.actions?.length) {
    parts.push(
      `event_ids AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS idx FROM events)`,
      `planned AS (
         INSERT INTO actions
           (tenant_id, app_id, kind, user_id, group_id, state, run_at, max_attempts,
            params, condition, subject, idempotency_key, policy_version, rule_id, step, event_id,
            event_type, event_occurred_at, created_at, updated_at)
         SELECT entry.tenant_id, p->>'app_id', p->>'kind', (p->>'user_id')::uuid,
                (p->>'group_id')::uuid, 'pending',
                (p->>'run_at')::timestamptz, (p->>'max_attempts')::int, p->'params',
                nullif(p->'condition', 'null'::jsonb), p->'subject', p->>'idempotency_key',
                (p->>'policy_version')::int, p->>'rule_id', (p->>'step')::int, ev.id,
                p->>'event_type', (p->>'event_occurred_at')::timestamptz,
                entry.occurred_at, entry.occurred_at
         FROM entry, jsonb_array_elements(?::jsonb) WITH ORDINALITY AS a(p, ord)
         JOIN event_ids ev ON ev.idx = (p->>'event_index')::int
         ORDER BY a.ord
         ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
         RETURNING id, app_id, kind, user_id, policy_version, rule_id, run_at, event_id
       )`,
    );
    audits.push(`SELECT entry.tenant_id, entry.occurred_at, entry.actor_token_id, 'action.planned',
                        'User', planned.user_id, entry.request_id,
                        jsonb_build_object('actionId', planned.id, 'app', planned.app_id,
                          'action', planned.kind, 'policyVersion', planned.policy_version,
                          'rule', planned.rule_id, 'runAt', planned.run_at,
                          'eventId', planned.event_id)
                 FROM entry, planned`);
  }
  if (log.cancels?.length) {
    parts.push(
      `cancelled AS (
         UPDATE actions a
         SET state = 'cancelled', finished_at = entry.occurred_at, updated_at = entry.occurred_at,
             last_error = jsonb_build_object('reason', 'cancelled by rule ' || (c->>'rule_id'))
         FROM entry, jsonb_array_elements(?::jsonb) AS c
         WHERE a.tenant_id = entry.tenant_id AND a.state = 'pending'
           AND a.user_id = (c->>'user_id')::uuid AND a.app_id = c->>'app_id'
           AND (jsonb_typeof(c->'kinds') <> 'array' OR a.kind IN
                (SELECT jsonb_array_elements_text(c->'kinds')))
         RETURNING a.id, a.app_id, a.kind, a.user_id, a.policy_version, c->>'rule_id' AS rule_id,
                   (c->>'policy_version')::int AS cancel_policy_version
       )`,
    );
    audits.push(`SELECT entry.tenant_id, entry.occurred_at, entry.actor_token_id, 'action.cancelled',
                        'User', cancelled.user_id, entry.request_id,
                        jsonb_build_object('actionId', cancelled.id, 'app', cancelled.app_id,
                          'action', cancelled.kind, 'policyVersion', cancelled.policy_version,
                          'cancelledByRule', cancelled.rule_id,
                          'cancelledByPolicyVersion', cancelled.cancel_policy_version)
                 FROM entry, cancelled`);
  }
  if (audits.length > 0) {
    parts.push(`action_audit AS (
       INSERT INTO audit_entries
         (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
       ${audits.join(" UNION ALL ")}
     )`);
  }
  return parts.join(", ");
}

/** The bound values of a change log's statement: the entry's columns, then its events as JSON. */
export function changeLogBindings(log: ChangeLog): unknown[] {
  const { entry, events } = log;
  const payload = events.map((e) => ({
    tenant_id: e.tenant_id,
    type: e.type,
    resource_type: e.resource_type,
    resource_id: e.resource_id,
    resource_version: e.resource_version,
    occurred_at: e.occurred_at.toISOString(),
    actor_token_id: e.actor_token_id,
    request_id: e.request_id,
    data: e.data,
  }));
  const bindings: unknown[] = [
    entry.tenant_id,
    entry.occurred_at.toISOString(),
    entry.actor_token_id,
    entry.key,
    entry.resource_type,
    entry.resource_id,
    entry.request_id,
    JSON.stringify(entry.detail),
    JSON.stringify(payload),
  ];
  if (log.actions?.length) bindings.push(JSON.stringify(log.actions));
  if (log.cancels?.length) bindings.push(JSON.stringify(log.cancels));
  return bindings;
}

/**
 * Appends a write's audit entry and its lifecycle events in one statement (one round trip on the
 * hot write path). Events keep their order: ids are drawn in `ord` order.
 */
export async function insertAuditEntryWithEvents(
  db: Db,
  log: ChangeLog,
): Promise<string> {
  const result = await prepared(
    db.raw<{ rows: { id: string }[] }>(
      `WITH ${changeLogSql(false, log)} SELECT id FROM entry`,
      changeLogBindings(log) as never[],
    ),
  );
  return result.rows[0]!.id;
}

/**
 * Appends several writes' audit entries and events in one statement, in the order given (a group
 * commit's requests). Only for logs that plan and cancel no actions.
 */
export async function insertChangeLogs(
  db: Db,
  logs: ChangeLog[],
): Promise<void> {
  if (logs.some((log) => log.actions?.length || log.cancels?.length)) {
    throw new Error("insertChangeLogs takes logs without actions");
  }
  if (logs.length === 0) return;
  const payload = logs.map((log) => {
    const [tenant, at, actor, key, type, id, request, detail, events] =
      changeLogBindings(log);
    return { tenant, at, actor, key, type, id, request, detail, events };
  });
  await prepared(
    db.raw(
      `WITH input AS (
       SELECT x, ord FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS t(x, ord)
     ), entries AS (
       INSERT INTO audit_entries
         (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
       SELECT (x->>'tenant')::uuid, (x->>'at')::timestamptz, (x->>'actor')::uuid, x->>'key',
              x->>'type', (x->>'id')::uuid, x->>'request', (x->>'detail')::jsonb
       FROM input ORDER BY ord
       RETURNING id
     ), numbered AS (
       SELECT id, row_number() OVER (ORDER BY id) AS ord FROM entries
     )
     INSERT INTO lifecycle_events
       (tenant_id, type, resource_type, resource_id, resource_version, occurred_at,
        actor_token_id, request_id, audit_entry_id, data)
     SELECT (e.value->>'tenant_id')::uuid, e.value->>'type', e.value->>'resource_type',
            (e.value->>'resource_id')::uuid, (e.value->>'resource_version')::int,
            (e.value->>'occurred_at')::timestamptz, (e.value->>'actor_token_id')::uuid,
            e.value->>'request_id', n.id, e.value->'data'
     FROM input i JOIN numbered n ON n.ord = i.ord,
          jsonb_array_elements((i.x->>'events')::jsonb) WITH ORDINALITY AS e(value, eord)
     ORDER BY i.ord, e.eord`,
      [JSON.stringify(payload)],
    ),
  );
}

/**
 * Rewrites a user only if it is still at `expectedVersion`, and appends the audit entry and events
 * in the same statement: one atomic round trip. Returns false when another write got there first.
 */
export async function updateUserWithChangeLog(
  db: Db,
  update: {
    tenantId: string;
    id: string;
    expectedVersion: number;
    resource: StoredResource;
    updatedAt: Date;
  },
  log: ChangeLog,
): Promise<boolean> {
  const columns = userColumnsOf(update.resource);
  const result = await prepared(
    db.raw<{ rows: { updated: string }[] }>(
      `WITH guard AS (
       UPDATE users
       SET user_name = ?, external_id = ?, display_name = ?, active = ?, emails_search = ?,
           resource = ?::jsonb, version = version + 1, updated_at = ?::timestamptz
       WHERE tenant_id = ? AND id = ? AND version = ?
       RETURNING id
     ), ${changeLogSql(true, log)}
     SELECT count(*) AS updated FROM guard`,
      [
        columns.user_name,
        columns.external_id,
        columns.display_name,
        columns.active,
        columns.emails_search,
        JSON.stringify(update.resource),
        update.updatedAt.toISOString(),
        update.tenantId,
        update.id,
        update.expectedVersion,
        ...changeLogBindings(log),
      ] as never[],
    ),
  );
  return Number(result.rows[0]!.updated) === 1;
}

/**
 * Inserts a new user and appends its audit entry and events in one statement: one atomic round
 * trip. A taken userName fails the whole statement on the unique index.
 */
export async function insertUserWithChangeLog(
  db: Db,
  user: {
    tenantId: string;
    id: string;
    resource: StoredResource;
    createdAt: Date;
  },
  log: ChangeLog,
): Promise<void> {
  const columns = userColumnsOf(user.resource);
  await prepared(
    db.raw(
      `WITH guard AS (
       INSERT INTO users
         (tenant_id, id, user_name, external_id, display_name, active, emails_search, resource,
          version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, 1, ?::timestamptz, ?::timestamptz)
       RETURNING id
     ), ${changeLogSql(true, log)}
     SELECT id FROM guard`,
      [
        user.tenantId,
        user.id,
        columns.user_name,
        columns.external_id,
        columns.display_name,
        columns.active,
        columns.emails_search,
        JSON.stringify(user.resource),
        user.createdAt.toISOString(),
        user.createdAt.toISOString(),
        ...changeLogBindings(log),
      ] as never[],
    ),
  );
}
