import type { Db } from "../db/open-database.ts";

/** An app's Retry-After window, as the queue shares it between worker processes. */
export interface AppThrottleRow {
  app_id: string;
  blocked_until: Date;
}

/** A tenant's apps that are inside a Retry-After window at `now`. */
export async function listBlockedApps(
  db: Db,
  tenantId: string,
  now: Date,
): Promise<AppThrottleRow[]> {
  return db("app_throttles")
    .where({ tenant_id: tenantId })
    .andWhere("blocked_until", ">", now)
    .orderBy("app_id")
    .select<AppThrottleRow[]>("app_id", "blocked_until");
}
