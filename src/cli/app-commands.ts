import type { Command } from "commander";
import type { Services } from "../app.ts";
import { tenantPolicySchema } from "../domain/policy.ts";
import {
  findTenant,
  formatTable,
  printResult,
  withServices,
  type CliContext,
} from "./cli-context.ts";
import { EXIT_CODE, UsageError } from "./exit-codes.ts";

/** The outcome of one app's check. */
export interface AppCheckResult {
  app: string;
  connector: string;
  ok: boolean;
  detail?: string;
  error?: { kind: string; message: string };
}

/** `app list|check`. */
export function registerAppCommands(program: Command, cli: CliContext): void {
  const app = program
    .command("app")
    .description("the apps of a tenant's current policy");

  app
    .command("list")
    .description(
      "list the apps of the tenant's current policy: id, connector, rate limit (never config or secrets)",
    )
    .requiredOption("--tenant <name>", "tenant")
    .option("--json", "print JSON")
    .action(async (options: { tenant: string; json?: boolean }) => {
      const listed = await withServices(cli, async (services, db) => {
        const tenant = await findTenant(db.knex, options.tenant);
        return services.policies.listApps(tenant.id);
      });
      const text =
        listed.apps.length === 0
          ? `(no apps: tenant ${options.tenant} has no policy with apps)`
          : `policy version ${listed.version}\n` +
            formatTable([
              ["APP", "CONNECTOR", "RATE LIMIT", "MAX ATTEMPTS", "JOB TIMEOUT"],
              ...listed.apps.map((a) => [
                a.id,
                a.connector,
                a.rateLimit
                  ? `${a.rateLimit.perMinute}/min` +
                    (a.rateLimit.burst ? ` burst ${a.rateLimit.burst}` : "")
                  : "-",
                String(a.maxAttempts),
                a.jobTimeout,
              ]),
            ]);
      printResult(!!options.json, listed, text);
    });

  app
    .command("check [app]")
    .description(
      "run each app's cheap authenticated call (or only this app's) and report ok or the error",
    )
    .requiredOption("--tenant <name>", "tenant")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nRun it with the server's environment: app secrets ({ env: NAME }) are read from it.\nExit code 1 when any check fails.",
    )
    .action(
      async (
        appId: string | undefined,
        options: { tenant: string; json?: boolean },
      ) => {
        const results = await withServices(cli, async (services, db) => {
          const tenant = await findTenant(db.knex, options.tenant);
          return checkApps(services, tenant.id, appId);
        });
        const text =
          results.length === 0
            ? `(no apps: tenant ${options.tenant} has no policy with apps)`
            : formatTable(
                results.map((r) => [
                  r.app,
                  r.connector,
                  r.ok ? "ok" : "FAILED",
                  r.ok
                    ? (r.detail ?? "")
                    : `${r.error!.kind}: ${r.error!.message}`,
                ]),
              );
        printResult(!!options.json, results, text);
        if (results.some((r) => !r.ok)) process.exitCode = EXIT_CODE.failed;
      },
    );
}

/**
 * Runs the `check` of every app of the tenant's current policy (or of one), in parallel. An app
 * whose config does not resolve (a secret missing from the environment) fails as misconfigured.
 */
export async function checkApps(
  services: Pick<Services, "policies" | "appConnectors">,
  tenantId: string,
  only?: string,
): Promise<AppCheckResult[]> {
  const current = await services.policies.currentDocument(tenantId);
  const parsed = tenantPolicySchema.safeParse(current?.document ?? {});
  // Stored versions were valid when applied; a document that no longer parses has no apps to run.
  const apps = parsed.success ? parsed.data.apps : [];
  const chosen = only ? apps.filter((a) => a.id === only) : apps;
  if (only && chosen.length === 0) {
    throw new UsageError(
      `no app "${only}" in the tenant's policy; it has ${apps.map((a) => a.id).join(", ") || "none"}`,
    );
  }
  return Promise.all(
    chosen.map(async (app): Promise<AppCheckResult> => {
      const checked = await services.appConnectors.check(
        tenantId,
        current!.version,
        app,
      );
      return { app: app.id, connector: app.connector, ...checked };
    }),
  );
}
