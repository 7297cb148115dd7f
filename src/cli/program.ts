import { Command, CommanderError, Option } from "commander";
import { migrateToLatest } from "../db/migrate.ts";
import { createLogger } from "../logger.ts";
import { registerActionsCommands } from "./actions-commands.ts";
import { registerAppCommands } from "./app-commands.ts";
import { registerAuditCommands } from "./audit-commands.ts";
import { createCliContext } from "./cli-context.ts";
import { EXIT_CODE_HELP, exitCodeOf } from "./exit-codes.ts";
import { registerImportCommand } from "./import-command.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";
import { registerPolicyCommands } from "./policy-commands.ts";
import { serve, type ServeRole } from "./serve.ts";
import { serveCluster } from "./serve-cluster.ts";
import { registerTenantCommands } from "./tenant-commands.ts";
import { registerTokenCommands } from "./token-commands.ts";

const PROGRAM_HELP = `
Every command opens the database the server uses: PostgreSQL when DATABASE_URL is set, else
the embedded database under DATA_DIR (default ./data; stop the server first, it is
single-process). Migrations are applied first. --json prints machine-readable output on stdout.

${EXIT_CODE_HELP}
  3  audit verify only: the audit chain is broken`;

/** Builds the `scim-lifecycle` command line. */
export function createProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command("scim-lifecycle")
    .description(
      "SCIM 2.0 provisioning server for identity lifecycle automation",
    )
    .showHelpAfterError("(add --help for usage)")
    // Set before any subcommand exists: they inherit it, so parse errors reach runCli (exit 2).
    .exitOverride()
    .addHelpText("after", PROGRAM_HELP);
  const cli = createCliContext(env);
  const config = () => cli.config();

  program
    .command("serve")
    .description(
      "run the SCIM server (embedded PGlite unless DATABASE_URL is set)",
    )
    .addOption(
      new Option("--role <role>", "process role")
        .choices(["api", "worker", "all"])
        .default("all"),
    )
    .option("--port <port>", "port to listen on (overrides PORT)")
    .action(async (options: { port?: string; role: ServeRole }) => {
      const cfg = config();
      if (options.port !== undefined) cfg.port = Number(options.port);
      const logger = createLogger({ level: cfg.logLevel });
      if (cfg.webConcurrency > 1 && options.role !== "worker")
        await serveCluster(cfg, logger, options.role);
      else await serve(cfg, logger, { role: options.role });
    });

  program
    .command("migrate")
    .description("apply database migrations and exit")
    .action(async () => {
      const database = await openConfiguredDatabase(config());
      try {
        const applied = await migrateToLatest(database.knex);
        process.stdout.write(
          applied.length ? `applied: ${applied.join(", ")}\n` : "up to date\n",
        );
      } finally {
        await database.close();
      }
    });

  registerTenantCommands(program, cli);
  registerTokenCommands(program, cli);
  registerAppCommands(program, cli);
  registerPolicyCommands(program, cli);
  registerActionsCommands(program, cli);
  registerImportCommand(program, cli);
  registerAuditCommands(program, config);
  return program;
}

/**
 * Runs the CLI and sets the exit code (0 ok, 1 failed, 2 usage or invalid input); prints errors
 * without stack traces. Commander has already printed its own parse errors.
 */
export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    await createProgram(env).parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`error: ${message}\n`);
    }
    process.exitCode = exitCodeOf(error);
  }
}
