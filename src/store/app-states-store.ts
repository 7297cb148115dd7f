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

/**
 * The user's state in one app and, in the same round trip, the end of the app's Retry-After
 * window if it is in one (what a run needs to know before it calls the app).
 */
export async function findAppStateAndWindow(
  db: Db,
  key: { tenantId: string; userId: string; appId: string },
  now: Date,
): Promise<{ state: AppStateRow | undefined; blockedUntil: Date | undefined }> {
  const result = await db.raw<{
    rows: { state: AppStateRow | null; blocked_until: Date | null }[];
  }>(
    `SELECT
       (SELECT to_jsonb(s) FROM app_states s
        WHERE s.tenant_id = ?::uuid AND s.user_id = ?::uuid AND s.app_id = ?) AS state,
       (SELECT t.blocked_until FROM app_throttles t
        WHERE t.tenant_id = ?::uuid AND t.app_id = ? AND t.blocked_until > ?::timestamptz)
         AS blocked_until`,
    [
      key.tenantId,
      key.userId,
      key.appId,
      key.tenantId,
      key.appId,
      now.toISOString(),
    ] as never[],
  );
  const row = result.rows[0];
  return {
    state: row?.state ?? undefined,
    blockedUntil: row?.blocked_until ? new Date(row.blocked_until) : undefined,
  };
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
