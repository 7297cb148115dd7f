import { cpus, totalmem } from "node:os";
import { readBenchOptions, type BenchOptions } from "./bench-options.ts";
import { createBenchDatabase, type BenchDatabase } from "./bench-database.ts";
import { spawnBenchServer, type BenchServer } from "./bench-server.ts";
import { measureMachineBusy, startCpuProbe } from "./cpu-usage.ts";
import {
  formatReport,
  scenarioResult,
  seedResult,
  TARGETS,
  writeResults,
  type LifecycleResult,
  type ScenarioResult,
  type SeedResult,
} from "./report.ts";
import { runLifecycleScenario, startLifecycleApps } from "./lifecycle.ts";
import { runLoad, stopRunningLoads } from "./run-load.ts";
import {
  createScenarios,
  memberAddCapacity,
  type Scenario,
  type ScenarioData,
} from "./scenarios.ts";
import {
  expectOk,
  SCIM_PATH,
  scimRequest,
  type ScimTarget,
} from "./scim-client.ts";
import { collectUsers, createBigGroup, seedUsers } from "./seed-data.ts";
import { readSourceVersion } from "./source-version.ts";

const started = performance.now();
/** Above this share of the machine busy before we start, figures are flagged as noisy. */
const QUIET_MACHINE_PCT = 15;

function log(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${seconds}s] ${message}\n`);
}

/** Runs registered clean-ups once, newest first, whatever happened before. */
function createCleanups() {
  const steps: { what: string; run: () => Promise<void> }[] = [];
  let done: Promise<void> | undefined;
  return {
    add: (what: string, run: () => Promise<void>) => steps.push({ what, run }),
    run: () =>
      (done ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step.run();
          } catch (error) {
            process.stderr.write(
              `clean-up "${step.what}" failed: ${String(error)}\n`,
            );
          }
        }
      })()),
  };
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  server: BenchServer,
  postmasterPid: number | undefined,
): Promise<ScenarioResult> {
  const target: ScimTarget = server;
  const sample = scenario.sample();
  const checkProblem = sample.check(
    await scimRequest(
      target,
      sample.request.method,
      sample.request.path,
      sample.request.body,
    ),
  );
  if (checkProblem) log(`  ! ${scenario.name}: check request: ${checkProblem}`);
  const load = {
    origin: server.origin,
    token: server.token,
    connections: options.connections,
    next: () => scenario.sample().request,
  };
  if (options.warmupS > 0) {
    await runLoad({
      ...load,
      title: `${scenario.name} (warm-up)`,
      durationS: options.warmupS,
    });
  }
  const finish = startCpuProbe(server.pid, postmasterPid);
  const result = await runLoad({
    ...load,
    title: scenario.name,
    durationS: options.durationS,
  });
  return scenarioResult(
    scenario.name,
    scenario.describes,
    result,
    finish(),
    checkProblem,
  );
}

/** How long to wait for the audit sealer to chain what seeding wrote. */
const SEAL_WAIT_LIMIT_MS = 180_000;

/**
 * Lets the database settle after seeding, so every run measures the steady state instead of the
 * wake of a bulk import: first waits until the server's audit sealer has chained every entry the
 * import wrote (it rewrites each entry about a second after its write; measured straight after
 * seeding 100k users, lookup and get ran at 1,639 and 2,266 req/s instead of about 2,700), then
 * VACUUM (ANALYZE), so runs do not depend on when autovacuum last ran: right after a bulk import
 * the trigram index's pending list alone made co-filter 4.5× slower (805 vs 3,617 queries/s at 10k
 * users).
 */
async function settleDatabase(
  database: BenchDatabase,
  options: BenchOptions,
): Promise<{ seconds: number; sealSeconds: number } | undefined> {
  if (!database.query || !options.vacuum) {
    if (database.kind === "postgres")
      log("no settling after seeding (BENCH_VACUUM=0)");
    return undefined;
  }
  const began = performance.now();
  for (;;) {
    const result = await database.query(
      "SELECT count(*) AS unsealed FROM audit_entries WHERE chain_index IS NULL",
    );
    const unsealed = Number(result.rows[0]?.unsealed ?? 0);
    if (unsealed === 0) break;
    if (performance.now() - began > SEAL_WAIT_LIMIT_MS) {
      log(
        `audit sealer still has ${unsealed} entries to chain; measuring anyway`,
      );
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const sealSeconds = Math.round((performance.now() - began) / 10) / 100;
  log(`audit entries of the seeding chained: ${sealSeconds} s`);
  const vacuumBegan = performance.now();
  await database.query("VACUUM (ANALYZE)");
  const seconds = Math.round((performance.now() - vacuumBegan) / 10) / 100;
  log(`VACUUM (ANALYZE) after seeding: ${seconds} s`);
  return { seconds, sealSeconds };
}

async function tableCounts(
  database: BenchDatabase,
): Promise<Record<string, number> | undefined> {
  if (!database.query) return undefined;
  const result = await database.query(
    `SELECT relname AS name, n_live_tup AS rows FROM pg_stat_user_tables ORDER BY relname`,
  );
  return Object.fromEntries(
    result.rows.map((r: { name: string; rows: string }) => [
      r.name,
      Number(r.rows),
    ]),
  );
}

async function main(): Promise<number> {
  const options = readBenchOptions();
  const startedAt = new Date();
  const cleanups = createCleanups();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    log(`${signal}: stopping`);
    stopRunningLoads();
    void cleanups.run().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let server: BenchServer | undefined;
  try {
    log(
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    );
    log(
      `options: ${options.users} users, group of ${options.groupMembers}, ${options.connections} connections, ` +
        `${options.warmupS} s warm-up + ${options.durationS} s per scenario; scenarios: ${options.only.join(", ")}`,
    );
    const busyBefore = await measureMachineBusy(2_000);
    if (busyBefore > QUIET_MACHINE_PCT) {
      log(
        `warning: the machine is already ${busyBefore}% busy before the bench starts; ` +
          `figures will be lower than on a quiet machine`,
      );
    }
    // Read before the server starts: it loads the code once, and others may edit it meanwhile.
    const source = await readSourceVersion();
    log(
      `code: commit ${source.commit?.slice(0, 12) ?? "?"}, sources ${source.sourceDigest}`,
    );
    const database = await createBenchDatabase(options.databaseUrl);
    if (options.keep) {
      cleanups.add("report the kept database", async () =>
        log(`BENCH_KEEP: kept the database ${database.label}`),
      );
    } else {
      cleanups.add("drop the bench database", () => database.dispose());
    }
    log(`database: ${database.kind} ${database.label} (${database.version})`);

    server = await spawnBenchServer(database.env);
    const running = server;
    cleanups.add("stop the server", () => running.stop());
    await running.ready();
    running.onUnexpectedExit(() => {
      log(`the server exited unexpectedly:\n${running.outputTail()}`);
      stopRunningLoads();
    });
    log(`server: pid ${running.pid} at ${running.scimUrl}`);

    log(
      `seeding ${options.users} users with POST ${SCIM_PATH}/Users (32 connections)…`,
    );
    const seedCpu = startCpuProbe(running.pid, database.postmasterPid);
    const seedRun = await seedUsers(running, options.users);
    const seedCpuShares = seedCpu();
    const users = await collectUsers(running);
    const seed: SeedResult = seedResult(
      options.users,
      seedRun,
      seedCpuShares,
      users.length,
    );
    log(
      `seeded: ${seed.usersPerS} users/s, ${seed.ok} created, ${seed.non2xx} non-2xx, ${seed.errors} errors; ` +
        `${users.length} users listed back`,
    );
    if (
      options.only.includes("member-add") &&
      users.length <= options.groupMembers
    ) {
      throw new Error(
        `only ${users.length} users exist; cannot build a group of ${options.groupMembers} and add others`,
      );
    }

    const data: ScenarioData = { users, group: undefined };
    if (options.groupMembers > 0) {
      const group = await createBigGroup(
        running,
        users.slice(0, options.groupMembers).map((u) => u.id),
      );
      const stored = await scimRequest(
        running,
        "GET",
        `${SCIM_PATH}/Groups/${group.id}?attributes=members`,
      );
      expectOk(stored, "GET /Groups/{id}");
      const storedMembers = (
        (stored.body as { members?: unknown[] }).members ?? []
      ).length;
      if (storedMembers !== group.members) {
        throw new Error(
          `the big group holds ${storedMembers} members, expected ${group.members}`,
        );
      }
      seed.group = {
        members: group.members,
        method: group.method,
        seconds: group.seconds,
      };
      data.group = { id: group.id, members: group.members };
      log(
        `big group: ${group.members} members (${group.method}, ${group.seconds} s)`,
      );
    }
    const vacuum = await settleDatabase(database, options);

    const scenarios = createScenarios(data).filter((s) =>
      options.only.includes(s.name),
    );
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      if (running.failure()) break;
      if (scenario.name === "member-add" && !data.group) {
        log("  member-add skipped: BENCH_GROUP_MEMBERS is 0");
        continue;
      }
      log(`${scenario.name}: ${scenario.describes}`);
      const result = await runScenario(
        scenario,
        options,
        running,
        database.postmasterPid,
      );
      results.push(result);
      log(
        `  ${result.rps} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.ok} 2xx, ` +
          `${result.non2xx} non-2xx, ${result.errors} errors; cpu % server ${result.cpu.serverPct}, ` +
          `postgres ${result.cpu.postgresPct}, load generator ${result.cpu.benchPct}, other ${result.cpu.otherPct}`,
      );
    }
    const memberAdds = results.find((r) => r.name === "member-add");
    if (memberAdds && memberAdds.ok > memberAddCapacity(data)) {
      log(
        `  note: member-add ran out of users outside the group and repeated adds (ignored as duplicates)`,
      );
    }

    // Last, on its own users and a server restarted with the lifecycle config, so the scenarios
    // above run without a policy exactly as before.
    let current: BenchServer = running;
    let lifecycle: LifecycleResult | undefined;
    if (options.only.includes("lifecycle") && !running.failure()) {
      const apps = await startLifecycleApps(options);
      cleanups.add("stop the fake Dropbox, remove the lifecycle config", () =>
        apps.dispose(),
      );
      log(
        `lifecycle: fake Dropbox at ${apps.fake.url} with ${options.users + apps.count} members; ` +
          `restarting the server with SCIM_LIFECYCLE_CONFIG=${apps.configPath}`,
      );
      await running.stop();
      const next = await spawnBenchServer(database.env, {
        token: running.token,
        env: apps.serverEnv,
      });
      server = next;
      current = next;
      cleanups.add("stop the lifecycle server", () => next.stop());
      await next.ready();
      next.onUnexpectedExit(() => {
        log(`the server exited unexpectedly:\n${next.outputTail()}`);
        stopRunningLoads();
      });
      log(`  server: pid ${next.pid} at ${next.scimUrl}`);
      lifecycle = await runLifecycleScenario({
        server: next,
        apps,
        options,
        postmasterPid: database.postmasterPid,
        log,
      });
      log(
        `  lifecycle: p99 ${lifecycle.latency.p99Ms} ms (idle queue), ${lifecycle.burst.actionsPerS} actions/s ` +
          `(burst of ${lifecycle.burst.users}), ${lifecycle.duplicateEffects} duplicate effects`,
      );
    }

    const failure = current.failure();
    const counts = failure ? undefined : await tableCounts(database);
    process.stdout.write(`\n${formatReport(seed, results, lifecycle)}\n\n`);
    const file = await writeResults(startedAt, {
      startedAt: startedAt.toISOString(),
      machineBusyBeforePct: busyBefore,
      source,
      ...(process.env.WEB_CONCURRENCY
        ? { webConcurrency: process.env.WEB_CONCURRENCY }
        : {}),
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model,
        memoryGiB: totalmem() / 2 ** 30,
        node: process.version,
      },
      database: { kind: database.kind, version: database.version },
      options: {
        ...options,
        databaseUrl: options.databaseUrl ? "(set)" : undefined,
      },
      seed,
      vacuumAfterSeeding: vacuum ?? false,
      scenarios: results,
      ...(lifecycle ? { lifecycle } : {}),
      targets: TARGETS,
      ...(counts ? { tableRows: counts } : {}),
      ...(failure
        ? { serverFailure: failure, serverOutput: current.outputTail() }
        : {}),
    });
    log(`results written to ${file}`);
    if (failure) {
      log(`FAILED: ${failure}`);
      return 1;
    }
    const failed = [
      ...(seed.failed ? ["seeding"] : []),
      ...results.filter((r) => r.failed).map((r) => r.name),
      ...(lifecycle?.failed ? ["lifecycle"] : []),
    ];
    if (failed.length > 0) {
      log(`FAILED: mostly non-2xx responses in ${failed.join(", ")}`);
      return 1;
    }
    return 0;
  } catch (error) {
    if (interrupted) return 130; // the work in flight fails once the server is gone
    log(
      `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    if (server && server.outputTail())
      log(`server output (tail):\n${server.outputTail()}`);
    return 1;
  } finally {
    log("cleaning up (server, database)…");
    await cleanups.run();
  }
}

process.exitCode = await main();
