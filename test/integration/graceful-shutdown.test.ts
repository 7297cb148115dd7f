import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServices } from "../../src/app.ts";
import { systemClock } from "../../src/clock.ts";
import { openDatabase } from "../../src/db/open-database.ts";
import { createLogger } from "../../src/logger.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import { URN } from "../support/scim-client.ts";

const TOKEN = "scl_graceful_shutdown_tests_0123456789abcdef";
const SECRET = "slow-app-signing-secret";

/**
 * A webhook receiver that holds every answer until told to answer. Like a well-behaved receiver,
 * it applies each Idempotency-Key once, on the first request that carries it.
 */
async function startSlowApp() {
  const requests: { key: string; path: string }[] = [];
  const applied = new Map<string, number>();
  const held: ServerResponse[] = [];
  let answerAtOnce = false;
  const waiters: (() => void)[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      const key = String(req.headers["idempotency-key"] ?? "");
      requests.push({ key, path: req.url ?? "" });
      if (!applied.has(key)) applied.set(key, applied.size + 1);
      for (const wake of waiters.splice(0)) wake();
      if (answerAtOnce) res.end("{}");
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => [...requests],
    /** How many distinct keys were applied (an effect per planned action). */
    effects: () => applied.size,
    /** Resolves once a request has arrived. */
    firstRequest: () =>
      requests.length > 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push(resolve)),
    /** Answers the held requests and every later one at once. */
    answer() {
      answerAtOnce = true;
      for (const res of held.splice(0)) {
        if (!res.destroyed) res.end("{}");
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type SlowApp = Awaited<ReturnType<typeof startSlowApp>>;

/** Resolves once the process printed `text` (a log line), however it was chunked. */
function printed(server: RunningServer, text: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!server.output().includes(text)) return;
      server.child.stdout!.off("data", check);
      resolve();
    };
    server.child.stdout!.on("data", check);
    check();
  });
}

function exited(server: RunningServer): Promise<number | null> {
  if (server.child.exitCode !== null)
    return Promise.resolve(server.child.exitCode);
  return new Promise((resolve) => server.child.once("exit", resolve));
}

/** The one action of the data dir, read after the server exited (PGlite is single-process). */
async function withDatabase<T>(
  dataDir: string,
  work: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
): Promise<T> {
  const database = await openDatabase({ dataDir });
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

describe("shutting down on SIGTERM", function () {
  // Each test starts a real process (tsx compile, PGlite init, migrations): slow on a busy machine.
  this.timeout(180_000);
  let root: string;
  let slow: SlowApp;
  let server: RunningServer | undefined;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), "scim-shutdown-"));
    slow = await startSlowApp();
  });
  afterEach(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill("SIGKILL");
      await exited(server);
    }
    server = undefined;
    await slow.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Starts the server with a webhook app that provisions every new user, and creates one. */
  async function startWithActionInFlight(): Promise<RunningServer> {
    const configPath = join(root, "lifecycle.yaml");
    writeFileSync(
      configPath,
      `tenants:
  default:
    apps:
      - id: slow
        connector: webhook
        config:
          baseUrl: ${slow.url}
          secret: { env: SLOW_APP_SECRET }
          actions:
            provision:
              path: /users/{{user.userName}}
              resultingState: provisioned
    rules:
      - id: join
        on: user.created
        do:
          - { app: slow, action: provision }
`,
    );
    server = await startServer({
      DATA_DIR: join(root, "data"),
      SCIM_BOOTSTRAP_TOKEN: TOKEN,
      SCIM_LIFECYCLE_CONFIG: configPath,
      SLOW_APP_SECRET: SECRET,
      SHUTDOWN_TIMEOUT_MS: "10000",
    });
    const res = await fetch(`${server.baseUrl}/Users`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        "Content-Type": "application/scim+json",
      },
      body: JSON.stringify({ schemas: [URN.user], userName: "ada" }),
    });
    assert.equal(res.status, 201);
    await slow.firstRequest();
    return server;
  }

  const actionRows = (dataDir: string) =>
    withDatabase(dataDir, (db) =>
      db.knex("actions").select<
        {
          state: string;
          lease_owner: string | null;
          attempts: number;
          idempotency_key: string;
        }[]
      >("state", "lease_owner", "attempts", "idempotency_key"),
    );

  it("finishes the action in flight when the app answers within the budget, then exits 0", async () => {
    const running = await startWithActionInFlight();
    running.child.kill("SIGTERM");
    await printed(running, '"message":"shutting down"');
    slow.answer();
    assert.equal(await exited(running), 0, running.output());

    const rows = await actionRows(join(root, "data"));
    assert.deepEqual(
      rows.map((r) => [r.state, r.lease_owner]),
      [["succeeded", null]],
    );
    assert.equal(slow.requests().length, 1);
    assert.equal(slow.effects(), 1);
  });

  it("releases the action when the app cannot answer within the budget; the next process runs it once", async () => {
    const running = await startWithActionInFlight();
    running.child.kill("SIGTERM");
    assert.equal(await exited(running), 0, running.output());
    assert.match(
      running.output(),
      /released actions still running at shutdown/,
    );

    const dataDir = join(root, "data");
    const [released] = await actionRows(dataDir);
    assert.equal(released?.state, "pending");
    assert.equal(released?.lease_owner, null);
    assert.equal(released?.attempts, 0);

    // The next process (this one) takes it at once, without waiting for a lease to run out.
    slow.answer();
    await withDatabase(dataDir, async (db) => {
      const services = createServices({
        knex: db.knex,
        clock: systemClock,
        logger: createLogger({ silent: true }),
        readSecret: (name) => (name === "SLOW_APP_SECRET" ? SECRET : undefined),
      });
      try {
        assert.equal(await services.worker.runUntilIdle(), 1);
      } finally {
        await services.close();
      }
    });
    const rows = await actionRows(dataDir);
    assert.deepEqual(
      rows.map((r) => [r.state, r.attempts]),
      [["succeeded", 1]],
    );
    // Sent twice with the same key (the first answer never came), applied once.
    assert.deepEqual(
      slow.requests().map((r) => r.key),
      [released!.idempotency_key, released!.idempotency_key],
    );
    assert.equal(slow.effects(), 1);
  });
});
