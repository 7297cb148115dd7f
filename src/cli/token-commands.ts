import type { Command } from "commander";
import type { Knex } from "knex";
import { systemClock } from "../clock.ts";
import { parseDuration } from "../domain/duration.ts";
import { SCOPES } from "../domain/scopes.ts";
import {
  createTokensService,
  parseScopes,
} from "../services/tokens-service.ts";
import type { TokenRow } from "../store/tokens-store.ts";
import {
  CLI_TOKEN_ID,
  cliActor,
  printResult,
  withDatabase,
  type CliContext,
} from "./cli-context.ts";
import { UsageError } from "./exit-codes.ts";

/** How long a rotated token keeps working when `--grace` is not given. */
const DEFAULT_ROTATION_GRACE = "24h";

/** `token create|list|rotate|revoke`. */
export function registerTokenCommands(program: Command, cli: CliContext): void {
  const tokens = (knex: Knex) =>
    createTokensService({ knex, clock: systemClock, logger: cli.logger() });
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
        const expiresAt = expiryOf(options.expiresInDays);
        const issued = await withDatabase(cli, (db) =>
          tokens(db.knex).createToken({
            tenant: options.tenant,
            name: options.name,
            scopes,
            expiresAt: expiresAt ?? null,
            actor: { tokenId: CLI_TOKEN_ID, actor: cliActor(cli.env) },
          }),
        );
        printResult(
          !!options.json,
          {
            id: issued.token.id,
            token: issued.secret,
            scopes,
            expiresAt: expiresAt ?? null,
          },
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
      const rows = await withDatabase(cli, (db) =>
        tokens(db.knex).listTokens(options.tenant),
      );
      const view = rows.map(tokenView);
      printResult(
        !!options.json,
        view,
        view
          .map(
            (v) =>
              `${v.id}\t${v.prefix}…\t${v.name}\t${v.scopes.join(",")}\t${statusOf(v)}`,
          )
          .join("\n") || "(no tokens)",
      );
    });

  token
    .command("rotate <id>")
    .description(
      "issue a successor with the same tenant, name and scopes (its secret is printed once); " +
        "the old token keeps working for the grace period, then expires",
    )
    .option(
      "--grace <duration>",
      "how long the old token keeps working, e.g. 30m, 24h, 7d (an earlier expiry is kept)",
      DEFAULT_ROTATION_GRACE,
    )
    .option(
      "--expires-in-days <days>",
      "the successor expires after this many days (default: the old token's lifetime, or never)",
    )
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nThe new secret alone goes to stdout (as with `token create`); what happened goes to stderr.\nAudited as token.rotated.",
    )
    .action(
      async (
        id: string,
        options: { grace: string; expiresInDays?: string; json?: boolean },
      ) => {
        let graceMs: number;
        try {
          graceMs = parseDuration(options.grace);
        } catch (error) {
          throw new UsageError(`--grace: ${(error as Error).message}`);
        }
        const expiresAt = expiryOf(options.expiresInDays);
        const { issued, previous } = await withDatabase(cli, (db) =>
          tokens(db.knex).rotateToken(id, {
            graceMs,
            ...(expiresAt !== undefined ? { expiresAt } : {}),
            actor: { tokenId: CLI_TOKEN_ID, actor: cliActor(cli.env) },
          }),
        );
        if (options.json) {
          printResult(
            true,
            {
              id: issued.token.id,
              token: issued.secret,
              name: issued.token.name,
              scopes: issued.token.scopes,
              expiresAt: issued.token.expires_at,
              previous: { id: previous.id, expiresAt: previous.expires_at },
            },
            "",
          );
          return;
        }
        process.stdout.write(`${issued.secret}\n`);
        process.stderr.write(
          `rotated ${previous.id} → ${issued.token.id}; the old token works until ${previous.expires_at!.toISOString()}\n`,
        );
      },
    );

  token
    .command("revoke <id>")
    .description("revoke a token by id (at once here, within 5 s in servers)")
    .action(async (id: string) => {
      await withDatabase(cli, (db) =>
        tokens(db.knex).revokeToken(id, {
          actor: { tokenId: CLI_TOKEN_ID, actor: cliActor(cli.env) },
        }),
      );
      process.stdout.write(`revoked ${id}\n`);
    });
}

function expiryOf(days: string | undefined): Date | undefined {
  if (days === undefined) return undefined;
  const value = Number(days);
  if (!(value > 0))
    throw new UsageError("--expires-in-days must be a positive number");
  return new Date(Date.now() + value * 86_400_000);
}

function tokenView(r: TokenRow) {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

function statusOf(v: ReturnType<typeof tokenView>): string {
  if (v.revokedAt) return "revoked";
  if (!v.expiresAt) return "live";
  return v.expiresAt <= new Date()
    ? "expired"
    : `live until ${v.expiresAt.toISOString()}`;
}
