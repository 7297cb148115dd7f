import { Command, Option } from "commander";
import { systemClock } from "../clock.ts";
import { loadConfig, type Config } from "../config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { SCOPES } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import { createLogger, type Logger } from "../logger.ts";
import {
  createTokensService,
  parseScopes,
} from "../services/tokens-service.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";
import { serve, type ServeRole } from "./serve.ts";
import { serveCluster } from "./serve-cluster.ts";

async function withTokens<T>(
  config: Config,
  logger: Logger,
  work: (tokens: ReturnType<typeof createTokensService>) => Promise<T>,
): Promise<T> {
  const database = await openConfiguredDatabase(config);
  try {
    await migrateToLatest(database.knex);
    return await work(
      createTokensService({ knex: database.knex, clock: systemClock, logger }),
    );
  } finally {
    await database.close();
  }
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(
    json ? JSON.stringify(value, null, 2) + "\n" : text + "\n",
  );
}

/** Builds the `scim-lifecycle` command line. */
export function createProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command("scim-lifecycle")
    .description(
      "SCIM 2.0 provisioning server for identity lifecycle automation",
    )
    .showHelpAfterError();
  const config = () => loadConfig(env);
  const cliLogger = () =>
    createLogger({
      level: config().logLevel === "info" ? "warn" : config().logLevel,
    });

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

  const tenant = program.command("tenant").description("manage tenants");
  tenant
    .command("create <name>")
    .description("create a tenant")
    .option("--json", "print JSON")
    .action(async (name: string, options: { json?: boolean }) => {
      const row = await withTokens(config(), cliLogger(), (t) =>
        t.createTenant(name),
      );
      print(!!options.json, row, `created tenant ${row.name} (${row.id})`);
    });
  tenant
    .command("list")
    .description("list tenants")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const rows = await withTokens(config(), cliLogger(), (t) =>
        t.listTenants(),
      );
      print(
        !!options.json,
        rows,
        rows.map((r) => `${r.name}\t${r.id}`).join("\n") || "(no tenants)",
      );
    });

  const token = program.command("token").description("manage bearer tokens");
  token
    .command("create")
    .description("issue a token; the secret is printed once")
    .requiredOption("--tenant <name>", "tenant the token acts for")
    .option(
      "--scopes <list>",
      `comma-separated: ${SCOPES.join(", ")}`,
      "scim:read,scim:write",
    )
    .option("--name <name>", "label shown in listings", "token")
    .option("--expires-in-days <days>", "expire after this many days")
    .option("--json", "print JSON")
    .action(
      async (options: {
        tenant: string;
        scopes: string;
        name: string;
        expiresInDays?: string;
        json?: boolean;
      }) => {
        const scopes = parseScopes(options.scopes);
        const days =
          options.expiresInDays === undefined
            ? undefined
            : Number(options.expiresInDays);
        if (days !== undefined && !(days > 0))
          throw new AppError(
            "request.invalid",
            "--expires-in-days must be positive",
          );
        const expiresAt =
          days === undefined ? null : new Date(Date.now() + days * 86_400_000);
        const issued = await withTokens(config(), cliLogger(), (t) =>
          t.createToken({
            tenant: options.tenant,
            name: options.name,
            scopes,
            expiresAt,
          }),
        );
        print(
          !!options.json,
          { id: issued.token.id, token: issued.secret, scopes, expiresAt },
          issued.secret,
        );
      },
    );
  token
    .command("list")
    .description("list a tenant's tokens (never their secrets)")
    .requiredOption("--tenant <name>", "tenant")
    .option("--json", "print JSON")
    .action(async (options: { tenant: string; json?: boolean }) => {
      const rows = await withTokens(config(), cliLogger(), (t) =>
        t.listTokens(options.tenant),
      );
      const view = rows.map((r) => ({
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        scopes: r.scopes,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        revokedAt: r.revoked_at,
        lastUsedAt: r.last_used_at,
      }));
      print(
        !!options.json,
        view,
        view
          .map(
            (v) =>
              `${v.id}\t${v.prefix}…\t${v.name}\t${v.scopes.join(",")}\t${v.revokedAt ? "revoked" : "live"}`,
          )
          .join("\n") || "(no tokens)",
      );
    });
  token
    .command("revoke <id>")
    .description("revoke a token by id")
    .action(async (id: string) => {
      await withTokens(config(), cliLogger(), (t) => t.revokeToken(id));
      process.stdout.write(`revoked ${id}\n`);
    });
  return program;
}

/** Runs the CLI; prints errors without stack traces for expected failures. */
export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    await createProgram(env).parseAsync(argv);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = error instanceof AppError ? 2 : 1;
  }
}
