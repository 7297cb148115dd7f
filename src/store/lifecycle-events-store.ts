import type { Db } from "../db/open-database.ts";
import type { LifecycleEventType } from "../domain/lifecycle-event.ts";

/** A lifecycle event to append. */
export interface NewLifecycleEvent {
  tenant_id: string;
  type: LifecycleEventType;
  resource_type: "User" | "Group";
  resource_id: string;
  resource_version: number;
  occurred_at: Date;
  actor_token_id: string | null;
  request_id: string | null;
  audit_entry_id: string | null;
  data: Record<string, unknown>;
}

/** A stored lifecycle event. */
export interface LifecycleEventRow extends NewLifecycleEvent {
  id: string;
}

/** Lists a tenant's events in order, optionally for one resource. */
export async function listLifecycleEvents(
  db: Db,
  tenantId: string,
  options: { resourceId?: string; afterId?: string; limit?: number } = {},
): Promise<LifecycleEventRow[]> {
  const query = db<LifecycleEventRow>("lifecycle_events").where({
    tenant_id: tenantId,
  });
  if (options.resourceId) query.andWhere({ resource_id: options.resourceId });
  if (options.afterId) query.andWhere("id", ">", options.afterId);
  return query.orderBy("id").limit(options.limit ?? 1000);
}
