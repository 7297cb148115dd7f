import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { finished } from "node:stream/promises";
import type { Command } from "commander";
import { stringify } from "csv-stringify";
import {
  cliActor,
  cliPrincipal,
  findTenant,
  parsePositiveInt,
  printResult,
  requireCompilingPolicy,
  withServices,
  type CliContext,
} from "./cli-context.ts";
import { EXIT_CODE, UsageError } from "./exit-codes.ts";
import type { RowFailure } from "./import-row.ts";
import { createProgressReporter } from "./import-progress.ts";
import { importUsers, type ImportSummary } from "./import-users.ts";

/** Writes in flight on PostgreSQL unless `--concurrency` says otherwise (bounded by the pool). */
const DEFAULT_POSTGRES_CONCURRENCY = 8;
/** Failed rows kept for the report; all of them go to `--failures` when given. */
const MAX_FAILURES_REPORTED = 1_000;

const IMPORT_HELP = `
Columns (header row; names match case-insensitively, spaces, - and _ are ignored):
  userName        required; matched case-insensitively with existing users
  externalId      the HR system's id; matches an existing user when userName does not
  givenName       name.givenName
  familyName      name.familyName
  displayName
  email           the work e-mail (other e-mails of the user are kept)
  title
  department      enterprise extension
  employeeNumber  enterprise extension
  manager         the manager's userName or id (a manager later in the file is written first)
  active          true or false; empty keeps the current value (new users: true)

A user is created when absent, and replaced only when a column differs (a re-run of the same
file writes nothing). Columns missing from the file are left alone; an empty cell removes the
attribute. Each write goes through the SCIM write path: lifecycle events, audit entries (actor
cli:<os user>@<host>, one request id per run) and planned actions, which a serve process runs.
Failed rows (line and reason) do not stop the others; the exit code is then 1.`;

/** `import <file>`: users from an HR master list. */
export function registerImportCommand(program: Command, cli: CliContext): void {
  program
    .command("import <file>")
    .description(
      "create or update users from a CSV file (an HR master list) through the SCIM write path",
    )
    .requiredOption("--tenant <name>", "tenant")
    .option(
      "--concurrency <n>",
      `writes in flight on PostgreSQL (default ${DEFAULT_POSTGRES_CONCURRENCY}, at most DATABASE_POOL_MAX; the embedded database always uses 1)`,
    )
    .option("--dry-run", "match and compare every row, write nothing")
    .option(
      "--ignore-unknown-columns",
      "skip columns this command does not know",
    )
    .option(
      "--failures <file>",
      "also write every failed row (line, userName, reason) to this CSV file",
    )
    .option("--json", "print the summary as JSON (and no progress on stderr)")
    .addHelpText("after", IMPORT_HELP)
    .action(
      async (
        file: string,
        options: {
          tenant: string;
          concurrency?: string;
          dryRun?: boolean;
          ignoreUnknownColumns?: boolean;
          failures?: string;
          json?: boolean;
        },
      ) => {
        const size = await fileSize(file);
        const requested =
          options.concurrency === undefined
            ? undefined
            : parsePositiveInt("--concurrency", options.concurrency, 64);
        const failures: RowFailure[] = [];
        const failureFile = options.failures
          ? await openFailureFile(options.failures)
          : undefined;
        const progress = createProgressReporter({
          totalBytes: size,
          label: options.dryRun ? "import (dry run)" : "import",
          quiet: !!options.json,
        });
        let summary: ImportSummary;
        try {
          summary = await withServices(cli, async (services, database) => {
            const tenant = await findTenant(database.knex, options.tenant);
            await requireCompilingPolicy(services, tenant);
            const poolMax = cli.config().databasePoolMax;
            return importUsers(
              {
                knex: database.knex,
                users: services.users,
                schema: services.schemas.user,
              },
              {
                file,
                tenantId: tenant.id,
                principal: cliPrincipal(tenant, cliActor(cli.env)),
                // PGlite is one connection: concurrent writes would only queue.
                concurrency:
                  database.kind === "pglite"
                    ? 1
                    : Math.min(
                        requested ?? DEFAULT_POSTGRES_CONCURRENCY,
                        poolMax,
                      ),
                dryRun: !!options.dryRun,
                ignoreUnknownColumns: !!options.ignoreUnknownColumns,
                onProgress: (p) => progress.update(p),
                onFailure: (failure) => {
                  if (failures.length < MAX_FAILURES_REPORTED)
                    failures.push(failure);
                  failureFile?.write(failure);
                },
              },
            );
          });
          progress.stop(!summary.aborted);
        } finally {
          progress.stop();
          await failureFile?.close();
        }
        failures.sort((a, b) => a.line - b.line);
        const omitted = summary.failed - failures.length;
        if (options.json) {
          printResult(
            true,
            {
              file,
              tenant: options.tenant,
              ...summary,
              failures,
              ...(omitted > 0 ? { failuresOmitted: omitted } : {}),
            },
            "",
          );
        } else {
          const lines = failures.map(
            (f) =>
              `line ${f.line}${f.userName ? ` (${f.userName})` : ""}: ${f.reason}`,
          );
          if (omitted > 0)
            lines.push(
              `… and ${omitted} more failed row(s)${options.failures ? ` (all in ${options.failures})` : " (use --failures <file> for all)"}`,
            );
          if (summary.aborted) lines.push(`stopped early: ${summary.aborted}`);
          lines.push(describeSummary(file, options.tenant, summary));
          process.stdout.write(lines.join("\n") + "\n");
        }
        if (summary.failed > 0 || summary.aborted)
          process.exitCode = EXIT_CODE.failed;
      },
    );
}

async function fileSize(file: string): Promise<number> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new UsageError(`${file} is not a file`);
    return info.size;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

async function openFailureFile(path: string) {
  const out = createWriteStream(path);
  try {
    await once(out, "open");
  } catch (error) {
    throw new UsageError(
      `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const csv = stringify({
    header: true,
    columns: ["line", "userName", "reason"],
  });
  csv.pipe(out);
  return {
    write: (failure: RowFailure) => {
      csv.write([failure.line, failure.userName ?? "", failure.reason]);
    },
    close: async () => {
      csv.end();
      await finished(out);
    },
  };
}

function describeSummary(
  file: string,
  tenant: string,
  s: ImportSummary,
): string {
  const verbs = s.dryRun
    ? `would create ${s.created}, update ${s.updated}; ${s.unchanged} unchanged, ${s.failed} failed`
    : `${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged, ${s.failed} failed`;
  return (
    `${s.dryRun ? "dry run (nothing written): " : ""}${file} → tenant ${tenant}: ${s.rows} rows: ${verbs} ` +
    `in ${(s.elapsedMs / 1000).toFixed(1)} s (${s.rowsPerSecond} rows/s)`
  );
}
