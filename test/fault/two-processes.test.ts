import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createScratchDatabase,
  withPgClient,
  type ScratchDatabase,
} from "../support/scratch-database.ts";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  suspendOnDeactivationConfig,
  type FakeDropbox,
} from "../support/fake-dropbox.ts";
import { URN } from "../support/scim-client.ts";
import {
  startServer,
  stopServer,
  type RunningServer,
} from "../support/server-process.ts";

const USERS = 2_000;
const RETRY_USERS = 300;
const RESTART_USERS = 400;
const TOTAL = USERS + RETRY_USERS + RESTART_USERS;
const CONCURRENCY = 32;

function emailOf(i: number): string {
  return `fault${i}@example.com`;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch {
      // The database may be restarting: try again.
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// Real PostgreSQL, two real server processes (API + worker each), a fake Dropbox on loopback:
// what must hold when things break in production.
describe("faults: two server processes on one PostgreSQL", function () {
  this.timeout(600_000);
  const serverUrl = process.env.DATABASE_URL;
  const token = `scl_${randomBytes(32).toString("base64url")}`;
  let database: ScratchDatabase | undefined;
  let databaseUrl: string;
  let dropbox: FakeDropbox;
  let dir: string;
  let env: Record<string, string>;
  let a: RunningServer;
  let b: RunningServer | undefined;
  const ids: string[] = [];

  before(async function () {
    if (!serverUrl) this.skip();
    database = await createScratchDatabase(serverUrl!, "scim_fault");
    databaseUrl = database.url;
    dropbox = await startFakeDropbox();
    for (let i = 0; i < TOTAL; i++) dropbox.addMember({ email: emailOf(i) });
    dir = mkdtempSync(join(tmpdir(), "scim-fault-"));
    const configPath = join(dir, "lifecycle.yaml");
    writeFileSync(configPath, suspendOnDeactivationConfig(dropbox.url));
    env = {
      DATABASE_URL: databaseUrl,
      SCIM_BOOTSTRAP_TOKEN: token,
      SCIM_LIFECYCLE_CONFIG: configPath,
      DROPBOX_TEAM_TOKEN: FAKE_DROPBOX_TOKEN,
      // Short leases so a killed worker's actions come back within seconds.
      ACTION_LEASE_MS: "4000",
      DATABASE_POOL_MAX: "10",
    };
    a = await startServer(env);
    b = await startServer(env);
    for (let from = 0; from < TOTAL; from += 1_000) {
      const operations = [];
      for (let i = from; i < Math.min(TOTAL, from + 1_000); i++) {
        operations.push({
          method: "POST",
          path: "/Users",
          bulkId: `u${i}`,
          data: {
            schemas: [URN.user],
            userName: emailOf(i),
            emails: [{ type: "work", value: emailOf(i), primary: true }],
          },
        });
      }
      const res = await fetch(`${a.baseUrl}/Bulk`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/scim+json",
        },
        body: JSON.stringify({
          schemas: [URN.bulkRequest],
          Operations: operations,
        }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        Operations: { status: string; location: string }[];
      };
      for (const op of body.Operations) {
        assert.equal(op.status, "201");
        ids.push(op.location.split("/").pop()!);
      }
    }
  });
  after(async () => {
    for (const server of [a, b]) {
      if (server && server.child.exitCode === null) await stopServer(server);
    }
    await dropbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await database?.drop();
  });

  /** Deactivates users (Entra's "False"), each through the first server that answers. */
  async function deactivate(
    indexes: number[],
    servers: () => RunningServer[],
    onProgress?: (done: number) => void,
  ): Promise<void> {
    let next = 0;
    let done = 0;
    async function send(i: number): Promise<void> {
      for (let attempt = 0; ; attempt++) {
        const alive = servers().filter((s) => s.child.exitCode === null);
        const server = alive[(i + attempt) % alive.length]!;
        try {
          const res = await fetch(`${server.baseUrl}/Users/${ids[i]}`, {
            method: "PATCH",
            headers: {
              Authorization: `Bearer ${token}`,
              "Content-Type": "application/scim+json",
            },
            body: JSON.stringify({
              schemas: [URN.patchOp],
              Operations: [{ op: "Replace", path: "active", value: "False" }],
            }),
          });
          if (res.status === 200) return;
          // 503 while the database restarts: the IdP retries, so do we.
          assert.ok(res.status === 503, `PATCH answered ${res.status}`);
        } catch (error) {
          if (attempt > 200) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < indexes.length) {
          const i = indexes[next++]!;
          await send(i);
          done++;
          onProgress?.(done);
        }
      }),
    );
  }

  async function suspendedOf(indexes: number[]): Promise<number> {
    const members = dropbox.members();
    return indexes.filter((i) => members[emailOf(i)]?.status === "suspended")
      .length;
  }

  async function actionStates(): Promise<Record<string, number>> {
    return withPgClient(databaseUrl, async (c) => {
      const result = await c.query<{ state: string; n: string }>(
        "SELECT state, count(*) AS n FROM actions GROUP BY state",
      );
      return Object.fromEntries(result.rows.map((r) => [r.state, Number(r.n)]));
    });
  }

  const range = (from: number, count: number) =>
    Array.from({ length: count }, (_, k) => from + k);

  it("suspends every user exactly once in effect when one process is killed mid-burst", async () => {
    const batch = range(0, USERS);
    let killed = false;
    await deactivate(
      batch,
      () => [a, ...(b ? [b] : [])],
      (done) => {
        if (!killed && done >= USERS / 3 && b) {
          killed = true;
          b.child.kill("SIGKILL");
        }
      },
    );
    assert.ok(killed);
    await until(
      "every suspend to reach Dropbox",
      async () =>
        (await suspendedOf(batch)) === USERS &&
        (await actionStates()).succeeded === USERS
          ? true
          : undefined,
      180_000,
    );
    const states = await actionStates();
    assert.deepEqual(states, { succeeded: USERS });
    assert.equal(dropbox.duplicateEffects(), 0);
    const suspends = dropbox
      .requests()
      .filter((r) => r.path.endsWith("members/suspend") && r.status === 200);
    assert.equal(suspends.length, USERS, "one successful suspend per user");
  });

  it("completes every action after 500s and 429s, sending nothing inside a Retry-After window", async () => {
    b = await startServer(env); // back to two processes
    const batch = range(USERS, RETRY_USERS);
    dropbox.failRandomly(0.3, 500);
    const started = Date.now();
    const deactivating = deactivate(batch, () => [a, b!]);
    // Faults switch on progress, not time: a fifth of the users' suspends through the 500s, the
    // rest meet the 429s however fast the burst runs.
    const suspendsSoFar = () =>
      dropbox
        .requests()
        .filter(
          (r) =>
            r.at.getTime() >= started && r.path.endsWith("members/suspend"),
        ).length;
    const switchBy = Date.now() + 60_000;
    while (suspendsSoFar() < RETRY_USERS / 5 && Date.now() < switchBy) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    dropbox.failRandomly(0, 500);
    dropbox.setRateLimit({ retryAfterS: 2, forMs: 3_000 });
    await deactivating;
    await until(
      "every suspend after the faults",
      async () =>
        (await suspendedOf(batch)) === RETRY_USERS ? true : undefined,
      240_000,
    );
    assert.equal(dropbox.duplicateEffects(), 0);
    // A request the server sent before it read the 429 may land inside the window; anything
    // sent later than that would be a violation. 250 ms is far above a loopback round trip.
    const requests = dropbox
      .requests()
      .filter((r) => r.at.getTime() >= started);
    const windows = requests
      .filter((r) => r.status === 429)
      .map((r) => ({ from: r.at.getTime() + 250, to: r.at.getTime() + 2_000 }));
    const inside = requests.filter((r) =>
      windows.some((w) => r.at.getTime() > w.from && r.at.getTime() < w.to),
    );
    assert.equal(windows.length > 0, true, "the fake did rate-limit");
    assert.deepEqual(
      inside.map((r) => r.path),
      [],
      "requests sent inside a Retry-After window",
    );
  });

  it("recovers without help when PostgreSQL restarts mid-burst, and loses nothing", async function () {
    const restart = process.env.PG_RESTART_COMMAND;
    if (!restart) this.skip();
    const batch = range(USERS + RETRY_USERS, RESTART_USERS);
    let restarted = false;
    await deactivate(
      batch,
      () => [a, b!],
      (done) => {
        if (!restarted && done >= RESTART_USERS / 4) {
          restarted = true;
          execFileSync("bash", ["-c", restart!], { stdio: "ignore" });
        }
      },
    );
    await until(
      "every suspend after the restart",
      async () =>
        (await suspendedOf(batch)) === RESTART_USERS ? true : undefined,
      240_000,
    );
    const states = await until(
      "the queue to drain",
      async () => {
        const s = await actionStates();
        return s.succeeded === USERS + RETRY_USERS + RESTART_USERS
          ? s
          : undefined;
      },
      120_000,
    );
    assert.deepEqual(states, { succeeded: TOTAL });
    assert.equal(dropbox.duplicateEffects(), 0);
    for (const server of [a, b!]) assert.equal(server.child.exitCode, null);
  });
});
