import type { Db } from "../db/open-database.ts";

/**
 * Gives claimed actions back to the queue at once (a worker shutting down before their runs end),
 * only while this worker still holds their leases: a run that recorded its outcome first keeps
 * it, and a run that records after this finds its lease gone and records nothing (finishRun's
 * fence). The downstream call may have been sent: the next run repeats it with the same
 * idempotency key, so the effect stays single. The attempt is given back (the action did not
 * fail); the claim count is kept, so the action keeps its place before later ones of its user
 * and app. Returns how many were released.
 */
export async function releaseActions(
  db: Db,
  options: { workerId: string; ids: string[]; now: Date },
): Promise<number> {
  if (options.ids.length === 0) return 0;
  return db("actions")
    .whereIn("id", options.ids)
    .andWhere({ lease_owner: options.workerId, state: "running" })
    .update({
      // Claims of pending actions counted an attempt; polls of a downstream job did not.
      attempts: db.raw(
        "CASE WHEN job IS NULL THEN greatest(attempts - 1, 0) ELSE attempts END",
      ),
      state: db.raw(
        "CASE WHEN job IS NULL THEN 'pending' ELSE 'in_progress' END",
      ),
      lease_owner: null,
      lease_expires_at: null,
      run_at: options.now,
      updated_at: options.now,
    });
}
