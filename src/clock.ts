import { parseDuration } from "./domain/duration.ts";

export { parseDuration };
/** Source of the current time, replaceable in tests. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

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
