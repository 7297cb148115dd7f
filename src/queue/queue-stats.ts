import type { Db } from "../db/open-database.ts";

/** Unfinished actions of one app in one state, with the oldest due one. */
export interface QueueStat {
  app: string;
  state: "pending" | "running" | "in_progress";
  depth: number;
  /** run_at of the oldest action due by `now` (never for running ones), or null when none is. */
  oldestDueAt: Date | null;
}

/**
 * Counts unfinished actions by app and state in one statement. Its WHERE is the predicate of the
 * partial index actions__tenant_id_user_id_app_id_id, so it reads unfinished rows only, never the
 * finished history (rows are never deleted); a metrics scrape costs one pass over the backlog.
 */
export async function readQueueStats(db: Db, now: Date): Promise<QueueStat[]> {
  const result = await db.raw<{
    rows: {
      app_id: string;
      state: QueueStat["state"];
      depth: number | string;
      oldest_due_at: Date | string | null;
    }[];
  }>(
    `SELECT app_id, state, count(*) AS depth,
            min(run_at) FILTER (WHERE state <> 'running' AND run_at <= ?::timestamptz)
              AS oldest_due_at
       FROM actions
      WHERE state IN ('pending', 'running', 'in_progress')
      GROUP BY app_id, state`,
    [now.toISOString()] as never[],
  );
  return result.rows.map((row) => ({
    app: row.app_id,
    state: row.state,
    depth: Number(row.depth),
    oldestDueAt:
      row.oldest_due_at === null ? null : new Date(row.oldest_due_at),
  }));
}
