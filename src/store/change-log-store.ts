import type { Db } from "../db/open-database.ts";
import type { NewAuditEntry } from "./audit-store.ts";
import type { NewLifecycleEvent } from "./lifecycle-events-store.ts";

/** An event of the same write as its audit entry; the entry's id links them. */
export type LinkedLifecycleEvent = Omit<NewLifecycleEvent, "audit_entry_id">;

/**
 * Appends a write's audit entry and its lifecycle events in one statement (one round trip on the
 * hot write path). Events keep their order: ids are drawn in `ord` order.
 */
export async function insertAuditEntryWithEvents(
  db: Db,
  entry: NewAuditEntry,
  events: LinkedLifecycleEvent[],
): Promise<string> {
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
  const result = await db.raw<{ rows: { id: string }[] }>(
    `WITH entry AS (
       INSERT INTO audit_entries
         (tenant_id, occurred_at, actor_token_id, key, resource_type, resource_id, request_id, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?::jsonb)
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
     )
     SELECT id FROM entry`,
    [
      entry.tenant_id,
      entry.occurred_at,
      entry.actor_token_id,
      entry.key,
      entry.resource_type,
      entry.resource_id,
      entry.request_id,
      JSON.stringify(entry.detail),
      JSON.stringify(payload),
    ],
  );
  return result.rows[0]!.id;
}
