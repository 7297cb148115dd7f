import assert from "node:assert/strict";
import {
  scimConfigSchema,
  scimConnector,
  type ScimConfig,
} from "../../src/connectors/scim/scim-connector.ts";
import {
  ConnectorError,
  type ActionRequest,
  type ConnectorInstance,
} from "../../src/connectors/types.ts";
import {
  startDownstreamScimServer,
  startScimAppProxy,
  type DownstreamScimServer,
  type ScimAppProxy,
} from "../support/fake-scim-app.ts";
import {
  createScimClient,
  type ScimClient,
  URN,
} from "../support/scim-client.ts";
import { createTestTenant } from "../support/test-app.ts";
import {
  describeConnectorContract,
  testConnectorContext,
} from "./connector-contract.ts";

const subject: ActionRequest["subject"] = {
  userId: "7d3e4c1a-0000-4000-8000-0000000000a1",
  userName: "bob@example.com",
  externalId: "00u-bob",
  email: "bob@example.com",
  givenName: "Bob",
  familyName: "Builder",
  displayName: "Bob Builder",
  active: true,
  resource: {
    id: "7d3e4c1a-0000-4000-8000-0000000000a1",
    userName: "bob@example.com",
    name: { givenName: "Bob", familyName: "Builder" },
    displayName: "Bob Builder",
    emails: [{ value: "bob@example.com", type: "work", primary: true }],
    active: true,
    [URN.enterprise]: {
      department: "Construction",
      employeeNumber: "42",
      manager: { value: "id-in-our-server", displayName: "Wendy" },
    },
  },
  ref: {},
};

const group = {
  id: "g-ours-1",
  displayName: "Builders",
  externalId: "00g-builders",
  ref: {},
};

function configFor(
  fake: ScimAppProxy,
  overrides: Partial<ScimConfig> = {},
): ScimConfig {
  return scimConfigSchema.parse({
    baseUrl: `${fake.url}/scim/v2`,
    token: fake.token,
    ...overrides,
  });
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

describe("scim connector", () => {
  let downstream: DownstreamScimServer;
  before(async () => {
    downstream = await startDownstreamScimServer();
  });
  after(async () => {
    await downstream?.close();
  });

  const startFake = async () => {
    const tenant = await createTestTenant(downstream.ctx);
    return startScimAppProxy(downstream.url, tenant.token);
  };

  describeConnectorContract<ScimConfig>({
    definition: scimConnector,
    startFake,
    configFor: (fake) => configFor(fake as ScimAppProxy),
    badCredentialsConfigFor: (fake) =>
      configFor(fake as ScimAppProxy, { token: "not-a-valid-token" }),
    lifecycle: [
      { action: "provision", params: {}, idempotencyKey: "k-provision" },
      { action: "update", params: {}, idempotencyKey: "k-update" },
      { action: "suspend", params: {}, idempotencyKey: "k-suspend" },
      { action: "unsuspend", params: {}, idempotencyKey: "k-unsuspend" },
      {
        action: "push_group",
        group,
        params: { op: "add" },
        idempotencyKey: "k-push-add",
      },
      {
        action: "push_group",
        group,
        params: { op: "remove" },
        idempotencyKey: "k-push-remove",
      },
      { action: "remove", params: {}, idempotencyKey: "k-remove" },
    ],
    subject,
    probe: { action: "provision", params: {}, idempotencyKey: "k-probe" },
  });

  describe("against our own server as the downstream app", () => {
    let fake: ScimAppProxy;
    let scim: ScimClient;
    let instance: ConnectorInstance;
    beforeEach(async () => {
      const tenant = await createTestTenant(downstream.ctx);
      fake = await startScimAppProxy(downstream.url, tenant.token);
      scim = createScimClient(downstream.ctx, tenant);
      instance = scimConnector.create(configFor(fake), testConnectorContext());
    });
    afterEach(async () => {
      await fake.close();
    });

    const run = (action: string, overrides: Partial<ActionRequest> = {}) =>
      instance.run({
        action,
        params: {},
        idempotencyKey: `k-${action}`,
        attempt: 1,
        subject,
        ...overrides,
      });
    const posts = () =>
      fake
        .requests()
        .filter(
          (r) => r.method === "POST" && r.url.startsWith("/scim/v2/Users"),
        );

    it("creates the user with mapped attributes, leaving our manager id behind", async () => {
      const result = await run("provision");
      assert.equal(result.status, "done");
      const id = result.ref?.id as string;
      const created = await scim.get("Users", id);
      assert.equal(created.userName, "bob@example.com");
      assert.equal(created.externalId, "00u-bob");
      assert.equal(created.displayName, "Bob Builder");
      assert.equal(created.active, true);
      assert.deepEqual(
        (created.name as Record<string, unknown>).familyName,
        "Builder",
      );
      assert.equal(
        (created.emails as { value: string }[])[0]!.value,
        "bob@example.com",
      );
      const enterprise = created[URN.enterprise] as Record<string, unknown>;
      assert.equal(enterprise.department, "Construction");
      assert.equal(enterprise.manager, undefined);
    });

    it("provision finds the existing user instead of creating a duplicate, and reactivates it", async () => {
      const existing = await scim.createUser({
        userName: "BOB@example.com",
        active: false,
      });
      const result = await run("provision");
      assert.equal(result.ref?.id, existing.id);
      assert.equal(
        result.status === "done" && result.detail?.reactivated,
        true,
      );
      assert.equal(posts().length, 0);
      assert.equal((await scim.get("Users", existing.id)).active, true);
      const filters = fake.requests().filter((r) => r.url.includes("filter="));
      assert.match(
        decodeURIComponent(filters[0]!.url),
        /userName eq "bob@example.com"/,
      );
    });

    it("matches by externalId, using our own id when configured so", async () => {
      instance = scimConnector.create(
        configFor(fake, { matchBy: "externalId", externalIdFrom: "userId" }),
        testConnectorContext(),
      );
      const first = await run("provision");
      const created = await scim.get("Users", first.ref?.id as string);
      assert.equal(created.externalId, subject.userId);
      // The IdP renamed the user: still the same downstream user, found by externalId.
      const renamed = { ...subject, userName: "robert@example.com" };
      const again = await run("provision", { subject: renamed });
      assert.equal(again.ref?.id, first.ref?.id);
      assert.equal(posts().length, 1);
    });

    it("suspends then unsuspends the user", async () => {
      const id = (await run("provision")).ref?.id as string;
      const ref = { id };
      const suspended = await run("suspend", { subject: { ...subject, ref } });
      assert.equal(
        suspended.status === "done" && suspended.detail?.changed,
        true,
      );
      assert.equal((await scim.get("Users", id)).active, false);
      await run("unsuspend", { subject: { ...subject, ref } });
      assert.equal((await scim.get("Users", id)).active, true);
      const patches = fake.requests().filter((r) => r.method === "PATCH");
      assert.equal(patches.length, 2);
    });

    it("suspends by DELETE when the app deactivates that way, and says so in its resulting state", async () => {
      const config = configFor(fake, { deactivateWith: "delete" });
      instance = scimConnector.create(config, testConnectorContext());
      const id = (await run("provision")).ref?.id as string;
      await run("suspend", { subject: { ...subject, ref: { id } } });
      assert.ok(fake.requests().some((r) => r.method === "DELETE"));
      const actions =
        typeof scimConnector.actions === "function"
          ? scimConnector.actions(config)
          : scimConnector.actions;
      assert.equal(actions.suspend!.resultingState, "removed");
    });

    it("removes the user, and a second remove is done without a second delete", async () => {
      const id = (await run("provision")).ref?.id as string;
      const first = await run("remove", {
        subject: { ...subject, ref: { id } },
      });
      assert.deepEqual(first.status === "done" && first.detail, {
        deleted: true,
      });
      const second = await run("remove", {
        subject: { ...subject, ref: { id } },
      });
      assert.deepEqual(second.status === "done" && second.detail, {
        deleted: false,
      });
      assert.equal(
        fake.requests().filter((r) => r.method === "DELETE").length,
        1,
      );
    });

    it("updates with PUT only when attributes differ, keeping the app's active flag", async () => {
      const id = (await run("provision")).ref?.id as string;
      await run("suspend", { subject: { ...subject, ref: { id } } });
      const same = await run("update", {
        subject: { ...subject, ref: { id } },
      });
      assert.equal(same.status === "done" && same.detail?.changed, false);
      const renamed = {
        ...subject,
        ref: { id },
        displayName: "Robert Builder",
        resource: { ...subject.resource, displayName: "Robert Builder" },
      };
      const changed = await run("update", { subject: renamed });
      assert.equal(changed.status === "done" && changed.detail?.changed, true);
      const user = await scim.get("Users", id);
      assert.equal(user.displayName, "Robert Builder");
      assert.equal(user.active, false);
      assert.equal(fake.requests().filter((r) => r.method === "PUT").length, 1);
    });

    it("rejects updating a user the app does not have", async () => {
      const error = await rejects(run("update"), "rejected");
      assert.equal(error.code, "user_not_found");
    });

    it("pushes a group: creates it once, adds and removes the member", async () => {
      const id = (await run("provision")).ref?.id as string;
      const member = { ...subject, ref: { id } };
      const added = await run("push_group", {
        subject: member,
        group,
        params: { op: "add" },
      });
      const groupId = added.ref?.groupId as string;
      assert.ok(groupId);
      assert.deepEqual(await scim.memberIds(groupId), [id]);
      const downstreamGroup = await scim.get("Groups", groupId);
      assert.equal(downstreamGroup.displayName, "Builders");

      // A second member's push finds the group by displayName rather than creating another.
      const other = await run("provision", {
        subject: {
          ...subject,
          userName: "wendy@example.com",
          externalId: "00u-wendy",
        },
      });
      await run("push_group", {
        subject: {
          ...subject,
          userName: "wendy@example.com",
          ref: { id: other.ref?.id },
        },
        group,
        params: { op: "add" },
      });
      assert.equal(
        fake
          .requests()
          .filter((r) => r.method === "POST" && r.url.endsWith("/Groups"))
          .length,
        1,
      );
      assert.equal((await scim.memberIds(groupId)).length, 2);

      const removed = await run("push_group", {
        subject: member,
        group: { ...group, ref: { groupId } },
        params: { op: "remove" },
      });
      assert.equal(removed.status === "done" && removed.detail?.changed, true);
      assert.deepEqual(await scim.memberIds(groupId), [other.ref?.id]);
    });

    it("rejects adding a user the app does not have to a group", async () => {
      const error = await rejects(
        run("push_group", { group, params: { op: "add" } }),
        "rejected",
      );
      assert.equal(error.code, "user_not_found");
    });

    it("takes the code of an error from the SCIM scimType", async () => {
      fake.failNext(400, {
        body: {
          schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
          status: "400",
          scimType: "invalidValue",
          detail: "userName is not an e-mail",
        },
      });
      const error = await rejects(run("provision"), "rejected");
      assert.equal(error.code, "invalidValue");
      assert.match(error.message, /userName is not an e-mail/);
    });

    it("reports an unknown action as misconfigured", async () => {
      await rejects(run("wipe"), "misconfigured");
    });

    it("offers its actions with resulting states and group push flagged", () => {
      const actions =
        typeof scimConnector.actions === "function"
          ? scimConnector.actions(configFor(fake))
          : scimConnector.actions;
      assert.deepEqual(Object.keys(actions).sort(), [
        "provision",
        "push_group",
        "remove",
        "suspend",
        "unsuspend",
        "update",
      ]);
      assert.equal(actions.suspend!.resultingState, "suspended");
      assert.equal(actions.push_group!.group, true);
      assert.deepEqual(actions.push_group!.params.parse({}), { op: "add" });
      assert.equal(
        actions.push_group!.params.safeParse({ op: "toggle" }).success,
        false,
      );
    });
  });
});
