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
