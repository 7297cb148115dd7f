import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
} from "../test/support/fake-dropbox.ts";
import type { BenchOptions } from "./bench-options.ts";
import type { BenchServer } from "./bench-server.ts";
import { startCpuProbe } from "./cpu-usage.ts";
import {
  TARGETS,
  type LifecycleBurst,
  type LifecycleLatency,
  type LifecycleResult,
} from "./report.ts";
import { runLoad } from "./run-load.ts";
import {
  expectOk,
  SCIM_PATH,
  scimRequest,
  type ScimTarget,
} from "./scim-client.ts";
import { userBody, userNameOf, type SeededUser } from "./seed-data.ts";

const PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ADMIN_PATH = "/admin/v1";
const APP_ID = "dropbox";
const SUSPEND_PATH = "/2/team/members/suspend";
/** Deactivations run (one at a time) before the measured ones: JIT, pools, policy cache. */
const WARMUP_USERS = 20;
/** Connections for creating the scenario's own users. */
const CREATE_CONCURRENCY = 32;
/** Idle-queue phase: give up on one user's suspend after this long. */
const LATENCY_TIMEOUT_MS = 30_000;
/** Burst phase: give up when no new suspend arrived for this long. */
const BURST_STALL_MS = 60_000;
/** Below this many actions queued at the last PATCH, the drain is too short to report on its own. */
const MIN_DRAIN_ACTIONS = 200;
/** Waiting for the server to record the last outcomes. */
const RECORD_TIMEOUT_MS = 60_000;

/** What the lifecycle scenario describes (the policy the bench writes). */
export const LIFECYCLE_DESCRIBES =
  "user.deactivated → Dropbox members/suspend (wipeData false), worker in the server process, fake Dropbox in the bench process";

/** The fake Dropbox and the policy file the lifecycle server starts with. */
export interface LifecycleApps {
  fake: FakeDropbox;
  /** The scenario's own users: `user<i>@bench.example.com` for i in [firstIndex, firstIndex + count). */
  firstIndex: number;
  count: number;
  /** For the server: `SCIM_LIFECYCLE_CONFIG` and the app's token. */
  serverEnv: Record<string, string>;
  configPath: string;
  /** team_member_id → e-mail, for suspends that address members by id. */
  emailById: Map<string, string>;
  dispose(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How many users the scenario deactivates (and so creates): warm-up, latency, burst. */
export function lifecycleUserCount(options: BenchOptions): number {
  return WARMUP_USERS + options.lifecycleLatencyUsers + options.lifecycleUsers;
}

/**
 * Starts the fake Dropbox team on 127.0.0.1 and writes the policy that points at it. The team
 * holds a member for each of the scenario's users and for every seeded user. The scenario's go
 * first: the fake finds members by scanning its list, and at 100k members a scan to the end would
 * cost the bench process several ms per request.
 */
export async function startLifecycleApps(
  options: BenchOptions,
): Promise<LifecycleApps> {
  const firstIndex = options.users + 1;
  const count = lifecycleUserCount(options);
  const fake = await startFakeDropbox();
  const emailById = new Map<string, string>();
  let dir: string | undefined;
  try {
    for (let i = firstIndex; i < firstIndex + count; i++) {
      const member = fake.addMember({ email: userNameOf(i) });
      emailById.set(member.teamMemberId, member.email.toLowerCase());
    }
    for (let i = 1; i <= options.users; i++) {
      fake.addMember({ email: userNameOf(i) });
    }
    dir = await mkdtemp(join(tmpdir(), "scim-bench-lifecycle-"));
    const configPath = join(dir, "lifecycle.yaml");
    // JSON strings are YAML strings too.
    await writeFile(
      configPath,
      [
        "tenants:",
        "  default:",
        "    apps:",
        `      - id: ${APP_ID}`,
        "        connector: dropbox",
        "        config:",
        `          baseUrl: ${JSON.stringify(fake.url)}`,
        "          token: { env: DROPBOX_TEAM_TOKEN }",
        "    rules:",
        "      - id: leavers",
        "        on: user.deactivated",
        "        do:",
        `          - { app: ${APP_ID}, action: suspend, params: { wipeData: false } }`,
        "",
      ].join("\n"),
    );
    const created = dir;
    return {
      fake,
      firstIndex,
      count,
      serverEnv: {
        SCIM_LIFECYCLE_CONFIG: configPath,
        DROPBOX_TEAM_TOKEN: FAKE_DROPBOX_TOKEN,
      },
      configPath,
      emailById,
      dispose: async () => {
        await fake.close();
        await rm(created, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await fake.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Creates the scenario's own users (never touched by the other scenarios) and returns their ids. */
export async function createLifecycleUsers(
  target: ScimTarget,
  firstIndex: number,
  count: number,
): Promise<SeededUser[]> {
  const users: SeededUser[] = new Array<SeededUser>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < count) {
        const slot = next++;
        const index = firstIndex + slot;
        const response = await scimRequest(
          target,
          "POST",
          `${SCIM_PATH}/Users`,
          userBody(index),
        );
        expectOk(response, `POST /Users (${userNameOf(index)})`);
        users[slot] = {
          id: (response.body as { id: string }).id,
          userName: userNameOf(index),
          index,
        };
      }
    }),
  );
  return users;
}

/** Reads the fake's request log incrementally: when each user's first suspend arrived. */
function createSuspendTracker(
  fake: FakeDropbox,
  emailById: Map<string, string>,
) {
  let cursor = 0;
  const firstAt = new Map<string, number>();
  const suspendsOf = new Map<string, number>();
  let suspendNon200 = 0;
  let otherRequests = 0;
  let unknownSelectors = 0;

  function emailOf(body: unknown): string | undefined {
    const user = (body as { user?: Record<string, unknown> } | null)?.user;
    if (!user) return undefined;
    if (user[".tag"] === "email" && typeof user.email === "string") {
      return user.email.toLowerCase();
    }
    if (
      user[".tag"] === "team_member_id" &&
      typeof user.team_member_id === "string"
    ) {
      return emailById.get(user.team_member_id);
    }
    return undefined;
  }

  return {
    /** Reads requests that arrived since the last call; returns the e-mails suspended first now. */
    poll(): string[] {
      const fresh: string[] = [];
      const log = fake.requests();
      for (; cursor < log.length; cursor++) {
        const entry = log[cursor]!;
        if (entry.path !== SUSPEND_PATH) {
          otherRequests += 1;
          continue;
        }
        const email = emailOf(entry.body);
        if (email === undefined) {
          unknownSelectors += 1;
          continue;
        }
        suspendsOf.set(email, (suspendsOf.get(email) ?? 0) + 1);
        if (entry.status !== 200) {
          suspendNon200 += 1;
          continue;
        }
        if (!firstAt.has(email)) {
          firstAt.set(email, entry.at.getTime());
          fresh.push(email);
        }
      }
      return fresh;
    },
    /** When the suspend of this e-mail was received (epoch ms), if it was. */
    receivedAt: (email: string) => firstAt.get(email.toLowerCase()),
    summary: () => ({
      suspendNon200,
      otherRequests: otherRequests + unknownSelectors,
      repeatedSuspends: [...suspendsOf.values()].filter((n) => n > 1).length,
    }),
  };
}

type SuspendTracker = ReturnType<typeof createSuspendTracker>;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function deactivateBody(): string {
  return JSON.stringify({
    schemas: [PATCH_OP_URN],
    Operations: [{ op: "replace", value: { active: false } }],
  });
}

/** The app's actions in the server by state (admin API, newest first, 1,000 a page). */
async function actionStates(
  server: BenchServer,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let query = "";
  for (;;) {
    const response = await scimRequest(
      server,
      "GET",
      `${ADMIN_PATH}/actions?app=${APP_ID}&limit=1000${query ? `&${query.slice(1)}` : ""}`,
    );
    expectOk(response, "GET /admin/v1/actions");
    const body = response.body as {
      actions: { state: string }[];
      next?: string;
    };
    for (const action of body.actions) {
      counts[action.state] = (counts[action.state] ?? 0) + 1;
    }
    if (!body.next || body.actions.length === 0) return counts;
    query = body.next;
  }
}

/** Whether the app has actions still to run (pending, running or polling a job). */
async function hasOpenActions(server: BenchServer): Promise<boolean> {
  const response = await scimRequest(
    server,
    "GET",
    `${ADMIN_PATH}/actions?app=${APP_ID}&state=pending,running,in_progress&limit=1`,
  );
  expectOk(response, "GET /admin/v1/actions");
  return (response.body as { actions: unknown[] }).actions.length > 0;
}

/** Waits until the server has no open action for the app; false on timeout. */
async function waitUntilRecorded(
  server: BenchServer,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.failure()) return false;
    if (!(await hasOpenActions(server))) return true;
    await sleep(25);
  }
  return false;
}

/** PATCH active=false for each user in turn; waits for its suspend before the next. */
async function deactivateOneByOne(
  server: BenchServer,
  tracker: SuspendTracker,
  users: SeededUser[],
): Promise<{
  latencies: number[];
  patchLatencies: number[];
  missing: number;
  patchNon2xx: number;
}> {
  const latencies: number[] = [];
  const patchLatencies: number[] = [];
  let missing = 0;
  let patchNon2xx = 0;
  const body = deactivateBody();
  for (const user of users) {
    if (server.failure()) break;
    const sentAt = Date.now();
    const response = await scimRequest(
      server,
      "PATCH",
      `${SCIM_PATH}/Users/${user.id}`,
      body,
    );
    patchLatencies.push(Date.now() - sentAt);
    if (response.status !== 200) {
      patchNon2xx += 1;
      continue;
    }
    const deadline = sentAt + LATENCY_TIMEOUT_MS;
    let receivedAt: number | undefined;
    for (;;) {
      tracker.poll();
      receivedAt = tracker.receivedAt(user.userName);
      if (receivedAt !== undefined || Date.now() > deadline) break;
      if (server.failure()) break;
      await sleep(2);
    }
    if (receivedAt === undefined) missing += 1;
    else latencies.push(receivedAt - sentAt);
  }
  return { latencies, patchLatencies, missing, patchNon2xx };
}

async function measureLatency(
  server: BenchServer,
  tracker: SuspendTracker,
  users: SeededUser[],
  postmasterPid: number | undefined,
): Promise<LifecycleLatency> {
  const finish = startCpuProbe(server.pid, postmasterPid);
  const run = await deactivateOneByOne(server, tracker, users);
  const cpu = finish();
  const sorted = [...run.latencies].sort((a, b) => a - b);
  const patches = [...run.patchLatencies].sort((a, b) => a - b);
  const p99 = percentile(sorted, 99);
  return {
    users: users.length,
    received: sorted.length,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: p99,
    maxMs: sorted[sorted.length - 1] ?? NaN,
    meanMs: round2(
      sorted.reduce((sum, ms) => sum + ms, 0) / Math.max(1, sorted.length),
    ),
    patchP50Ms: percentile(patches, 50),
    patchP99Ms: percentile(patches, 99),
    patchNon2xx: run.patchNon2xx,
    cpu,
    targetMet:
      run.missing === 0 &&
      run.patchNon2xx === 0 &&
      p99 <= (TARGETS.lifecycle.maxP99Ms ?? Infinity),
  };
}

function perUserMs(pct: number, seconds: number, users: number): number {
  return round2(((pct / 100) * seconds * 1000) / users);
}

async function measureBurst(
  server: BenchServer,
  tracker: SuspendTracker,
  users: SeededUser[],
  options: BenchOptions,
  postmasterPid: number | undefined,
  log: (message: string) => void,
): Promise<LifecycleBurst> {
  const body = deactivateBody();
  let next = 0;
  const waitingFor = new Set(users.map((u) => u.userName.toLowerCase()));
  let received = 0;
  const pollBurst = () => {
    for (const email of tracker.poll()) {
      if (waitingFor.delete(email)) received += 1;
    }
  };
  const startedAt = Date.now();
  const finish = startCpuProbe(server.pid, postmasterPid);
  // Progress while the PATCHes run and while the queue drains.
  const progress = setInterval(() => {
    pollBurst();
    log(
      `    ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${Math.min(next, users.length)} PATCHes sent, ${received} suspends received`,
    );
  }, 5_000);
  let result;
  try {
    result = await runLoad({
      origin: server.origin,
      token: server.token,
      title: "lifecycle burst",
      connections: Math.min(options.connections, users.length),
      amount: users.length,
      // Each user once; should autocannon ask for more, a repeat changes nothing (no event).
      next: () => {
        const user = users[next % users.length]!;
        next += 1;
        return {
          method: "PATCH",
          path: `${SCIM_PATH}/Users/${user.id}`,
          body,
        };
      },
    });
    const patchesDoneAt = Date.now();
    const finishDrain = startCpuProbe(server.pid, postmasterPid);
    let lastProgressAt = Date.now();
    let seen = -1;
    for (;;) {
      pollBurst();
      if (received > seen) {
        seen = received;
        lastProgressAt = Date.now();
      }
      if (received === users.length) break;
      if (Date.now() - lastProgressAt > BURST_STALL_MS || server.failure()) {
        log(
          `    gave up: no suspend for ${BURST_STALL_MS / 1000} s, ${users.length - received} missing`,
        );
        break;
      }
      await sleep(20);
    }
    const cpu = finish();
    const drainCpu = finishDrain();
    const arrivals = users
      .map((u) => tracker.receivedAt(u.userName))
      .filter((at): at is number => at !== undefined)
      .sort((a, b) => a - b);
    const first = arrivals[0] ?? NaN;
    const last = arrivals[arrivals.length - 1] ?? NaN;
    const firstToLastS = (last - first) / 1000;
    const overallS = (last - startedAt) / 1000;
    const backlog = arrivals.filter((at) => at > patchesDoneAt).length;
    const recorded = await waitUntilRecorded(server, RECORD_TIMEOUT_MS);
    const recordedS = recorded ? (Date.now() - startedAt) / 1000 : undefined;
    const actionsPerS =
      arrivals.length > 1 ? (arrivals.length - 1) / firstToLastS : 0;
    const cpuSeconds = (Math.max(last, patchesDoneAt) - startedAt) / 1000;
    const drainS = Math.max(0, (last - patchesDoneAt) / 1000);
    return {
      users: users.length,
      patch: {
        perS: Math.round(result["2xx"] / result.duration),
        seconds: result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        ok: result["2xx"],
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
      },
      received: arrivals.length,
      firstToLastS: round2(firstToLastS),
      actionsPerS: Math.round(actionsPerS),
      overallS: round2(overallS),
      overallPerS: Math.round(arrivals.length / overallS),
      backlogAtLastPatch: backlog,
      drainS: round2(drainS),
      drain:
        backlog >= MIN_DRAIN_ACTIONS
          ? {
              actionsPerS: Math.round(backlog / drainS),
              cpu: drainCpu,
              serverMsPerAction: perUserMs(drainCpu.serverPct, drainS, backlog),
              postgresMsPerAction: perUserMs(
                drainCpu.postgresPct,
                drainS,
                backlog,
              ),
            }
          : undefined,
      recordedS: recordedS === undefined ? undefined : round2(recordedS),
      cpu,
      serverMsPerUser: perUserMs(cpu.serverPct, cpuSeconds, users.length),
      postgresMsPerUser: perUserMs(cpu.postgresPct, cpuSeconds, users.length),
      targetMet:
        arrivals.length === users.length &&
        actionsPerS >= TARGETS.lifecycle.minRps,
    };
  } finally {
    clearInterval(progress);
  }
}

/**
 * The lifecycle scenario, on a server started with the lifecycle config: creates its own users,
 * deactivates a few to warm up, then `lifecycleLatencyUsers` one at a time (latency with an idle
 * queue), then `lifecycleUsers` at once (throughput). Times are when the fake Dropbox received the
 * suspend, as the fake logs it.
 */
export async function runLifecycleScenario(input: {
  server: BenchServer;
  apps: LifecycleApps;
  options: BenchOptions;
  postmasterPid: number | undefined;
  log: (message: string) => void;
}): Promise<LifecycleResult> {
  const { server, apps, options, postmasterPid, log } = input;
  const began = performance.now();
  const users = await createLifecycleUsers(server, apps.firstIndex, apps.count);
  log(
    `  created the scenario's ${users.length} users (${apps.firstIndex}…${apps.firstIndex + apps.count - 1}) in ` +
      `${((performance.now() - began) / 1000).toFixed(1)} s`,
  );
  const warmup = users.slice(0, WARMUP_USERS);
  const latencyUsers = users.slice(
    WARMUP_USERS,
    WARMUP_USERS + options.lifecycleLatencyUsers,
  );
  const burstUsers = users.slice(WARMUP_USERS + options.lifecycleLatencyUsers);
  const tracker = createSuspendTracker(apps.fake, apps.emailById);

  const warm = await deactivateOneByOne(server, tracker, warmup);
  log(
    `  warm-up: ${warm.latencies.length} of ${warmup.length} suspends received` +
      (warm.latencies.length > 0
        ? `, last ${warm.latencies[warm.latencies.length - 1]} ms`
        : ""),
  );
  if (warm.latencies.length === 0) {
    throw new Error(
      `no suspend reached the fake Dropbox during the warm-up; server output:\n${server.outputTail()}`,
    );
  }
  await waitUntilRecorded(server, RECORD_TIMEOUT_MS);

  log(
    `  latency: ${latencyUsers.length} deactivations one at a time (PATCH sent → suspend received)…`,
  );
  const latency = await measureLatency(
    server,
    tracker,
    latencyUsers,
    postmasterPid,
  );
  log(
    `    p50 ${latency.p50Ms} ms, p90 ${latency.p90Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms; ` +
      `${latency.received} of ${latency.users} received`,
  );
  if (!(await waitUntilRecorded(server, RECORD_TIMEOUT_MS))) {
    log("    ! actions still open after the latency phase");
  }

  log(
    `  burst: ${burstUsers.length} deactivations with ${Math.min(options.connections, burstUsers.length)} connections…`,
  );
  const burst = await measureBurst(
    server,
    tracker,
    burstUsers,
    options,
    postmasterPid,
    log,
  );
  tracker.poll();
  const summary = tracker.summary();
  const states = server.failure() ? {} : await actionStates(server);
  const duplicateEffects = apps.fake.duplicateEffects();
  const failed =
    burst.patch.non2xx + burst.patch.errors > burst.patch.ok ||
    latency.patchNon2xx * 2 > latency.users ||
    burst.received * 2 < burst.users ||
    latency.received * 2 < latency.users;
  return {
    name: "lifecycle",
    describes: LIFECYCLE_DESCRIBES,
    warmupUsers: warmup.length,
    latency,
    burst,
    duplicateEffects,
    ...summary,
    actionStates: states,
    target: TARGETS.lifecycle,
    targetMet:
      latency.targetMet &&
      burst.targetMet &&
      duplicateEffects === 0 &&
      summary.suspendNon200 === 0 &&
      (states.failed ?? 0) === 0,
    failed,
  };
}
