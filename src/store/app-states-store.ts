import type { Db } from "../db/open-database.ts";
import type { AppState } from "../domain/app-state.ts";

/** A user's state in one app. */
export interface AppStateRow {
  tenant_id: string;
  user_id: string;
  app_id: string;
  state: AppState;
  since: Date;
  ref: Record<string, unknown>;
  updated_at: Date;
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
