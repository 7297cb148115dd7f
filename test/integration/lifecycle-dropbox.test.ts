import assert from "node:assert/strict";
import request from "supertest";
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

/** The seed Dropbox policy of README.md, pointed at the fake. */
function dropboxPolicy(baseUrl: string) {
  return {
    apps: [
      {
        id: "dropbox",
        connector: "dropbox",
        config: {
          baseUrl,
          token: { env: "DROPBOX_TEAM_TOKEN" },
          adminMemberId: "dbmid:admin",
        },
      },
      { id: "audit-log", connector: "log" },
    ],
    rules: [
      {
        id: "dropbox-join",
        on: "user.created",
        do: [
          {
            app: "dropbox",
            action: "provision",
            params: { sendWelcomeEmail: false },
          },
        ],
      },
      {
        id: "dropbox-leave",
        on: "user.deactivated",
        do: [
          { app: "dropbox", action: "suspend", params: { wipeData: true } },
          {
            app: "dropbox",
            action: "remove",
            after: "30d",
            params: {
              wipeData: false,
              transferDestEmail: "{{manager.email}}",
            },
          },
        ],
      },
      {
        id: "dropbox-return",
        on: "user.reactivated",
        cancel: [{ app: "dropbox" }],
        do: [
          { app: "dropbox", action: "unsuspend", if: { state: "suspended" } },
          {
            app: "dropbox",
            action: "recover",
            if: { state: "removed", within: "7d" },
          },
          {
            app: "dropbox",
            action: "provision",
            if: { state: "removed", notWithin: "7d" },
          },
        ],
      },
      {
        id: "left-sales",
        on: "group.member_removed",
        when: 'displayName eq "Sales"',
        do: [{ app: "audit-log", action: "archive" }],
      },
    ],
  };
}

// SCIM requests in, Dropbox team API calls out: the seed policy end to end over HTTP, with the
// clock moved instead of waiting 30 days.
describe("lifecycle: Dropbox seed policy end to end", () => {
  let ctx: TestContext;
  let dropbox: FakeDropbox;
  let tenant: TestTenant;
  let manager: ScimResource;

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
  beforeEach(async () => {
    tenant = await createTestTenant(ctx);
    await ctx.services.policies.apply(tenant.id, dropboxPolicy(dropbox.url), {
      source: "api",
    });
    manager = await createScimClient(ctx, tenant).createUser({
      userName: `boss-${tenant.name}@example.com`,
      emails: [
        {
          type: "work",
          value: `boss-${tenant.name}@example.com`,
          primary: true,
        },
      ],
    });
    await ctx.services.worker.runUntilIdle();
  });

  const scim = () => createScimClient(ctx, tenant);
  const work = () => ctx.services.worker.runUntilIdle();
  const member = (email: string) => dropbox.members()[email.toLowerCase()];
  async function hire(name: string): Promise<ScimResource> {
    const email = `${name}-${tenant.name}@example.com`;
    const user = await scim().createUser({
      userName: email,
      name: { givenName: name, familyName: "Tester" },
      emails: [{ type: "work", value: email, primary: true }],
      [URN.enterprise]: { manager: { value: manager.id } },
    });
    await work();
    return user;
  }

  function setActive(user: ScimResource, active: string | boolean) {
    return scim().patch("Users", user.id, [
      { op: "Replace", path: "active", value: active },
    ]);
  }

  async function actionsOf(user: ScimResource) {
    return ctx
      .knex("actions")
      .where({ tenant_id: tenant.id, user_id: user.id })
      .orderBy("id")
      .select("kind", "state", "run_at", "attempts");
  }

  it("adds the member with a silent invite when the user is created", async () => {
    const ada = await hire("ada");
    const added = member(`ada-${tenant.name}@example.com`);
    assert.equal(added?.status, "active");
    assert.equal(added?.welcomeEmailSent, false);
    assert.deepEqual(
      (await actionsOf(ada)).map((a) => [a.kind, a.state]),
      [["provision", "succeeded"]],
    );
  });

  it('suspends at once on Entra\'s active "False", then transfers to the manager and removes after 30 days', async () => {
    const ada = await hire("ada");
    const email = `ada-${tenant.name}@example.com`;
    const res = await setActive(ada, "False");
    assert.equal(res.status, 200);
    await work();
    assert.equal(member(email)?.status, "suspended");
    assert.equal(member(email)?.dataWiped, true);

    ctx.clock.advance("29d");
    await work();
    assert.equal(member(email)?.status, "suspended", "nothing before 30 days");

    ctx.clock.advance("1d");
    await work();
    assert.equal(member(email)?.status, "removed");
    const removal = dropbox
      .requests()
      .find((r) => r.path.endsWith("members/remove"));
    assert.deepEqual(
      (removal?.body as { transfer_dest_id?: unknown }).transfer_dest_id,
      {
        ".tag": "team_member_id",
        team_member_id: member(`boss-${tenant.name}@example.com`)?.teamMemberId,
      },
    );
    assert.deepEqual(
      (await actionsOf(ada)).map((a) => [a.kind, a.state]),
      [
        ["provision", "succeeded"],
        ["suspend", "succeeded"],
        ["remove", "succeeded"],
      ],
    );
    assert.equal(dropbox.duplicateEffects(), 0);
  });

  it("cancels the pending removal and unsuspends when the user comes back within 30 days", async () => {
    const ada = await hire("ada");
    const email = `ada-${tenant.name}@example.com`;
    await setActive(ada, false);
    await work();
    ctx.clock.advance("10d");
    await setActive(ada, true);
    await work();
    assert.equal(member(email)?.status, "active");
    ctx.clock.advance("30d");
    await work();
    assert.equal(member(email)?.status, "active", "the removal never ran");
    assert.deepEqual(
      (await actionsOf(ada)).map((a) => [a.kind, a.state]),
      [
        ["provision", "succeeded"],
        ["suspend", "succeeded"],
        ["remove", "cancelled"],
        ["unsuspend", "succeeded"],
        ["recover", "skipped"],
        ["provision", "skipped"],
      ],
    );
    const audit = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, resource_id: ada.id })
      .whereLike("key", "action.%")
      .select("key", "detail");
    const cancelled = audit.find((a) => a.key === "action.cancelled");
    assert.equal(cancelled?.detail.action, "remove");
    assert.equal(cancelled?.detail.cancelledByRule, "dropbox-return");
    assert.ok(audit.every((a) => typeof a.detail.policyVersion === "number"));
  });

  it("recovers a member removed less than 7 days ago, and re-adds one removed longer ago", async () => {
    const ada = await hire("ada");
    const bob = await hire("bob");
    for (const user of [ada, bob]) await setActive(user, false);
    await work();
    ctx.clock.advance("30d");
    await work();
    assert.equal(member(`ada-${tenant.name}@example.com`)?.status, "removed");

    ctx.clock.advance("3d");
    await setActive(ada, true);
    await work();
    assert.equal(member(`ada-${tenant.name}@example.com`)?.status, "active");

    ctx.clock.advance("5d"); // bob: removed 8 days ago
    await setActive(bob, true);
    await work();
    const bobActions = (await actionsOf(bob)).map((a) => [a.kind, a.state]);
    assert.deepEqual(bobActions.slice(-3), [
      ["unsuspend", "skipped"],
      ["recover", "skipped"],
      ["provision", "succeeded"],
    ]);
  });

  it("measures the deprovisioning clock per app: deactivation to Dropbox's confirmation", async () => {
    const ada = await hire("ada");
    await setActive(ada, false);
    ctx.clock.advance("2s"); // the worker confirms two seconds after the IdP's change
    await work();
    ctx.clock.advance("30d"); // the deferred removal does not count: it waited on purpose
    await work();
    const res = await request(ctx.app)
      .get("/admin/v1/deprovisioning?days=60")
      .set(tenant.auth);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.apps, [
      { app: "dropbox", actions: 1, p50Ms: 2000, p99Ms: 2000, maxMs: 2000 },
    ]);
  });

  it("shows the user's Dropbox state on the SCIM user", async () => {
    const ada = await hire("ada");
    await setActive(ada, false);
    await work();
    const res = await request(ctx.app)
      .get(`/scim/v2/Users/${ada.id}`)
      .set(tenant.auth);
    const ext = res.body["urn:scim-lifecycle:schemas:extension:apps:2.0:User"];
    assert.ok(ext, JSON.stringify(res.body));
    assert.deepEqual(
      ext.apps.map((a: { app: string; state: string }) => [a.app, a.state]),
      [["dropbox", "suspended"]],
    );
    assert.deepEqual(
      ext.pendingActions.map((a: { app: string; action: string }) => [
        a.app,
        a.action,
      ]),
      [["dropbox", "remove"]],
    );
  });

  it("fires the rule of the group a user is removed from, and not for other groups", async () => {
    const ada = await hire("ada");
    const sales = await scim().createGroup("Sales", [ada.id]);
    const legal = await scim().createGroup("Legal", [ada.id]);
    for (const group of [legal, sales]) {
      const res = await scim().patch("Groups", group.id, [
        { op: "remove", path: `members[value eq "${ada.id}"]` },
      ]);
      assert.equal(res.status, 204);
    }
    await work();
    const archived = await ctx
      .knex("actions")
      .where({ tenant_id: tenant.id, user_id: ada.id, app_id: "audit-log" })
      .select("kind", "state", "group_id");
    assert.deepEqual(archived, [
      { kind: "archive", state: "succeeded", group_id: sales.id },
    ]);
  });

  it("never plans twice, and leaves no action when the write fails", async () => {
    const ada = await hire("ada");
    await setActive(ada, false);
    await setActive(ada, false); // no change: no event, no action
    const taken = await scim().patch("Users", ada.id, [
      { op: "replace", path: "userName", value: manager.userName },
    ]);
    assert.equal(taken.status, 409);
    assert.deepEqual(
      (await actionsOf(ada)).map((a) => a.kind),
      ["provision", "suspend", "remove"],
    );
  });
});
