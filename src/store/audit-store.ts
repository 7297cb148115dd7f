import type { Db } from "../db/open-database.ts";

/** An audit entry to append. */
export interface NewAuditEntry {
  tenant_id: string;
  occurred_at: Date;
  actor_token_id: string | null;
  key: string;
  resource_type: string | null;
  resource_id: string | null;
  request_id: string | null;
  detail: Record<string, unknown>;
}

/** A stored audit entry. */
export interface AuditEntryRow extends NewAuditEntry {
  id: string;
}

/** Lists a tenant's audit entries in order, optionally for one resource. */
export async function listAuditEntries(
  db: Db,
  tenantId: string,
  options: { resourceId?: string; afterId?: string; limit?: number } = {},
): Promise<AuditEntryRow[]> {
  const query = db<AuditEntryRow>("audit_entries").where({
    tenant_id: tenantId,
  });
  if (options.resourceId) query.andWhere({ resource_id: options.resourceId });
  if (options.afterId) query.andWhere("id", ">", options.afterId);
  return query.orderBy("id").limit(options.limit ?? 1000);
}

/** Appends one audit entry (actions' outcomes; SCIM writes go through the change log). */
export async function insertAuditEntry(
  db: Db,
  entry: NewAuditEntry,
): Promise<void> {
  await db("audit_entries").insert({
    ...entry,
    detail: JSON.stringify(entry.detail),
  });
}
