import type { Db } from "../db/open-database.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import type { NewAuditEntry } from "./audit-store.ts";
import type { NewLifecycleEvent } from "./lifecycle-events-store.ts";
import { userColumnsOf } from "./users-store.ts";

/** An event of the same write as its audit entry; the entry's id links them. */
export type LinkedLifecycleEvent = Omit<NewLifecycleEvent, "audit_entry_id">;

// The audit entry and its events, as CTEs after an optional guard CTE named `guard`:
// nothing is inserted when the guard yields no row.
function changeLogSql(guarded: boolean): string {
  return `entry AS (
       INSERT INTO audit_entries
         (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
       SELECT ?::uuid, ?::timestamptz, ?::uuid, ?, ?, ?::uuid, ?, ?::jsonb
       ${guarded ? "FROM guard" : ""}
       RETURNING id
     ), events AS (
       INSERT INTO lifecycle_events
         (tenant_id, type, resource_type, resource_id, resource_version, occurred_at,
          actor_token_id, request_id, audit_entry_id, data)
       SELECT (e.value->>'tenant_id')::uuid, e.value->>'type', e.value->>'resource_type',
              (e.value->>'resource_id')::uuid, (e.value->>'resource_version')::int,
              (e.value->>'occurred_at')::timestamptz, (e.value->>'actor_token_id')::uuid,
              e.value->>'request_id', entry.id, e.value->'data'
       FROM entry, jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(value, ord)
       ORDER BY e.ord
     )`;
}

function changeLogBindings(
  entry: NewAuditEntry,
  events: LinkedLifecycleEvent[],
): unknown[] {
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
  return [
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
}

/**
 * Appends a write's audit entry and its lifecycle events in one statement (one round trip on the
 * hot write path). Events keep their order: ids are drawn in `ord` order.
 */
export async function insertAuditEntryWithEvents(
  db: Db,
  entry: NewAuditEntry,
  events: LinkedLifecycleEvent[],
): Promise<string> {
  const result = await db.raw<{ rows: { id: string }[] }>(
    `WITH ${changeLogSql(false)} SELECT id FROM entry`,
    changeLogBindings(entry, events) as never[],
  );
  return result.rows[0]!.id;
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
  entry: NewAuditEntry,
  events: LinkedLifecycleEvent[],
): Promise<boolean> {
  const columns = userColumnsOf(update.resource);
  const result = await db.raw<{ rows: { updated: string }[] }>(
    `WITH guard AS (
       UPDATE users
       SET user_name = ?, external_id = ?, display_name = ?, active = ?, emails_search = ?,
           resource = ?::jsonb, version = version + 1, updated_at = ?::timestamptz
       WHERE tenant_id = ? AND id = ? AND version = ?
       RETURNING id
     ), ${changeLogSql(true)}
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
      ...changeLogBindings(entry, events),
    ] as never[],
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
  entry: NewAuditEntry,
  events: LinkedLifecycleEvent[],
): Promise<void> {
  const columns = userColumnsOf(user.resource);
  await db.raw(
    `WITH guard AS (
       INSERT INTO users
         (tenant_id, id, user_name, external_id, display_name, active, emails_search, resource,
          version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb, 1, ?::timestamptz, ?::timestamptz)
       RETURNING id
     ), ${changeLogSql(true)}
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
      ...changeLogBindings(entry, events),
    ] as never[],
  );
}
