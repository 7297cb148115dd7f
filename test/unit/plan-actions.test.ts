import assert from "node:assert/strict";
import { z } from "zod";
import {
  compilePolicy,
  type AppCatalogEntry,
  type CompiledPolicy,
} from "../../src/domain/policy.ts";
import {
  planActions,
  type PlanningEvent,
  type PlanningSubject,
} from "../../src/domain/plan-actions.ts";
import { buildResourceSchemas } from "../../src/scim/schemas.ts";

const schemas = buildResourceSchemas();
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const CATALOG: Record<string, AppCatalogEntry> = {
  dropbox: {
    actions: {
      provision: {
        params: z
          .object({ sendWelcomeEmail: z.boolean().default(false) })
          .strict(),
      },
      suspend: {
        params: z.object({ wipeData: z.boolean().default(true) }).strict(),
      },
      unsuspend: { params: z.object({}).strict() },
      remove: {
        params: z
          .object({
            transferDestEmail: z.string().email().optional(),
            wipeData: z.boolean().default(true),
          })
          .strict(),
      },
      recover: { params: z.object({}).strict() },
      transfer: {
        params: z.object({ transferDestEmail: z.string().email() }).strict(),
      },
    },
  },
  scim: {
    actions: {
      push_group: { params: z.object({}).passthrough(), group: true },
    },
  },
};

function compile(document: unknown) {
  return compilePolicy(document, {
    version: 3,
    catalog: (app) =>
      CATALOG[app.connector] ?? `unknown connector "${app.connector}"`,
    schemas,
  });
}

function compiled(document: unknown): CompiledPolicy {
  const result = compile(document);
  assert.ok("policy" in result, JSON.stringify(result.problems));
  return result.policy;
}

const APPS = [
  { id: "dropbox-main", connector: "dropbox" },
  { id: "slack", connector: "scim" },
];

const DROPBOX_POLICY = {
  apps: APPS,
  rules: [
    {
      id: "join",
      on: "user.created",
      when: `${ENTERPRISE}:department eq "Sales"`,
      do: [{ app: "dropbox-main", action: "provision" }],
    },
    {
      id: "leave",
      on: "user.deactivated",
      do: [
        { app: "dropbox-main", action: "suspend", params: { wipeData: true } },
        {
          app: "dropbox-main",
          action: "transfer",
          after: "30d",
          params: { transferDestEmail: "{{manager.email}}" },
        },
        { app: "dropbox-main", action: "remove", after: "30d" },
      ],
    },
    {
      id: "return",
      on: "user.reactivated",
      cancel: [{ app: "dropbox-main" }],
      do: [
        {
          app: "dropbox-main",
          action: "unsuspend",
          if: { state: "suspended" },
        },
        {
          app: "dropbox-main",
          action: "recover",
          if: { state: "removed", within: "7d" },
        },
      ],
    },
    {
      id: "sales-channel",
      on: "group.member_removed",
      when: 'displayName eq "Sales"',
      do: [{ app: "slack", action: "push_group", params: { op: "remove" } }],
    },
  ],
};

const AT = new Date("2026-03-01T09:00:00.000Z");
const event = (
  type: PlanningEvent["type"],
  overrides: Partial<PlanningEvent> = {},
): PlanningEvent => ({
  type,
  resourceId: "u-1",
  version: 2,
  occurredAt: AT,
  index: 0,
  ...overrides,
});
const ada: PlanningSubject["user"] = {
  id: "u-1",
  userName: "ada@example.com",
  emails: [{ type: "work", value: "ada@example.com" }],
  [ENTERPRISE]: { department: "Sales", manager: { value: "u-2" } },
};
const grace = {
  id: "u-2",
  userName: "grace@example.com",
  emails: [{ value: "grace@example.com", primary: true }],
};

describe("policy compilation", () => {
  it("compiles the seed policy", () => {
    const policy = compiled(DROPBOX_POLICY);
    assert.equal(policy.rules.length, 4);
    assert.equal(policy.needsManager, true);
    assert.equal(policy.rules[1]!.steps[1]!.afterMs, 30 * 86_400_000);
  });

  it("lists every problem at once, with where it is", () => {
    const semantic = compile({
      apps: [
        { id: "dropbox-main", connector: "dropbox" },
        { id: "ghost", connector: "nope" },
      ],
      rules: [
        {
          id: "r1",
          on: "user.deactivated",
          when: "nosuchattribute eq 1",
          do: [
            { app: "dropbox-main", action: "fly" },
            { app: "missing", action: "suspend" },
            { app: "dropbox-main", action: "suspend", after: "soon" },
            { app: "dropbox-main", action: "suspend", params: { wipe: 1 } },
            {
              app: "dropbox-main",
              action: "remove",
              params: { transferDestEmail: "x" },
            },
            {
              app: "dropbox-main",
              action: "transfer",
              params: { transferDestEmail: "{{boss.email}}" },
            },
          ],
        },
        { id: "r1", on: "user.created" },
      ],
    });
    assert.ok(!("policy" in semantic));
    assert.deepEqual(
      semantic.problems.map((p) => p.path),
      [
        "apps[1]",
        "rules[0].when",
        "rules[0].do[0].action",
        "rules[0].do[1].app",
        "rules[0].do[2].after",
        "rules[0].do[3].params",
        "rules[0].do[4].params.transferDestEmail",
        "rules[0].do[5].params",
        "rules[1].id",
      ],
    );
    assert.match(semantic.problems[2]!.message, /has no action "fly"/);
  });

  it("refuses a condition on the apps extension, which the planner never sees", () => {
    const result = compile({
      apps: APPS,
      rules: [
        {
          id: "x",
          on: "user.deactivated",
          when: 'urn:scim-lifecycle:schemas:extension:apps:2.0:User:apps[app eq "dropbox-main"]',
          do: [{ app: "dropbox-main", action: "suspend" }],
        },
      ],
    });
    assert.ok(!("policy" in result));
    assert.deepEqual(
      result.problems.map((p) => p.path),
      ["rules[0].when"],
    );
    assert.match(result.problems[0]!.message, /if: \{ state \}/);
  });

  it("rejects a group action on a user event", () => {
    const result = compile({
      apps: APPS,
      rules: [
        {
          id: "x",
          on: "user.created",
          do: [{ app: "slack", action: "push_group" }],
        },
      ],
    });
    assert.ok(!("policy" in result));
    assert.match(result.problems[0]!.message, /acts on a group/);
  });
});

describe("planActions", () => {
  const policy = compiled(DROPBOX_POLICY);

  it("suspends now, and transfers to the manager and removes after 30 days, on deactivation", () => {
    const plan = planActions(
      event("user.deactivated"),
      policy,
      { user: ada, manager: grace },
      schemas,
    );
    assert.deepEqual(
      plan.actions.map((a) => [a.action, a.runAt.toISOString(), a.params]),
      [
        ["suspend", AT.toISOString(), { wipeData: true }],
        [
          "transfer",
          "2026-03-31T09:00:00.000Z",
          { transferDestEmail: "grace@example.com" },
        ],
        ["remove", "2026-03-31T09:00:00.000Z", {}],
      ],
    );
    assert.equal(new Set(plan.actions.map((a) => a.idempotencyKey)).size, 3);
    assert.ok(plan.actions.every((a) => a.policyVersion === 3));
  });

  it("gives the same keys when the same event is planned again", () => {
    const once = planActions(
      event("user.deactivated"),
      policy,
      { user: ada },
      schemas,
    );
    const twice = planActions(
      event("user.deactivated"),
      policy,
      { user: ada },
      schemas,
    );
    assert.deepEqual(
      once.actions.map((a) => a.idempotencyKey),
      twice.actions.map((a) => a.idempotencyKey),
    );
    const later = planActions(
      event("user.deactivated", { version: 5 }),
      policy,
      { user: ada },
      schemas,
    );
    assert.notEqual(
      later.actions[0]!.idempotencyKey,
      once.actions[0]!.idempotencyKey,
    );
  });

  it("cancels pending Dropbox actions and plans conditional steps on reactivation", () => {
    const plan = planActions(
      event("user.reactivated"),
      policy,
      { user: ada },
      schemas,
    );
    assert.deepEqual(
      plan.cancels.map((c) => [c.appId, c.userId]),
      [["dropbox-main", "u-1"]],
    );
    assert.deepEqual(
      plan.actions.map((a) => [a.action, a.condition]),
      [
        ["unsuspend", { states: ["suspended"] }],
        ["recover", { states: ["removed"], withinMs: 7 * 86_400_000 }],
      ],
    );
  });

  it("applies when over the user, case-insensitively per the schema", () => {
    const sales = planActions(
      event("user.created"),
      policy,
      { user: ada },
      schemas,
    );
    assert.equal(sales.actions.length, 1);
    const other = planActions(
      event("user.created"),
      policy,
      { user: { ...ada, [ENTERPRISE]: { department: "Legal" } } },
      schemas,
    );
    assert.equal(other.actions.length, 0);
  });

  it("applies when over the group for membership events", () => {
    const group = { id: "g-1", displayName: "sales" };
    const plan = planActions(
      event("group.member_removed", { resourceId: "g-1" }),
      policy,
      { user: ada, group },
      schemas,
    );
    assert.deepEqual(
      plan.actions.map((a) => [a.appId, a.action, a.groupId, a.params]),
      [["slack", "push_group", "g-1", { op: "remove" }]],
    );
    const elsewhere = planActions(
      event("group.member_removed", { resourceId: "g-2" }),
      policy,
      { user: ada, group: { id: "g-2", displayName: "Legal" } },
      schemas,
    );
    assert.equal(elsewhere.actions.length, 0);
  });

  it("leaves the transfer target unset without a manager, so the action fails visibly", () => {
    const plan = planActions(
      event("user.deactivated"),
      policy,
      { user: ada },
      schemas,
    );
    assert.equal(plan.actions[1]!.params.transferDestEmail, undefined);
  });
});
