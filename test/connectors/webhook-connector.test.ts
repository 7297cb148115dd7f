import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createOutboundFetch } from "../../src/connectors/outbound-http.ts";
import {
  ConnectorError,
  type ActionRequest,
} from "../../src/connectors/types.ts";
import {
  lookupPath,
  renderJson,
  renderString,
} from "../../src/connectors/webhook/render-template.ts";
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
  verifyWebhookSignature,
  webhookConfigSchema,
  webhookConnector,
  type WebhookConfig,
} from "../../src/connectors/webhook/webhook-connector.ts";
import {
  startFakeBackupApp,
  type FakeBackupApp,
} from "../support/fake-backup-app.ts";
import {
  describeConnectorContract,
  runToCompletion,
  testConnectorContext,
} from "./connector-contract.ts";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const subject: ActionRequest["subject"] = {
  userId: "2f0c6f3e-1111-4a4a-9c9c-000000000001",
  userName: "alice@example.com",
  externalId: "00u1alice",
  email: "alice@example.com",
  givenName: "Alice",
  familyName: "Liddell",
  displayName: "Alice Liddell",
  active: false,
  resource: {
    id: "2f0c6f3e-1111-4a4a-9c9c-000000000001",
    userName: "alice@example.com",
    emails: [{ value: "alice@example.com", type: "work", primary: true }],
    [ENTERPRISE]: {
      department: "Wonderland",
      manager: { value: "m-1", displayName: "Queen of Hearts" },
    },
  },
  ref: {},
};

function backupConfig(
  fake: FakeBackupApp,
  overrides: Record<string, unknown> = {},
): WebhookConfig {
  return webhookConfigSchema.parse({
    baseUrl: fake.url,
    secret: fake.secret,
    token: fake.token,
    checkPath: "/account",
    actions: {
      archive: {
        path: "/users/{{user.email}}/archive",
        body: { reason: "{{params.reason}}", requestedBy: "scim-lifecycle" },
        resultingState: "archived",
        refFrom: { backupState: "state" },
      },
      export: {
        path: "/users/{{user.email}}/exports",
        body: { services: ["mail", "drive"] },
        async: {
          jobIdFrom: "jobId",
          statusPath: "/exports/{{job.id}}",
          doneWhen: { field: "status", equals: "done" },
          failedWhen: { field: "status", equals: "failed" },
          pollAfterMs: 100,
        },
        refFrom: { lastExport: "downloadUrl" },
      },
      remove: {
        method: "DELETE",
        path: "/users/{{user.email}}",
        resultingState: "removed",
        successStatuses: [200, 204, 404],
      },
      notify: {
        path: "/users/{{user.email}}/archive",
        headers: { "X-Manager": "{{params.managerEmail}}" },
        body: {
          to: "{{params.managerEmail}}",
          manager: "{{user.enterprise.manager.displayName}}",
          department: `{{user.${ENTERPRISE}.department}}`,
          user: "{{user.userName}}",
          active: "{{user.active}}",
          emails: "{{user.emails}}",
          missing: "{{params.nope}}",
          text: "{{user.displayName}} leaves; ask {{params.managerEmail}}{{params.nope}}",
        },
      },
    },
    ...overrides,
  });
}

function request(
  action: string,
  overrides: Partial<ActionRequest> = {},
): ActionRequest {
  return {
    action,
    params: {},
    idempotencyKey: `key-${action}`,
    attempt: 1,
    subject,
    ...overrides,
  };
}

async function rejects(
  promise: Promise<unknown>,
  kind: ConnectorError["kind"],
): Promise<ConnectorError> {
  const error = await promise.then(
    () => assert.fail(`expected ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectorError, String(error));
  assert.equal(error.kind, kind, error.message);
  return error;
}

describe("webhook connector", () => {
  describeConnectorContract<WebhookConfig>({
    definition: webhookConnector,
    startFake: () => startFakeBackupApp(),
    configFor: (fake) => backupConfig(fake as FakeBackupApp),
    badCredentialsConfigFor: (fake) =>
      backupConfig(fake as FakeBackupApp, {
        secret: "not-the-apps-signing-secret",
      }),
    lifecycle: [
      {
        action: "archive",
        params: { reason: "left" },
        idempotencyKey: "k-archive",
      },
      { action: "export", params: {}, idempotencyKey: "k-export" },
      { action: "remove", params: {}, idempotencyKey: "k-remove" },
    ],
    subject,
    probe: { action: "archive", params: {}, idempotencyKey: "k-probe" },
  });

  describe("against the fake backup app", () => {
    let fake: FakeBackupApp;
    beforeEach(async () => {
      fake = await startFakeBackupApp();
    });
    afterEach(async () => {
      await fake.close();
    });
    const create = (config: WebhookConfig) =>
      webhookConnector.create(config, testConnectorContext());

    it("signs each request so the receiver can verify it", async () => {
      await create(backupConfig(fake)).run(
        request("archive", { params: { reason: "left" } }),
      );
      const [sent] = fake.requests();
      assert.ok(sent);
      assert.equal(sent.signatureValid, true);
      const timestamp = sent.headers[TIMESTAMP_HEADER.toLowerCase()]!;
      const signature = sent.headers[SIGNATURE_HEADER.toLowerCase()]!;
      assert.match(signature, /^v1=[0-9a-f]{64}$/);
      assert.equal(
        verifyWebhookSignature(fake.secret, timestamp, sent.rawBody, signature),
        true,
      );
      assert.equal(
        verifyWebhookSignature(
          "another-secret",
          timestamp,
          sent.rawBody,
          signature,
        ),
        false,
      );
      assert.equal(
        verifyWebhookSignature(
          fake.secret,
          timestamp,
          sent.rawBody + " ",
          signature,
        ),
        false,
      );
      assert.equal(
        verifyWebhookSignature(
          fake.secret,
          timestamp,
          sent.rawBody,
          signature,
          {
            now: new Date(Number(timestamp) * 1000 + 10 * 60_000),
          },
        ),
        false,
        "a replay ten minutes later is refused",
      );
      assert.equal(
        verifyWebhookSignature(
          fake.secret,
          timestamp,
          sent.rawBody,
          `v1=${"0".repeat(64)}, ${signature}`,
        ),
        true,
        "any of several signatures (key rotation) verifies",
      );
    });

    it("keeps the idempotency key stable across retries and applies the effect once", async () => {
      const instance = create(backupConfig(fake));
      fake.failNext(503);
      await rejects(
        instance.run(request("archive", { attempt: 1 })),
        "retryable",
      );
      const done = await instance.run(request("archive", { attempt: 2 }));
      assert.equal(done.status, "done");
      await instance.run(request("archive", { attempt: 3 }));
      const keys = fake.requests().map((r) => r.headers["idempotency-key"]);
      assert.deepEqual(keys, ["key-archive", "key-archive", "key-archive"]);
      assert.equal(fake.users()["alice@example.com"], "archived");
      assert.equal(fake.duplicateEffects(), 0);
      assert.deepEqual(done.ref, { backupState: "archived" });
    });

    it("renders templates: manager, extension URNs, JSON types, missing values and headers", async () => {
      await create(backupConfig(fake)).run(
        request("notify", { params: { managerEmail: "queen@example.com" } }),
      );
      const [sent] = fake.requests();
      assert.deepEqual(JSON.parse(sent!.rawBody), {
        to: "queen@example.com",
        manager: "Queen of Hearts",
        department: "Wonderland",
        user: "alice@example.com",
        active: false,
        emails: [{ value: "alice@example.com", type: "work", primary: true }],
        missing: "",
        text: "Alice Liddell leaves; ask queen@example.com",
      });
      assert.equal(sent!.headers["x-manager"], "queen@example.com");
      assert.equal(sent!.url, "/users/alice%40example.com/archive");
    });

    it("polls a long-running export until it is done and keeps its result", async () => {
      const instance = create(backupConfig(fake));
      const started = await instance.run(request("export"));
      assert.equal(started.status, "in_progress");
      assert.equal(started.status === "in_progress" && started.job.id, "job-1");
      const done = await runToCompletion(instance, request("export"));
      assert.deepEqual(done.ref, { lastExport: "/downloads/job-1.zip" });
      assert.equal(fake.duplicateEffects(), 0);
    });

    it("polls the Location the app answered when no statusPath is configured", async () => {
      const config = backupConfig(fake);
      const exportAction = config.actions.export!;
      config.actions.export = {
        ...exportAction,
        async: { ...exportAction.async!, statusPath: undefined },
      };
      const done = await runToCompletion(create(config), request("export"));
      assert.equal(done.status, "done");
      assert.ok(fake.requests().some((r) => r.url === "/exports/job-1"));
    });

    it("refuses to remove before the export (409 → rejected) and accepts a repeat remove", async () => {
      const instance = create(backupConfig(fake));
      const refused = await rejects(
        instance.run(request("remove")),
        "rejected",
      );
      assert.equal(refused.code, "export_required");
      assert.equal(refused.status, 409);
      await runToCompletion(instance, request("export"));
      const removed = await instance.run(
        request("remove", { idempotencyKey: "key-remove-2" }),
      );
      assert.equal(removed.status, "done");
      // A new planned action (new key) after the seat is gone: 404 is configured as success.
      const again = await instance.run(
        request("remove", { idempotencyKey: "key-remove-3" }),
      );
      assert.equal(again.status, "done");
      assert.equal(fake.users()["alice@example.com"], "removed");
    });

    it("reports a 429 as rate_limited and sends nothing inside the Retry-After window", async () => {
      const instance = create(backupConfig(fake));
      fake.rateLimit(30);
      const limited = await rejects(
        instance.run(request("archive")),
        "rate_limited",
      );
      assert.equal(limited.retryAfterMs, 30_000);
      assert.equal(fake.requests().length, 1);
      assert.equal(fake.requestsInsideRetryAfter(), 0);
      fake.endRateLimit();
      assert.equal((await instance.run(request("archive"))).status, "done");
    });

    it("never echoes the token in errors", async () => {
      const config = backupConfig(fake, { token: "super-secret-token-value" });
      const error = await rejects(
        create(config).run(request("archive")),
        "misconfigured",
      );
      assert.equal(error.status, 401);
      assert.ok(
        !JSON.stringify({ m: error.message, c: error.code }).includes(
          "super-secret",
        ),
      );
    });

    it("checks with HEAD on the base URL when no checkPath is set", async () => {
      const rest = { ...backupConfig(fake), checkPath: undefined };
      const ok = await create(rest).check();
      assert.equal(ok.ok, true);
      assert.equal(fake.requests()[0]!.method, "HEAD");
      await rejects(
        create({ ...rest, secret: "not-the-apps-signing-secret" }).check(),
        "misconfigured",
      );
    });

    it("sends the token in a custom header for API-key style apps", async () => {
      const config = backupConfig(fake, { tokenHeader: "X-Api-Key" });
      // The fake wants a bearer token, so this is refused; the header still went out.
      await rejects(create(config).run(request("archive")), "misconfigured");
      assert.equal(fake.requests()[0]!.headers["x-api-key"], fake.token);
    });

    it("refuses to let a user value climb out of the path", async () => {
      const error = await rejects(
        create(backupConfig(fake)).run(
          request("archive", { subject: { ...subject, email: ".." } }),
        ),
        "rejected",
      );
      assert.match(error.message, /URL path/);
      assert.equal(fake.requests().length, 0);
    });

    it("rejects a header value HTTP cannot carry instead of crashing", async () => {
      const error = await rejects(
        create(backupConfig(fake)).run(
          request("notify", {
            params: { managerEmail: "Łukasz <ł@example.com>" },
          }),
        ),
        "rejected",
      );
      assert.match(error.message, /X-Manager/);
      assert.equal(fake.requests().length, 0);
    });

    it("rejects an action the config does not define as misconfigured", async () => {
      await rejects(
        create(backupConfig(fake)).run(request("wipe")),
        "misconfigured",
      );
    });

    it("works through the outbound allowlist, and is refused when the host is not listed", async () => {
      const config = backupConfig(fake);
      const allowed = createOutboundFetch({
        allowedHosts: webhookConnector.hostsOf(config),
      });
      const denied = createOutboundFetch({
        allowedHosts: ["backup.example.com"],
      });
      try {
        const ctx = { ...testConnectorContext(), fetch: allowed };
        const ok = await webhookConnector
          .create(config, ctx)
          .run(request("archive"));
        assert.equal(ok.status, "done");
        await rejects(
          webhookConnector
            .create(config, { ...testConnectorContext(), fetch: denied })
            .run(request("archive")),
          "misconfigured",
        );
        assert.equal(fake.requests().length, 1);
      } finally {
        await allowed.close();
        await denied.close();
      }
    });

    it("offers one action per configured action, with its resulting state", () => {
      const actions =
        typeof webhookConnector.actions === "function"
          ? webhookConnector.actions(backupConfig(fake))
          : webhookConnector.actions;
      assert.deepEqual(Object.keys(actions).sort(), [
        "archive",
        "export",
        "notify",
        "remove",
      ]);
      assert.equal(actions.archive!.resultingState, "archived");
      assert.equal(actions.remove!.resultingState, "removed");
      assert.deepEqual(actions.notify!.params.parse({ managerEmail: "x" }), {
        managerEmail: "x",
      });
    });
  });

  describe("config", () => {
    const base = {
      baseUrl: "https://backup.example.com/api",
      secret: "0123456789abcdef0123",
      actions: { archive: { path: "/users/{{user.email}}/archive" } },
    };
    const errorsOf = (config: unknown) => {
      const parsed = webhookConfigSchema.safeParse(config);
      return parsed.success ? [] : parsed.error.issues.map((i) => i.message);
    };

    it("accepts a minimal config and fills defaults", () => {
      const config = webhookConfigSchema.parse(base);
      assert.equal(config.actions.archive!.method, "POST");
      assert.deepEqual(webhookConnector.hostsOf(config), [
        "backup.example.com",
      ]);
    });

    it("rejects unknown and malformed placeholders", () => {
      assert.match(
        errorsOf({
          ...base,
          actions: { archive: { path: "/users/{{usr.email}}" } },
        }).join(),
        /unknown placeholder \{\{usr\.email\}\}/,
      );
      assert.match(
        errorsOf({
          ...base,
          actions: { archive: { path: "/x", body: { a: "{{ user.email" } } },
        }).join(),
        /malformed/,
      );
    });

    it("rejects headers that would forge the signature or carry credentials", () => {
      for (const header of [
        "Authorization",
        "X-Scim-Lifecycle-Signature",
        "Idempotency-Key",
      ]) {
        const errors = errorsOf({ ...base, headers: { [header]: "x" } });
        assert.ok(errors.length > 0, header);
      }
    });

    it("rejects bad action names, non-http URLs and short secrets", () => {
      assert.ok(
        errorsOf({ ...base, actions: { "Archive-Now": { path: "/x" } } })
          .length > 0,
      );
      assert.ok(
        errorsOf({ ...base, baseUrl: "file:///etc/passwd" }).length > 0,
      );
      assert.ok(errorsOf({ ...base, secret: "short" }).length > 0);
      assert.ok(errorsOf({ ...base, actions: {} }).length > 0);
    });
  });

  describe("templates", () => {
    const context = {
      user: {
        userName: "a",
        active: true,
        n: 3,
        nested: { "a.b": { c: "deep" } },
      },
      params: { list: [1, 2] },
    };

    it("keeps JSON types for a placeholder alone and stringifies inside text", () => {
      assert.deepEqual(
        renderJson(
          {
            a: "{{user.active}}",
            b: "{{ user.n }}",
            c: "n={{user.n}}",
            d: "{{params.list}}",
          },
          context,
        ),
        { a: true, b: 3, c: "n=3", d: [1, 2] },
      );
    });

    it("renders missing values as empty strings and never reaches prototypes", () => {
      assert.equal(renderString("{{user.nope}}", context), "");
      assert.equal(renderString("x{{user.constructor}}y", context), "xy");
      assert.equal(renderString("{{user.__proto__}}", context), "");
    });

    it("looks up keys that contain dots", () => {
      assert.equal(lookupPath(context, "user.nested.a.b.c"), "deep");
    });

    it("signs timestamp.body with HMAC-SHA256", () => {
      const expected = createHmac("sha256", "key")
        .update("1700000000.{}")
        .digest("hex");
      assert.equal(signWebhook("key", "1700000000", "{}"), `v1=${expected}`);
    });
  });
});
