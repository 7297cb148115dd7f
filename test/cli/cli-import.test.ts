import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { CLI_TOKEN_ID } from "../../src/cli/cli-context.ts";
import { URN } from "../../src/scim/schemas.ts";
import { findTenantByName } from "../../src/store/tenants-store.ts";
import type { UserRow } from "../../src/store/users-store.ts";
import { createCliSandbox, type CliSandbox } from "./cli-process.ts";

interface ImportJson {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  rowsPerSecond: number;
  requestId: string;
  dryRun: boolean;
  failures: { line: number; userName: string | null; reason: string }[];
}

const POLICY = `tenants:
  hr:
    apps:
      - id: directory
        connector: log
    rules:
      - id: join
        on: user.created
        do: [{ app: directory, action: provision }]
      - id: leave
        on: user.deactivated
        do: [{ app: directory, action: suspend }]
`;

// carol's manager (dave) comes later in the file: dave is written first.
const FIRST = `User Name,externalId,givenName,familyName,email,title,department,manager,active
alice,HR-1,Alice,Anders,alice@hr.test,CEO,Exec,,true
bob,HR-2,Bob,Brown,bob@hr.test,Engineer,R&D,alice,true
carol,HR-3,Carol,Chen,carol@hr.test,Engineer,R&D,dave,
dave,HR-4,Dave,Doe,dave@hr.test,CTO,R&D,alice,true
`;

// bob gets a new title, dave leaves, erin joins (matched by nothing), ALICE is matched
// case-insensitively and unchanged; four rows are bad.
const SECOND = `userName,externalId,givenName,familyName,email,title,department,manager,active
ALICE,HR-1,Alice,Anders,alice@hr.test,CEO,Exec,,true
bob,HR-2,Bob,Brown,bob@hr.test,Staff Engineer,R&D,alice,true
carol,HR-3,Carol,Chen,carol@hr.test,Engineer,R&D,dave,
dave,HR-4,Dave,Doe,dave@hr.test,CTO,R&D,alice,false
erin,HR-5,Erin,Evans,erin@hr.test,Designer,R&D,carol,true
,HR-6,No,Name,,,,,
frank,HR-7,Frank,Fox,frank@hr.test,,,,maybe
Bob,HR-8,Bob,Again,,,,,
gina,HR-9,Gina,Gray,gina@hr.test,,,nobody-at-all,true
`;

describe("CLI: import users from a CSV file", function () {
  this.timeout(240_000);
  let cli: CliSandbox;

  before(async () => {
    cli = await createCliSandbox();
    await writeFile(`${cli.workDir}/policy.yaml`, POLICY);
    await writeFile(`${cli.workDir}/first.csv`, FIRST);
    await writeFile(`${cli.workDir}/second.csv`, SECOND);
    await writeFile(
      `${cli.workDir}/typo.csv`,
      "userName,emial\nzoe,zoe@hr.test\n",
    );
    assert.equal((await cli.run(["tenant", "create", "hr"])).code, 0);
    assert.equal(
      (await cli.run(["policy", "apply", `${cli.workDir}/policy.yaml`])).code,
      0,
    );
  });
  after(async () => {
    await cli.dispose();
  });

  it("creates users, resolving managers that come later in the file", async () => {
    const result = await cli.run([
      "import",
      `${cli.workDir}/first.csv`,
      "--tenant",
      "hr",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /4 rows: 4 created, 0 updated, 0 unchanged, 0 failed in [\d.]+ s \(\d+ rows\/s\)/,
    );
    await cli.inProcess(async (_services, database) => {
      const users = await usersByName(database.knex);
      const enterprise = (u: UserRow) =>
        u.resource[URN.enterpriseUser] as Record<string, unknown>;
      assert.deepEqual(enterprise(users.carol!).manager, {
        value: users.dave!.id,
      });
      assert.deepEqual(enterprise(users.bob!).manager, {
        value: users.alice!.id,
      });
      assert.deepEqual(users.alice!.resource.emails, [
        { value: "alice@hr.test", type: "work", primary: true },
      ]);
      // The same write path as SCIM: an event, an audit entry and the policy's action per user.
      const tenant = (await findTenantByName(database.knex, "hr"))!;
      const events = await database
        .knex("lifecycle_events")
        .where({ tenant_id: tenant.id, type: "user.created" })
        .count<{ count: string }[]>("* as count");
      assert.equal(Number(events[0]!.count), 4);
      const actions = await database
        .knex("actions")
        .where({ tenant_id: tenant.id, app_id: "directory", kind: "provision" })
        .count<{ count: string }[]>("* as count");
      assert.equal(Number(actions[0]!.count), 4);
      const entry = await database
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, key: "scim.user.created" })
        .first<{
          actor_token_id: string;
          request_id: string;
          detail: Record<string, unknown>;
        }>();
      assert.equal(entry?.actor_token_id, CLI_TOKEN_ID);
      assert.match(entry!.request_id, /^cli-import-/);
      assert.match(String(entry!.detail.actor), /^cli:.+@.+/);
      assert.match(String(entry!.detail.path), /^import first\.csv line \d+$/);
    });
  });

  it("reports created, updated, unchanged and failed rows with line and reason", async () => {
    const counts = (s: ImportJson) => ({
      rows: s.rows,
      created: s.created,
      updated: s.updated,
      unchanged: s.unchanged,
      failed: s.failed,
    });
    const expected = {
      rows: 9,
      created: 1,
      updated: 2,
      unchanged: 2,
      failed: 4,
    };
    // A dry run reports the same and writes nothing: the real run below still finds the changes.
    const dryRun = await cli.run([
      "import",
      `${cli.workDir}/second.csv`,
      "--tenant",
      "hr",
      "--dry-run",
      "--json",
    ]);
    const planned = JSON.parse(dryRun.stdout) as ImportJson;
    assert.equal(planned.dryRun, true);
    assert.deepEqual(counts(planned), expected);

    const result = await cli.run([
      "import",
      `${cli.workDir}/second.csv`,
      "--tenant",
      "hr",
      "--json",
    ]);
    assert.equal(result.code, 1, "failed rows make the exit code 1");
    const summary = JSON.parse(result.stdout) as ImportJson;
    assert.deepEqual(counts(summary), expected);
    assert.deepEqual(
      summary.failures.map((f) => [f.line, f.userName]),
      [
        [7, null],
        [8, "frank"],
        [9, "Bob"],
        [10, "gina"],
      ],
    );
    assert.match(summary.failures[0]!.reason, /userName is empty/);
    assert.match(summary.failures[1]!.reason, /active must be true or false/);
    assert.match(summary.failures[2]!.reason, /duplicate userName.*line 3/);
    assert.match(
      summary.failures[3]!.reason,
      /manager "nobody-at-all" not found/,
    );

    await cli.inProcess(async (_services, database) => {
      const users = await usersByName(database.knex);
      assert.equal(users.bob!.resource.title, "Staff Engineer");
      assert.equal(users.dave!.active, false);
      assert.equal(users.alice!.version, 1, "an unchanged row is not written");
      const enterprise = users.erin!.resource[URN.enterpriseUser] as {
        manager: { value: string };
      };
      assert.equal(enterprise.manager.value, users.carol!.id);
      const deactivated = await database
        .knex("lifecycle_events")
        .where({ type: "user.deactivated", resource_id: users.dave!.id })
        .count<{ count: string }[]>("* as count");
      assert.equal(Number(deactivated[0]!.count), 1);
    });
  });

  it("writes nothing when the same file is imported again", async () => {
    const countEntries = () =>
      cli.inProcess(async (_services, database) => {
        const rows = await database
          .knex("audit_entries")
          .count<{ count: string }[]>("* as count");
        return Number(rows[0]!.count);
      });
    const before = await countEntries();
    const result = await cli.run([
      "import",
      `${cli.workDir}/second.csv`,
      "--tenant",
      "hr",
      "--json",
    ]);
    const summary = JSON.parse(result.stdout) as ImportJson;
    assert.deepEqual(
      [summary.created, summary.updated, summary.unchanged, summary.failed],
      [0, 0, 5, 4],
    );
    assert.equal(await countEntries(), before);
  });

  it("refuses a header with an unknown column (exit 2) before writing anything", async () => {
    const result = await cli.run([
      "import",
      `${cli.workDir}/typo.csv`,
      "--tenant",
      "hr",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown column\(s\) "emial"/);
    const missing = await cli.run([
      "import",
      `${cli.workDir}/none.csv`,
      "--tenant",
      "hr",
    ]);
    assert.equal(missing.code, 2);
  });
});

async function usersByName(
  knex: import("knex").Knex,
): Promise<Record<string, UserRow>> {
  const rows = await knex<UserRow>("users").select("*");
  return Object.fromEntries(rows.map((r) => [r.user_name.toLowerCase(), r]));
}
