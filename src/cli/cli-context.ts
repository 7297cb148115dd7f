import { hostname, userInfo } from "node:os";
import { createServices, type Services } from "../app.ts";
import { systemClock } from "../clock.ts";
import { createSecretReader, loadConfig, type Config } from "../config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import type { Database } from "../db/open-database.ts";
import { SCOPES, type Principal } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import { createLogger, type Logger } from "../logger.ts";
import { findTenantByName, type TenantRow } from "../store/tenants-store.ts";
import type { Db } from "../db/open-database.ts";
import { isUuid, findUserById, type UserRow } from "../store/users-store.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";
import { UsageError } from "./exit-codes.ts";

/**
 * The token id recorded for what the operator CLI does: no bearer token is involved, and the nil
 * UUID cannot be a real token's id. The audit entry's `detail.actor` says who ran the command.
 */
export const CLI_TOKEN_ID = "00000000-0000-0000-0000-000000000000";

/** What every command gets: the environment, read once, and a logger for the CLI. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  config(): Config;
  logger(): Logger;
}

/** Builds the context commands share; the configuration is parsed on first use. */
export function createCliContext(env: NodeJS.ProcessEnv): CliContext {
  let config: Config | undefined;
  let logger: Logger | undefined;
  const context: CliContext = {
    env,
    config: () => (config ??= loadConfig(env)),
    // The CLI's own output is its report; the log only speaks up for warnings unless asked.
    logger: () =>
      (logger ??= createLogger({
        level:
          context.config().logLevel === "info"
            ? "warn"
            : context.config().logLevel,
      })),
  };
  return context;
}

/**
 * Opens the configured database (PostgreSQL with DATABASE_URL, else PGlite under DATA_DIR), brings
 * it to the latest migration, runs `work` and closes it whatever happens, so no command leaves the
 * process hanging or the embedded database locked.
 */
export async function withDatabase<T>(
  cli: CliContext,
  work: (database: Database) => Promise<T>,
): Promise<T> {
  const database = await openConfiguredDatabase(cli.config());
  try {
    await migrateToLatest(database.knex);
    return await work(database);
  } finally {
    await database.close();
  }
}

/**
 * Like `withDatabase`, with the services built as the server builds them (app secrets from this
 * process's environment). The action worker is never started: a `serve` process runs the actions
 * a command plans.
 */
export async function withServices<T>(
  cli: CliContext,
  work: (services: Services, database: Database) => Promise<T>,
): Promise<T> {
  return withDatabase(cli, async (database) => {
    const config = cli.config();
    const services = createServices({
      knex: database.knex,
      clock: systemClock,
      logger: cli.logger(),
      readSecret: createSecretReader(cli.env),
      outbound: { allowLinkLocal: config.outboundAllowLinkLocal },
    });
    try {
      return await work(services, database);
    } finally {
      await services.close();
    }
  });
}

/** The tenant with this name, or a usage error naming it. */
export async function findTenant(db: Db, name: string): Promise<TenantRow> {
  const tenant = await findTenantByName(db, name);
  if (!tenant)
    throw new AppError("tenant.not_found", `tenant "${name}" not found`);
  return tenant;
}

/**
 * Refuses to go on when the tenant's stored policy does not compile here, typically because an app
 * secret (`{ env: NAME }`) is missing from this environment: writes would then plan no actions
 * and dry runs would show none, unlike the server.
 */
export async function requireCompilingPolicy(
  services: Pick<Services, "policies">,
  tenant: TenantRow,
): Promise<void> {
  const current = await services.policies.currentDocument(tenant.id);
  if (!current) return;
  const problems = services.policies.validate(current.document);
  if (problems.length === 0) return;
  throw new UsageError(
    `tenant ${tenant.name}'s policy (version ${current.version}) does not compile in this environment, ` +
      `so no actions would be planned: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}. ` +
      "Run the command with the server's environment (the app secrets the policy names).",
  );
}

/** Who runs this process, as audit entries record it: `cli:<os user>@<host>`. */
export function cliActor(env: NodeJS.ProcessEnv = process.env): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers run as an arbitrary uid).
    user = env.USER ?? env.LOGNAME;
  }
  return `cli:${user || "unknown"}@${hostname()}`;
}

/** The principal of an operator command on a tenant: every scope, no token, the OS user as actor. */
export function cliPrincipal(tenant: TenantRow, actor = cliActor()): Principal {
  return {
    tenantId: tenant.id,
    tenantName: tenant.name,
    tokenId: CLI_TOKEN_ID,
    scopes: [...SCOPES],
    actor,
  };
}

/** The user with this id or, failing that, this userName (case-insensitive). */
export async function findUserByIdOrUserName(
  services: Pick<Services, "userReads">,
  db: Db,
  tenantId: string,
  idOrUserName: string,
): Promise<UserRow> {
  const byId = isUuid(idOrUserName)
    ? await findUserById(db, tenantId, idOrUserName)
    : undefined;
  const user =
    byId ??
    (await services.userReads.byUserName(tenantId, idOrUserName, {
      apps: false,
      pendingActions: false,
    }));
  if (!user)
    throw new AppError(
      "scim.not_found",
      `no user with id or userName "${idOrUserName}"`,
    );
  return user;
}

/** Writes a command's result: JSON when asked, else the text. */
export function printResult(json: boolean, value: unknown, text: string): void {
  process.stdout.write(
    json ? JSON.stringify(value, null, 2) + "\n" : text + "\n",
  );
}

/** Lines of aligned columns (the last column is not padded). */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell.padEnd(widths[i]!),
        )
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Parses a positive integer option, or a usage error naming it. */
export function parsePositiveInt(
  name: string,
  text: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1 || value > max) {
    throw new UsageError(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}
