import assert from "node:assert/strict";
import { ACTION_KINDS } from "../../src/domain/app-state.ts";
import {
  logConfigSchema,
  logConnector,
} from "../../src/connectors/log/log-connector.ts";
import type {
  ActionRequest,
  ConnectorContext,
} from "../../src/connectors/types.ts";

// The shared contract needs an app that can fail (500, 429, 401, unreachable); the log connector
// calls nothing, so it gets these tests instead.

const subject: ActionRequest["subject"] = {
  userId: "u-1",
  userName: "carol@example.com",
  active: false,
  resource: {},
  ref: {},
};

function recordingContext() {
  const lines: { message: string; meta?: Record<string, unknown> }[] = [];
  const fetchCalls: string[] = [];
  const ctx: ConnectorContext = {
    fetch: async (url) => {
      fetchCalls.push(String(url));
      throw new Error("the log connector must not call anything");
    },
    clock: { now: () => new Date("2026-03-01T09:00:00.000Z") },
    logger: {
      info: (message, meta) =>
        lines.push({ message, ...(meta ? { meta } : {}) }),
      warn: (message, meta) =>
        lines.push({ message, ...(meta ? { meta } : {}) }),
    },
  };
  return { ctx, lines, fetchCalls };
}

describe("log connector", () => {
  it("validates its config: an optional label and nothing secret", () => {
    assert.ok(logConfigSchema.safeParse({}).success);
    assert.ok(logConfigSchema.safeParse({ label: "slack (dry run)" }).success);
    assert.equal(logConfigSchema.safeParse({ label: "" }).success, false);
    assert.deepEqual(logConnector.secretFields, []);
    assert.deepEqual(logConnector.hostsOf({}), []);
  });

  it("offers every action kind with a sensible resulting state", () => {
    const actions =
      typeof logConnector.actions === "function"
        ? logConnector.actions({})
        : logConnector.actions;
    assert.deepEqual(Object.keys(actions).sort(), [...ACTION_KINDS].sort());
    assert.equal(actions.provision!.resultingState, "provisioned");
    assert.equal(actions.suspend!.resultingState, "suspended");
    assert.equal(actions.archive!.resultingState, "archived");
    assert.equal(actions.remove!.resultingState, "removed");
    assert.equal(actions.update!.resultingState, undefined);
    assert.equal(actions.push_group!.group, true);
    assert.deepEqual(actions.transfer!.params.parse({ to: "x", keep: true }), {
      to: "x",
      keep: true,
    });
  });

  it("logs what it would do with the params, calls nothing, and is done", async () => {
    const { ctx, lines, fetchCalls } = recordingContext();
    const instance = logConnector.create({ label: "dropbox (dry run)" }, ctx);
    const result = await instance.run({
      action: "remove",
      subject,
      params: { transferTo: "manager@example.com" },
      idempotencyKey: "k-1",
      attempt: 1,
    });
    assert.deepEqual(result, {
      status: "done",
      detail: { wouldDo: "would remove carol@example.com" },
    });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.message, "would remove carol@example.com");
    assert.equal(lines[0]!.meta?.label, "dropbox (dry run)");
    assert.deepEqual(lines[0]!.meta?.params, {
      transferTo: "manager@example.com",
    });
    assert.deepEqual(fetchCalls, []);
  });

  it("names the group of a group action", async () => {
    const { ctx } = recordingContext();
    const result = await logConnector.create({}, ctx).run({
      action: "push_group",
      subject,
      group: { id: "g-1", displayName: "Finance", ref: {} },
      params: { op: "add" },
      idempotencyKey: "k-2",
      attempt: 1,
    });
    assert.equal(
      result.status === "done" && result.detail?.wouldDo,
      "would push_group carol@example.com in group Finance",
    );
  });

  it("passes check without credentials", async () => {
    const { ctx } = recordingContext();
    assert.equal((await logConnector.create({}, ctx).check()).ok, true);
  });
});
