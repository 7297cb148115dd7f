/**
 * Values that may be served for a short while after they were loaded, with one load in flight per
 * key: a burst of requests that all miss waits for the same query instead of running it each.
 */
export function createShortLivedCache<T>(options: {
  ttlMs: number;
  /**
   * For this long after the TTL, a loaded value is still served while one fresh load runs behind
   * it (stale-while-revalidate), so callers never wait for the refresh of a busy key. 0: none.
   */
  staleMs?: number;
  maxEntries: number;
  now?: () => number;
}) {
  const now = options.now ?? Date.now;
  const staleMs = options.staleMs ?? 0;
  interface Entry {
    value: Promise<T>;
    at: number;
    /** The value has loaded (a stale one may then be served). */
    settled: boolean;
    /** A fresh load behind this entry is running. */
    refreshing: boolean;
  }
  const entries = new Map<string, Entry>();

  function store(key: string, load: () => Promise<T>): Entry {
    const entry: Entry = {
      value: load(),
      at: now(),
      settled: false,
      refreshing: false,
    };
    if (entries.size >= options.maxEntries) entries.clear();
    entries.set(key, entry);
    entry.value.then(
      () => {
        entry.settled = true;
      },
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    return entry;
  }

  return {
    /**
     * The value for `key`: the cached one if `reuse` and it is younger than the TTL (or still
     * loading), otherwise a fresh `load()`, which is then cached. Within `staleMs` after the TTL,
     * the cached value is returned while one fresh load runs. Failed loads are not kept.
     */
    get(key: string, load: () => Promise<T>, reuse: boolean): Promise<T> {
      const cached = entries.get(key);
      if (reuse && cached) {
        const age = now() - cached.at;
        if (age < options.ttlMs) return cached.value;
        if (cached.settled && age < options.ttlMs + staleMs) {
          if (!cached.refreshing) {
            cached.refreshing = true;
            const fresh = load();
            fresh.then(
              (value) => {
                if (entries.get(key) !== cached) return;
                entries.set(key, {
                  value: Promise.resolve(value),
                  at: now(),
                  settled: true,
                  refreshing: false,
                });
              },
              () => {
                cached.refreshing = false;
              },
            );
          }
          return cached.value;
        }
      }
      return store(key, load).value;
    },

    /** Drops a key, so the next `get` loads afresh (the value just changed here). */
    forget(key: string): void {
      entries.delete(key);
    },
  };
}
