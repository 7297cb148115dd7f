import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Knex } from "knex";
import { AppError } from "../errors.ts";

const MIGRATIONS_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../migrations",
);
const MIGRATION_FILE = /^(\d{14}_[a-z0-9_]+)\.(ts|js)$/;

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Migration names known to this build, in order (file names without extension). */
export function listKnownMigrations(dir = MIGRATIONS_DIR): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(dir)) {
    if (file.endsWith(".d.ts")) continue;
    const match = MIGRATION_FILE.exec(file);
    if (match) names.add(match[1]!);
  }
  return [...names].sort();
}

function createMigrationSource(dir: string): Knex.MigrationSource<string> {
  return {
    getMigrations: async () => listKnownMigrations(dir),
    getMigrationName: (name) => name,
    getMigration: async (name) => {
      const file = readdirSync(dir).find(
        (f) =>
          f.startsWith(name + ".") &&
          !f.endsWith(".d.ts") &&
          MIGRATION_FILE.test(f),
      );
      if (!file) throw new Error(`migration ${name} is missing`);
      return (await import(
        pathToFileURL(join(dir, file)).href
      )) as MigrationModule;
    },
  };
}

async function listAppliedMigrations(knex: Knex): Promise<string[]> {
  if (!(await knex.schema.hasTable("knex_migrations"))) return [];
  const rows = await knex("knex_migrations").select<{ name: string }[]>("name");
  return rows.map((r) => r.name);
}

/** Applies pending migrations; refuses when the database holds migrations this build lacks. */
export async function migrateToLatest(
  knex: Knex,
  dir = MIGRATIONS_DIR,
): Promise<string[]> {
  const known = new Set(listKnownMigrations(dir));
  const unknown = (await listAppliedMigrations(knex)).filter(
    (name) => !known.has(name),
  );
  if (unknown.length > 0) {
    throw new AppError(
      "db.schema_newer_than_code",
      `The database has migrations this version does not know (${unknown.join(", ")}); ` +
        "it was migrated by a newer release. Upgrade scim-lifecycle instead of starting this one.",
    );
  }
  const [, applied] = (await knex.migrate.latest({
    migrationSource: createMigrationSource(dir),
  })) as [number, string[]];
  return applied;
}

/** Rolls back every migration (tests of the migrations' round trip). */
export async function rollbackAll(
  knex: Knex,
  dir = MIGRATIONS_DIR,
): Promise<void> {
  await knex.migrate.rollback(
    { migrationSource: createMigrationSource(dir) },
    true,
  );
}

/** Lists migrations not yet applied (readiness checks). */
export async function listPendingMigrations(
  knex: Knex,
  dir = MIGRATIONS_DIR,
): Promise<string[]> {
  const applied = new Set(await listAppliedMigrations(knex));
  return listKnownMigrations(dir).filter((name) => !applied.has(name));
}
