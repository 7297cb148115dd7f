import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import request from "supertest";
import { createApp } from "../../src/app.ts";
import { createLogger } from "../../src/logger.ts";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
} from "../support/fake-dropbox.ts";
import { createScimClient, type ScimResource } from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

/** The value of one sample of a Prometheus text exposition, or undefined when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(
      /(\w+)="((?:[^"\\]|\\.)*)"/g,
    )) {
      found[pair[1]!] = pair[2]!;
    }
    const wanted = Object.entries(labels);
    if (
      wanted.length === Object.keys(found).length &&
      wanted.every(([k, v]) => found[k] === v)
    ) {
      return Number(match[3]);
    }
  }
  return undefined;
}

/** Every label value of a series, e.g. every `route` of the request counter. */
function labelValues(text: string, name: string, label: string): string[] {
  const values = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
    if (value !== undefined) values.add(value);
  }
  return [...values];
}

/** Join on create; suspend at once and remove after 30 days on deactivation. */
function policy(appId: string, baseUrl: string) {
  return {
    apps: [
      {
        id: appId,
        connector: "dropbox",
        config: {
          baseUrl,
          token: { env: "DROPBOX_TEAM_TOKEN" },
          adminMemberId: "dbmid:admin",
        },
      },
    ],
    rules: [
      {
        id: "join",
        on: "user.created",
        do: [
          {
            app: appId,
            action: "provision",
            params: { sendWelcomeEmail: false },
          },
        ],
      },
      {
        id: "leave",
        on: "user.deactivated",
        do: [
          { app: appId, action: "suspend", params: { wipeData: true } },
          { app: appId, action: "remove", after: "30d" },
        ],
      },
    ],
  };
}

describe("GET /metrics", () => {
  let ctx: TestContext;
  let dropbox: FakeDropbox;

  before(async () => {
    ctx = await createTestContext({
      readSecret: (name) =>
        name === "DROPBOX_TEAM_TOKEN" ? FAKE_DROPBOX_TOKEN : undefined,
    });
    dropbox = await startFakeDropbox({
      now: () => ctx.clock.now(),
      members: [
        {
          email: "admin@example.com",
          teamMemberId: "dbmid:admin",
          role: "team_admin",
        },
      ],
    });
  });
  after(async () => {
    await dropbox.close();
    await ctx.close();
  });

  describe("after a deactivation flows through the worker to the app", () => {
    // The app id is unique per run: with DATABASE_URL the queue is shared with other test files.
    const appId = `dropbox-${randomBytes(4).toString("hex")}`;
    let tenant: TestTenant;
    let user: ScimResource;
    let text: string;

    before(async () => {
      tenant = await createTestTenant(ctx);
      await ctx.services.policies.apply(tenant.id, policy(appId, dropbox.url), {
        source: "api",
      });
      const scim = createScimClient(ctx, tenant);
      user = await scim.createUser({
        userName: `ada-${tenant.name}@example.com`,
        emails: [
          {
            type: "work",
            value: `ada-${tenant.name}@example.com`,
            primary: true,
          },
        ],
      });
      await ctx.services.worker.runUntilIdle();
      const patched = await scim.patch("Users", user.id, [
        { op: "Replace", path: "active", value: false },
      ]);
      assert.equal(patched.status, 200);
      await ctx.services.worker.runUntilIdle();
      assert.equal(
        dropbox.members()[`ada-${tenant.name}@example.com`]?.status,
        "suspended",
      );
      const refused = await request(ctx.app)
        .get("/scim/v2/Users")
        .set("Authorization", "Bearer scl_not_a_token");
      assert.equal(refused.status, 401);
      assert.equal((await request(ctx.app).get("/scim/v2/Users")).status, 401);
      // The remove planned for 30 days later has been due for one day.
      ctx.clock.advance("31d");
      const res = await request(ctx.app).get("/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers["content-type"] ?? "", /^text\/plain/);
      text = res.text;
    });

    it("counts the PATCH by its route pattern and status, and times it", () => {
      const labels = {
        method: "PATCH",
        route: "/scim/v2/Users/:id",
        status: "200",
      };
      assert.equal(
        sample(text, "scim_lifecycle_http_requests_total", labels),
        1,
      );
      assert.equal(
        sample(
          text,
          "scim_lifecycle_http_request_duration_seconds_count",
          labels,
        ),
        1,
      );
      assert.equal(
        sample(text, "scim_lifecycle_http_requests_total", {
          method: "POST",
          route: "/scim/v2/Users",
          status: "201",
        }),
        1,
      );
    });

    it("counts each action run by app, kind and outcome", () => {
      for (const kind of ["provision", "suspend"]) {
        assert.equal(
          sample(text, "scim_lifecycle_actions_total", {
            app: appId,
            kind,
            outcome: "succeeded",
          }),
          1,
          kind,
        );
      }
    });

    it("reports the queue's depth and the age of its oldest due action", () => {
      assert.equal(
        sample(text, "scim_lifecycle_queue_depth", {
          app: appId,
          state: "pending",
        }),
        1,
      );
      assert.equal(
        sample(text, "scim_lifecycle_queue_oldest_due_age_seconds", {
          app: appId,
        }),
        86_400,
      );
    });

    it("observes the deprovisioning latency of the suspend, not of the provision", () => {
      assert.equal(
        sample(text, "scim_lifecycle_deprovision_latency_seconds_count", {
          app: appId,
        }),
        1,
      );
      // The fake clock did not move between the PATCH and the run.
      assert.equal(
        sample(text, "scim_lifecycle_deprovision_latency_seconds_sum", {
          app: appId,
        }),
        0,
      );
    });

    it("counts refused tokens by reason", () => {
      assert.equal(
        sample(text, "scim_lifecycle_auth_failures_total", {
          reason: "invalid_token",
        }),
        1,
      );
      assert.equal(
        sample(text, "scim_lifecycle_auth_failures_total", {
          reason: "missing_token",
        }),
        1,
      );
      assert.equal(
        sample(text, "scim_lifecycle_http_requests_total", {
          method: "GET",
          route: "/scim/v2/*",
          status: "401",
        }),
        2,
      );
    });

    it("includes Node's default series", () => {
      assert.ok(
        sample(text, "process_cpu_user_seconds_total") !== undefined,
        "process_cpu_user_seconds_total",
      );
      assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    });

    it("never carries user names, e-mails, ids, tenants or tokens", () => {
      for (const secret of [
        user.id,
        `ada-${tenant.name}`,
        tenant.name,
        tenant.id,
        tenant.token,
        "scl_not_a_token",
        FAKE_DROPBOX_TOKEN,
      ]) {
        assert.ok(!text.includes(secret), secret);
      }
    });
  });

  it("labels requests by route pattern, whatever the casing, path or query sent", async () => {
    const tenant = await createTestTenant(ctx);
    const id = "2f1c9a52-8d1e-4f7a-9a51-0d6f5b7a4c11";
    await request(ctx.app)
      .get(`/SCIM/V2/users/${id}?attributes=userName`)
      .set(tenant.auth);
    await request(ctx.app)
      .get(
        `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "x${id}"`)}`,
      )
      .set(tenant.auth);
    await request(ctx.app).get(`/nowhere/${id}`);
    const text = (await request(ctx.app).get("/metrics")).text;
    const routes = labelValues(
      text,
      "scim_lifecycle_http_requests_total",
      "route",
    );
    assert.ok(routes.includes("/scim/v2/Users/:id"), routes.join(" "));
    assert.ok(routes.includes("/scim/v2/Users"), routes.join(" "));
    assert.ok(routes.includes("unmatched"), routes.join(" "));
    assert.ok(!text.includes(id));
    assert.ok(
      routes.every((route) => route === "unmatched" || route.startsWith("/")),
      routes.join(" "),
    );
    assert.ok(!routes.some((route) => /users/.test(route)), routes.join(" "));
  });

  describe("with METRICS_TOKEN", () => {
    const token = "metrics-token-for-tests-4b1d";
    let app: TestContext["app"];
    let close: () => Promise<void>;

    before(() => {
      const built = createApp({
        knex: ctx.knex,
        clock: ctx.clock,
        logger: createLogger({ silent: true }),
        metricsToken: token,
      });
      app = built.app;
      close = () => built.services.close();
    });
    after(() => close());

    it("answers 401 without the token or with another one", async () => {
      const missing = await request(app).get("/metrics");
      assert.equal(missing.status, 401);
      assert.match(missing.headers["www-authenticate"] ?? "", /^Bearer/);
      const wrong = await request(app)
        .get("/metrics")
        .set("Authorization", `Bearer ${token}x`);
      assert.equal(wrong.status, 401);
      assert.doesNotMatch(wrong.text, /scim_lifecycle_/);
    });

    it("serves the metrics with the token, counting the refusals", async () => {
      const res = await request(app)
        .get("/metrics")
        .set("Authorization", `Bearer ${token}`);
      assert.equal(res.status, 200);
      assert.equal(
        sample(res.text, "scim_lifecycle_auth_failures_total", {
          reason: "invalid_metrics_token",
        }),
        2,
      );
      assert.ok(!res.text.includes(token));
    });
  });
});
