import assert from "node:assert/strict";
import request from "supertest";
import {
  URN,
  createScimClient,
  useTestTenantPerTest,
  type ScimClient,
  type ScimResource,
} from "../support/scim-client.ts";
import { insertAction, insertAppState } from "../support/lifecycle-rows.ts";
import {
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const APPS = URN.apps;
const BACKUPIFY = `${APPS}:apps[app eq "backup" and state eq "archived"]`;

type AppsExtension = {
  apps?: { app: string; state: string; since: string }[];
  pendingActions?: {
    app: string;
    action: string;
    runAt: string;
    state: string;
  }[];
};

/** A body without meta.location, whose port changes with every supertest request. */
function comparable(
  resource: Record<string, unknown>,
): Record<string, unknown> {
  const meta = { ...(resource.meta as Record<string, unknown>) };
  delete meta.location;
  return { ...resource, meta };
}

describe("SCIM Users: the apps extension", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let scim: ScimClient;

  useTestTenantPerTest(
    (c) => (ctx = c),
    (t, s) => {
      tenant = t;
      scim = s;
    },
  );
  // App states and actions exist only in tenants with a lifecycle policy.
  beforeEach(async () => {
    await ctx.services.policies.apply(
      tenant.id,
      { apps: [], rules: [] },
      { source: "api" },
    );
  });

  function appState(
    userId: string,
    app: string,
    state: string,
    since = "2026-02-01T10:00:00Z",
    tenantId = tenant.id,
  ) {
    return insertAppState(ctx.knex, { tenantId, userId, app, state, since });
  }

  function action(
    userId: string,
    app: string,
    kind: string,
    state: string,
    runAt: string,
  ) {
    return insertAction(ctx.knex, {
      tenantId: tenant.id,
      userId,
      app,
      kind,
      state,
      runAt,
    });
  }

  function list(query: Record<string, string>, auth = tenant.auth) {
    return request(ctx.app).get("/scim/v2/Users").query(query).set(auth);
  }

  function getUser(id: string, query: Record<string, string> = {}) {
    return request(ctx.app)
      .get(`/scim/v2/Users/${id}`)
      .query(query)
      .set(tenant.auth);
  }

  async function storedResource(id: string): Promise<Record<string, unknown>> {
    const row = await ctx
      .knex("users")
      .where({ tenant_id: tenant.id, id })
      .first<{ resource: Record<string, unknown> }>("resource");
    return row.resource;
  }

  /** A user archived in backup with a queued remove, and the fixtures around it. */
  async function archivedUser(userName = "ann@example.com") {
    const user = await scim.createUser({ userName });
    await appState(user.id, "backup", "archived", "2026-02-01T10:00:00Z");
    await appState(user.id, "dropbox", "suspended", "2026-01-15T08:30:00Z");
    await action(
      user.id,
      "backup",
      "remove",
      "pending",
      "2026-05-02T10:00:00Z",
    );
    await action(
      user.id,
      "dropbox",
      "transfer",
      "in_progress",
      "2026-03-01T09:00:00Z",
    );
    await action(
      user.id,
      "backup",
      "archive",
      "succeeded",
      "2026-02-01T10:00:00Z",
    );
    await action(
      user.id,
      "dropbox",
      "remove",
      "cancelled",
      "2026-02-01T10:00:00Z",
    );
    return user;
  }

  it("shows the user's app states and pending actions on GET /Users/{id}", async () => {
    const user = await archivedUser();
    const res = await getUser(user.id);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.schemas, [URN.user, APPS]);
    assert.deepEqual(res.body[APPS], {
      apps: [
        { app: "backup", state: "archived", since: "2026-02-01T10:00:00.000Z" },
        {
          app: "dropbox",
          state: "suspended",
          since: "2026-01-15T08:30:00.000Z",
        },
      ],
      // Unfinished only, the soonest first.
      pendingActions: [
        {
          app: "dropbox",
          action: "transfer",
          runAt: "2026-03-01T09:00:00.000Z",
          state: "in_progress",
        },
        {
          app: "backup",
          action: "remove",
          runAt: "2026-05-02T10:00:00.000Z",
          state: "pending",
        },
      ],
    } satisfies AppsExtension);
    // The extension sits before meta, and the user's own attributes are unchanged.
    assert.equal(res.body.userName, "ann@example.com");
    assert.deepEqual(Object.keys(res.body).slice(-2), [APPS, "meta"]);
  });

  it("shows only what exists: app states without pending actions, and the reverse", async () => {
    const onlyStates = await scim.createUser({ userName: "states" });
    await appState(onlyStates.id, "backup", "provisioned");
    const onlyActions = await scim.createUser({ userName: "actions" });
    await action(
      onlyActions.id,
      "backup",
      "provision",
      "running",
      "2026-03-01T09:00:00Z",
    );
    const a = await scim.get("Users", onlyStates.id);
    assert.deepEqual(Object.keys(a[APPS] as object), ["apps"]);
    const b = await scim.get("Users", onlyActions.id);
    assert.deepEqual(Object.keys(b[APPS] as object), ["pendingActions"]);
    assert.deepEqual(b.schemas, [URN.user, APPS]);
  });

  it("leaves users without app states or pending actions exactly as before", async () => {
    const created = await scim.createUser({
      userName: "plain@example.com",
      name: { givenName: "Plain" },
      [URN.enterprise]: { department: "Ops" },
    });
    const finished = await scim.createUser({
      userName: "finished@example.com",
    });
    await action(
      finished.id,
      "backup",
      "archive",
      "succeeded",
      "2026-02-01T10:00:00Z",
    );
    for (const user of [created, finished]) {
      const fetched = await scim.get("Users", user.id);
      assert.equal(fetched[APPS], undefined);
      assert.ok(!(fetched.schemas as string[]).includes(APPS));
    }
    const fetched = await scim.get("Users", created.id);
    assert.deepEqual(comparable(fetched), comparable(created));
    for (const filter of ['userName eq "plain@example.com"', "userName pr"]) {
      const page = await list({ filter });
      const found = (page.body.Resources as ScimResource[]).find(
        (r) => r.id === created.id,
      );
      assert.deepEqual(comparable(found!), comparable(created), filter);
    }
  });

  it("answers the Backupify filter with exactly the archived users of that app", async () => {
    const archived = await archivedUser("archived@example.com");
    const provisioned = await scim.createUser({ userName: "provisioned" });
    await appState(provisioned.id, "backup", "provisioned");
    await appState(provisioned.id, "gmail", "archived");
    const otherApp = await scim.createUser({ userName: "other-app" });
    await appState(otherApp.id, "gmail", "archived");
    await scim.createUser({ userName: "nothing" });
    // Another tenant's user archived in backup, and a row of that tenant under our user's id.
    const other = await createTestTenant(ctx);
    const foreign = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(other.auth)
      .send({ schemas: [URN.user], userName: "archived@example.com" });
    assert.equal(foreign.status, 201);
    await appState(foreign.body.id, "backup", "archived", undefined, other.id);
    await appState(provisioned.id, "backup", "archived", undefined, other.id);

    const res = await list({ filter: BACKUPIFY });
    assert.equal(res.status, 200);
    assert.equal(res.body.totalResults, 1);
    assert.deepEqual(
      (res.body.Resources as ScimResource[]).map((r) => r.id),
      [archived.id],
    );
    assert.deepEqual(res.body.Resources[0][APPS].apps[0], {
      app: "backup",
      state: "archived",
      since: "2026-02-01T10:00:00.000Z",
    });

    const search = await request(ctx.app)
      .post("/scim/v2/Users/.search")
      .set(tenant.auth)
      .send({ schemas: [URN.searchRequest], filter: BACKUPIFY });
    assert.equal(search.status, 200);
    assert.deepEqual(
      (search.body.Resources as ScimResource[]).map((r) => r.id),
      [archived.id],
    );

    const theirs = await list({ filter: BACKUPIFY }, other.auth);
    assert.deepEqual(
      (theirs.body.Resources as ScimResource[]).map((r) => r.id),
      [foreign.body.id],
    );
  });

  it("compares app states case-exactly, as the canonical values are written", async () => {
    const user = await archivedUser();
    const upper = await list({ filter: `${APPS}:apps.state eq "ARCHIVED"` });
    assert.equal(upper.status, 200);
    assert.equal(upper.body.totalResults, 0);
    const exact = await list({ filter: `${APPS}:apps.state eq "archived"` });
    assert.deepEqual(
      (exact.body.Resources as ScimResource[]).map((r) => r.id),
      [user.id],
    );
    const pending = await list({
      filter: `${APPS}:pendingActions[app eq "backup" and action eq "remove"]`,
    });
    assert.equal(pending.body.totalResults, 1);
  });

  it("answers 400 invalidFilter for unknown sub-attributes and 400 invalidValue for sortBy", async () => {
    for (const filter of [
      `${APPS}:apps.nope eq "x"`,
      `${APPS}:apps[nope eq "x"]`,
      `${APPS}:pendingActions[since pr]`,
    ]) {
      const res = await list({ filter });
      assert.equal(res.status, 400, filter);
      assert.equal(res.body.scimType, "invalidFilter", filter);
    }
    const sorted = await list({ sortBy: `${APPS}:apps.state` });
    assert.equal(sorted.status, 400);
    assert.equal(sorted.body.scimType, "invalidValue");
    assert.match(sorted.body.detail, /sortBy: .*cannot be used to sort/);
  });

  it("projects the extension with attributes and excludedAttributes", async () => {
    const user = await archivedUser();
    const only = await getUser(user.id, { attributes: `${APPS}:apps` });
    assert.equal(only.status, 200);
    assert.deepEqual(
      Object.keys(only.body).sort(),
      ["id", "schemas", APPS].sort(),
    );
    assert.deepEqual(only.body.schemas, [URN.user, APPS]);
    assert.deepEqual(Object.keys(only.body[APPS]), ["apps"]);

    const sub = await getUser(user.id, {
      attributes: `userName,${APPS}:apps.state`,
    });
    assert.deepEqual(sub.body[APPS].apps, [
      { state: "archived" },
      { state: "suspended" },
    ]);
    assert.equal(sub.body.userName, user.userName);

    const whole = await getUser(user.id, { attributes: APPS });
    assert.deepEqual(Object.keys(whole.body[APPS]), ["apps", "pendingActions"]);

    const core = await getUser(user.id, { attributes: "userName" });
    assert.equal(core.body[APPS], undefined);
    assert.deepEqual(core.body.schemas, [URN.user]);

    const excluded = await getUser(user.id, { excludedAttributes: APPS });
    assert.equal(excluded.body[APPS], undefined);
    assert.deepEqual(excluded.body.schemas, [URN.user]);
    assert.equal(excluded.body.userName, user.userName);

    const noPending = await getUser(user.id, {
      excludedAttributes: `${APPS}:pendingActions`,
    });
    assert.deepEqual(Object.keys(noPending.body[APPS]), ["apps"]);

    const page = await list({
      filter: BACKUPIFY,
      excludedAttributes: `${APPS}:apps`,
    });
    assert.deepEqual(Object.keys(page.body.Resources[0][APPS]), [
      "pendingActions",
    ]);
  });

  it("skips the extension's subqueries when the projection leaves it out", async () => {
    const user = await archivedUser();
    const statements: string[] = [];
    const record = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", record);
    try {
      const read = async (query: Record<string, string>, path = user.id) => {
        statements.length = 0;
        const res = await (path === "" ? list(query) : getUser(path, query));
        assert.equal(res.status, 200);
        const sql = statements.join("\n");
        return {
          apps: sql.includes("FROM app_states"),
          pending: sql.includes("FROM actions"),
        };
      };
      assert.deepEqual(await read({}), { apps: true, pending: true });
      assert.deepEqual(await read({ excludedAttributes: APPS }), {
        apps: false,
        pending: false,
      });
      assert.deepEqual(await read({ attributes: `${APPS}:pendingActions` }), {
        apps: false,
        pending: true,
      });
      assert.deepEqual(await read({ filter: "userName pr" }, ""), {
        apps: true,
        pending: true,
      });
      assert.deepEqual(
        await read({ filter: "userName pr", attributes: "userName" }, ""),
        { apps: false, pending: false },
      );
      assert.deepEqual(
        await read(
          {
            filter: `userName eq "${user.userName}"`,
            excludedAttributes: `${APPS}:apps`,
          },
          "",
        ),
        { apps: false, pending: true },
      );
    } finally {
      ctx.knex.off("query", record);
    }
  });

  it("does not read app states or actions in a tenant that never had a lifecycle policy", async () => {
    const plain = await createTestTenant(ctx);
    const plainScim = createScimClient(ctx, plain);
    const user = await plainScim.createUser({ userName: "plain@example.com" });
    const statements: string[] = [];
    const record = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", record);
    try {
      const res = await request(ctx.app)
        .get(`/scim/v2/Users/${user.id}`)
        .set(plain.auth);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.schemas, [URN.user]);
      const patched = await plainScim.patch("Users", user.id, [
        { op: "replace", path: "displayName", value: "Plain" },
      ]);
      assert.equal(patched.status, 200);
    } finally {
      ctx.knex.off("query", record);
    }
    assert.deepEqual(
      statements.filter((sql) => /app_states|from actions/i.test(sql)),
      [],
    );
  });

  it("reads a page of users with their app states in one statement, however many users", async () => {
    const statementsFor = async (count: number) => {
      const users = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          scim.createUser({ userName: `page-${count}-${i}` }),
        ),
      );
      for (const user of users) await appState(user.id, "backup", "archived");
      const statements: string[] = [];
      const record = (query: { sql: string }) => statements.push(query.sql);
      await list({ filter: `userName sw "page-${count}-"` }); // warm the token cache
      ctx.knex.on("query", record);
      try {
        const res = await list({ filter: `userName sw "page-${count}-"` });
        assert.equal(res.body.Resources.length, count);
        for (const r of res.body.Resources as ScimResource[]) {
          assert.equal((r[APPS] as AppsExtension).apps?.length, 1);
        }
      } finally {
        ctx.knex.off("query", record);
      }
      return statements.length;
    };
    assert.equal(await statementsFor(2), await statementsFor(12));
  });

  it("shows the extension on a userName lookup and in the response to a PATCH", async () => {
    const user = await archivedUser("lookup@example.com");
    const lookup = await list({ filter: 'userName eq "LOOKUP@example.com"' });
    assert.deepEqual(lookup.body.Resources[0].schemas, [URN.user, APPS]);
    const patched = await scim.patch("Users", user.id, [
      { op: "replace", path: "displayName", value: "Ann" },
    ]);
    assert.equal(patched.status, 200);
    assert.equal(patched.body.displayName, "Ann");
    assert.equal(patched.body[APPS].apps.length, 2);
  });

  it("shows the actions a POST queued in the response to that POST", async () => {
    await ctx.services.policies.apply(
      tenant.id,
      {
        apps: [{ id: "audit-log", connector: "log" }],
        rules: [
          {
            id: "join",
            on: "user.created",
            do: [{ app: "audit-log", action: "provision" }],
          },
        ],
      },
      { source: "api" },
    );
    const created = await scim.createUser({ userName: "joiner@example.com" });
    assert.deepEqual(created.schemas, [URN.user, APPS]);
    const pending = (created[APPS] as AppsExtension).pendingActions;
    assert.deepEqual(
      pending?.map((a) => [a.app, a.action, a.state]),
      [["audit-log", "provision", "pending"]],
    );
    assert.deepEqual(
      comparable(await scim.get("Users", created.id)),
      comparable(created),
    );
  });

  it("refuses a PATCH on the extension with 400 mutability and changes nothing", async () => {
    const user = await archivedUser();
    const before = await scim.get("Users", user.id);
    const operations = [
      {
        op: "replace",
        path: `${APPS}:apps`,
        value: [{ app: "backup", state: "provisioned" }],
      },
      {
        op: "add",
        path: `${APPS}:pendingActions`,
        value: [{ app: "x", action: "remove" }],
      },
      { op: "remove", path: `${APPS}:pendingActions` },
      {
        op: "replace",
        path: `${APPS}:apps[app eq "backup"].state`,
        value: "provisioned",
      },
      { op: "replace", path: `${APPS}:apps.state`, value: "provisioned" },
      {
        op: "add",
        path: APPS,
        value: { apps: [{ app: "backup", state: "removed" }] },
      },
      { op: "remove", path: APPS },
    ];
    for (const operation of operations) {
      const res = await scim.patch("Users", user.id, [operation]);
      assert.equal(res.status, 400, JSON.stringify(operation));
      assert.equal(res.body.scimType, "mutability", JSON.stringify(operation));
    }
    assert.deepEqual(
      comparable(await scim.get("Users", user.id)),
      comparable(before),
    );
  });

  it("ignores the extension in a pathless PATCH value, as other readOnly attributes", async () => {
    const user = await archivedUser();
    const res = await scim.patch("Users", user.id, [
      {
        op: "replace",
        value: {
          displayName: "Echo",
          [APPS]: { apps: [{ app: "backup", state: "provisioned" }] },
        },
      },
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.body.displayName, "Echo");
    assert.equal(res.body[APPS].apps[0].state, "archived");
    assert.equal((await storedResource(user.id))[APPS], undefined);
  });

  it("ignores the extension in a PUT body and never stores it", async () => {
    const user = await archivedUser();
    const res = await request(ctx.app)
      .put(`/scim/v2/Users/${user.id}`)
      .set(tenant.auth)
      .send({
        schemas: [URN.user, APPS],
        userName: user.userName,
        displayName: "Put",
        [APPS]: {
          apps: [
            {
              app: "backup",
              state: "provisioned",
              since: "2020-01-01T00:00:00Z",
            },
          ],
          pendingActions: [],
        },
        [`${APPS}:apps`]: [{ app: "gmail", state: "removed" }],
      });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.displayName, "Put");
    // What the server knows, not what the client sent.
    assert.deepEqual(
      (res.body[APPS] as AppsExtension).apps?.map((a) => [a.app, a.state]),
      [
        ["backup", "archived"],
        ["dropbox", "suspended"],
      ],
    );
    const stored = await storedResource(user.id);
    assert.equal(stored[APPS], undefined);
    assert.equal(stored[`${APPS}:apps`], undefined);
    assert.ok(!JSON.stringify(stored).includes("scim-lifecycle"));
  });

  it("ignores the extension in a POST body, even a malformed one", async () => {
    const res = await request(ctx.app)
      .post("/scim/v2/Users")
      .set(tenant.auth)
      .send({
        schemas: [URN.user, APPS],
        userName: "posted@example.com",
        [APPS]: "not even an object",
      });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.schemas, [URN.user]);
    assert.equal(res.body[APPS], undefined);
    assert.deepEqual(await storedResource(res.body.id), {
      userName: "posted@example.com",
      active: true,
    });
  });

  it("publishes the extension at /Schemas and on the User resource type", async () => {
    const schemas = await request(ctx.app)
      .get("/scim/v2/Schemas")
      .set(tenant.auth);
    assert.equal(schemas.status, 200);
    const apps = (schemas.body.Resources as { id: string }[]).find(
      (s) => s.id === APPS,
    );
    assert.ok(apps, "the apps extension is listed");
    const one = await request(ctx.app)
      .get(`/scim/v2/Schemas/${APPS}`)
      .set(tenant.auth);
    assert.equal(one.status, 200);
    assert.equal(one.body.id, APPS);
    type Described = {
      name: string;
      type: string;
      multiValued: boolean;
      mutability: string;
      returned: string;
      caseExact?: boolean;
      canonicalValues?: string[];
      subAttributes?: Described[];
    };
    const attributes = one.body.attributes as Described[];
    assert.deepEqual(
      attributes.map((a) => [
        a.name,
        a.type,
        a.multiValued,
        a.mutability,
        a.returned,
      ]),
      [
        ["apps", "complex", true, "readOnly", "default"],
        ["pendingActions", "complex", true, "readOnly", "default"],
      ],
    );
    const [appsAttribute, pendingAttribute] = attributes;
    assert.deepEqual(
      appsAttribute!.subAttributes!.map((s) => [
        s.name,
        s.type,
        s.caseExact ?? false,
        s.mutability,
      ]),
      [
        ["app", "string", true, "readOnly"],
        ["state", "string", true, "readOnly"],
        ["since", "dateTime", false, "readOnly"],
      ],
    );
    assert.deepEqual(
      appsAttribute!.subAttributes!.find((s) => s.name === "state")!
        .canonicalValues,
      ["provisioned", "suspended", "archived", "removed", "unknown"],
    );
    assert.deepEqual(
      pendingAttribute!.subAttributes!.map((s) => s.name),
      ["app", "action", "runAt", "state"],
    );
    assert.deepEqual(
      pendingAttribute!.subAttributes!.find((s) => s.name === "state")!
        .canonicalValues,
      ["pending", "running", "in_progress"],
    );

    const type = await request(ctx.app)
      .get("/scim/v2/ResourceTypes/User")
      .set(tenant.auth);
    assert.equal(type.status, 200);
    assert.deepEqual(type.body.schemaExtensions, [
      { schema: URN.enterprise, required: false },
      { schema: APPS, required: false },
    ]);
  });
});
