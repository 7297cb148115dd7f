import type { Db } from "../db/open-database.ts";
import { isUuid, userReadColumns, type UserRow } from "./users-store.ts";

type Lookup = "id" | "userName";

/** What a single-user read adds to the row besides its groups; both by default. */
export interface UserReadOptions {
  /** The user's app states (`apps_json`). */
  apps?: boolean;
  /** The user's unfinished actions (`pending_json`). */
  pendingActions?: boolean;
}

interface Pending {
  key: string;
  resolve: (row: UserRow | undefined) => void;
  reject: (error: unknown) => void;
}

/** One kind of batched read: how users are looked up and what is read with them. */
interface Variant {
  lookup: Lookup;
  apps: boolean;
  pendingActions: boolean;
}

interface Queue {
  variant: Variant;
  tenantId: string;
  entries: Pending[];
}

// One statement per batch: the keys are unnested with their position, each joined to its user
// through an index (primary key, or the unique lower(user_name) index), with the user's groups and,
// unless the read leaves them out, its app states and unfinished actions.
function batchSql({ lookup, apps, pendingActions }: Variant): string {
  const columns = userReadColumns({ groups: true, apps, pendingActions });
  return lookup === "id"
    ? `SELECT k.ord, u.*, ${columns}
       FROM unnest(?::uuid[]) WITH ORDINALITY AS k(key, ord)
       JOIN users u ON u.tenant_id = ? AND u.id = k.key`
    : `SELECT k.ord, u.*, ${columns}
       FROM unnest(?::text[]) WITH ORDINALITY AS k(key, ord)
       JOIN users u ON u.tenant_id = ? AND lower(u.user_name) = lower(k.key)`;
}

/** Largest batch in one statement; more waiting reads go in further statements. */
const MAX_BATCH = 500;

/**
 * Reads single users by id or by userName (case-insensitively, as the schema says), coalescing
 * the reads that arrive in the same event-loop turn into one statement per tenant, key kind and
 * the parts read with the user.
 *
 * IdPs send these two reads far more than any other: a lookup by userName before every create and
 * on every sync, a GET by id before every PATCH. Under concurrent load each batch saves a round
 * trip, a parse and a plan per read; a lone read waits for nothing but the end of the current turn.
 * Each read sees a committed state no older than the moment it was asked, as a query of its own would.
 */
export function createUserReadBatcher(db: Db) {
  // Keyed by variant and tenant: reads of one variant in one tenant share a statement.
  const queues = new Map<string, Queue>();
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batches = [...queues.values()];
    queues.clear();
    for (const { variant, tenantId, entries } of batches) {
      for (let i = 0; i < entries.length; i += MAX_BATCH) {
        void run(variant, tenantId, entries.slice(i, i + MAX_BATCH));
      }
    }
  }

  async function run(
    variant: Variant,
    tenantId: string,
    pending: Pending[],
  ): Promise<void> {
    try {
      const result = await db.raw<{ rows: (UserRow & { ord: string })[] }>(
        batchSql(variant),
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
    options: UserReadOptions,
  ): Promise<UserRow | undefined> {
    const variant: Variant = {
      lookup,
      apps: options.apps ?? true,
      pendingActions: options.pendingActions ?? true,
    };
    return new Promise((resolve, reject) => {
      const queueKey = `${lookup}|${variant.apps}|${variant.pendingActions}|${tenantId}`;
      const queue = queues.get(queueKey);
      const entry = { key, resolve, reject };
      if (queue) queue.entries.push(entry);
      else queues.set(queueKey, { variant, tenantId, entries: [entry] });
      if (!scheduled) {
        scheduled = true;
        // setImmediate runs after the poll phase has handled every socket that was ready, so the
        // requests read in this turn share the batch.
        setImmediate(flush);
      }
    });
  }

  return {
    /**
     * The user with this id in this tenant, with its groups (`groups_json`) and, unless `options`
     * leave them out, its app states and unfinished actions (`apps_json`, `pending_json`).
     */
    byId(
      tenantId: string,
      id: string,
      options: UserReadOptions = {},
    ): Promise<UserRow | undefined> {
      if (!isUuid(id)) return Promise.resolve(undefined);
      return enqueue("id", tenantId, id.toLowerCase(), options);
    },
    /** The user whose userName equals this one, ignoring case, read like `byId`. */
    byUserName(
      tenantId: string,
      userName: string,
      options: UserReadOptions = {},
    ): Promise<UserRow | undefined> {
      return enqueue("userName", tenantId, userName, options);
    },
  };
}

/** The batcher's interface. */
export type UserReadBatcher = ReturnType<typeof createUserReadBatcher>;
