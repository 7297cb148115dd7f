import type { Db } from "../db/open-database.ts";
import type { ActionRecord, ActionState } from "../domain/action.ts";
import type { AppStateRow } from "./app-states-store.ts";

// Read-only queries of the auditor API over actions and app_states. They live apart from those
// tables' stores (which the queue and the executor own) because they serve only auditors.

/** A tenant's actions in id order after a keyset position, with optional filters. */
export async function listActionsAfter(
  db: Db,
  tenantId: string,
  filter: {
    userId?: string;
    appId?: string;
    states?: ActionState[];
    afterId?: string;
    limit: number;
  },
): Promise<ActionRecord[]> {
  const query = db<ActionRecord>("actions").where({ tenant_id: tenantId });
  if (filter.userId) query.andWhere({ user_id: filter.userId });
  if (filter.appId) query.andWhere({ app_id: filter.appId });
  if (filter.states?.length) query.whereIn("state", filter.states);
  if (filter.afterId) query.andWhere("id", ">", filter.afterId);
  return query.orderBy("id").limit(filter.limit);
}

/** A user's unfinished actions (pending, running, or polling a downstream job), in id order. */
export async function listOpenActionsOfUser(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<ActionRecord[]> {
  return db<ActionRecord>("actions")
    .where({ tenant_id: tenantId, user_id: userId })
    .whereIn("state", ["pending", "running", "in_progress"])
    .orderBy("id");
}

/** A user's state in every app an action of ours touched, by app. */
export async function listAppStatesOfUser(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<AppStateRow[]> {
  return db<AppStateRow>("app_states")
    .where({ tenant_id: tenantId, user_id: userId })
    .orderBy("app_id");
}
