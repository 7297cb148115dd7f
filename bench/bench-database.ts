import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { parentPid } from "./cpu-usage.ts";

/** A throwaway database for one bench run. */
export interface BenchDatabase {
  kind: "postgres" | "pglite";
  /** Environment for the server process (DATABASE_URL or DATA_DIR). */
  env: Record<string, string>;
  /** What to print: the database name or the temp folder. */
  label: string;
  /** `SELECT version()` for PostgreSQL; the PGlite package for PGlite. */
  version: string;
  /** The local PostgreSQL server process (postmaster), for CPU accounting; undefined if remote or PGlite. */
  postmasterPid?: number;
  /** Runs one SQL statement on the bench database (PostgreSQL only), for diagnostics. */
  query?: (sql: string) => Promise<pg.QueryResult>;
  dispose(): Promise<void>;
}

function timestampName(): string {
  const now = new Date();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return (
    `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}` +
    `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}` +
    pad(now.getUTCMilliseconds(), 3)
  );
}

async function withClient<T>(
  url: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    application_name: "scim-bench",
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates `scim_bench_<timestamp>` on the server of `serverUrl` (the server itself is not touched
 * otherwise) and drops it, with any connection left, on dispose.
 */
async function createPostgresDatabase(
  serverUrl: string,
): Promise<BenchDatabase> {
  const name = `scim_bench_${timestampName()}`;
  // A backend's parent is the postmaster when the server runs on this machine (same pid namespace);
  // read it while the backend is alive.
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(
    new URL(serverUrl).hostname,
  );
  const { version, postmasterPid } = await withClient(
    serverUrl,
    async (client) => {
      await client.query(`CREATE DATABASE ${name}`);
      const result = await client.query<{ version: string; pid: number }>(
        "SELECT version(), pg_backend_pid() AS pid",
      );
      const row = result.rows[0];
      return {
        version: row?.version ?? "unknown",
        postmasterPid: local && row ? parentPid(row.pid) : undefined,
      };
    },
  );
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const benchUrl = url.toString();
  return {
    kind: "postgres",
    env: { DATABASE_URL: benchUrl },
    label: `${name} on ${url.host}`,
    version,
    ...(postmasterPid !== undefined ? { postmasterPid } : {}),
    query: (sql) => withClient(benchUrl, (client) => client.query(sql)),
    dispose: () =>
      withClient(serverUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** A fresh temp folder for the embedded PGlite database, removed on dispose. */
async function createPgliteDirectory(): Promise<BenchDatabase> {
  const dir = await mkdtemp(join(tmpdir(), "scim-bench-"));
  // The package does not export its package.json, so read it from the project's node_modules.
  const manifest = new URL(
    "../node_modules/@electric-sql/pglite/package.json",
    import.meta.url,
  );
  const { version } = JSON.parse(await readFile(manifest, "utf8")) as {
    version: string;
  };
  return {
    kind: "pglite",
    env: { DATA_DIR: dir },
    label: dir,
    version: `PGlite ${version}`,
    dispose: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/** PostgreSQL when a server URL is given, otherwise PGlite in a temp folder. */
export function createBenchDatabase(
  databaseUrl: string | undefined,
): Promise<BenchDatabase> {
  return databaseUrl
    ? createPostgresDatabase(databaseUrl)
    : createPgliteDirectory();
}
