import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { CLI_TOKEN_ID, cliPrincipal } from "../../src/cli/cli-context.ts";
import { findTenantByName } from "../../src/store/tenants-store.ts";
import { createCliSandbox, type CliSandbox } from "./cli-process.ts";

const SECRETS = { HOOK_SECRET: "0123456789abcdef0123456789abcdef" };

/** A loopback port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function policyFor(port: number): string {
  return `tenants:
  acme:
    apps:
      - id: directory
        connector: log
        rateLimit: { perMinute: 120, burst: 10 }
      - id: hook
        connector: webhook
        maxAttempts: 1
        config:
          baseUrl: http://127.0.0.1:${port}
          secret: { env: HOOK_SECRET }
          actions:
            provision: { path: /users }
    rules:
      - id: join
        on: user.created
        do:
          - { app: directory, action: provision }
          - { app: hook, action: provision }
      - id: leave
        on: user.deactivated
        do:
          - { app: directory, action: suspend }
          - { app: directory, action: remove, after: 30d }
`;
}

// Four problems in different places; validation must list every one with its path.
const BAD_POLICY = `tenants:
  acme:
    apps:
      - id: hook
        connector: webhook
        config:
          baseUrl: http://127.0.0.1:9
          secret: { env: HOOK_SECRET_NOT_SET }
          actions:
            provision: { path: /users }
      - id: ghost
        connector: teleporter
    rules:
      - id: join
        on: user.created
        do:
          - { app: nowhere, action: provision }
  nobody:
    apps: []
`;

interface ActionJson {
  id: string;
  app: string;
  action: string;
  state: string;
  userName: string | null;
  lastError: { kind?: string } | null;
}

describe("CLI: policy, apps and the action queue", function () {
  this.timeout(240_000);
  let cli: CliSandbox;
  let port: number;

  before(async () => {
    cli = await createCliSandbox();
    port = await closedPort();
    await writeFile(`${cli.workDir}/good.yaml`, policyFor(port));
    await writeFile(`${cli.workDir}/bad.yaml`, BAD_POLICY);
    assert.equal((await cli.run(["tenant", "create", "acme"])).code, 0);
  });
  after(async () => {
    await cli.dispose();
  });

  it("lists every problem of an invalid file with its path and exits 2", async () => {
    const result = await cli.run([
      "policy",
      "validate",
      `${cli.workDir}/bad.yaml`,
    ]);
    assert.equal(result.code, 2, result.stderr);
    for (const expected of [
      /tenants\.acme\.apps\[0\]: config\.secret: environment variable HOOK_SECRET_NOT_SET is not set/,
      /tenants\.acme\.apps\[1\]: unknown connector "teleporter"/,
      /tenants\.acme\.rules\[0\]\.do\[0\]\.app: unknown app "nowhere"/,
      /tenants\.nobody: no tenant "nobody"/,
    ]) {
      assert.match(result.stdout, expected);
    }
    const apply = await cli.run(["policy", "apply", `${cli.workDir}/bad.yaml`]);
    assert.equal(apply.code, 2);
    assert.match(apply.stdout, /nothing applied/);
    const missing = await cli.run(["policy", "validate", "/nonexistent.yaml"]);
    assert.equal(missing.code, 2);
  });

  it("applies a policy once, lists its apps without secrets and checks them", async () => {
    const file = `${cli.workDir}/good.yaml`;
    const first = await cli.json<{ tenant: string; changed: boolean }[]>(
      ["policy", "apply", file],
      SECRETS,
    );
    assert.deepEqual(first, [{ tenant: "acme", version: 1, changed: true }]);
    const again = await cli.run(["policy", "apply", file], SECRETS);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /acme: version 1 \(unchanged\)/);

    const listed = await cli.json<{ version: number; apps: unknown[] }>([
      "app",
      "list",
      "--tenant",
      "acme",
    ]);
    assert.deepEqual(listed, {
      version: 1,
      apps: [
        {
          id: "directory",
          connector: "log",
          rateLimit: { perMinute: 120, burst: 10 },
          maxAttempts: 8,
          jobTimeout: "1h",
        },
        {
          id: "hook",
          connector: "webhook",
          rateLimit: null,
          maxAttempts: 1,
          jobTimeout: "1h",
        },
      ],
    });

    const checked = await cli.run(
      ["app", "check", "--tenant", "acme"],
      SECRETS,
    );
    assert.equal(checked.code, 1, "the hook app's port is closed");
    assert.match(checked.stdout, /directory\s+log\s+ok/);
    assert.match(checked.stdout, /hook\s+webhook\s+FAILED\s+retryable:/);
    const one = await cli.run(
      ["app", "check", "--tenant", "acme", "directory"],
      SECRETS,
    );
    assert.equal(one.code, 0);
    const unknownApp = await cli.run(
      ["app", "check", "--tenant", "acme", "nope"],
      SECRETS,
    );
    assert.equal(unknownApp.code, 2);
  });

  it("dry-runs an event for a user by userName, and refuses when secrets are missing", async () => {
    await cli.inProcess(async (services, database) => {
      const tenant = (await findTenantByName(database.knex, "acme"))!;
      await services.users.createUser(
        {
          principal: cliPrincipal(tenant),
          requestId: "test",
          method: "POST",
          path: "/Users",
          body: {},
        },
        { userName: "Alice" },
      );
    }, SECRETS);
    const plan = await cli.json<{
      user: { userName: string };
      actions: { app: string; action: string; runAt: string }[];
    }>(
      [
        "policy",
        "plan",
        "--tenant",
        "acme",
        "--event",
        "user.deactivated",
        "--user",
        "alice",
      ],
      SECRETS,
    );
    assert.equal(plan.user.userName, "Alice");
    assert.deepEqual(
      plan.actions.map((a) => `${a.app} ${a.action}`),
      ["directory suspend", "directory remove"],
    );
    const noSecrets = await cli.run([
      "policy",
      "plan",
      "--tenant",
      "acme",
      "--event",
      "user.deactivated",
      "--user",
      "alice",
    ]);
    assert.equal(noSecrets.code, 2);
    assert.match(noSecrets.stderr, /HOOK_SECRET is not set/);
    const badEvent = await cli.run(
      [
        "policy",
        "plan",
        "--tenant",
        "acme",
        "--event",
        "user.exploded",
        "--user",
        "alice",
      ],
      SECRETS,
    );
    assert.equal(badEvent.code, 2);
  });

  it("lists a failed action, retries and cancels it, audited with the CLI as actor", async () => {
    // The hook app's action fails for good on its only attempt: its port is closed.
    await cli.inProcess(async (services) => {
      await services.worker.runUntilIdle();
    }, SECRETS);
    const failed = await cli.json<ActionJson[]>([
      "actions",
      "list",
      "--tenant",
      "acme",
      "--state",
      "failed",
    ]);
    assert.equal(failed.length, 1);
    const action = failed[0]!;
    assert.equal(action.app, "hook");
    assert.equal(action.userName, "Alice");
    assert.equal(action.lastError?.kind, "retryable");

    const text = await cli.run([
      "actions",
      "list",
      "--tenant",
      "acme",
      "--user",
      "alice",
    ]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /succeeded\s+directory\s+provision\s+Alice/);
    const badState = await cli.run([
      "actions",
      "list",
      "--tenant",
      "acme",
      "--state",
      "lost",
    ]);
    assert.equal(badState.code, 2);

    const retried = await cli.json<ActionJson>([
      "actions",
      "retry",
      action.id,
      "--tenant",
      "acme",
    ]);
    assert.equal(retried.state, "pending");
    const cancelled = await cli.json<ActionJson>([
      "actions",
      "cancel",
      action.id,
      "--tenant",
      "acme",
    ]);
    assert.equal(cancelled.state, "cancelled");
    const twice = await cli.run([
      "actions",
      "cancel",
      action.id,
      "--tenant",
      "acme",
    ]);
    assert.equal(twice.code, 1, "a cancelled action cannot be cancelled again");
    const missing = await cli.run([
      "actions",
      "retry",
      "999999",
      "--tenant",
      "acme",
    ]);
    assert.equal(missing.code, 2);

    await cli.inProcess(async (_services, database) => {
      const entries = await database
        .knex("audit_entries")
        .whereIn("key", ["action.retried", "action.cancelled"])
        .andWhereRaw("detail->>'actionId' = ?", [action.id])
        .orderBy("id")
        .select<
          {
            key: string;
            actor_token_id: string;
            detail: Record<string, unknown>;
          }[]
        >("key", "actor_token_id", "detail");
      assert.deepEqual(
        entries.map((e) => e.key),
        ["action.retried", "action.cancelled"],
      );
      for (const entry of entries) {
        assert.equal(entry.actor_token_id, CLI_TOKEN_ID);
        assert.match(String(entry.detail.actor), /^cli:.+@.+/);
      }
    });
  });
});
