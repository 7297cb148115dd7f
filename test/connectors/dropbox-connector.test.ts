import assert from "node:assert/strict";
import {
  dropboxConnector,
  type DropboxConfig,
} from "../../src/connectors/dropbox/dropbox-connector.ts";
import {
  ConnectorError,
  type ActionRequest,
  type ConnectorActionDefinition,
} from "../../src/connectors/types.ts";
import {
  FAKE_DROPBOX_TOKEN,
  startFakeDropbox,
  type FakeDropbox,
  type FakeDropboxOptions,
} from "../support/fake-dropbox.ts";
import {
  describeConnectorContract,
  runToCompletion,
  testConnectorContext,
} from "./connector-contract.ts";

const ADMIN_ID = "dbmid:admin-0001";
const MANAGER_ID = "dbmid:manager-0002";
const TEAM = [
  {
    teamMemberId: ADMIN_ID,
    email: "admin@example.com",
    role: "team_admin" as const,
  },
  { teamMemberId: MANAGER_ID, email: "grace@example.com", givenName: "Grace" },
];
const DAY_MS = 86_400_000;

const subject: ActionRequest["subject"] = {
  userId: "u-ada",
  userName: "ada@example.com",
  externalId: "ext-ada",
  email: "ada@example.com",
  givenName: "Ada",
  familyName: "Lovelace",
  active: true,
  resource: {},
  ref: {},
};

const configFor = (fake: { url: string }): DropboxConfig => ({
  baseUrl: fake.url,
  token: FAKE_DROPBOX_TOKEN,
  adminMemberId: ADMIN_ID,
});

const step = (
  action: string,
  params: Record<string, unknown> = {},
): Omit<ActionRequest, "attempt" | "subject"> => ({
  action,
  params,
  idempotencyKey: `key-${action}-${JSON.stringify(params)}`,
});

describeConnectorContract<DropboxConfig>({
  definition: dropboxConnector,
  // Async jobs with one in_progress poll, so the lifecycle exercises polling too.
  startFake: () => startFakeDropbox({ members: TEAM, asyncPolls: 1 }),
  configFor,
  badCredentialsConfigFor: (fake) => ({
    ...configFor(fake),
    token: "wrong-token",
  }),
  subject,
  lifecycle: [
    step("provision", { sendWelcomeEmail: false }),
    step("suspend", { wipeData: true }),
    step("unsuspend"),
    step("suspend", { wipeData: false }),
    step("remove", { transferDestEmail: "grace@example.com" }),
    step("recover"),
  ],
  probe: step("suspend"),
});

describe("dropbox connector", () => {
  let fake: FakeDropbox;
  let clock: Date;
  const instance = (config: Partial<DropboxConfig> = {}) =>
    dropboxConnector.create(
      { ...configFor(fake), ...config },
      {
        ...testConnectorContext(),
        clock: { now: () => clock },
      },
    );
  const request = (
    action: string,
    params: Record<string, unknown> = {},
    overrides: Partial<ActionRequest> = {},
  ): ActionRequest => ({
    ...step(action, params),
    attempt: 1,
    subject,
    ...overrides,
  });
  const start = async (options: FakeDropboxOptions = {}) => {
    fake = await startFakeDropbox({
      members: TEAM,
      now: () => clock,
      ...options,
    });
  };
  const paths = () =>
    fake.requests().map((r) => r.path.replace("/2/team/members/", ""));
  const bodyOf = (path: string) =>
    fake.requests().find((r) => r.path.endsWith(path))?.body;
  const provisionAda = async () => {
    const added = await runToCompletion(instance(), request("provision"));
    return { ...subject, ref: { ...added.ref } };
  };
  async function rejects(
    promise: Promise<unknown>,
    kind: ConnectorError["kind"],
  ) {
    const error = await promise.then(
      () => assert.fail(`expected a ${kind} ConnectorError`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConnectorError, String(error));
    assert.equal(error.kind, kind, error.message);
    return error;
  }

  beforeEach(async () => {
    clock = new Date("2026-03-01T09:00:00.000Z");
    await start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it("invites silently by default, sending names and the external id", async () => {
    const added = await runToCompletion(instance(), request("provision"));
    const body = bodyOf("members/add_v2") as {
      new_members: Record<string, unknown>[];
    };
    assert.deepEqual(body.new_members, [
      {
        member_email: "ada@example.com",
        member_given_name: "Ada",
        member_surname: "Lovelace",
        member_external_id: "ext-ada",
        send_welcome_email: false,
      },
    ]);
    const ada = fake.members()["ada@example.com"]!;
    assert.equal(ada.welcomeEmailSent, false);
    assert.deepEqual(added.ref, { teamMemberId: ada.teamMemberId });
  });

  it("counts a member who is already on the team as provisioned, with their id", async () => {
    const existing = fake.addMember({ email: "ada@example.com" });
    const result = await runToCompletion(instance(), request("provision"));
    assert.deepEqual(result.ref, { teamMemberId: existing.teamMemberId });
    assert.deepEqual(paths(), ["add_v2", "get_info_v2"]);
    assert.equal(fake.duplicateEffects(), 0);
  });

  it("polls add, remove and move jobs until Dropbox reports them complete", async () => {
    await fake.close();
    await start({ asyncPolls: 2 });
    const provision = request("provision");
    let result = await instance().run(provision);
    assert.equal(result.status, "in_progress");
    assert.deepEqual(result.status === "in_progress" && result.job.data, {
      endpoint: "team/members/add/job_status/get_v2",
    });
    while (result.status === "in_progress") {
      const job = { ...result.job, startedAt: clock.toISOString() };
      result = await instance().run({ ...provision, job });
    }
    const added = result;
    const ada = { ...subject, ref: { ...added.ref } };
    await runToCompletion(instance(), { ...request("remove"), subject: ada });
    await runToCompletion(instance(), {
      ...request("transfer", { transferDestId: MANAGER_ID }),
      subject: ada,
    });
    assert.equal(paths().filter((p) => p === "add_v2").length, 1);
    assert.equal(
      paths().filter((p) => p === "add/job_status/get_v2").length,
      3,
    );
    assert.equal(
      paths().filter((p) => p === "remove/job_status/get").length,
      3,
    );
    assert.equal(
      paths().filter((p) => p === "move_former_member_files/job_status/check")
        .length,
      3,
    );
    assert.equal(fake.members()["ada@example.com"]!.filesOwner, MANAGER_ID);
  });

  it("rejects remove params that break Dropbox's rules before sending anything", async () => {
    const bad: Record<string, unknown>[] = [
      { keepAccount: true }, // wipeData defaults to true
      {
        keepAccount: true,
        wipeData: false,
        transferDestEmail: "grace@example.com",
      },
      { retainTeamShares: true, wipeData: false },
      { transferDestEmail: "grace@example.com", transferDestId: MANAGER_ID },
      { transferDestId: "grace@example.com" },
      { wipe: false },
    ];
    const schema = (
      dropboxConnector.actions as Record<string, ConnectorActionDefinition>
    ).remove!.params;
    for (const params of bad) {
      assert.equal(
        schema.safeParse(params).success,
        false,
        JSON.stringify(params),
      );
      await rejects(instance().run(request("remove", params)), "misconfigured");
    }
    // A receiver needs a transfer admin: from the step, else from the app config.
    const noAdmin = instance({ adminMemberId: undefined });
    await rejects(
      noAdmin.run(request("remove", { transferDestId: MANAGER_ID })),
      "misconfigured",
    );
    assert.deepEqual(fake.requests(), []);
    assert.equal(
      schema.safeParse({
        keepAccount: true,
        wipeData: false,
        retainTeamShares: true,
      }).success,
      true,
    );
  });

  it("resolves the transfer receiver's e-mail to a team_member_id before removing", async () => {
    const ada = await provisionAda();
    await runToCompletion(instance(), {
      ...request("remove", { transferDestEmail: "grace@example.com" }),
      subject: ada,
    });
    const lookups = fake
      .requests()
      .filter((r) => r.path.endsWith("get_info_v2"));
    assert.deepEqual(lookups.at(-1)!.body, {
      members: [{ ".tag": "email", email: "grace@example.com" }],
    });
    const removeBody = bodyOf("members/remove") as Record<string, unknown>;
    assert.deepEqual(removeBody, {
      user: { ".tag": "team_member_id", team_member_id: ada.ref.teamMemberId },
      wipe_data: true,
      keep_account: false,
      retain_team_shares: false,
      transfer_dest_id: {
        ".tag": "team_member_id",
        team_member_id: MANAGER_ID,
      },
      transfer_admin_id: { ".tag": "team_member_id", team_member_id: ADMIN_ID },
    });
    assert.equal(fake.members()["ada@example.com"]!.filesOwner, MANAGER_ID);
  });

  it("rejects a transfer to an e-mail that is not on the team, without removing", async () => {
    const ada = await provisionAda();
    const error = await rejects(
      instance().run({
        ...request("remove", { transferDestEmail: "nobody@example.com" }),
        subject: ada,
      }),
      "rejected",
    );
    assert.equal(error.code, "transfer_dest_user_not_found");
    assert.equal(fake.members()["ada@example.com"]!.status, "active");
    assert.ok(!paths().includes("remove"));
  });

  it("recovers within 7 days, and rejects with user_unrecoverable after 8", async () => {
    const ada = await provisionAda();
    await runToCompletion(instance(), { ...request("remove"), subject: ada });
    clock = new Date(clock.getTime() + 6 * DAY_MS);
    await runToCompletion(instance(), { ...request("recover"), subject: ada });
    assert.equal(fake.members()["ada@example.com"]!.status, "active");

    await runToCompletion(instance(), { ...request("remove"), subject: ada });
    clock = new Date(clock.getTime() + 8 * DAY_MS);
    const error = await rejects(
      instance().run({ ...request("recover"), subject: ada }),
      "rejected",
    );
    assert.equal(error.code, "user_unrecoverable");
    assert.equal(error.status, 409);
  });

  it("maps Dropbox's 409 tags: idempotent ones to done, the rest to rejected with the tag", async () => {
    fake.addMember({ email: "sam@example.com", status: "suspended" });
    fake.addMember({ email: "ivy@example.com", status: "invited" });
    const as = (email: string) => ({
      ...subject,
      externalId: undefined,
      email,
      ref: {},
    });

    const already = await instance().run({
      ...request("suspend"),
      subject: as("sam@example.com"),
    });
    assert.equal(already.status, "done");
    const active = await instance().run({
      ...request("unsuspend"),
      subject: as("grace@example.com"),
    });
    assert.equal(active.status, "done");
    const notSuspended = await instance().run({
      ...request("recover"),
      subject: as("grace@example.com"),
    });
    assert.equal(notSuspended.status, "done");

    const cases: [ActionRequest, string][] = [
      [
        { ...request("suspend"), subject: as("admin@example.com") },
        "suspend_last_admin",
      ],
      [
        { ...request("suspend"), subject: as("ivy@example.com") },
        "suspend_inactive_user",
      ],
      [
        { ...request("suspend"), subject: as("nobody@example.com") },
        "user_not_found",
      ],
      [
        { ...request("remove"), subject: as("admin@example.com") },
        "remove_last_admin",
      ],
      [
        {
          ...request("transfer", { transferDestId: MANAGER_ID }),
          subject: as("sam@example.com"),
        },
        "user_not_removed",
      ],
    ];
    for (const [req, code] of cases) {
      const error = await rejects(instance().run(req), "rejected");
      assert.equal(error.code, code);
    }
    fake.failNext(409, {
      body: {
        error_summary: "team_license_limit/..",
        error: { ".tag": "team_license_limit" },
      },
    });
    const full = await rejects(
      instance().run(request("unsuspend")),
      "rejected",
    );
    assert.equal(full.code, "team_license_limit");
    assert.equal(fake.duplicateEffects(), 0);
  });

  it("treats a member already removed as done when a remove is retried", async () => {
    const ada = await provisionAda();
    fake.failNext(500, { afterEffect: true });
    await rejects(
      instance().run({ ...request("remove"), subject: ada }),
      "retryable",
    );
    assert.equal(fake.members()["ada@example.com"]!.status, "removed");
    const again = await runToCompletion(instance(), {
      ...request("remove"),
      subject: ada,
      attempt: 2,
    });
    assert.equal(again.status, "done");
    assert.equal(fake.duplicateEffects(), 0);
  });

  it("looks before acting again when a suspend's answer was lost", async () => {
    const ada = await provisionAda();
    fake.failNext(502, { afterEffect: true });
    await rejects(
      instance().run({ ...request("suspend"), subject: ada }),
      "retryable",
    );
    await runToCompletion(instance(), {
      ...request("suspend"),
      subject: ada,
      attempt: 2,
    });
    assert.equal(paths().filter((p) => p === "suspend").length, 1);
    assert.equal(fake.duplicateEffects(), 0);
  });

  it("maps 400 and 403 to misconfigured, 503 to retryable, and reads an HTTP-date Retry-After", async () => {
    fake.failNext(400, {
      body: 'Error in call to API function "team/members/suspend": bad',
    });
    await rejects(instance().run(request("suspend")), "misconfigured");
    fake.failNext(403, {
      body: {
        error_summary: "missing_scope/..",
        error: { ".tag": "missing_scope" },
      },
    });
    assert.equal(
      (await rejects(instance().run(request("suspend")), "misconfigured")).code,
      "missing_scope",
    );
    fake.failNext(503);
    await rejects(instance().run(request("suspend")), "retryable");
    const later = new Date(clock.getTime() + 90_000).toUTCString();
    fake.failNext(429, { headers: { "Retry-After": later } });
    const limited = await rejects(
      instance().run(request("suspend")),
      "rate_limited",
    );
    assert.equal(limited.retryAfterMs, 90_000);
  });

  it("honours the fake's rate limit and records requests sent inside Retry-After", async () => {
    fake.setRateLimit({ retryAfterS: 30, forMs: 10_000 });
    const limited = await rejects(
      instance().run(request("suspend")),
      "rate_limited",
    );
    assert.equal(limited.retryAfterMs, 30_000);
    assert.equal(fake.requestsInsideRetryAfter().length, 0);
    await rejects(instance().run(request("suspend")), "rate_limited");
    assert.equal(fake.requestsInsideRetryAfter().length, 1);
  });

  it("never puts the token in an error message", async () => {
    const failures: [number, unknown][] = [
      [
        400,
        `Error in call to API function: bad header "Bearer ${FAKE_DROPBOX_TOKEN}"`,
      ],
      [401, undefined],
      [
        409,
        {
          error_summary: `other/${FAKE_DROPBOX_TOKEN}`,
          error: { ".tag": "other" },
        },
      ],
      [500, `upstream said ${FAKE_DROPBOX_TOKEN}`],
    ];
    const errors: unknown[] = [];
    for (const [status, body] of failures) {
      fake.failNext(status, body === undefined ? {} : { body });
      errors.push(
        await instance()
          .run(request("suspend"))
          .catch((e: unknown) => e),
      );
    }
    await fake.close();
    errors.push(
      await instance()
        .run(request("suspend"))
        .catch((e: unknown) => e),
    );
    errors.push(
      await instance()
        .check()
        .catch((e: unknown) => e),
    );
    for (const error of errors) {
      assert.ok(error instanceof ConnectorError);
      assert.ok(!error.message.includes(FAKE_DROPBOX_TOKEN), error.message);
      assert.ok(!String(error.code).includes(FAKE_DROPBOX_TOKEN));
    }
    await start(); // afterEach closes it
  });

  it("passes check with the team's name", async () => {
    await fake.close();
    await start({ teamName: "Analytical Engines" });
    assert.deepEqual(await instance().check(), {
      ok: true,
      detail: "Analytical Engines",
    });
  });

  it("offers each action with the state it leaves the member in", () => {
    const actions = dropboxConnector.actions as Record<
      string,
      ConnectorActionDefinition
    >;
    const states = Object.fromEntries(
      Object.entries(actions).map(([name, a]) => [name, a.resultingState]),
    );
    assert.deepEqual(states, {
      provision: "provisioned",
      suspend: "suspended",
      unsuspend: "provisioned",
      remove: "removed",
      recover: "provisioned",
      transfer: undefined,
    });
    assert.deepEqual(
      dropboxConnector.hostsOf(
        configFor({ url: "https://api.dropboxapi.com" }),
      ),
      ["api.dropboxapi.com"],
    );
  });
});
