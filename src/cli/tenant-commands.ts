import type { Command } from "commander";
import type { Knex } from "knex";
import { systemClock } from "../clock.ts";
import { createTokensService } from "../services/tokens-service.ts";
import { printResult, withDatabase, type CliContext } from "./cli-context.ts";

/** `tenant create|list`. */
export function registerTenantCommands(
  program: Command,
  cli: CliContext,
): void {
  const tenants = (knex: Knex) =>
    createTokensService({ knex, clock: systemClock, logger: cli.logger() });
  const tenant = program.command("tenant").description("manage tenants");
  tenant
    .command("create <name>")
    .description("create a tenant (1-63 letters, digits, - _ or .)")
    .option("--json", "print JSON")
    .action(async (name: string, options: { json?: boolean }) => {
      const row = await withDatabase(cli, (db) =>
        tenants(db.knex).createTenant(name),
      );
      printResult(
        !!options.json,
        row,
        `created tenant ${row.name} (${row.id})`,
      );
    });
  tenant
    .command("list")
    .description("list tenants")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const rows = await withDatabase(cli, (db) =>
        tenants(db.knex).listTenants(),
      );
      printResult(
        !!options.json,
        rows,
        rows.map((r) => `${r.name}\t${r.id}`).join("\n") || "(no tenants)",
      );
    });
}
