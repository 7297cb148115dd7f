/** The scenarios the bench knows, in the order they run. */
export const SCENARIO_NAMES = [
  "lookup",
  "get",
  "list",
  "co-filter",
  "patch-active",
  "put",
  "member-add",
  "lifecycle",
] as const;

/** One scenario's name. */
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** What the bench was asked to do (all from the environment). */
export interface BenchOptions {
  users: number;
  durationS: number;
  warmupS: number;
  connections: number;
  groupMembers: number;
  only: ScenarioName[];
  /** BENCH_LIFECYCLE_USERS: users deactivated in one burst by the lifecycle scenario. */
  lifecycleUsers: number;
  /** BENCH_LIFECYCLE_LATENCY_USERS: users deactivated one at a time (idle-queue latency). */
  lifecycleLatencyUsers: number;
  /** BENCH_KEEP=1: leave the database (or PGlite folder) in place for inspection. */
  keep: boolean;
  /** Settle after seeding on PostgreSQL: audit chained, VACUUM (ANALYZE) (BENCH_VACUUM=0 to measure the just-imported state). */
  vacuum: boolean;
  databaseUrl?: string;
}

function positiveInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    problems.push(`${name} must be an integer ≥ ${min}, got "${raw}"`);
    return fallback;
  }
  return value;
}

function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}

/** Reads BENCH_* and DATABASE_URL; throws listing every problem. */
export function readBenchOptions(
  env: NodeJS.ProcessEnv = process.env,
): BenchOptions {
  const problems: string[] = [];
  const users = positiveInteger(env, "BENCH_USERS", 100_000, 1, problems);
  const durationS = positiveInteger(env, "BENCH_DURATION_S", 10, 1, problems);
  const warmupS = positiveInteger(env, "BENCH_WARMUP_S", 2, 0, problems);
  const connections = positiveInteger(
    env,
    "BENCH_CONNECTIONS",
    32,
    1,
    problems,
  );
  const groupMembers = positiveInteger(
    env,
    "BENCH_GROUP_MEMBERS",
    10_000,
    0,
    problems,
  );
  const lifecycleUsers = positiveInteger(
    env,
    "BENCH_LIFECYCLE_USERS",
    5_000,
    1,
    problems,
  );
  const lifecycleLatencyUsers = positiveInteger(
    env,
    "BENCH_LIFECYCLE_LATENCY_USERS",
    200,
    1,
    problems,
  );
  const requested = (env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = requested.filter((name) => !isScenarioName(name));
  if (unknown.length > 0) {
    problems.push(
      `BENCH_ONLY: unknown scenario(s) ${unknown.join(", ")}; use ${SCENARIO_NAMES.join(", ")}`,
    );
  }
  const only =
    requested.length === 0
      ? [...SCENARIO_NAMES]
      : SCENARIO_NAMES.filter((name) => requested.includes(name));
  if (groupMembers >= users && only.includes("member-add")) {
    problems.push(
      `BENCH_GROUP_MEMBERS (${groupMembers}) must be below BENCH_USERS (${users}): member-add needs users outside the group`,
    );
  }
  if (users < 32) {
    // The seeding run uses 32 connections and autocannon needs at least one request per connection.
    problems.push(`BENCH_USERS must be at least 32, got ${users}`);
  }
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  if (problems.length > 0) {
    throw new Error(`Invalid bench options:\n  ${problems.join("\n  ")}`);
  }
  return {
    users,
    durationS,
    warmupS,
    connections,
    groupMembers,
    only,
    lifecycleUsers,
    lifecycleLatencyUsers,
    keep: env.BENCH_KEEP === "1" || env.BENCH_KEEP === "true",
    vacuum: env.BENCH_VACUUM !== "0" && env.BENCH_VACUUM !== "false",
    ...(databaseUrl ? { databaseUrl } : {}),
  };
}
