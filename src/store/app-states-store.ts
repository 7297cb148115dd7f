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

/** The user's state in one app, if any action ever touched it there. */
export async function findAppState(
  db: Db,
  key: { tenantId: string; userId: string; appId: string },
): Promise<AppStateRow | undefined> {
  return db<AppStateRow>("app_states")
    .where({ tenant_id: key.tenantId, user_id: key.userId, app_id: key.appId })
    .first();
}

/**
 * Records what a succeeded action left: a new state (its `since` moves only when the state
 * changes) and the ids the app gave us, merged into `ref`.
 */
export async function upsertAppState(
  db: Db,
  key: { tenantId: string; userId: string; appId: string },
  change: { state?: AppState; ref?: Record<string, unknown>; at: Date },
): Promise<void> {
  await db.raw(
    `INSERT INTO app_states (tenant_id, user_id, app_id, state, since, ref, updated_at)
     VALUES (?, ?, ?, ?, ?::timestamptz, ?::jsonb, ?::timestamptz)
     ON CONFLICT (tenant_id, user_id, app_id) DO UPDATE SET
       state = coalesce(?, app_states.state),
       since = CASE WHEN ?::text IS NOT NULL AND ?::text <> app_states.state
                    THEN excluded.since ELSE app_states.since END,
       ref = app_states.ref || excluded.ref,
       updated_at = excluded.updated_at`,
    [
      key.tenantId,
      key.userId,
      key.appId,
      change.state ?? "unknown",
      change.at.toISOString(),
      JSON.stringify(change.ref ?? {}),
      change.at.toISOString(),
      change.state ?? null,
      change.state ?? null,
      change.state ?? null,
    ] as never[],
  );
}
