import assert from "node:assert/strict";
import {
  ACTION_RETRY_BASE_MS,
  ACTION_RETRY_MAX_MS,
  retryDelayMs,
} from "../../src/domain/backoff.ts";

// Math.random returns values in [0, 1): the largest double below 1 is the top of its range.
const LOWEST = () => 0;
const MIDDLE = () => 0.5;
const HIGHEST = () => 1 - Number.EPSILON / 2;

/** The exponential step of an attempt, before jitter: 10 s, 20 s, 40 s, …, at most an hour. */
const stepOf = (attempt: number) =>
  Math.min(ACTION_RETRY_MAX_MS, ACTION_RETRY_BASE_MS * 2 ** (attempt - 1));

describe("retryDelayMs", () => {
  it("waits between 5 and 10 seconds after the first failure", () => {
    assert.equal(retryDelayMs(1, LOWEST), 5_000);
    assert.equal(retryDelayMs(1, MIDDLE), 7_500);
    assert.equal(retryDelayMs(1, HIGHEST), 10_000);
  });

  it("keeps every delay between half and all of its exponential step, in whole milliseconds", () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const step = stepOf(attempt);
      for (const random of [LOWEST, MIDDLE, HIGHEST, () => 0.123]) {
        const delay = retryDelayMs(attempt, random);
        assert.ok(
          delay >= step / 2 && delay <= step,
          `attempt ${attempt}: ${delay} outside [${step / 2}, ${step}]`,
        );
        assert.ok(Number.isInteger(delay), `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it("doubles with each attempt until it reaches the one-hour cap", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((attempt) =>
      retryDelayMs(attempt, MIDDLE),
    );
    assert.deepEqual(
      delays,
      [
        7_500, 15_000, 30_000, 60_000, 120_000, 240_000, 480_000, 960_000,
        1_920_000,
        // attempt 10 would be 5 120 s; the step stops at an hour
        2_700_000, 2_700_000,
      ],
    );
  });

  it("never waits longer than an hour, however many attempts failed", () => {
    for (const attempt of [
      12,
      50,
      100,
      1_000,
      5_000,
      Number.MAX_SAFE_INTEGER,
    ]) {
      const longest = retryDelayMs(attempt, HIGHEST);
      const shortest = retryDelayMs(attempt, LOWEST);
      assert.equal(longest, ACTION_RETRY_MAX_MS, `attempt ${attempt}`);
      assert.equal(shortest, ACTION_RETRY_MAX_MS / 2, `attempt ${attempt}`);
    }
  });

  it("treats attempt 0 (or less) like the first attempt", () => {
    assert.equal(retryDelayMs(0, MIDDLE), 7_500);
    assert.equal(retryDelayMs(-3, HIGHEST), 10_000);
  });

  it("spreads actions that failed together over the second half of the step", () => {
    // An outage fails many actions at the same attempt: their retries must not come back at once.
    let seed = 42;
    const random = () => {
      // mulberry32, so the spread is the same on every run
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const delays = Array.from({ length: 1_000 }, () => retryDelayMs(4, random));
    const step = stepOf(4);
    assert.ok(delays.every((d) => d >= step / 2 && d <= step));
    // Ten buckets over [step/2, step]: each holds roughly a tenth of the retries.
    const buckets = new Array<number>(10).fill(0);
    for (const d of delays) {
      const i = Math.min(9, Math.floor(((d - step / 2) / (step / 2)) * 10));
      buckets[i]! += 1;
    }
    assert.ok(
      buckets.every((n) => n >= 60 && n <= 140),
      `uneven spread: ${buckets.join(", ")}`,
    );
    assert.ok(new Set(delays).size > 900, "retries share the same instant");
  });

  it("uses Math.random when no random source is given", () => {
    const delays = Array.from({ length: 50 }, () => retryDelayMs(2));
    assert.ok(delays.every((d) => d >= 10_000 && d <= 20_000));
    assert.ok(new Set(delays).size > 1, "no jitter without an injected random");
  });
});
