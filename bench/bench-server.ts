import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const HEALTH_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 15_000;
const OUTPUT_TAIL_CHARS = 8_000;

/** The SCIM server under test, running as a child process. */
export interface BenchServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `http://127.0.0.1:<port>/scim/v2` */
  scimUrl: string;
  token: string;
  pid: number;
  /** Set when the process has exited (expectedly or not). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Why the server is considered broken, if it is. */
  failure(): string | undefined;
  /** The last few KB of its stdout and stderr. */
  outputTail(): string;
  /** Called once when the process exits while we did not ask it to. */
  onUnexpectedExit(listener: () => void): void;
  /** Resolves once GET /healthz answers 200; throws if the process exits or takes too long. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/** A port the kernel says is free right now on 127.0.0.1. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Extras for a server started on a database an earlier server already set up. */
export interface BenchServerOptions {
  /** The bootstrap token to keep (default: a fresh random one). */
  token?: string;
  /** More environment, e.g. the lifecycle scenario's `SCIM_LIFECYCLE_CONFIG` and app secrets. */
  env?: Record<string, string>;
}

/**
 * Spawns `node --import tsx src/main.ts serve` on a free loopback port with a random bootstrap
 * token. Register `stop()` for clean-up before awaiting `ready()`.
 */
export async function spawnBenchServer(
  databaseEnv: Record<string, string>,
  options: BenchServerOptions = {},
): Promise<BenchServer> {
  const port = await findFreePort();
  const token = options.token ?? `scl_${randomBytes(32).toString("base64url")}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.DATA_DIR;
  // Only the lifecycle scenario runs with a policy, one the bench writes: a config from the shell
  // would make the other scenarios plan actions (and could call real apps).
  delete env.SCIM_LIFECYCLE_CONFIG;
  Object.assign(env, databaseEnv, options.env ?? {}, {
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    SCIM_BOOTSTRAP_TOKEN: token,
    DATABASE_POOL_MAX: "20",
  });
  // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is for investigations.
  const nodeArgs = [
    ...(process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean),
    "--import",
    "tsx",
    "src/main.ts",
    "serve",
  ];
  const child = spawn(process.execPath, nodeArgs, {
    cwd: PROJECT_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);

  let stopping = false;
  const unexpectedListeners: (() => void)[] = [];
  const server: BenchServer = {
    origin: `http://127.0.0.1:${port}`,
    scimUrl: `http://127.0.0.1:${port}/scim/v2`,
    token,
    pid: child.pid ?? -1,
    exit: undefined,
    failure: () =>
      server.exit && !stopping
        ? `server exited unexpectedly (code ${server.exit.code}, signal ${server.exit.signal})`
        : undefined,
    outputTail: () => tail,
    onUnexpectedExit: (listener) => unexpectedListeners.push(listener),
    async ready() {
      const deadline = Date.now() + HEALTH_TIMEOUT_MS;
      for (;;) {
        if (server.exit) {
          throw new Error(
            `the server exited during start (code ${server.exit.code}):\n${tail}`,
          );
        }
        try {
          const response = await fetch(`${server.origin}/healthz`);
          if (response.ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          throw new Error(
            `the server did not answer /healthz within ${HEALTH_TIMEOUT_MS / 1000} s:\n${tail}`,
          );
        }
        await sleep(200);
      }
    },
    async stop() {
      if (server.exit) return;
      stopping = true;
      child.kill("SIGTERM");
      if (!(await waitForExit(child, STOP_GRACE_MS))) {
        child.kill("SIGKILL");
        await waitForExit(child, 5_000);
      }
    },
  };
  child.once("exit", (code, signal) => {
    server.exit = { code, signal };
    if (!stopping) for (const listener of unexpectedListeners) listener();
  });
  // Last resort if the bench itself dies without running its cleanup.
  process.once("exit", () => {
    if (!server.exit) child.kill("SIGKILL");
  });

  return server;
}
