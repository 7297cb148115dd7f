/** Source of the current time, replaceable in tests. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses durations such as `30d`, `12h`, `500ms`. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match)
    throw new Error(`invalid duration "${text}" (use e.g. 30s, 15m, 12h, 30d)`);
  return Number(match[1]) * (UNIT_MS[match[2]!] ?? 0);
}

/** A clock that only moves when told to. */
export interface FakeClock extends Clock {
  advance(duration: string | number): void;
  set(at: Date): void;
}

/** Creates a fake clock starting at `start`. */
export function createFakeClock(
  start = new Date("2026-01-01T00:00:00.000Z"),
): FakeClock {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance: (duration) => {
      current +=
        typeof duration === "number" ? duration : parseDuration(duration);
    },
    set: (at) => {
      current = at.getTime();
    },
  };
}
