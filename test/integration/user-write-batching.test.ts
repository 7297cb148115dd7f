import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import type { WriteContext } from "../../src/services/write-context.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

// Writes started in one event-loop turn, as concurrent requests arrive, share a statement.
describe("User writes that arrive together", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let tokenId: string;

  before(async () => {
    ctx = await createTestContext();
  });
  after(async () => {
    await ctx.close();
  });
  beforeEach(async () => {
    tenant = await createTestTenant(ctx);
    const token = await ctx
      .knex("tokens")
      .where({ tenant_id: tenant.id })
      .first();
    tokenId = token.id as string;
  });

  function writeContext(requestId: string, body: unknown): WriteContext {
    return {
      principal: {
        tenantId: tenant.id,
        tenantName: tenant.name,
        tokenId,
        scopes: ["scim:write"],
      },
      requestId,
      method: "POST",
      path: "/Users",
      body,
    };
  }

  async function counting<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T; statements: string[] }> {
    const statements: string[] = [];
    const listen = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", listen);
    try {
      return { result: await work(), statements };
    } finally {
      ctx.knex.off("query", listen);
    }
  }

  function create(userName: string, requestId = userName) {
    const body = { schemas: [USER], userName, active: true };
    return ctx.services.users.createUser(writeContext(requestId, body), body);
  }

  async function auditRequestIds(key: string): Promise<string[]> {
    const rows = await ctx
      .knex("audit_entries")
      .where({ tenant_id: tenant.id, key })
      .orderBy("id");
    return rows.map((r) => r.request_id as string).sort();
  }

  it("creates users sent together with one statement, each with its audit entry and event", async () => {
    const names = Array.from(
      { length: 8 },
      (_, i) => `together${i}@example.com`,
    );
    const { result, statements } = await counting(() =>
      Promise.all(names.map((n) => create(n))),
    );
    const inserts = statements.filter((sql) => /insert into users/i.test(sql));
    assert.equal(inserts.length, 1, "one statement for the eight creates");
    const ids = result.map((u) => u.id);
    const stored = await ctx
      .knex("users")
      .where({ tenant_id: tenant.id })
      .whereIn("id", ids);
    assert.equal(stored.length, 8);
    assert.deepEqual(
      await auditRequestIds("scim.user.created"),
      [...names].sort(),
    );
    const events = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, type: "user.created" })
      .whereIn("resource_id", ids);
    assert.deepEqual(events.map((e) => e.resource_id).sort(), [...ids].sort());
    for (const event of events) {
      const entry = await ctx
        .knex("audit_entries")
        .where({ id: event.audit_entry_id })
        .first();
      assert.equal(
        entry.resource_id,
        event.resource_id,
        "each event links its own audit entry",
      );
    }
  });

  it("refuses a taken userName in a batch with uniqueness and still creates the others", async () => {
    await create("taken@example.com");
    const outcomes = await Promise.allSettled([
      create("fresh1@example.com"),
      create("TAKEN@example.com", "dup-existing"),
      create("twin@example.com", "twin-a"),
      create("Twin@example.com", "twin-b"),
      create("fresh2@example.com"),
    ]);
    const status = outcomes.map((o) =>
      o.status === "fulfilled" ? "created" : (o.reason as AppError).code,
    );
    assert.deepEqual(status, [
      "created",
      "scim.uniqueness",
      "created",
      "scim.uniqueness",
      "created",
    ]);
    assert.deepEqual(await auditRequestIds("scim.user.created"), [
      "fresh1@example.com",
      "fresh2@example.com",
      "taken@example.com",
      "twin-a",
    ]);
  });

  it("applies patches sent together, two of them to one user, without losing either", async () => {
    const users = await Promise.all(
      Array.from({ length: 5 }, (_, i) => create(`patched${i}@example.com`)),
    );
    const patch = (id: string, Operations: unknown[], requestId: string) => {
      const body = { schemas: [PATCH], Operations };
      return ctx.services.users.patchUser(
        writeContext(requestId, body),
        id,
        body,
      );
    };
    const [first] = users;
    const results = await Promise.all([
      ...users.map((u, i) =>
        patch(
          u.id,
          [{ op: "replace", path: "active", value: false }],
          `off-${i}`,
        ),
      ),
      patch(
        first!.id,
        [{ op: "replace", path: "title", value: "Engineer" }],
        "title",
      ),
    ]);
    assert.ok(results.every((r) => r.version >= 2));
    const stored = await ctx
      .knex("users")
      .where({ tenant_id: tenant.id })
      .whereIn(
        "id",
        users.map((u) => u.id),
      );
    for (const row of stored) assert.equal(row.active, false);
    const firstRow = stored.find((r) => r.id === first!.id)!;
    assert.equal(
      firstRow.resource.title,
      "Engineer",
      "the second patch of one user landed too",
    );
    assert.equal(firstRow.version, 3);
    const deactivations = await ctx
      .knex("lifecycle_events")
      .where({ tenant_id: tenant.id, type: "user.deactivated" });
    assert.equal(deactivations.length, 5);
  });

  it("falls back to one statement per write when a rename in the batch hits a taken userName", async () => {
    const [a, b, c] = await Promise.all([
      create("alpha@example.com"),
      create("beta@example.com"),
      create("gamma@example.com"),
    ]);
    const put = (id: string, userName: string, requestId: string) => {
      const body = { schemas: [USER], userName, displayName: requestId };
      return ctx.services.users.replaceUser(
        writeContext(requestId, body),
        id,
        body,
      );
    };
    const outcomes = await Promise.allSettled([
      put(a!.id, "alpha2@example.com", "rename-a"),
      put(b!.id, "GAMMA@example.com", "rename-b-to-taken"),
      put(c!.id, "gamma@example.com", "keep-c"),
    ]);
    assert.deepEqual(
      outcomes.map((o) =>
        o.status === "fulfilled"
          ? o.value.user_name
          : (o.reason as AppError).code,
      ),
      ["alpha2@example.com", "scim.uniqueness", "gamma@example.com"],
    );
    const bRow = await ctx.knex("users").where({ id: b!.id }).first();
    assert.equal(bRow.user_name, "beta@example.com");
    assert.equal(bRow.version, 1, "the refused rename wrote nothing");
    assert.deepEqual(await auditRequestIds("scim.user.updated"), [
      "keep-c",
      "rename-a",
    ]);
  });

  describe("with a lifecycle policy", () => {
    const LEAVER_POLICY = {
      apps: [{ id: "audit-log", connector: "log" }],
      rules: [
        {
          id: "join",
          on: "user.created",
          do: [{ app: "audit-log", action: "provision" }],
        },
        {
          id: "leave",
          on: "user.deactivated",
          do: [
            { app: "audit-log", action: "suspend" },
            { app: "audit-log", action: "remove", after: "30d" },
          ],
        },
        {
          id: "return",
          on: "user.reactivated",
          cancel: [{ app: "audit-log", actions: ["remove"] }],
          do: [{ app: "audit-log", action: "unsuspend" }],
        },
      ],
    };

    beforeEach(async () => {
      await ctx.services.policies.apply(tenant.id, LEAVER_POLICY, {
        source: "api",
      });
    });

    function setActive(id: string, active: boolean, requestId: string) {
      const body = {
        schemas: [PATCH],
        Operations: [{ op: "replace", path: "active", value: active }],
      };
      return ctx.services.users.patchUser(
        writeContext(requestId, body),
        id,
        body,
      );
    }

    /** The tenant's actions of some users: kind, state and the event type and user they came from. */
    async function actionsOf(ids: string[]) {
      const rows = await ctx
        .knex("actions as a")
        .join("lifecycle_events as e", "e.id", "a.event_id")
        .where("a.tenant_id", tenant.id)
        .whereIn("a.user_id", ids)
        .orderBy("a.id")
        .select(
          "a.id",
          "a.user_id",
          "a.kind",
          "a.state",
          "a.rule_id",
          "e.type as event_type",
          "e.resource_id as event_user",
        );
      return rows as {
        id: string;
        user_id: string;
        kind: string;
        state: string;
        rule_id: string;
        event_type: string;
        event_user: string;
      }[];
    }

    it("plans each write's actions in the one shared statement, linked to that write's event", async () => {
      const { result: users, statements } = await counting(() =>
        Promise.all(
          Array.from({ length: 6 }, (_, i) => create(`joiner${i}@example.com`)),
        ),
      );
      assert.equal(
        statements.filter((sql) => /insert into users/i.test(sql)).length,
        1,
        "one statement for the six creates and their actions",
      );
      const ids = users.map((u) => u.id);
      const deactivated = await counting(() =>
        Promise.all(ids.map((id, i) => setActive(id, false, `leave-${i}`))),
      );
      assert.equal(
        deactivated.statements.filter((sql) => /update users/i.test(sql))
          .length,
        1,
        "one statement for the six deactivations and their actions",
      );
      const actions = await actionsOf(ids);
      for (const id of ids) {
        const own = actions.filter((a) => a.user_id === id);
        assert.deepEqual(
          own.map((a) => [a.kind, a.event_type, a.event_user]),
          [
            ["provision", "user.created", id],
            ["suspend", "user.deactivated", id],
            ["remove", "user.deactivated", id],
          ],
        );
      }
      // Each planned action has its audit entry, from the request that planned it.
      const planned = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, key: "action.planned" })
        .whereIn("resource_id", ids)
        .orderBy("id");
      assert.equal(planned.length, actions.length);
      const byAction = new Map(
        planned.map((p) => [String(p.detail.actionId), p]),
      );
      for (const action of actions) {
        const entry = byAction.get(action.id);
        assert.ok(entry, `audit entry of action ${action.id}`);
        assert.equal(entry.resource_id, action.user_id);
        assert.match(
          entry.request_id as string,
          action.event_type === "user.created" ? /^joiner/ : /^leave-/,
        );
      }
      // Entries of one write follow its own entry: the write's, then its actions'.
      const leaveEntry = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, request_id: "leave-0" })
        .orderBy("id");
      assert.deepEqual(
        leaveEntry.map((e) => e.key),
        ["scim.user.deactivated", "action.planned", "action.planned"],
      );
    });

    it("cancels each reactivated user's pending removal in a shared statement, and only theirs", async () => {
      const users = await Promise.all(
        Array.from({ length: 5 }, (_, i) => create(`returner${i}@example.com`)),
      );
      const ids = users.map((u) => u.id);
      await Promise.all(ids.map((id, i) => setActive(id, false, `off-${i}`)));
      // Four come back together; the fifth stays away.
      const back = ids.slice(0, 4);
      const { statements } = await counting(() =>
        Promise.all(back.map((id, i) => setActive(id, true, `on-${i}`))),
      );
      assert.equal(
        statements.filter((sql) => /update users/i.test(sql)).length,
        1,
        "one statement for the four reactivations and their cancels",
      );
      const actions = await actionsOf(ids);
      for (const id of ids) {
        const removal = actions.find(
          (a) => a.user_id === id && a.kind === "remove",
        );
        assert.equal(
          removal?.state,
          back.includes(id) ? "cancelled" : "pending",
          `removal of ${id}`,
        );
        assert.equal(
          actions.filter((a) => a.user_id === id && a.kind === "unsuspend")
            .length,
          back.includes(id) ? 1 : 0,
        );
      }
      const cancelled = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, key: "action.cancelled" })
        .whereIn("resource_id", ids);
      assert.deepEqual(cancelled.map((c) => c.request_id as string).sort(), [
        "on-0",
        "on-1",
        "on-2",
        "on-3",
      ]);
      for (const entry of cancelled) {
        assert.equal(entry.detail.cancelledByRule, "return");
      }
    });
  });
});
