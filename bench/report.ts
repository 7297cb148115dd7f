import { mkdir, writeFile } from "node:fs/promises";
import type autocannon from "autocannon";
import type { ScenarioName } from "./bench-options.ts";
import type { CpuShares } from "./cpu-usage.ts";

/** A goal for one scenario (set for PostgreSQL at 100k users; reported, never asserted). */
export interface Target {
  minRps: number;
  maxP99Ms?: number;
}

/** The goals per scenario. */
export const TARGETS: Record<ScenarioName, Target> = {
  lookup: { minRps: 2_500, maxP99Ms: 50 },
  get: { minRps: 2_500, maxP99Ms: 50 },
  list: { minRps: 500 },
  "co-filter": { minRps: 300 },
  "patch-active": { minRps: 1_000 },
  put: { minRps: 1_000 },
  "member-add": { minRps: 1_000 },
  // Not requests: actions/s received downstream in a burst, and the p99 in ms from a PATCH
  // active=false to the app receiving the suspend, with an idle queue.
  lifecycle: { minRps: 300, maxP99Ms: 1_000 },
};

/** The seeding goal in users per second. */
export const SEED_TARGET_USERS_PER_S = 1_000;

/** One scenario's measured figures. */
export interface ScenarioResult {
  name: ScenarioName;
  describes: string;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
  cpu: CpuShares;
  /** What the one-request check before the run found wrong, if anything. */
  checkProblem?: string;
  target: Target;
  targetMet: boolean;
  /** More than half the requests were not 2xx (or failed outright). */
  failed: boolean;
}

/** The seeding run's figures. */
export interface SeedResult {
  users: number;
  usersPerS: number;
  ok: number;
  non2xx: number;
  errors: number;
  durationS: number;
  p50Ms: number;
  p99Ms: number;
  cpu: CpuShares;
  collected: number;
  group?: { members: number; method: string; seconds: number };
  targetUsersPerS: number;
  targetMet: boolean;
  failed: boolean;
}

/** Deactivations one at a time: from sending the PATCH to the app receiving the suspend. */
export interface LifecycleLatency {
  users: number;
  /** Users whose suspend arrived (the others timed out). */
  received: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** The PATCH alone: sent → answered. */
  patchP50Ms: number;
  patchP99Ms: number;
  patchNon2xx: number;
  cpu: CpuShares;
  targetMet: boolean;
}

/** A burst of deactivations: how fast the actions reach the app. */
export interface LifecycleBurst {
  users: number;
  /** The SCIM side: autocannon's figures for the PATCHes. */
  patch: {
    perS: number;
    seconds: number;
    p50Ms: number;
    p99Ms: number;
    ok: number;
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  received: number;
  /** First suspend received → last suspend received. */
  firstToLastS: number;
  actionsPerS: number;
  /** First PATCH sent → last suspend received. */
  overallS: number;
  overallPerS: number;
  /** Suspends still to come when the last PATCH was answered, and how long they took. */
  backlogAtLastPatch: number;
  drainS: number;
  /**
   * The drain alone (last PATCH answered → last suspend): only the worker runs, so this is the
   * action's own rate and cost. Left out when fewer than 200 actions were left to drain.
   */
  drain:
    | {
        actionsPerS: number;
        cpu: CpuShares;
        serverMsPerAction: number;
        postgresMsPerAction: number;
      }
    | undefined;
  /** First PATCH sent → no action of the app left pending or running in the server. */
  recordedS: number | undefined;
  cpu: CpuShares;
  /** CPU ms per deactivation (PATCH plus action) in the server and in PostgreSQL. */
  serverMsPerUser: number;
  postgresMsPerUser: number;
  targetMet: boolean;
}

/** The lifecycle scenario's figures. */
export interface LifecycleResult {
  name: "lifecycle";
  describes: string;
  warmupUsers: number;
  latency: LifecycleLatency;
  burst: LifecycleBurst;
  /** The fake app's count of effects applied twice (must be 0). */
  duplicateEffects: number;
  /** Suspend requests the app did not answer with 200. */
  suspendNon200: number;
  /** Users who got more than one suspend request. */
  repeatedSuspends: number;
  /** Requests to the app other than members/suspend. */
  otherRequests: number;
  /** The app's actions in the server at the end, by state. */
  actionStates: Record<string, number>;
  target: Target;
  targetMet: boolean;
  /** The PATCHes mostly failed, or most suspends never arrived. */
  failed: boolean;
}

function statusCodesOf(result: autocannon.Result): Record<string, number> {
  const codes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    codes[code] = stat.count ?? 0;
  }
  return codes;
}

function isMostlyFailed(result: autocannon.Result): boolean {
  const ok = result["2xx"];
  return result.non2xx + result.errors > ok;
}

/** Turns an autocannon result into the figures we report. */
export function scenarioResult(
  name: ScenarioName,
  describes: string,
  result: autocannon.Result,
  cpu: CpuShares,
  checkProblem: string | undefined,
): ScenarioResult {
  const target = TARGETS[name];
  const rps = Math.round(result.requests.mean);
  const p99 = result.latency.p99;
  return {
    name,
    describes,
    rps,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: p99,
    maxMs: result.latency.max,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: statusCodesOf(result),
    durationS: result.duration,
    cpu,
    ...(checkProblem ? { checkProblem } : {}),
    target,
    targetMet:
      rps >= target.minRps &&
      (target.maxP99Ms === undefined || p99 <= target.maxP99Ms),
    failed: isMostlyFailed(result),
  };
}

/** Turns the seeding run into the figures we report. */
export function seedResult(
  users: number,
  result: autocannon.Result,
  cpu: CpuShares,
  collected: number,
): SeedResult {
  const usersPerS = Math.round(result["2xx"] / result.duration);
  return {
    users,
    usersPerS,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    durationS: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpu,
    collected,
    targetUsersPerS: SEED_TARGET_USERS_PER_S,
    targetMet: usersPerS >= SEED_TARGET_USERS_PER_S,
    failed: isMostlyFailed(result),
  };
}

function targetText(target: Target): string {
  return (
    `≥ ${target.minRps.toLocaleString("en-US")}/s` +
    (target.maxP99Ms ? `, p99 ≤ ${target.maxP99Ms}` : "")
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join("  ");
  return [
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
  ].join("\n");
}

function cpuText(cpu: CpuShares): string {
  const pct = (n: number) => (Number.isNaN(n) ? "-" : String(n));
  return [cpu.serverPct, cpu.postgresPct, cpu.benchPct, cpu.otherPct]
    .map(pct)
    .join("/");
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const verdict = (met: boolean) => (met ? "met" : "MISSED");
const msText = (ms: number) => (Number.isNaN(ms) ? "-" : String(ms));

/** The lifecycle scenario's lines under the table. */
export function formatLifecycle(r: LifecycleResult): string {
  const l = r.latency;
  const b = r.burst;
  const lines = [
    `lifecycle: ${r.describes}`,
    `  latency, idle queue (${l.users} users one at a time, PATCH sent → suspend received): ` +
      `p50 ${l.p50Ms} ms, p90 ${l.p90Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms` +
      ` (the PATCH alone: p50 ${l.patchP50Ms} ms, p99 ${l.patchP99Ms} ms)` +
      `${l.received < l.users ? `; ${l.users - l.received} never arrived` : ""}` +
      `${l.patchNon2xx > 0 ? `; ${l.patchNon2xx} PATCH non-2xx` : ""}` +
      `; target p99 ≤ ${int(r.target.maxP99Ms ?? 0)} ms: ${verdict(l.targetMet)}; cpu ${cpuText(l.cpu)}`,
    `  burst of ${int(b.users)}: PATCHes ${int(b.patch.perS)}/s (${b.patch.ok} 2xx, ${b.patch.non2xx} non-2xx, ` +
      `${b.patch.errors}/${b.patch.timeouts} err/timeout in ${b.patch.seconds} s; p50 ${b.patch.p50Ms} ms, p99 ${b.patch.p99Ms} ms)`,
    `    suspends received: ${int(b.received)} of ${int(b.users)}; first → last ${b.firstToLastS} s = ` +
      `${int(b.actionsPerS)} actions/s; first PATCH → last suspend ${b.overallS} s = ${int(b.overallPerS)} actions/s; ` +
      `${int(b.backlogAtLastPatch)} still queued at the last PATCH, drained in ${b.drainS} s` +
      `${b.recordedS !== undefined ? `; all recorded ${b.recordedS} s after the first PATCH` : "; NOT all recorded"}`,
    `    target ≥ ${int(r.target.minRps)} actions/s: ${verdict(b.targetMet)}; cpu ${cpuText(b.cpu)}; ` +
      `per deactivation ${b.serverMsPerUser} ms server, ${msText(b.postgresMsPerUser)} ms PostgreSQL CPU`,
    ...(b.drain
      ? [
          `    drain alone (worker only): ${int(b.drain.actionsPerS)} actions/s; cpu ${cpuText(b.drain.cpu)}; ` +
            `per action ${b.drain.serverMsPerAction} ms server, ${msText(b.drain.postgresMsPerAction)} ms PostgreSQL CPU`,
        ]
      : []),
    `  duplicate effects ${r.duplicateEffects}; suspends not answered 200: ${r.suspendNon200}; users suspended twice: ` +
      `${r.repeatedSuspends}; other app requests: ${r.otherRequests}; actions: ` +
      Object.entries(r.actionStates)
        .map(([state, count]) => `${count} ${state}`)
        .join(", "),
    `  lifecycle overall: ${r.failed ? "FAILED" : verdict(r.targetMet)}`,
  ];
  return lines.join("\n");
}

/** The results table printed at the end of a run. */
export function formatReport(
  seed: SeedResult | undefined,
  scenarios: ScenarioResult[],
  lifecycle?: LifecycleResult,
): string {
  const parts: string[] = [];
  if (seed) {
    parts.push(
      `seeding: ${seed.usersPerS.toLocaleString("en-US")} users/s (${seed.ok} created, ${seed.non2xx} non-2xx, ` +
        `${seed.errors} errors in ${seed.durationS} s; p50 ${seed.p50Ms} ms, p99 ${seed.p99Ms} ms; ` +
        `target ≥ ${seed.targetUsersPerS.toLocaleString("en-US")}/s: ${seed.targetMet ? "met" : "MISSED"}; ` +
        `cpu ${cpuText(seed.cpu)})`,
    );
  }
  const rows = scenarios.map((s) => [
    s.name,
    s.rps.toLocaleString("en-US"),
    String(s.p50Ms),
    String(s.p99Ms),
    String(s.ok),
    String(s.non2xx),
    `${s.errors}/${s.timeouts}`,
    `${s.ok > 0 ? ((s.cpu.serverPct * 10) / s.rps).toFixed(2) : "-"}`,
    cpuText(s.cpu),
    targetText(s.target),
    s.failed ? "FAILED" : s.targetMet ? "met" : "MISSED",
  ]);
  if (rows.length > 0) {
    parts.push(
      table(
        [
          "scenario",
          "req/s",
          "p50 ms",
          "p99 ms",
          "2xx",
          "non-2xx",
          "err/timeout",
          "srv ms/req",
          "cpu % srv/pg/gen/other",
          "target",
          "",
        ],
        rows,
      ),
    );
  }
  if (lifecycle) parts.push(formatLifecycle(lifecycle));
  const cores = scenarios[0]?.cpu.cores ?? seed?.cpu.cores ?? 0;
  parts.push(
    `srv ms/req: server CPU per request. cpu %: of one core (${cores} cores = ${cores * 100}%) used by ` +
      "the SCIM server / PostgreSQL / the load generator (this process) / everything else.",
  );
  const problems = scenarios.filter((s) => s.checkProblem);
  for (const s of problems)
    parts.push(
      `! ${s.name}: the check request before the run found: ${s.checkProblem}`,
    );
  return parts.join("\n\n");
}

/** Writes the run as JSON to bench/results/<timestamp>.json; returns the path. */
export async function writeResults(
  startedAt: Date,
  results: unknown,
): Promise<string> {
  const dir = new URL("./results/", import.meta.url);
  await mkdir(dir, { recursive: true });
  const name = `${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
  const file = new URL(name, dir);
  await writeFile(file, JSON.stringify(results, null, 2) + "\n");
  return file.pathname;
}
