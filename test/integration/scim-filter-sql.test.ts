import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Knex } from "knex";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openDatabase, type Database } from "../../src/db/open-database.ts";
import { parseFilter } from "../../src/domain/scim-filter.ts";
import { isAppError } from "../../src/errors.ts";
import { buildResourceSchemas } from "../../src/scim/schemas.ts";
import {
  compileFilter,
  compileSortBy,
  type FilterTarget,
} from "../../src/store/scim-filter-sql.ts";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const RFC_EXAMPLES = new URL(
  "../../../shared/scim-conformance/rfc7644/filter-examples.json",
  import.meta.url,
);

const TENANT = "00000000-0000-4000-8000-000000000001";
const OTHER_TENANT = "00000000-0000-4000-8000-000000000002";
const ID = {
  bjensen: "10000000-0000-4000-8000-000000000001",
  jsmith: "10000000-0000-4000-8000-000000000002",
  pat: "10000000-0000-4000-8000-000000000003",
  percent: "10000000-0000-4000-8000-000000000004",
  inactive: "10000000-0000-4000-8000-000000000005",
  underscore: "10000000-0000-4000-8000-000000000006",
  omalley: "10000000-0000-4000-8000-000000000007",
  carol: "10000000-0000-4000-8000-000000000008",
  admins: "20000000-0000-4000-8000-000000000001",
  engineering: "20000000-0000-4000-8000-000000000002",
  empty: "20000000-0000-4000-8000-000000000003",
};

interface UserSpec {
  id: string;
  resource: Record<string, unknown> & { userName: string };
  created: string;
  updated?: string;
}

const USERS: UserSpec[] = [
  {
    id: ID.bjensen,
    created: "2020-01-01T00:00:00Z",
    updated: "2024-06-01T00:00:00Z",
    resource: {
      userName: "bjensen",
      externalId: "EXT-bj",
      displayName: "Barbara Jensen",
      active: true,
      name: { givenName: "Barbara", familyName: "Jensen" },
      title: "Tour Guide",
      userType: "Employee",
      emails: [
        { value: "bjensen@example.com", type: "work", primary: true },
        { value: "babs@jensen.org", type: "home" },
      ],
      phoneNumbers: [{ value: "555-555-8377", type: "work" }],
      [ENTERPRISE]: {
        employeeNumber: "701984",
        department: "Tour Operations",
        manager: { value: ID.jsmith },
      },
    },
  },
  {
    id: ID.jsmith,
    created: "2021-01-01T00:00:00Z",
    resource: {
      userName: "JSmith",
      externalId: "ext-js",
      displayName: "John Smith",
      active: true,
      title: "",
      userType: "Manager",
      emails: [
        { value: "John.Smith@Example.com", type: "work", primary: true },
      ],
      [ENTERPRISE]: { department: "Engineering" },
    },
  },
  {
    id: ID.pat,
    created: "2022-01-01T00:00:00Z",
    resource: {
      userName: "pat",
      active: true,
      userType: "Contractor",
      emails: [
        { value: "pat@example.com", type: "work" },
        { value: "pat@xfiles.net", type: "home" },
      ],
    },
  },
  {
    id: ID.percent,
    created: "2022-02-01T00:00:00Z",
    resource: { userName: "100%off", active: true },
  },
  {
    id: ID.inactive,
    created: "2019-05-01T00:00:00Z",
    resource: { userName: "inactive.user", active: false },
  },
  {
    id: ID.underscore,
    created: "2022-03-01T00:00:00Z",
    resource: {
      userName: "under_score",
      displayName: "Under Score",
      active: true,
      emails: [{ value: "u_s@example.net", type: "other" }],
      [ENTERPRISE]: { employeeNumber: "42" },
    },
  },
  {
    id: ID.omalley,
    created: "2022-04-01T00:00:00Z",
    resource: {
      userName: "o'malley",
      active: true,
      name: { givenName: "Kim", familyName: "O'Malley" },
    },
  },
  {
    id: ID.carol,
    created: "2022-05-01T00:00:00Z",
    updated: "2025-01-01T00:00:00Z",
    resource: {
      userName: "carol",
      active: true,
      title: "Engineer",
      userType: "Intern",
      emails: [{ value: "carol@EXAMPLE.org", type: "work" }],
      ims: [{ value: "carol@foo.com", type: "xmpp" }],
    },
  },
];

const ALL = USERS.map((u) => u.resource.userName);
const allBut = (...names: string[]) => ALL.filter((n) => !names.includes(n));

/** A users row shaped as the store writes it. */
function userRow(tenantId: string, spec: UserSpec) {
  const { resource } = spec;
  const emails = (resource.emails ?? []) as { value: string }[];
  return {
    tenant_id: tenantId,
    id: spec.id,
    user_name: resource.userName,
    external_id: resource.externalId ?? null,
    display_name: resource.displayName ?? null,
    active: resource.active !== false,
    resource: JSON.stringify(resource),
    emails_search: emails.map((e) => e.value.toLowerCase()).join("\n"),
    created_at: spec.created,
    updated_at: spec.updated ?? spec.created,
  };
}

function groupRow(
  tenantId: string,
  id: string,
  displayName: string,
  externalId?: string,
) {
  return {
    tenant_id: tenantId,
    id,
    display_name: displayName,
    external_id: externalId ?? null,
    resource: JSON.stringify({
      displayName,
      ...(externalId ? { externalId } : {}),
    }),
    created_at: "2023-01-01T00:00:00Z",
    updated_at: "2023-01-01T00:00:00Z",
  };
}

function member(
  tenantId: string,
  groupId: string,
  memberId: string,
  type: "User" | "Group",
) {
  return {
    tenant_id: tenantId,
    group_id: groupId,
    member_id: memberId,
    member_type: type,
    added_at: "2023-01-01T00:00:00Z",
  };
}

describe("compileFilter against PostgreSQL (PGlite)", () => {
  let database: Database;
  let knex: Knex;
  const schemas = buildResourceSchemas();
  const users: FilterTarget = {
    schema: schemas.user,
    table: "users",
    alias: "u",
  };
  const groups: FilterTarget = {
    schema: schemas.group,
    table: "groups",
    alias: "g",
  };

  before(async () => {
    database = await openDatabase({ memory: true });
    knex = database.knex;
    await migrateToLatest(knex);
    await knex("tenants").insert([
      { id: TENANT, name: "filters" },
      { id: OTHER_TENANT, name: "other" },
    ]);
    await knex("users").insert(USERS.map((spec) => userRow(TENANT, spec)));
    // Another tenant holding a same-named user and a group with the same id as "Admins", whose
    // member id is pat's: filters must never see across tenants.
    await knex("users").insert(
      userRow(OTHER_TENANT, { ...USERS[0]!, id: ID.pat }),
    );
    await knex("groups").insert([
      groupRow(TENANT, ID.admins, "Admins"),
      groupRow(TENANT, ID.engineering, "Engineering Team", "grp-eng"),
      groupRow(TENANT, ID.empty, "Empty"),
      groupRow(OTHER_TENANT, ID.admins, "Admins"),
    ]);
    await knex("group_members").insert([
      member(TENANT, ID.admins, ID.bjensen, "User"),
      member(TENANT, ID.admins, ID.jsmith, "User"),
      member(TENANT, ID.engineering, ID.jsmith, "User"),
      member(TENANT, ID.engineering, ID.carol, "User"),
      member(TENANT, ID.engineering, ID.admins, "Group"),
      member(OTHER_TENANT, ID.admins, ID.pat, "User"),
    ]);
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

  async function groupNames(filter: string): Promise<string[]> {
    const where = compileFilter(parseFilter(filter), groups);
    const rows = await knex.raw<{ rows: { display_name: string }[] }>(
      `SELECT display_name FROM groups g WHERE g.tenant_id = ? AND (${where.sql})`,
      [TENANT, ...where.bindings] as Knex.RawBinding[],
    );
    return rows.rows.map((r) => r.display_name).sort();
  }

  const userCases: [string, string[]][] = [
    // userName: caseExact false, every operator
    ['userName eq "BJENSEN"', ["bjensen"]],
    ['Username Eq "jsmith"', ["JSmith"]],
    ['userName ne "bjensen"', allBut("bjensen")],
    ['userName co "SMI"', ["JSmith"]],
    ['userName sw "B"', ["bjensen"]],
    ['userName ew "SCORE"', ["under_score"]],
    ['userName gt "o"', ["o'malley", "pat", "under_score"]],
    ['userName ge "under_score"', ["under_score"]],
    ['userName lt "c"', ["100%off", "bjensen"]],
    ['userName le "CAROL"', ["100%off", "bjensen", "carol"]],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', ["JSmith"]],
    ['displayName eq "barbara jensen"', ["bjensen"]],
    // caseExact attributes
    ['externalId eq "EXT-bj"', ["bjensen"]],
    ['externalId eq "ext-bj"', []],
    ['externalId ne "EXT-bj"', allBut("bjensen")],
    [`id eq "${ID.bjensen}"`, ["bjensen"]],
    [`id eq "${ID.bjensen.toUpperCase()}"`, ["bjensen"]],
    ['id eq "not-a-uuid"', []],
    ['id ne "not-a-uuid"', ALL],
    [`id sw "10000000-0000-4000-8000-00000000000"`, ALL],
    // booleans, including Entra's strings
    ["active eq false", ["inactive.user"]],
    ['active eq "True"', allBut("inactive.user")],
    ["active ne true", ["inactive.user"]],
    // presence and absence
    ["title pr", ["bjensen", "carol"]],
    ["not (title pr)", allBut("bjensen", "carol")],
    ['title ne "Engineer"', allBut("carol")],
    ["name pr", ["bjensen", "o'malley"]],
    ["emails pr", ["JSmith", "bjensen", "carol", "pat", "under_score"]],
    ["not (emails pr)", ["100%off", "inactive.user", "o'malley"]],
    ["emails.type pr", ["JSmith", "bjensen", "carol", "pat", "under_score"]],
    // complex and multi-valued attributes
    ['name.familyName co "O\'Malley"', ["o'malley"]],
    ['name.givenName sw "bar"', ["bjensen"]],
    ['emails co "example.com"', ["JSmith", "bjensen", "pat"]],
    ['emails.value eq "JOHN.SMITH@example.COM"', ["JSmith"]],
    ['emails.value ew ".ORG"', ["bjensen", "carol"]],
    ['emails.value ne "bjensen@example.com"', allBut("bjensen")],
    ['emails.type eq "work"', ["JSmith", "bjensen", "carol", "pat"]],
    ["emails.primary eq true", ["JSmith", "bjensen"]],
    ['phoneNumbers.value co "555"', ["bjensen"]],
    // same-element semantics in value paths
    ['emails[type eq "work" and value co "xfiles"]', []],
    ['emails[type eq "home" and value co "xfiles"]', ["pat"]],
    ['emails.type eq "work" and emails.value co "xfiles"', ["pat"]],
    ['emails[not (type eq "work")]', ["bjensen", "pat", "under_score"]],
    [
      'emails[type eq "work" or primary eq true] and userType eq "Intern"',
      ["carol"],
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      ["JSmith", "bjensen", "carol", "pat"],
    ],
    ['name[givenName eq "kim"]', ["o'malley"]],
    // precedence and grouping
    [
      'userType eq "Intern" or userType eq "Employee" and active eq false',
      ["carol"],
    ],
    [
      '(userType eq "Intern" or userType eq "Employee") and active eq true',
      ["bjensen", "carol"],
    ],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      ["bjensen"],
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      ["100%off", "inactive.user", "o'malley", "under_score"],
    ],
    // enterprise extension
    [`${ENTERPRISE}:department eq "engineering"`, ["JSmith"]],
    [`${ENTERPRISE}:employeeNumber pr`, ["bjensen", "under_score"]],
    [`${ENTERPRISE}:manager.value eq "${ID.jsmith}"`, ["bjensen"]],
    [`schemas eq "${ENTERPRISE}"`, ["JSmith", "bjensen", "under_score"]],
    // meta
    ['meta.created lt "2020-06-01T00:00:00Z"', ["bjensen", "inactive.user"]],
    ['meta.created eq "2019-05-01T02:00:00+02:00"', ["inactive.user"]],
    ['meta.lastModified ge "2024-06-01T00:00:00Z"', ["bjensen", "carol"]],
    ['meta.lastModified gt "2024-06-01T00:00:00Z"', ["carol"]],
    ['meta.lastModified le "2019-05-01"', ["inactive.user"]],
    ['meta.resourceType eq "User"', ALL],
    ["meta pr", ALL],
    // groups, read from group_members (and only this tenant's)
    [`groups.value eq "${ID.admins}"`, ["JSmith", "bjensen"]],
    [`groups eq "${ID.engineering}"`, ["JSmith", "carol"]],
    ['groups.display eq "engineering team"', ["JSmith", "carol"]],
    [`groups[display sw "Adm" and value eq "${ID.engineering}"]`, []],
    ["groups pr", ["JSmith", "bjensen", "carol"]],
    [`groups.value ne "${ID.admins}"`, allBut("bjensen", "JSmith")],
    // LIKE wildcards are literal; injection attempts are plain values
    ['userName co "%"', ["100%off"]],
    ['userName co "_"', ["under_score"]],
    ['userName sw "100%"', ["100%off"]],
    ['emails.value co "_"', ["under_score"]],
    [`userName eq "x' OR 1=1 --"`, []],
    ['userName eq "bjensen\\" or \\"1\\"=\\"1"', []],
    [`userName co "'); DROP TABLE users; --"`, []],
  ];

  for (const [filter, expected] of userCases) {
    it(`${filter} → [${expected.join(", ")}]`, async () => {
      assert.deepEqual(await userNames(filter), [...expected].sort());
    });
  }

  const groupCases: [string, string[]][] = [
    ['displayName eq "ADMINS"', ["Admins"]],
    ['displayName co "team"', ["Engineering Team"]],
    ['externalId eq "grp-eng"', ["Engineering Team"]],
    [`members.value eq "${ID.bjensen}"`, ["Admins"]],
    [`members.value eq "${ID.jsmith}"`, ["Admins", "Engineering Team"]],
    [`members eq "${ID.pat}"`, []],
    ['members.value eq "not-a-uuid"', []],
    ['members[type eq "group"]', ["Engineering Team"]],
    ["members pr", ["Admins", "Engineering Team"]],
    ["not (members pr)", ["Empty"]],
    [`id eq "${ID.empty}"`, ["Empty"]],
  ];

  for (const [filter, expected] of groupCases) {
    it(`groups: ${filter} → [${expected.join(", ")}]`, async () => {
      assert.deepEqual(await groupNames(filter), [...expected].sort());
    });
  }

  it("compiles the primary lookups to index-friendly SQL", () => {
    const compile = (filter: string, target: FilterTarget) =>
      compileFilter(parseFilter(filter), target).sql;
    assert.equal(
      compile('userName eq "x"', users),
      "lower(u.user_name) = lower(?)",
    );
    assert.equal(compile('externalId eq "x"', users), "u.external_id = ?");
    assert.equal(compile(`id eq "${ID.bjensen}"`, users), "u.id = ?::uuid");
    assert.equal(
      compile('displayName eq "x"', groups),
      "lower(g.display_name) = lower(?)",
    );
    assert.match(
      compile('emails.value co "x"', users),
      /^\(u\.emails_search LIKE \? ESCAPE/,
    );
  });

  it("binds values and never writes them into the SQL", () => {
    const where = compileFilter(
      parseFilter(`userName eq "x' OR 1=1 --"`),
      users,
    );
    assert.ok(!where.sql.includes("OR 1=1"));
    assert.deepEqual(where.bindings, ["x' OR 1=1 --"]);
  });

  it("runs every RFC 7644 example filter", async function () {
    if (!existsSync(fileURLToPath(RFC_EXAMPLES))) this.skip();
    const examples = JSON.parse(readFileSync(RFC_EXAMPLES, "utf8")) as {
      valid: { id: string; filter: string }[];
    };
    for (const example of examples.valid) {
      await userNames(example.filter);
    }
  });

  const invalid: [string, RegExp][] = [
    ['nickname2 eq "x"', /Unknown attribute "nickname2"/],
    ['password eq "secret"', /"password" is not allowed/],
    ["password pr", /"password" is not allowed/],
    ['name.nope eq "x"', /Unknown attribute "name.nope"/],
    ['emails[nope eq "x"]', /"emails" has no sub-attribute "nope"/],
    ["active gt true", /"gt" cannot be used on "active"/],
    ['active co "t"', /"co" cannot be used on "active"/],
    ['meta.created co "2020"', /"co" cannot be used on "meta.created"/],
    ['active eq "yes"', /"active" is a boolean/],
    ["userName eq 42", /"userName" is a string/],
    ['meta.created gt "yesterday"', /"meta.created" is a dateTime/],
    ['meta.lastModified lt "2021-02-30T00:00:00Z"', /is a dateTime/],
    ["userName eq null", /use "userName pr"/],
    ['name eq "x"', /"name" is complex/],
    ['addresses eq "x"', /"addresses" has no "value"/],
    ['userName[value eq "x"]', /needs a multi-valued or complex attribute/],
    ['meta.location eq "x"', /"meta.location" cannot be used in filters/],
    ['schemas co "urn"', /"schemas" can only be compared/],
  ];
  for (const [filter, message] of invalid) {
    it(`rejects ${filter} with scim.invalid_filter`, () => {
      assert.throws(
        () => compileFilter(parseFilter(filter), users),
        (error: unknown) =>
          isAppError(error, "scim.invalid_filter") &&
          message.test(error.message),
      );
    });
  }

  it("rejects members.display on groups with scim.invalid_filter", () => {
    assert.throws(
      () => compileFilter(parseFilter('members.display eq "x"'), groups),
      (error: unknown) => isAppError(error, "scim.invalid_filter"),
    );
  });

  describe("compileSortBy", () => {
    async function sorted(path: string, target = users): Promise<string[]> {
      const rows = await knex.raw<{ rows: { user_name: string }[] }>(
        `SELECT user_name FROM users u WHERE u.tenant_id = ? ` +
          `ORDER BY ${compileSortBy(path, target)} NULLS LAST, u.seq`,
        [TENANT],
      );
      return rows.rows.map((r) => r.user_name);
    }

    it("sorts userName case-insensitively by lower()", async () => {
      assert.equal(compileSortBy("userName", users), "lower(u.user_name)");
      const names = await sorted("userName");
      assert.deepEqual(names.slice(0, 4), [
        "100%off",
        "bjensen",
        "carol",
        "inactive.user",
      ]);
      assert.equal(names[4], "JSmith");
    });

    it("sorts by dates and by the primary (else first) value of a multi-valued attribute", async () => {
      assert.equal((await sorted("meta.created"))[0], "inactive.user");
      const byEmail = await sorted("emails");
      assert.deepEqual(byEmail.slice(0, 5), [
        "bjensen",
        "carol",
        "JSmith",
        "pat",
        "under_score",
      ]);
    });

    it("rejects unknown and hidden attributes with scim.invalid_value", () => {
      for (const path of ["nope", "password", "groups", "name"]) {
        assert.throws(
          () => compileSortBy(path, users),
          (error: unknown) => isAppError(error, "scim.invalid_value"),
          path,
        );
      }
    });
  });
});
