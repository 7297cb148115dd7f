import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface RunningServer {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
}

/** Starts `scim-lifecycle serve` as a real process on a free port, as `npm start` does. */
async function startServer(
  env: Record<string, string>,
): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "serve"],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        // `npm start` runs on the embedded database, whatever DATABASE_URL the tests use.
        DATABASE_URL: "",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      60_000,
    );
    const check = () => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return { child, baseUrl, output: () => output };
}

async function stopServer(server: RunningServer): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    server.child.once("exit", resolve),
  );
  server.child.kill("SIGTERM");
  return exited;
}

describe("the server process", function () {
  // Each test starts real processes (tsx compile, PGlite init, migrations): slow on a busy machine.
  this.timeout(180_000);
  let dataDir: string;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), "scim-serve-"));
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates a default tenant on an empty database, prints its token once, and serves with it", async () => {
    const first = await startServer({ DATA_DIR: dataDir });
    let token: string;
    try {
      const match = /\n {2}(scl_[A-Za-z0-9_-]{43})\n/.exec(first.output());
      assert.ok(match, `no token printed:\n${first.output()}`);
      token = match[1]!;
      const res = await fetch(`${first.baseUrl}/Users`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
      assert.match(
        res.headers.get("content-type") ?? "",
        /application\/scim\+json/,
      );
      // The token never reaches the JSON log lines.
      const logLines = first
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"));
      assert.ok(logLines.length > 0);
      assert.ok(logLines.every((l) => !l.includes(token)));
    } finally {
      assert.equal(await stopServer(first), 0);
    }
    const second = await startServer({ DATA_DIR: dataDir });
    try {
      assert.doesNotMatch(second.output(), /scl_[A-Za-z0-9_-]{43}/);
      const res = await fetch(`${second.baseUrl}/Users`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
    } finally {
      assert.equal(await stopServer(second), 0);
    }
  });

  it("accepts SCIM_BOOTSTRAP_TOKEN as the default tenant's token", async () => {
    const token = "scl_bootstrap_for_tests_0123456789abcdef";
    const server = await startServer({
      DATA_DIR: join(dataDir, "bootstrap"),
      SCIM_BOOTSTRAP_TOKEN: token,
    });
    try {
      const ok = await fetch(`${server.baseUrl}/ServiceProviderConfig`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200);
      const bad = await fetch(`${server.baseUrl}/Users`, {
        headers: { Authorization: "Bearer nope" },
      });
      assert.equal(bad.status, 401);
    } finally {
      assert.equal(await stopServer(server), 0);
    }
  });

  it("refuses to start with a configuration error listing every problem", async () => {
    await assert.rejects(
      startServer({
        DATA_DIR: join(dataDir, "bad"),
        PORT: "99999",
        LOG_LEVEL: "loud",
      }),
      (error: Error) => {
        assert.match(error.message, /PORT/);
        assert.match(error.message, /LOG_LEVEL/);
        return true;
      },
    );
  });
});
