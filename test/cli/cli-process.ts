import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createServices, type Services } from "../../src/app.ts";
import { systemClock } from "../../src/clock.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openDatabase, type Database } from "../../src/db/open-database.ts";
import { createLogger } from "../../src/logger.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What one run of the binary printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A fresh data folder for the embedded database, and the environment pointing the CLI at it. */
export interface CliSandbox {
  dataDir: string;
  /** A folder for the test's input files (CSV, YAML). */
  workDir: string;
  env: Record<string, string>;
  /** Runs `node bin/scim-lifecycle.js …` to its end (one process at a time holds the folder). */
  run(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** Runs it and parses stdout as JSON, failing with the output when the exit code is not 0. */
  json<T>(args: string[], env?: Record<string, string>): Promise<T>;
  /** Opens the folder in this process (the CLI must not be running), builds the services, closes. */
  inProcess<T>(
    work: (services: Services, database: Database) => Promise<T>,
    secrets?: Record<string, string>,
  ): Promise<T>;
  dispose(): Promise<void>;
}

/** Makes a temp folder and everything to run the CLI on it. */
export async function createCliSandbox(): Promise<CliSandbox> {
  const dataDir = await mkdtemp(join(tmpdir(), "scim-cli-test-"));
  const workDir = await mkdtemp(join(tmpdir(), "scim-cli-files-"));
  const env = { DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "warn" };
  const run = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<CliRun>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["bin/scim-lifecycle.js", ...args],
        {
          cwd: ROOT,
          env: { ...process.env, ...env, ...extra },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
  return {
    dataDir,
    workDir,
    env,
    run,
    async json<T>(args: string[], extra: Record<string, string> = {}) {
      const result = await run([...args, "--json"], extra);
      if (result.code !== 0) {
        throw new Error(
          `${args.join(" ")} exited with ${result.code}:\n${result.stdout}${result.stderr}`,
        );
      }
      return JSON.parse(result.stdout) as T;
    },
    async inProcess(work, secrets = {}) {
      const database = await openDatabase({ dataDir });
      try {
        await migrateToLatest(database.knex);
        const services = createServices({
          knex: database.knex,
          clock: systemClock,
          logger: createLogger({ silent: true }),
          readSecret: (name) => secrets[name],
        });
        try {
          return await work(services, database);
        } finally {
          await services.close();
        }
      } finally {
        await database.close();
      }
    },
    async dispose() {
      await rm(dataDir, { recursive: true, force: true });
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
