import assert from "node:assert/strict";
import type { Knex } from "knex";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openDatabase, type Database } from "../../src/db/open-database.ts";
import { parseFilter } from "../../src/domain/scim-filter.ts";
import { isAppError } from "../../src/errors.ts";
import { buildResourceSchemas, URN } from "../../src/scim/schemas.ts";
import {
  compileFilter,
  compileSortBy,
  type FilterTarget,
} from "../../src/store/scim-filter-sql.ts";
import { insertAction, insertAppState } from "../support/lifecycle-rows.ts";

const APPS = URN.apps;
const TENANT = "00000000-0000-4000-8000-0000000000a1";
const OTHER_TENANT = "00000000-0000-4000-8000-0000000000a2";
const ID = {
  ann: "30000000-0000-4000-8000-000000000001",
  bob: "30000000-0000-4000-8000-000000000002",
  cat: "30000000-0000-4000-8000-000000000003",
  dan: "30000000-0000-4000-8000-000000000004",
  eve: "30000000-0000-4000-8000-000000000005",
};

function userRow(tenantId: string, id: string, userName: string) {
  return {
    tenant_id: tenantId,
    id,
    user_name: userName,
    active: true,
    resource: JSON.stringify({ userName, active: true }),
    emails_search: "",
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  };
}

describe("compileFilter on the apps extension (PGlite)", () => {
  let database: Database;
  let knex: Knex;
  const users: FilterTarget = {
    schema: buildResourceSchemas().user,
    table: "users",
    alias: "u",
  };

  before(async () => {
    database = await openDatabase({ memory: true });
    knex = database.knex;
    await migrateToLatest(knex);
    await knex("tenants").insert([
      { id: TENANT, name: "apps" },
      { id: OTHER_TENANT, name: "apps-other" },
    ]);
    await knex("users").insert(
      Object.entries(ID).map(([name, id]) => userRow(TENANT, id, name)),
    );
    // The other tenant has a user with eve's id, archived in backup: never seen from TENANT.
    await knex("users").insert(userRow(OTHER_TENANT, ID.eve, "eve"));
    const state = (
      tenantId: string,
      userId: string,
      app: string,
      value: string,
      since: string,
    ) => insertAppState(knex, { tenantId, userId, app, state: value, since });
    await state(TENANT, ID.ann, "backup", "archived", "2026-01-10T00:00:00Z");
    await state(
      TENANT,
      ID.ann,
      "dropbox",
      "provisioned",
      "2025-01-01T00:00:00Z",
    );
    await state(
      TENANT,
      ID.bob,
      "backup",
      "provisioned",
      "2025-03-01T00:00:00Z",
    );
    await state(TENANT, ID.bob, "dropbox", "archived", "2026-02-01T00:00:00Z");
    await state(TENANT, ID.cat, "backup", "archived", "2025-06-01T00:00:00Z");
    await state(
      OTHER_TENANT,
      ID.eve,
      "backup",
      "archived",
      "2026-01-01T00:00:00Z",
    );
    const action = (
      tenantId: string,
      userId: string,
      app: string,
      kind: string,
      value: string,
      runAt: string,
    ) =>
      insertAction(knex, { tenantId, userId, app, kind, state: value, runAt });
    await action(
      TENANT,
      ID.cat,
      "backup",
      "remove",
      "pending",
      "2026-04-01T00:00:00Z",
    );
    await action(
      TENANT,
      ID.dan,
      "dropbox",
      "suspend",
      "running",
      "2026-03-01T00:00:00Z",
    );
    // Finished actions are not pending.
    await action(
      TENANT,
      ID.eve,
      "backup",
      "archive",
      "succeeded",
      "2026-02-01T00:00:00Z",
    );
    await action(
      TENANT,
      ID.eve,
      "dropbox",
      "remove",
      "cancelled",
      "2026-02-01T00:00:00Z",
    );
    await action(
      OTHER_TENANT,
      ID.eve,
      "backup",
      "remove",
      "pending",
      "2026-02-01T00:00:00Z",
    );
  });

  after(async () => {
    await database.close();
  });

  async function userNames(filter: string): Promise<string[]> {
    const where = compileFilter(parseFilter(filter), users);
    const rows = await knex.raw<{ rows: { user_name: string }[] }>(
      `SELECT user_name FROM users u WHERE u.tenant_id = ? AND (${where.sql})`,
      [TENANT, ...where.bindings] as Knex.RawBinding[],
    );
    return rows.rows.map((r) => r.user_name).sort();
  }

  const cases: [string, string[]][] = [
    // The Backupify question: archived in backup, same element
    [`${APPS}:apps[app eq "backup" and state eq "archived"]`, ["ann", "cat"]],
    [`${APPS}:apps[app eq "dropbox" and state eq "archived"]`, ["bob"]],
    [`${APPS}:apps[app eq "backup" and state eq "provisioned"]`, ["bob"]],
    // Across elements: bob has backup (provisioned) and an archived dropbox
    [
      `${APPS}:apps.app eq "backup" and ${APPS}:apps.state eq "archived"`,
      ["ann", "bob", "cat"],
    ],
    [`${APPS}:apps.state eq "archived"`, ["ann", "bob", "cat"]],
    [`${APPS}:apps.app eq "dropbox"`, ["ann", "bob"]],
    // caseExact: the states and app ids are compared as stored
    [`${APPS}:apps.state eq "ARCHIVED"`, []],
    [`${APPS}:apps.app eq "Backup"`, []],
    [`${APPS}:apps[app eq "BACKUP" and state eq "archived"]`, []],
    // attribute names and the URN are case-insensitive (RFC 7643 §2.1)
    [`${APPS.toLowerCase()}:APPS.State eq "archived"`, ["ann", "bob", "cat"]],
    // ne: no element equals, so users without app states match
    [`${APPS}:apps.state ne "archived"`, ["dan", "eve"]],
    [`${APPS}:apps[state ne "archived"]`, ["ann", "bob"]],
    [`${APPS}:apps pr`, ["ann", "bob", "cat"]],
    [`not (${APPS}:apps pr)`, ["dan", "eve"]],
    [`${APPS}:apps.since pr`, ["ann", "bob", "cat"]],
    [`${APPS}:apps[app sw "drop"]`, ["ann", "bob"]],
    [`${APPS}:apps[app co "ack"]`, ["ann", "bob", "cat"]],
    [`${APPS}:apps[since lt "2026-01-01T00:00:00Z"]`, ["ann", "bob", "cat"]],
    [
      `${APPS}:apps[state eq "archived" and since lt "2026-01-01T00:00:00Z"]`,
      ["cat"],
    ],
    [`${APPS}:apps.since ge "2026-02-01"`, ["bob"]],
    [`${APPS}:apps[not (app eq "backup") and state eq "archived"]`, ["bob"]],
    // pending actions: only unfinished ones, only this tenant's
    [`${APPS}:pendingActions pr`, ["cat", "dan"]],
    [`${APPS}:pendingActions.action eq "remove"`, ["cat"]],
    [`${APPS}:pendingActions.state eq "succeeded"`, []],
    [`${APPS}:pendingActions.state eq "running"`, ["dan"]],
    [
      `${APPS}:pendingActions[app eq "dropbox" and action eq "suspend"]`,
      ["dan"],
    ],
    [`${APPS}:pendingActions[app eq "backup" and action eq "suspend"]`, []],
    [`${APPS}:pendingActions.runAt le "2026-03-15T00:00:00Z"`, ["dan"]],
    [`${APPS}:pendingActions.action eq "REMOVE"`, []],
    // combined with core attributes and each other
    [
      `${APPS}:apps[app eq "backup"] or ${APPS}:pendingActions[app eq "backup"]`,
      ["ann", "bob", "cat"],
    ],
    [`userName sw "a" and ${APPS}:apps.state eq "archived"`, ["ann"]],
    [`schemas eq "${APPS}"`, ["ann", "bob", "cat", "dan"]],
    [`schemas ne "${APPS}"`, ["eve"]],
    // injection attempts are plain values
    [`${APPS}:apps.app eq "backup' OR 1=1 --"`, []],
  ];

  for (const [filter, expected] of cases) {
    it(`${filter.replaceAll(APPS, "…apps")} → [${expected.join(", ")}]`, async () => {
      assert.deepEqual(await userNames(filter), [...expected].sort());
    });
  }

  it("compiles the Backupify filter to one EXISTS over app_states with bound values", () => {
    const where = compileFilter(
      parseFilter(`${APPS}:apps[app eq "backup" and state eq "archived"]`),
      users,
    );
    assert.equal(
      where.sql,
      "EXISTS (SELECT 1 FROM app_states u_1 WHERE u_1.tenant_id = u.tenant_id " +
        "AND u_1.user_id = u.id AND ((u_1.app_id = ?) AND (u_1.state = ?)))",
    );
    assert.deepEqual(where.bindings, ["backup", "archived"]);
  });

  it("compiles pendingActions to an EXISTS over the unfinished actions only", () => {
    const where = compileFilter(
      parseFilter(`${APPS}:pendingActions.action eq "remove"`),
      users,
    );
    assert.equal(
      where.sql,
      "EXISTS (SELECT 1 FROM actions u_1 WHERE u_1.tenant_id = u.tenant_id AND u_1.user_id = u.id " +
        "AND u_1.state IN ('pending', 'running', 'in_progress') AND (u_1.kind = ?))",
    );
    assert.deepEqual(where.bindings, ["remove"]);
  });

  it("never sees another tenant's app states or actions", async () => {
    assert.deepEqual(
      await userNames(`${APPS}:apps.app eq "backup" and userName eq "eve"`),
      [],
    );
    assert.deepEqual(
      await userNames(`${APPS}:pendingActions pr and userName eq "eve"`),
      [],
    );
  });

  const invalid: [string, RegExp][] = [
    [`${APPS}:apps.nope eq "x"`, /Unknown attribute/],
    [`${APPS}:nope pr`, /Unknown attribute/],
    [`${APPS}:apps[nope eq "x"]`, /has no sub-attribute "nope"/],
    [`${APPS}:pendingActions[since pr]`, /has no sub-attribute "since"/],
    [`${APPS}:apps eq "backup"`, /has no "value"/],
    [`${APPS}:apps.since gt "yesterday"`, /is a dateTime/],
    [`${APPS}:apps.state eq 42`, /is a string/],
    [`${APPS}:apps.state eq null`, /pr/],
    // extension attributes need their URN
    ['apps[app eq "backup"]', /Unknown attribute "apps"/],
  ];
  for (const [filter, message] of invalid) {
    it(`rejects ${filter.replaceAll(APPS, "…apps")} with scim.invalid_filter`, () => {
      assert.throws(
        () => compileFilter(parseFilter(filter), users),
        (error: unknown) =>
          isAppError(error, "scim.invalid_filter") &&
          message.test(error.message),
      );
    });
  }

  it("refuses to sort by the extension with scim.invalid_value and says why", () => {
    for (const path of [
      `${APPS}:apps.state`,
      `${APPS}:apps`,
      `${APPS}:pendingActions.runAt`,
    ]) {
      assert.throws(
        () => compileSortBy(path, users),
        (error: unknown) =>
          isAppError(error, "scim.invalid_value") &&
          /cannot be used to sort: .*several/.test(error.message),
        path,
      );
    }
  });
});
