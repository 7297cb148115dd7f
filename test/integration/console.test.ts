import assert from "node:assert/strict";
import request from "supertest";
import { createApp } from "../../src/app.ts";
import { createLogger } from "../../src/logger.ts";
import type { Scope } from "../../src/domain/scopes.ts";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
} from "../support/fake-dropbox.ts";
import { createScimClient } from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";
import {
  seedConsoleScenario,
  type ConsoleScenario,
} from "../browser/console-fixture.ts";

type Agent = ReturnType<typeof request.agent>;

/** The page with whitespace collapsed and none around tags (Prettier formats the templates). */
const flat = (html: string): string =>
  html.replace(/\s+/g, " ").replace(/\s*(<|>)\s*/g, "$1");

const field = (html: string, name: string): string => {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  assert.ok(match, `the page has a ${name} field`);
  return match[1]!;
};

/** Signs an agent in with a token; returns the sign-in response. */
async function signIn(agent: Agent, token: string) {
  const form = await agent.get("/console/sign-in");
  assert.equal(form.status, 200);
  return agent
    .post("/console/sign-in")
    .type("form")
    .send({ signin_csrf: field(form.text, "signin_csrf"), token });
}

/** A signed-in agent and the CSRF token of its session. */
async function signedIn(
  ctx: TestContext,
  token: string,
): Promise<{ agent: Agent; csrf: string }> {
  const agent = request.agent(ctx.app);
  const res = await signIn(agent, token);
  assert.equal(res.status, 303, res.text);
  const page = await agent.get("/console/users");
  assert.equal(page.status, 200);
  return { agent, csrf: field(page.text, "csrf") };
}

async function issue(ctx: TestContext, tenant: TestTenant, scopes: Scope[]) {
  return ctx.services.tokens.createToken({ tenant: tenant.name, scopes });
}

describe("admin console", () => {
  let ctx: TestContext;
  let dropbox: FakeDropbox;
  let scenario: ConsoleScenario;

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
    scenario = await seedConsoleScenario(ctx, dropbox);
  });
  after(async () => {
    await dropbox.close();
    await ctx.close();
  });

  describe("sign-in", () => {
    it("sends a visitor without a session to the sign-in form, then back where they were going", async () => {
      const agent = request.agent(ctx.app);
      const page = await agent.get("/console/pending");
      assert.equal(page.status, 303);
      assert.equal(
        page.headers.location,
        "/console/sign-in?next=%2Fconsole%2Fpending",
      );
      const form = await agent.get(page.headers.location!);
      assert.equal(form.status, 200);
      assert.match(form.text, /<label for="token">Admin token<\/label>/);
      const res = await agent
        .post("/console/sign-in")
        .type("form")
        .send({
          signin_csrf: field(form.text, "signin_csrf"),
          next: field(form.text, "next"),
          token: scenario.tenant.token,
        });
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, "/console/pending");
    });

    it("sets an HttpOnly, SameSite=Strict cookie on /console and never echoes the token", async () => {
      const agent = request.agent(ctx.app);
      const res = await signIn(agent, scenario.tenant.token);
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, "/console/users");
      const cookie = ([] as string[])
        .concat(res.headers["set-cookie"] ?? [])
        .find((c) => c.startsWith("scl_console="));
      assert.ok(cookie, "a session cookie is set");
      assert.match(cookie, /; Path=\/console/);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Strict/);
      assert.doesNotMatch(cookie, /Secure/, "plain http: no Secure flag");
      for (const path of [
        "/console/users",
        `/console/users/${scenario.ada.id}`,
        "/console/failed",
      ]) {
        const page = await agent.get(path);
        assert.equal(page.status, 200);
        assert.ok(
          !page.text.includes(scenario.tenant.token),
          `${path} does not show the token`,
        );
        assert.match(
          page.headers["content-security-policy"] ?? "",
          /default-src 'none'/,
        );
        assert.equal(page.headers["cache-control"], "no-store");
      }
    });

    it("marks the cookie Secure when the request came over https", async () => {
      const { app, services } = createApp({
        knex: ctx.knex,
        clock: ctx.clock,
        logger: createLogger({ silent: true }),
        trustProxy: true,
      });
      try {
        const form = await request(app)
          .get("/console/sign-in")
          .set("X-Forwarded-Proto", "https");
        const preCookie = ([] as string[]).concat(
          form.headers["set-cookie"] ?? [],
        );
        assert.ok(preCookie.every((c) => c.includes("; Secure")));
        const res = await request(app)
          .post("/console/sign-in")
          .set("X-Forwarded-Proto", "https")
          .set("Cookie", preCookie.map((c) => c.split(";")[0]!).join("; "))
          .type("form")
          .send({
            signin_csrf: field(form.text, "signin_csrf"),
            token: scenario.tenant.token,
          });
        assert.equal(res.status, 303);
        const cookie = ([] as string[])
          .concat(res.headers["set-cookie"] ?? [])
          .find((c) => c.startsWith("scl_console="));
        assert.match(cookie ?? "", /; Secure/);
      } finally {
        await services.close();
      }
    });

    it("shows the form again with 401 for a wrong token, and sets no session", async () => {
      const agent = request.agent(ctx.app);
      const res = await signIn(agent, "scl_not-a-real-token");
      assert.equal(res.status, 401);
      assert.match(res.text, /That token is not valid, expired or revoked/);
      assert.ok(!res.text.includes("scl_not-a-real-token"));
      const cookies = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
      assert.ok(!cookies.some((c) => c.startsWith("scl_console=")));
      assert.equal((await agent.get("/console/users")).status, 303);
    });

    it("refuses a valid token without the admin scope with 403", async () => {
      const issued = await issue(ctx, scenario.tenant, [
        "scim:read",
        "audit:read",
      ]);
      const res = await signIn(request.agent(ctx.app), issued.secret);
      assert.equal(res.status, 403);
      assert.match(res.text, /lacks the admin scope/);
    });

    it("refuses a sign-in post without the form's own token (login CSRF)", async () => {
      const res = await request(ctx.app)
        .post("/console/sign-in")
        .type("form")
        .send({ token: scenario.tenant.token, signin_csrf: "forged" });
      assert.equal(res.status, 403);
      assert.match(res.text, /expired or came from another site/);
    });

    it("ends the session at once when the token is revoked", async () => {
      const issued = await issue(ctx, scenario.tenant, ["admin"]);
      const { agent } = await signedIn(ctx, issued.secret);
      await ctx.services.tokens.revokeToken(issued.token.id);
      const res = await agent.get("/console/users");
      assert.equal(res.status, 401);
      assert.match(res.text, /session ended/);
    });

    it("signs out and forgets the session", async () => {
      const { agent, csrf } = await signedIn(ctx, scenario.tenant.token);
      const res = await agent
        .post("/console/sign-out")
        .type("form")
        .send({ csrf });
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, "/console/sign-in?reason=signed_out");
      assert.match(
        (await agent.get(res.headers.location!)).text,
        /You are signed out/,
      );
      assert.equal((await agent.get("/console/users")).status, 303);
    });
  });

  describe("CSRF", () => {
    it("refuses a retry without the session's CSRF token and changes nothing", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const other = await issue(ctx, scenario.tenant, ["admin"]);
      const { csrf: otherCsrf } = await signedIn(ctx, other.secret);
      for (const csrf of [undefined, "", "forged", otherCsrf]) {
        const res = await agent
          .post(`/console/actions/${scenario.failedActionId}/retry`)
          .type("form")
          .send(
            csrf === undefined ? { back: "failed" } : { csrf, back: "failed" },
          );
        assert.equal(res.status, 403, `csrf ${String(csrf)}`);
        assert.match(res.text, /Form refused/);
      }
      const row = await ctx
        .knex("actions")
        .where({ id: scenario.failedActionId })
        .first();
      assert.equal(row.state, "failed");
    });

    it("refuses sign-out without the CSRF token", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const res = await agent.post("/console/sign-out").type("form").send({});
      assert.equal(res.status, 403);
      assert.equal((await agent.get("/console/users")).status, 200);
    });
  });

  describe("tenant isolation", () => {
    let other: TestTenant;
    let agent: Agent;
    let csrf: string;
    before(async () => {
      other = await createTestTenant(ctx);
      ({ agent, csrf } = await signedIn(ctx, other.token));
    });

    it("does not show another tenant's user page or list their users", async () => {
      const page = await agent.get(`/console/users/${scenario.ada.id}`);
      assert.equal(page.status, 404);
      assert.ok(!page.text.includes("Ada Lovelace"));
      const list = await agent.get("/console/users?q=ada");
      assert.equal(list.status, 200);
      assert.ok(!list.text.includes(scenario.ada.id));
      const failed = await agent.get("/console/failed");
      assert.ok(!failed.text.includes(`action-${scenario.failedActionId}`));
    });

    it("does not retry or cancel another tenant's action by id", async () => {
      for (const verb of ["retry", "cancel"]) {
        const res = await agent
          .post(`/console/actions/${scenario.failedActionId}/${verb}`)
          .type("form")
          .send({ csrf, back: "failed" });
        assert.equal(res.status, 404, verb);
        assert.match(res.text, /Action not found/);
      }
      const row = await ctx
        .knex("actions")
        .where({ id: scenario.failedActionId })
        .first();
      assert.equal(row.state, "failed");
    });
  });

  describe("pages", () => {
    it("escapes user-controlled values", async () => {
      const evil = await createScimClient(ctx, scenario.tenant).createUser({
        userName: `mallory"><img src=x onerror=alert(1)>-${scenario.tenant.name}@example.com`,
        displayName: "<script>alert('xss')</script>",
      });
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      for (const path of [
        "/console/users?q=mallory",
        `/console/users/${evil.id}`,
      ]) {
        const page = await agent.get(path);
        assert.equal(page.status, 200);
        assert.ok(
          !page.text.includes("<script>"),
          `${path} has no raw script tag`,
        );
        assert.ok(
          !page.text.includes("<img src=x"),
          `${path} has no raw img tag`,
        );
        assert.match(
          page.text,
          /&lt;script&gt;alert\(&#39;xss&#39;\)&lt;\/script&gt;/,
        );
      }
      const search = await agent.get(
        `/console/users?q=${encodeURIComponent('"><script>x</script>')}`,
      );
      assert.ok(!search.text.includes("<script>x"));
      assert.match(
        search.text,
        /value="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/,
      );
    });

    it("finds users by part of their e-mail and shows their state in each app", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const res = await agent.get("/console/users?q=ADA-");
      assert.equal(res.status, 200);
      const page = { text: flat(res.text) };
      assert.match(page.text, /<th scope="col">dropbox<\/th>/);
      assert.match(page.text, /Ada Lovelace/);
      assert.match(page.text, /badge-warn">suspended</);
      assert.ok(!page.text.includes("Bob Failing"));
      // LIKE wildcards are matched literally.
      assert.match(
        (await agent.get("/console/users?q=%25")).text,
        /No user matches/,
      );
    });

    it("shows the pending removal with its due time", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const page = { text: flat((await agent.get("/console/pending")).text) };
      assert.match(page.text, /<td>remove<\/td>/);
      assert.match(page.text, /datetime="2026-03-31T09:00:01.200Z"/);
      assert.match(page.text, /in 30 days/);
    });

    it("shows a user's timeline in time order with the upcoming removal last", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const page = {
        text: flat((await agent.get(`/console/users/${scenario.ada.id}`)).text),
      };
      const order = [
        "user.created",
        "provision in dropbox planned",
        "user.deactivated",
        "suspend in dropbox planned",
        "remove in dropbox planned",
        "deprovisioned 1.2 s after the IdP change",
        "Upcoming:</strong>remove in dropbox due",
      ].map((text) => page.text.indexOf(text));
      assert.ok(
        order.every((i) => i >= 0),
        `all present: ${order.join(",")}`,
      );
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        order,
      );
    });

    it("retries a failed action through the actions service, audited, and it leaves the Failed page", async () => {
      const fresh = await seedConsoleScenario(ctx, dropbox);
      const issued = await issue(ctx, fresh.tenant, ["admin"]);
      const { agent, csrf } = await signedIn(ctx, issued.secret);
      assert.match(
        (await agent.get("/console/failed")).text,
        new RegExp(`action-${fresh.failedActionId}`),
      );
      const res = await agent
        .post(`/console/actions/${fresh.failedActionId}/retry`)
        .type("form")
        .send({ csrf, back: "failed" });
      assert.equal(res.status, 303);
      assert.equal(
        res.headers.location,
        `/console/failed?notice=retried&action=${fresh.failedActionId}`,
      );
      const after = await agent.get(res.headers.location!);
      assert.match(after.text, /back in the queue/);
      assert.ok(!after.text.includes(`action-${fresh.failedActionId}`));
      const audit = await ctx
        .knex("audit_entries")
        .where({ tenant_id: fresh.tenant.id, key: "action.retried" })
        .first();
      assert.equal(audit.actor_token_id, issued.token.id);
      const again = await agent
        .post(`/console/actions/${fresh.failedActionId}/retry`)
        .type("form")
        .send({ csrf, back: `user:${fresh.bob.id}` });
      assert.equal(again.status, 409);
    });

    it("shows app health from recent outcomes and checks the connector's credentials", async () => {
      const { agent, csrf } = await signedIn(ctx, scenario.tenant.token);
      const page = await agent.get("/console/apps");
      assert.match(page.text, />Failing</);
      const check = await agent
        .post("/console/apps/dropbox/check")
        .type("form")
        .send({ csrf });
      assert.equal(check.status, 200);
      assert.match(check.text, /Check of dropbox: the credentials work/);
      dropbox.failNext(401);
      const bad = await agent
        .post("/console/apps/dropbox/check")
        .type("form")
        .send({ csrf });
      assert.equal(bad.status, 502);
      assert.match(bad.text, /Check of dropbox: misconfigured/);
    });

    it("draws the deprovisioning clock as an SVG with a data table", async () => {
      const { agent } = await signedIn(ctx, scenario.tenant.token);
      const page = {
        text: flat((await agent.get("/console/clock?days=7")).text),
      };
      assert.match(page.text, /<svg class="clock-chart"[^>]*role="img"/);
      assert.match(page.text, /<summary>Table of the dropbox chart<\/summary>/);
      assert.match(page.text, /1\.2 s/);
    });
  });
});
