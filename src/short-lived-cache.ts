/**
 * Values that may be served for a short while after they were loaded, with one load in flight per
 * key: a burst of requests that all miss waits for the same query instead of running it each.
 */
export function createShortLivedCache<T>(options: {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}) {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: Promise<T>; at: number }>();
  return {
    /**
     * The value for `key`: the cached one if `reuse` and it is younger than the TTL (or still
     * loading), otherwise a fresh `load()`, which is then cached. Failed loads are not kept.
     */
    get(key: string, load: () => Promise<T>, reuse: boolean): Promise<T> {
      const cached = entries.get(key);
      if (reuse && cached && now() - cached.at < options.ttlMs) {
        return cached.value;
      }
      const value = load();
      if (entries.size >= options.maxEntries) entries.clear();
      const entry = { value, at: now() };
      entries.set(key, entry);
      value.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      return value;
    },

    /** Drops a key, so the next `get` loads afresh (the value just changed here). */
    forget(key: string): void {
      entries.delete(key);
    },
  };
}
