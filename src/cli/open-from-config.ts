import type { Config } from "../config.ts";
import { openDatabase, type Database } from "../db/open-database.ts";

/** Opens the configured database: PostgreSQL with DATABASE_URL, else PGlite under DATA_DIR. */
export function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? openDatabase({
        databaseUrl: config.databaseUrl,
        poolMax: config.databasePoolMax,
      })
    : openDatabase({ dataDir: config.dataDir });
}
