import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createScratchDatabase,
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

// The deployment docker-compose.yml describes: an API process that runs no worker, and a worker
// process that serves only its probes and metrics. Real PostgreSQL (the embedded database is
// single-process).
describe("serve --role api and --role worker on one PostgreSQL", function () {
  this.timeout(180_000);
  const serverUrl = process.env.DATABASE_URL;
  const token = `scl_${randomBytes(32).toString("base64url")}`;
  let database: ScratchDatabase | undefined;
  let dropbox: FakeDropbox;
  let dir: string;
  let api: RunningServer;
  let worker: RunningServer;

  before(async function () {
    if (!serverUrl) this.skip();
    database = await createScratchDatabase(serverUrl!, "scim_roles");
    dropbox = await startFakeDropbox();
    dropbox.addMember({ email: "split@example.com" });
    dir = mkdtempSync(join(tmpdir(), "scim-roles-"));
    const configPath = join(dir, "lifecycle.yaml");
    writeFileSync(configPath, suspendOnDeactivationConfig(dropbox.url));
    const env = {
      DATABASE_URL: database.url,
      SCIM_LIFECYCLE_CONFIG: configPath,
      DROPBOX_TEAM_TOKEN: FAKE_DROPBOX_TOKEN,
    };
    api = await startServer({ ...env, SCIM_BOOTSTRAP_TOKEN: token }, [
      "--role",
      "api",
    ]);
    worker = await startServer(env, ["--role", "worker"]);
  });
  after(async () => {
    for (const server of [api, worker]) {
      if (server && server.child.exitCode === null) await stopServer(server);
    }
    await dropbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await database?.drop();
  });

  it("runs the action the API planned in the worker process", async () => {
    const headers = {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/scim+json",
    };
    const created = await fetch(`${api.baseUrl}/Users`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        schemas: [URN.user],
        userName: "split@example.com",
        emails: [{ type: "work", value: "split@example.com", primary: true }],
      }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const patched = await fetch(`${api.baseUrl}/Users/${id}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({
        schemas: [URN.patchOp],
        Operations: [{ op: "Replace", path: "active", value: "False" }],
      }),
    });
    assert.equal(patched.status, 200);
    const deadline = Date.now() + 30_000;
    while (dropbox.members()["split@example.com"]?.status !== "suspended") {
      assert.ok(
        Date.now() < deadline,
        `the worker suspended the member in time; dropbox saw ${JSON.stringify(dropbox.requests())}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const suspends = dropbox
      .requests()
      .filter((r) => r.path.endsWith("members/suspend"));
    assert.equal(suspends.length, 1);
    assert.match(worker.output(), /"workerId"/);
  });

  it("answers readiness for the worker it runs, and for none in the API process", async () => {
    const apiOrigin = new URL(api.baseUrl).origin;
    const apiReady = await fetch(`${apiOrigin}/readyz`);
    assert.equal(apiReady.status, 200);
    assert.match(
      JSON.stringify(await apiReady.json()),
      /not run in this process/,
    );
    const workerReady = await fetch(`${worker.baseUrl}/readyz`);
    assert.equal(workerReady.status, 200);
    assert.match(JSON.stringify(await workerReady.json()), /running/);
    const metrics = await fetch(`${worker.baseUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(
      await metrics.text(),
      /scim_lifecycle_actions_total\{app="dropbox",kind="suspend",outcome="succeeded"\} 1/,
    );
  });

  it("serves no API from the worker process", async () => {
    const res = await fetch(`${worker.baseUrl}/scim/v2/Users`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 404);
    assert.match(JSON.stringify(await res.json()), /action worker/);
  });
});
