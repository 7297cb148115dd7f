import assert from "node:assert/strict";
import request from "supertest";
import {
  startFakeBackupApp,
  type FakeBackupApp,
} from "../support/fake-backup-app.ts";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
} from "../support/fake-dropbox.ts";
import {
  createScimClient,
  URN,
  type ScimResource,
} from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const BACKUP_SECRET = "fake-backup-signing-secret";
const BACKUP_TOKEN = "fake-backup-token";

/** An action as the operator API shows it. */
interface OperatorAction {
  id: string;
  app: string;
  action: string;
  state: string;
  runAt: string;
  attempts: number;
  maxAttempts: number;
  lastError: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  policyVersion: number;
}

/** An `action.*` audit entry. */
interface AuditEntry {
  key: string;
  detail: Record<string, unknown>;
}

function dropboxApp(baseUrl: string, extra: Record<string, unknown> = {}) {
  return {
    id: "dropbox",
    connector: "dropbox",
    config: {
      baseUrl,
      token: { env: "DROPBOX_TEAM_TOKEN" },
      adminMemberId: "dbmid:admin",
    },
    ...extra,
  };
}

/** The Backupify example of the webhook README, pointed at the fake: archive, export, remove. */
function backupPolicy(
  baseUrl: string,
  app: { jobTimeout?: string } = {},
): Record<string, unknown> {
  return {
    apps: [
      {
        id: "backup",
        connector: "webhook",
        rateLimit: { perMinute: 60 },
        ...app,
        config: {
          baseUrl,
          secret: { env: "BACKUP_WEBHOOK_SECRET" },
          token: { env: "BACKUP_API_TOKEN" },
          checkPath: "/account",
          actions: {
            archive: {
              path: "/users/{{user.email}}/archive",
              body: {
                reason: "{{params.reason}}",
                notify: "{{params.managerEmail}}",
              },
              resultingState: "archived",
            },
            restore: {
              path: "/users/{{user.email}}/restore",
              resultingState: "provisioned",
            },
            export: {
              path: "/users/{{user.email}}/exports",
              body: { services: ["mail", "drive", "calendar"] },
              refFrom: { lastExport: "downloadUrl" },
              async: {
                jobIdFrom: "jobId",
                statusPath: "/exports/{{job.id}}",
                doneWhen: { field: "status", equals: "done" },
                failedWhen: { field: "status", equals: "failed" },
                pollAfterMs: 30_000,
              },
            },
            remove: {
              method: "DELETE",
              path: "/users/{{user.email}}",
              successStatuses: [200, 204, 404],
              resultingState: "removed",
            },
          },
        },
      },
    ],
    rules: [
      {
        id: "backup-leave",
        on: "user.deactivated",
        do: [
          {
            app: "backup",
            action: "archive",
            params: {
              reason: "deactivated",
              managerEmail: "{{manager.email}}",
            },
          },
          { app: "backup", action: "export" },
          { app: "backup", action: "remove" },
        ],
      },
    ],
  };
}

// Policies, SCIM writes and the worker against fake apps on loopback: what the executor makes of
// each answer (retry, wait, poll, skip, fail), with the clock moved instead of waiting.
describe("action executor through the worker", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let policyVersion: number;

  before(async () => {
    ctx = await createTestContext({
      readSecret: (name) =>
        ({
          DROPBOX_TEAM_TOKEN: FAKE_DROPBOX_TOKEN,
          BACKUP_WEBHOOK_SECRET: BACKUP_SECRET,
          BACKUP_API_TOKEN: BACKUP_TOKEN,
        })[name],
    });
  });
  after(async () => {
    await ctx.close();
  });
  beforeEach(async () => {
    // The backup fake checks signatures against its own clock: start each test at real time.
    ctx.clock.set(new Date());
    tenant = await createTestTenant(ctx);
  });

  const scim = () => createScimClient(ctx, tenant);
  const work = () => ctx.services.worker.runUntilIdle();
  const now = () => ctx.clock.now().getTime();

  async function applyPolicy(document: unknown): Promise<void> {
    ({ version: policyVersion } = await ctx.services.policies.apply(
      tenant.id,
      document,
      { source: "api" },
    ));
  }

  function emailOf(name: string): string {
    return `${name}-${tenant.name}@example.com`;
  }

  async function hire(
    name: string,
    manager?: ScimResource,
  ): Promise<ScimResource> {
    return scim().createUser({
      userName: emailOf(name),
      name: { givenName: name, familyName: "Tester" },
      emails: [{ type: "work", value: emailOf(name), primary: true }],
      ...(manager
        ? { [URN.enterprise]: { manager: { value: manager.id } } }
        : {}),
    });
  }

  async function setActive(user: ScimResource, active: boolean) {
    const res = await scim().patch("Users", user.id, [
      { op: "replace", path: "active", value: active },
    ]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  /** The user's actions, oldest first, as an operator sees them. */
  async function actionsOf(user: ScimResource): Promise<OperatorAction[]> {
    const res = await request(ctx.app)
      .get(`/admin/v1/actions?user=${user.id}`)
      .set(tenant.auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.actions as OperatorAction[]).reverse();
  }

  async function actionOf(
    user: ScimResource,
    kind: string,
  ): Promise<OperatorAction> {
    const found = (await actionsOf(user)).find((a) => a.action === kind);
    assert.ok(found, `no ${kind} for ${String(user.userName)}`);
    return found;
  }

  /** The audit entries of the user's action runs (not of their planning). */
  async function auditOf(user: ScimResource): Promise<AuditEntry[]> {
    return ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: user.id })
      .whereLike("key", "action.%")
      .whereNot("key", "action.planned")
      .orderBy("id")
      .select("key", "detail");
  }

  /** The user's apps, as the SCIM apps extension shows them. */
  async function appsOf(
    user: ScimResource,
  ): Promise<{ app: string; state: string; since: string }[]> {
    const resource = await scim().get("Users", user.id);
    const ext = resource[URN.apps] as
      { apps?: { app: string; state: string; since: string }[] } | undefined;
    return ext?.apps ?? [];
  }

  describe("Dropbox: retries, rate limits and conditions", () => {
    let dropbox: FakeDropbox;
    /** How long Dropbox takes to answer the next request: the clock moves while it works. */
    let nextAnswerTakesMs = 0;

    beforeEach(async () => {
      nextAnswerTakesMs = 0;
      dropbox = await startFakeDropbox({
        now: () => {
          ctx.clock.advance(nextAnswerTakesMs);
          nextAnswerTakesMs = 0;
          return ctx.clock.now();
        },
        newMemberStatus: "active",
        members: [
          {
            email: "admin@example.com",
            teamMemberId: "dbmid:admin",
            role: "team_admin",
          },
        ],
      });
    });
    afterEach(async () => {
      await dropbox.close();
    });

    const suspendsOnLeave = (extra: Record<string, unknown> = {}) => ({
      apps: [dropboxApp(dropbox.url, extra)],
      rules: [
        {
          id: "dropbox-leave",
          on: "user.deactivated",
          do: [
            { app: "dropbox", action: "suspend", params: { wipeData: false } },
          ],
        },
      ],
    });

    it("retries a 500 after growing delays, and suspends once Dropbox answers", async () => {
      await applyPolicy(suspendsOnLeave());
      dropbox.addMember({ email: emailOf("ada") });
      const ada = await hire("ada");
      dropbox.failNext(500, { count: 2 });

      await setActive(ada, false);
      await work();
      const delays: number[] = [];
      for (const attempt of [1, 2]) {
        const waiting = await actionOf(ada, "suspend");
        assert.equal(waiting.state, "pending");
        assert.equal(waiting.attempts, attempt);
        assert.deepEqual(
          [waiting.lastError?.kind, waiting.lastError?.status],
          ["retryable", 500],
        );
        const delay = new Date(waiting.runAt).getTime() - now();
        delays.push(delay);

        const sentBefore = dropbox.requests().length;
        ctx.clock.advance(delay - 1);
        await work();
        assert.equal(dropbox.requests().length, sentBefore, "early retry");
        ctx.clock.advance(1);
        await work();
        assert.ok(dropbox.requests().length > sentBefore, "no retry when due");
      }
      // 10 s, then 20 s, each with up to half of it taken off at random.
      assert.ok(delays[0]! >= 5_000 && delays[0]! <= 10_000, `${delays[0]}`);
      assert.ok(delays[1]! >= 10_000 && delays[1]! <= 20_000, `${delays[1]}`);
      assert.ok(delays[1]! >= delays[0]!, `${delays.join(" then ")}`);

      assert.equal(dropbox.members()[emailOf("ada")]?.status, "suspended");
      const done = await actionOf(ada, "suspend");
      assert.deepEqual([done.state, done.attempts], ["succeeded", 3]);
      const audit = await auditOf(ada);
      assert.deepEqual(
        audit.map((a) => a.key),
        ["action.attempt_failed", "action.attempt_failed", "action.succeeded"],
      );
      assert.deepEqual(
        audit.slice(0, 2).map((a) => a.detail.retryInMs),
        delays,
      );
    });

    it("gives up after maxAttempts, leaving the action failed with Dropbox's error and an audit entry", async () => {
      await applyPolicy(suspendsOnLeave({ maxAttempts: 3 }));
      dropbox.addMember({ email: emailOf("ada") });
      const ada = await hire("ada");
      dropbox.failNext(503, { count: 10 });

      await setActive(ada, false);
      await work();
      for (let i = 0; i < 5; i++) {
        const action = await actionOf(ada, "suspend");
        if (action.state !== "pending") break;
        ctx.clock.set(new Date(action.runAt));
        await work();
      }
      const failed = await actionOf(ada, "suspend");
      assert.equal(failed.state, "failed");
      assert.equal(failed.attempts, 3);
      assert.equal(failed.maxAttempts, 3);
      assert.deepEqual(
        [failed.lastError?.kind, failed.lastError?.status],
        ["retryable", 503],
      );
      // One call per attempt: the suspend, then (on a retry) the member lookup that failed first.
      assert.equal(dropbox.requests().length, 3);
      assert.equal(dropbox.members()[emailOf("ada")]?.status, "active");

      const audit = await auditOf(ada);
      assert.deepEqual(
        audit.map((a) => a.key),
        ["action.attempt_failed", "action.attempt_failed", "action.failed"],
      );
      const dead = audit[2]!.detail;
      assert.equal(dead.policyVersion, policyVersion);
      assert.equal(dead.action, "suspend");
      assert.equal(dead.app, "dropbox");
      assert.equal(dead.attempt, 3);
      assert.equal((dead.error as { status?: number }).status, 503);

      ctx.clock.advance("1d");
      await work();
      assert.equal(
        dropbox.requests().length,
        3,
        "a failed action stays failed",
      );
    });

    it("waits out a 429's Retry-After for every user of the app, without using up an attempt", async () => {
      await applyPolicy(suspendsOnLeave());
      dropbox.addMember({ email: emailOf("ada") });
      dropbox.addMember({ email: emailOf("bob") });
      const ada = await hire("ada");
      const bob = await hire("bob");
      dropbox.failNext(429, { headers: { "Retry-After": "60" } });

      await setActive(ada, false);
      await work();
      assert.equal(dropbox.requests().length, 1);
      const waiting = await actionOf(ada, "suspend");
      assert.equal(waiting.state, "pending");
      assert.equal(waiting.attempts, 0, "a rate limit is no failed attempt");
      assert.equal(new Date(waiting.runAt).getTime(), now() + 60_000);
      assert.deepEqual(
        (await auditOf(ada)).map((a) => [a.key, a.detail.retryAfterMs]),
        [["action.rate_limited", 60_000]],
      );

      await setActive(bob, false);
      await work();
      ctx.clock.advance(59_999);
      await work();
      assert.equal(dropbox.requests().length, 1, "nothing inside the window");
      assert.equal((await actionOf(bob, "suspend")).state, "pending");

      ctx.clock.advance(1);
      await work();
      assert.equal(dropbox.members()[emailOf("ada")]?.status, "suspended");
      assert.equal(dropbox.members()[emailOf("bob")]?.status, "suspended");
      assert.deepEqual(dropbox.requestsInsideRetryAfter(), []);
      const [adaDone, bobDone] = [
        await actionOf(ada, "suspend"),
        await actionOf(bob, "suspend"),
      ];
      assert.deepEqual([adaDone.state, adaDone.attempts], ["succeeded", 1]);
      assert.deepEqual([bobDone.state, bobDone.attempts], ["succeeded", 1]);
    });

    it("counts a Retry-After from when the answer arrived, not from when the call started", async () => {
      await applyPolicy(suspendsOnLeave());
      dropbox.addMember({ email: emailOf("ada") });
      const ada = await hire("ada");
      const startedAt = now();
      dropbox.failNext(429, { headers: { "Retry-After": "60" } });
      nextAnswerTakesMs = 5_000;

      await setActive(ada, false);
      await work();
      const waiting = await actionOf(ada, "suspend");
      assert.equal(
        new Date(waiting.runAt).getTime() - startedAt,
        65_000,
        "the window Dropbox announced ends 60 s after its answer",
      );

      ctx.clock.set(new Date(startedAt + 60_000));
      await work();
      assert.equal(dropbox.requests().length, 1, "nothing inside the window");
      ctx.clock.set(new Date(startedAt + 65_000));
      await work();
      assert.equal(dropbox.members()[emailOf("ada")]?.status, "suspended");
      assert.deepEqual(dropbox.requestsInsideRetryAfter(), []);
    });

    const seedPolicy = () => ({
      apps: [dropboxApp(dropbox.url)],
      rules: [
        {
          id: "dropbox-join",
          on: "user.created",
          do: [{ app: "dropbox", action: "provision" }],
        },
        {
          id: "dropbox-leave",
          on: "user.deactivated",
          do: [
            { app: "dropbox", action: "suspend", params: { wipeData: false } },
          ],
        },
        {
          id: "dropbox-return",
          on: "user.reactivated",
          do: [
            {
              app: "dropbox",
              action: "unsuspend",
              if: { state: "suspended" },
            },
          ],
        },
      ],
    });

    it("moves the user's state in the app, and its since, as actions succeed", async () => {
      await applyPolicy(seedPolicy());
      const hiredAt = new Date(now()).toISOString();
      const ada = await hire("ada");
      await work();
      assert.deepEqual(await appsOf(ada), [
        { app: "dropbox", state: "provisioned", since: hiredAt },
      ]);

      ctx.clock.advance("1d");
      const leftAt = new Date(now()).toISOString();
      await setActive(ada, false);
      await work();
      assert.deepEqual(await appsOf(ada), [
        { app: "dropbox", state: "suspended", since: leftAt },
      ]);

      ctx.clock.advance("2d");
      const backAt = new Date(now()).toISOString();
      await setActive(ada, true);
      await work();
      assert.deepEqual(await appsOf(ada), [
        { app: "dropbox", state: "provisioned", since: backAt },
      ]);
      assert.equal(dropbox.members()[emailOf("ada")]?.status, "active");
    });

    it("skips a step whose if: state does not hold, and sends nothing for it", async () => {
      await applyPolicy(seedPolicy());
      const hiredAt = new Date(now()).toISOString();
      const ada = await hire("ada");
      const bob = await hire("bob");
      await work();
      // Dropbox refuses bob's suspend: he stays provisioned, so there is nothing to unsuspend.
      await setActive(ada, false);
      await work();
      dropbox.failNext(409, {
        body: {
          error_summary: "suspend_last_admin/..",
          error: { ".tag": "suspend_last_admin" },
        },
      });
      await setActive(bob, false);
      await work();
      assert.equal((await actionOf(bob, "suspend")).state, "failed");

      ctx.clock.advance("1h");
      const before = dropbox.requests().length;
      await setActive(ada, true);
      await setActive(bob, true);
      await work();

      const adaBack = (await actionsOf(ada)).at(-1)!;
      const bobBack = (await actionsOf(bob)).at(-1)!;
      assert.deepEqual(
        [adaBack.action, adaBack.state],
        ["unsuspend", "succeeded"],
      );
      assert.deepEqual(
        [bobBack.action, bobBack.state],
        ["unsuspend", "skipped"],
      );
      assert.match(
        String(bobBack.result?.reason),
        /provisioned in this app, not suspended/,
      );
      const unsuspends = dropbox
        .requests()
        .slice(before)
        .filter((r) => r.path.endsWith("members/unsuspend"));
      assert.equal(unsuspends.length, 1, "only ada's unsuspend was sent");
      const skipped = (await auditOf(bob)).at(-1)!;
      assert.equal(skipped.key, "action.skipped");
      assert.equal(skipped.detail.policyVersion, policyVersion);
      assert.deepEqual(await appsOf(bob), [
        { app: "dropbox", state: "provisioned", since: hiredAt },
      ]);
      assert.equal(dropbox.members()[emailOf("bob")]?.status, "active");
    });

    it("fails a transfer to the manager visibly when the user has none, instead of sending it", async () => {
      await applyPolicy({
        apps: [dropboxApp(dropbox.url)],
        rules: [
          {
            id: "dropbox-leave",
            on: "user.deactivated",
            do: [
              { app: "dropbox", action: "remove", params: { wipeData: false } },
              {
                app: "dropbox",
                action: "transfer",
                params: { transferDestEmail: "{{manager.email}}" },
              },
            ],
          },
        ],
      });
      const boss = dropbox.addMember({ email: emailOf("boss") });
      const adaMember = dropbox.addMember({ email: emailOf("ada") });
      dropbox.addMember({ email: emailOf("bob") });
      const manager = await hire("boss");
      const ada = await hire("ada"); // no manager
      const bobUser = await hire("bob", manager);

      await setActive(ada, false);
      await setActive(bobUser, false);
      await work();

      const transfers = () =>
        dropbox
          .requests()
          .filter((r) => r.path.endsWith("members/move_former_member_files"));
      assert.equal(transfers().length, 1, "only bob's files were moved");
      const members = dropbox.members();
      assert.equal(members[emailOf("bob")]?.filesOwner, boss.teamMemberId);
      assert.equal(members[emailOf("ada")]?.status, "removed");
      assert.equal(members[emailOf("ada")]?.filesOwner, adaMember.teamMemberId);
      assert.equal((await actionOf(bobUser, "transfer")).state, "succeeded");

      const orphan = await actionOf(ada, "transfer");
      assert.equal(orphan.state, "failed");
      assert.equal(orphan.attempts, 1);
      assert.equal(orphan.lastError?.kind, "misconfigured");
      assert.match(String(orphan.lastError?.message), /transferDestEmail/);
      const failedEntry = (await auditOf(ada)).find(
        (a) => a.key === "action.failed",
      );
      assert.equal(failedEntry?.detail.action, "transfer");
      assert.equal(failedEntry?.detail.policyVersion, policyVersion);

      ctx.clock.advance("1d");
      await work();
      assert.equal(transfers().length, 1, "not retried either");
    });
  });

  describe("Backupify seed: archive, export, then remove", () => {
    let backup: FakeBackupApp;

    beforeEach(async () => {
      backup = await startFakeBackupApp({
        secret: BACKUP_SECRET,
        token: BACKUP_TOKEN,
        exportPolls: 2,
      });
    });
    afterEach(async () => {
      await backup.close();
    });

    const sent = () => backup.requests().map((r) => `${r.method} ${r.url}`);

    it("polls the export until it is done, and removes the user only after it", async () => {
      await applyPolicy(backupPolicy(backup.url));
      const ada = await hire("ada");
      const path = `/users/${encodeURIComponent(emailOf("ada"))}`;
      const leftAt = new Date(now()).toISOString();

      await setActive(ada, false);
      await work();
      assert.deepEqual(sent(), [
        `POST ${path}/archive`,
        `POST ${path}/exports`,
      ]);
      assert.deepEqual(
        (await actionsOf(ada)).map((a) => [a.action, a.state]),
        [
          ["archive", "succeeded"],
          ["export", "in_progress"],
          ["remove", "pending"],
        ],
        "the remove waits for the export",
      );
      assert.deepEqual(await appsOf(ada), [
        { app: "backup", state: "archived", since: leftAt },
      ]);

      ctx.clock.advance(29_999);
      await work();
      assert.equal(sent().length, 2, "no poll before pollAfterMs");
      ctx.clock.advance(1);
      await work();
      assert.deepEqual(sent().slice(2), ["GET /exports/job-1"]);
      assert.equal((await actionOf(ada, "export")).state, "in_progress");

      ctx.clock.advance(30_000);
      const removedAt = new Date(now()).toISOString();
      await work();
      assert.deepEqual(sent().slice(2), [
        "GET /exports/job-1",
        "GET /exports/job-1",
        `DELETE ${path}`,
      ]);
      assert.equal(backup.users()[emailOf("ada")], "removed");
      assert.ok(backup.requests().every((r) => r.signatureValid));
      assert.deepEqual(
        (await actionsOf(ada)).map((a) => [a.action, a.state, a.attempts]),
        [
          ["archive", "succeeded", 1],
          ["export", "succeeded", 1],
          ["remove", "succeeded", 1],
        ],
      );
      assert.deepEqual(await appsOf(ada), [
        { app: "backup", state: "removed", since: removedAt },
      ]);
      const state = await ctx
        .knex("app_states")
        .where({ tenant_id: tenant.id, user_id: ada.id, app_id: "backup" })
        .first<{ ref: Record<string, unknown> }>("ref");
      assert.deepEqual(state?.ref, { lastExport: "/downloads/job-1.zip" });
      assert.deepEqual(
        (await auditOf(ada)).map((a) => [a.key, a.detail.action]),
        [
          ["action.succeeded", "archive"],
          ["action.in_progress", "export"],
          ["action.succeeded", "export"],
          ["action.succeeded", "remove"],
        ],
      );
      assert.equal(backup.duplicateEffects(), 0);
    });

    it("fails an export that never finishes after the app's jobTimeout, and keeps the seat", async () => {
      await backup.close();
      backup = await startFakeBackupApp({
        secret: BACKUP_SECRET,
        token: BACKUP_TOKEN,
        exportPolls: Number.MAX_SAFE_INTEGER,
      });
      await applyPolicy(backupPolicy(backup.url, { jobTimeout: "2m" }));
      const ada = await hire("ada");

      await setActive(ada, false);
      await work();
      // Polls every 30 s; the job may run for 2 minutes.
      for (let poll = 1; poll <= 4; poll++) {
        ctx.clock.advance(30_000);
        await work();
        assert.equal((await actionOf(ada, "export")).state, "in_progress");
      }
      const polls = () => sent().filter((s) => s.startsWith("GET /exports"));
      assert.equal(polls().length, 4);

      ctx.clock.advance(30_000);
      await work();
      const timedOut = await actionOf(ada, "export");
      assert.equal(timedOut.state, "failed");
      assert.equal(timedOut.lastError?.kind, "timeout");
      assert.equal(polls().length, 4, "no poll after the deadline");
      const failedEntry = (await auditOf(ada)).find(
        (a) => a.key === "action.failed" && a.detail.action === "export",
      );
      assert.equal(
        (failedEntry?.detail.error as { kind?: string }).kind,
        "timeout",
      );
      assert.equal(failedEntry?.detail.policyVersion, policyVersion);

      // Without the export the app refuses to free the seat; the user stays archived there.
      const remove = await actionOf(ada, "remove");
      assert.equal(remove.state, "failed");
      assert.equal(remove.lastError?.code, "export_required");
      assert.equal(backup.users()[emailOf("ada")], "archived");
    });

    it("starts a timed-out export again when an operator retries it", async () => {
      await backup.close();
      backup = await startFakeBackupApp({
        secret: BACKUP_SECRET,
        token: BACKUP_TOKEN,
        exportPolls: 4,
      });
      await applyPolicy(backupPolicy(backup.url, { jobTimeout: "1m" }));
      const ada = await hire("ada");
      await setActive(ada, false);
      await work();
      // Polls at 30 s and 60 s; at 90 s the 1-minute job timeout has passed.
      for (let i = 0; i < 3; i++) {
        ctx.clock.advance(30_000);
        await work();
      }
      const exportAction = await actionOf(ada, "export");
      assert.equal(exportAction.lastError?.kind, "timeout");
      const before = sent().length;

      const res = await request(ctx.app)
        .post(`/admin/v1/actions/${exportAction.id}/retry`)
        .set(tenant.auth);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await work();
      const retried = await actionOf(ada, "export");
      assert.equal(
        retried.state,
        "in_progress",
        `retried export: ${JSON.stringify(retried.lastError)}`,
      );
      assert.ok(sent().length > before, "the retry reached the app");

      // The job (done after 4 polls) finishes within its new minute.
      for (let i = 0; i < 2; i++) {
        ctx.clock.advance(30_000);
        await work();
      }
      assert.equal((await actionOf(ada, "export")).state, "succeeded");
    });
  });
});
