import assert from "node:assert/strict";
import { createShortLivedCache } from "../../src/short-lived-cache.ts";

describe("short-lived cache", () => {
  let time = 0;
  let loads = 0;
  const load = (value: number) => () => {
    loads++;
    return Promise.resolve(value);
  };
  beforeEach(() => {
    time = 0;
    loads = 0;
  });
  const cache = () =>
    createShortLivedCache<number>({
      ttlMs: 2_000,
      maxEntries: 10,
      now: () => time,
    });

  it("runs one load for a burst of callers that may reuse", async () => {
    const c = cache();
    const values = await Promise.all(
      Array.from({ length: 20 }, () => c.get("k", load(7), true)),
    );
    assert.deepEqual(new Set(values), new Set([7]));
    assert.equal(loads, 1);
  });

  it("loads afresh when the value is older than the TTL or reuse is not allowed", async () => {
    const c = cache();
    assert.equal(await c.get("k", load(1), true), 1);
    time = 1_999;
    assert.equal(await c.get("k", load(2), true), 1);
    assert.equal(await c.get("k", load(3), false), 3);
    time = 1_999 + 2_000;
    assert.equal(await c.get("k", load(4), true), 4);
    assert.equal(loads, 3);
  });

  it("loads afresh after forget", async () => {
    const c = cache();
    assert.equal(await c.get("k", load(1), true), 1);
    c.forget("k");
    assert.equal(await c.get("k", load(2), true), 2);
  });

  it("does not keep a failed load", async () => {
    const c = cache();
    await assert.rejects(
      c.get("k", () => Promise.reject(new Error("down")), true),
      /down/,
    );
    assert.equal(await c.get("k", load(5), true), 5);
  });
});

describe("short-lived cache with a stale window", () => {
  let time = 0;
  const stale = () =>
    createShortLivedCache<number>({
      ttlMs: 2_000,
      staleMs: 2_000,
      maxEntries: 10,
      now: () => time,
    });
  beforeEach(() => {
    time = 0;
  });

  it("serves the old value while one refresh runs, then the refreshed one", async () => {
    const c = stale();
    assert.equal(await c.get("k", () => Promise.resolve(1), true), 1);
    time = 2_500;
    let release!: (value: number) => void;
    let refreshes = 0;
    const slow = () => {
      refreshes++;
      return new Promise<number>((resolve) => (release = resolve));
    };
    assert.equal(await c.get("k", slow, true), 1);
    assert.equal(await c.get("k", slow, true), 1);
    assert.equal(refreshes, 1);
    release(2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await c.get("k", slow, true), 2);
    assert.equal(refreshes, 1);
  });

  it("waits for a fresh load once the value is older than TTL plus the stale window", async () => {
    const c = stale();
    assert.equal(await c.get("k", () => Promise.resolve(1), true), 1);
    time = 4_000;
    assert.equal(await c.get("k", () => Promise.resolve(2), true), 2);
  });

  it("keeps serving the old value when a refresh fails, and tries again", async () => {
    const c = stale();
    assert.equal(await c.get("k", () => Promise.resolve(1), true), 1);
    time = 2_500;
    const failing = c.get("k", () => Promise.reject(new Error("down")), true);
    assert.equal(await failing, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await c.get("k", () => Promise.resolve(3), true), 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await c.get("k", () => Promise.resolve(4), true), 3);
  });

  it("never serves a stale value to a caller that may not reuse", async () => {
    const c = stale();
    assert.equal(await c.get("k", () => Promise.resolve(1), true), 1);
    time = 2_500;
    assert.equal(await c.get("k", () => Promise.resolve(5), false), 5);
  });
});
