import assert from "node:assert/strict";
import {
  mkdtempSync,
  rmSync,
  writeFileSync,
  readdirSync,
  copyFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  listKnownMigrations,
  listPendingMigrations,
  migrateToLatest,
  rollbackAll,
} from "../../src/db/migrate.ts";
import { openDatabase, type Database } from "../../src/db/open-database.ts";
import { isAppError } from "../../src/errors.ts";

const MIGRATIONS = fileURLToPath(new URL("../../migrations", import.meta.url));

describe("migrations", () => {
  let database: Database;
  let extraDir: string;

  before(async () => {
    // Always a private embedded database: rolling back must not touch a shared server.
    database = await openDatabase({ memory: true });
    extraDir = mkdtempSync(join(tmpdir(), "scim-migrations-"));
  });
  after(async () => {
    await database.close();
    rmSync(extraDir, { recursive: true, force: true });
  });

  it("applies every migration, rolls them all back and applies them again", async () => {
    const applied = await migrateToLatest(database.knex);
    assert.deepEqual(applied, listKnownMigrations());
    assert.deepEqual(await listPendingMigrations(database.knex), []);
    await rollbackAll(database.knex);
    assert.equal(await database.knex.schema.hasTable("users"), false);
    assert.deepEqual(
      await migrateToLatest(database.knex),
      listKnownMigrations(),
    );
    assert.equal(await database.knex.schema.hasTable("users"), true);
  });

  it("refuses to run against a database migrated by a newer release", async () => {
    for (const file of readdirSync(MIGRATIONS)) {
      copyFileSync(join(MIGRATIONS, file), join(extraDir, file));
    }
    writeFileSync(
      join(extraDir, "29991231000000_add_future_table.ts"),
      "export async function up() {}\nexport async function down() {}\n",
    );
    await migrateToLatest(database.knex, extraDir);
    await assert.rejects(migrateToLatest(database.knex), (error: unknown) => {
      assert.ok(isAppError(error, "db.schema_newer_than_code"));
      assert.match(error.message, /29991231000000_add_future_table/);
      return true;
    });
  });
});
