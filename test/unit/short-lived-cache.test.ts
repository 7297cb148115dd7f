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
