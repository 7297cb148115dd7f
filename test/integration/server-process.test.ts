import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, stopServer } from "../support/server-process.ts";

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
