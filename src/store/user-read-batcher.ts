import type { Db } from "../db/open-database.ts";
import { isUuid, USER_GROUPS_SQL, type UserRow } from "./users-store.ts";

type Lookup = "id" | "userName";

interface Pending {
  key: string;
  resolve: (row: UserRow | undefined) => void;
  reject: (error: unknown) => void;
}

// One statement per batch: the keys are unnested with their position, each joined to its user
// through an index (primary key, or the unique lower(user_name) index), with the user's groups.
const BATCH_SQL: Record<Lookup, string> = {
  id: `SELECT k.ord, u.*, ${USER_GROUPS_SQL}
       FROM unnest(?::uuid[]) WITH ORDINALITY AS k(key, ord)
       JOIN users u ON u.tenant_id = ? AND u.id = k.key`,
  userName: `SELECT k.ord, u.*, ${USER_GROUPS_SQL}
       FROM unnest(?::text[]) WITH ORDINALITY AS k(key, ord)
       JOIN users u ON u.tenant_id = ? AND lower(u.user_name) = lower(k.key)`,
};

/** Largest batch in one statement; more waiting reads go in further statements. */
const MAX_BATCH = 500;

/**
 * Reads single users by id or by userName (case-insensitively, as the schema says), coalescing
 * the reads that arrive in the same event-loop turn into one statement per tenant and key kind.
 *
 * IdPs send these two reads far more than any other: a lookup by userName before every create and
 * on every sync, a GET by id before every PATCH. Under concurrent load each batch saves a round
 * trip, a parse and a plan per read; a lone read waits for nothing but the end of the current turn.
 * Each read sees a committed state no older than the moment it was asked, as a query of its own would.
 */
export function createUserReadBatcher(db: Db) {
  const queues = new Map<string, Pending[]>();
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batches = [...queues];
    queues.clear();
    for (const [queueKey, pending] of batches) {
      const [lookup, tenantId] = queueKey.split("|") as [Lookup, string];
      for (let i = 0; i < pending.length; i += MAX_BATCH) {
        void run(lookup, tenantId, pending.slice(i, i + MAX_BATCH));
      }
    }
  }

  async function run(
    lookup: Lookup,
    tenantId: string,
    pending: Pending[],
  ): Promise<void> {
    try {
      const result = await db.raw<{ rows: (UserRow & { ord: string })[] }>(
        BATCH_SQL[lookup],
        [pending.map((p) => p.key), tenantId] as never[],
      );
      const byPosition = new Map<number, UserRow>();
      for (const { ord, ...row } of result.rows) {
        byPosition.set(Number(ord) - 1, row);
      }
      pending.forEach((p, i) => p.resolve(byPosition.get(i)));
    } catch (error) {
      for (const p of pending) p.reject(error);
    }
  }

  function enqueue(
    lookup: Lookup,
    tenantId: string,
    key: string,
  ): Promise<UserRow | undefined> {
    return new Promise((resolve, reject) => {
      const queueKey = `${lookup}|${tenantId}`;
      const queue = queues.get(queueKey);
      const entry = { key, resolve, reject };
      if (queue) queue.push(entry);
      else queues.set(queueKey, [entry]);
      if (!scheduled) {
        scheduled = true;
        // setImmediate runs after the poll phase has handled every socket that was ready, so the
        // requests read in this turn share the batch.
        setImmediate(flush);
      }
    });
  }

  return {
    /** The user with this id in this tenant, with its groups (`groups_json`). */
    byId(tenantId: string, id: string): Promise<UserRow | undefined> {
      if (!isUuid(id)) return Promise.resolve(undefined);
      return enqueue("id", tenantId, id.toLowerCase());
    },
    /** The user whose userName equals this one, ignoring case, with its groups. */
    byUserName(
      tenantId: string,
      userName: string,
    ): Promise<UserRow | undefined> {
      return enqueue("userName", tenantId, userName);
    },
  };
}

/** The batcher's interface. */
export type UserReadBatcher = ReturnType<typeof createUserReadBatcher>;
