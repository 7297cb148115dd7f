import { readFileSync } from "node:fs";
import { cpus } from "node:os";

// USER_HZ: the unit of /proc times. 100 on every mainstream Linux build.
const CLOCK_TICKS_PER_S = 100;

/** CPU time spent during a measurement, as percentages. */
export interface CpuShares {
  /** The SCIM server process, % of one core. */
  serverPct: number;
  /** This process (autocannon and the request builders), % of one core. */
  benchPct: number;
  /** The whole machine (includes PostgreSQL), % of all cores. */
  machinePct: number;
  cores: number;
}

interface Snapshot {
  at: bigint;
  serverTicks: number | undefined;
  benchMicros: number;
  machineBusy: number | undefined;
  machineTotal: number | undefined;
}

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Measures CPU shares between `start()` and the function it returns (Linux /proc; NaN elsewhere). */
export function startCpuProbe(serverPid: number): () => CpuShares {
  const take = (): Snapshot => {
    const machine = machineTicks();
    const usage = process.cpuUsage();
    return {
      at: process.hrtime.bigint(),
      serverTicks: processTicks(serverPid),
      benchMicros: usage.user + usage.system,
      machineBusy: machine?.busy,
      machineTotal: machine?.total,
    };
  };
  const before = take();
  return () => {
    const after = take();
    const seconds = Number(after.at - before.at) / 1e9;
    const serverPct =
      before.serverTicks === undefined || after.serverTicks === undefined
        ? NaN
        : ((after.serverTicks - before.serverTicks) /
            CLOCK_TICKS_PER_S /
            seconds) *
          100;
    const benchPct =
      ((after.benchMicros - before.benchMicros) / 1e6 / seconds) * 100;
    const machinePct =
      before.machineBusy === undefined || after.machineBusy === undefined
        ? NaN
        : ((after.machineBusy - before.machineBusy) /
            ((after.machineTotal ?? 0) - (before.machineTotal ?? 0))) *
          100;
    const round = (n: number) => Math.round(n);
    return {
      serverPct: round(serverPct),
      benchPct: round(benchPct),
      machinePct: round(machinePct),
      cores: cpus().length,
    };
  };
}
