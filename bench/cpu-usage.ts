import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

// USER_HZ: the unit of /proc times. 100 on every mainstream Linux build.
const CLOCK_TICKS_PER_S = 100;

/** CPU time spent during a measurement, in % of one core (a 2-core machine has 200%). */
export interface CpuShares {
  /** The SCIM server process and its workers (WEB_CONCURRENCY). */
  serverPct: number;
  /** This process: autocannon and the request builders. */
  benchPct: number;
  /** The bench database's PostgreSQL server and its backends (0 with PGlite, which runs inside the server; NaN if remote). */
  postgresPct: number;
  /** Everything else: kernel, other people's work. Large values mean a noisy measurement. */
  otherPct: number;
  /** The whole machine, in % of all cores. */
  machinePct: number;
  cores: number;
}

interface Snapshot {
  at: bigint;
  serverTicks: number;
  benchMicros: number;
  postgresTicks: number;
  machineBusy: number;
  machineTotal: number;
}

function statFields(pid: string | number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces; fields follow its last ")".
    const close = stat.lastIndexOf(")");
    return [
      stat.slice(stat.indexOf("(") + 1, close),
      ...stat.slice(close + 2).split(" "),
    ];
  } catch {
    return undefined;
  }
}

/** The parent process of `pid`, if it runs on this machine. */
export function parentPid(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[2]) : undefined;
}

/**
 * CPU ticks of a process and its direct children (cluster workers, PostgreSQL backends), including
 * children that exited: their time moves into the root's cutime/cstime when it reaps them, so a
 * backend that ends during a measurement no longer makes the delta negative.
 */
function treeTicks(rootPid: number | undefined): number {
  if (rootPid === undefined) return NaN;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return NaN;
  }
  let ticks = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (
      fields &&
      (Number(entry) === rootPid || Number(fields[2]) === rootPid)
    ) {
      ticks += Number(fields[12]) + Number(fields[13]); // utime + stime
      if (Number(entry) === rootPid) {
        ticks += Number(fields[14]) + Number(fields[15]); // cutime + cstime: reaped children
      }
    }
  }
  return ticks;
}

function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

function take(serverPid: number, postmasterPid: number | undefined): Snapshot {
  const machine = machineTicks();
  const usage = process.cpuUsage();
  return {
    at: process.hrtime.bigint(),
    serverTicks: treeTicks(serverPid),
    benchMicros: usage.user + usage.system,
    postgresTicks: treeTicks(postmasterPid),
    machineBusy: machine.busy,
    machineTotal: machine.total,
  };
}

/**
 * Starts measuring CPU shares (Linux /proc; NaN elsewhere); call the result to stop. `postmasterPid`
 * is the local PostgreSQL server the bench database lives on, if any.
 */
export function startCpuProbe(
  serverPid: number,
  postmasterPid: number | undefined,
): () => CpuShares {
  const before = take(serverPid, postmasterPid);
  return () => {
    const after = take(serverPid, postmasterPid);
    const seconds = Number(after.at - before.at) / 1e9;
    const cores = cpus().length;
    const ticksPct = (ticks: number) =>
      (ticks / CLOCK_TICKS_PER_S / seconds) * 100;
    const serverPct = ticksPct(after.serverTicks - before.serverTicks);
    const benchPct =
      ((after.benchMicros - before.benchMicros) / 1e6 / seconds) * 100;
    const postgresPct = ticksPct(after.postgresTicks - before.postgresTicks);
    const machineShare =
      (after.machineBusy - before.machineBusy) /
      (after.machineTotal - before.machineTotal);
    const known =
      serverPct + benchPct + (Number.isNaN(postgresPct) ? 0 : postgresPct);
    const otherPct = machineShare * cores * 100 - known;
    return {
      serverPct: Math.round(serverPct),
      benchPct: Math.round(benchPct),
      postgresPct: Math.round(postgresPct),
      otherPct: Math.round(Math.max(0, otherPct)),
      machinePct: Math.round(machineShare * 100),
      cores,
    };
  };
}

/** How busy the machine is (% of all cores) over `ms`, before the bench adds its own load. */
export async function measureMachineBusy(ms: number): Promise<number> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineTicks();
  return Math.round(
    ((after.busy - before.busy) / (after.total - before.total)) * 100,
  );
}
