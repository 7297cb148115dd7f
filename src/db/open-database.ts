import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { lockDataDir } from "./data-dir-lock.ts";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import ClientPGLite from "knex-pglite";
import knexFactory, { type Knex } from "knex";
import pg from "pg";

/** A query executor: the pool or an open transaction. Store functions take it first. */
export type Db = Knex | Knex.Transaction;

/** An open database with the knex handle and what it runs on. */
export interface Database {
  knex: Knex;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

/** How to open the database: a PostgreSQL URL, a PGlite folder, or PGlite in memory. */
export type DatabaseOptions =
  | { databaseUrl: string; poolMax?: number }
  | { dataDir: string }
  | { memory: true };

// int8 (bigserial ids, counts) stays a string: JavaScript numbers lose precision past 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

const PGLITE_OPTIONS = {
  extensions: { pg_trgm },
  parsers: { [pg.types.builtins.INT8]: (value: string) => value },
};

/** Opens PostgreSQL through pg when a URL is given, otherwise embedded PGlite. */
export async function openDatabase(
  options: DatabaseOptions,
): Promise<Database> {
  if ("databaseUrl" in options) {
    const knex = knexFactory({
      client: "pg",
      connection: {
        connectionString: options.databaseUrl,
        application_name: "scim-lifecycle",
        // Fail fast when the server is down (the request answers 503) and bound runaway queries.
        connectionTimeoutMillis: 5_000,
        statement_timeout: 30_000,
        // JIT compiles plans whose estimated cost is high (deep OFFSETs): ~190 ms for a query that
        // runs in a few ms. Our queries are short; JIT never pays off.
        options: "-c jit=off",
      },
      pool: {
        min: 0,
        max: options.poolMax ?? 10,
        // A dropped server connection is discarded instead of being handed out again.
        afterCreate: (
          conn: pg.Client,
          done: (err: Error | null, conn: pg.Client) => void,
        ) => {
          conn.on("error", () => undefined);
          done(null, conn);
        },
      },
      acquireConnectionTimeout: 10_000,
    });
    return { knex, kind: "postgres", close: () => knex.destroy() };
  }
  let pglite: PGlite;
  let unlock = () => {};
  if ("dataDir" in options) {
    mkdirSync(options.dataDir, { recursive: true });
    unlock = lockDataDir(options.dataDir);
    pglite = await PGlite.create(options.dataDir, PGLITE_OPTIONS);
  } else {
    pglite = await PGlite.create(PGLITE_OPTIONS);
  }
  const knex = knexFactory({
    client: ClientPGLite as unknown as typeof Knex.Client,
    connection: { pglite } as Knex.StaticConnectionConfig,
    // PGlite is one connection: transactions queue behind each other.
    acquireConnectionTimeout: 60_000,
  });
  return {
    knex,
    kind: "pglite",
    close: async () => {
      await knex.destroy();
      if (!pglite.closed) await pglite.close();
      unlock();
    },
  };
}
