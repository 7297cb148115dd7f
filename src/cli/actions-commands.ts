import { actionView } from "../domain/action.ts";
import type { Command } from "commander";
import { ACTION_STATES, type ActionState } from "../domain/action.ts";
import type { ActionRow } from "../store/actions-store.ts";
import {
  cliActor,
  cliPrincipal,
  findTenant,
  findUserByIdOrUserName,
  formatTable,
  parsePositiveInt,
  printResult,
  withServices,
  type CliContext,
} from "./cli-context.ts";
import { UsageError } from "./exit-codes.ts";

/** Most actions one `actions list` prints (the admin API's page limit too). */
const MAX_LIST_LIMIT = 1000;

/** `actions list|retry|cancel`: the operator verbs on the action queue. */
export function registerActionsCommands(
  program: Command,
  cli: CliContext,
): void {
  const actions = program
    .command("actions")
    .description(
      "the action queue: list actions, retry or cancel one (audited with the CLI as actor)",
    );

  actions
    .command("list")
    .description("list a tenant's actions, newest first")
    .requiredOption("--tenant <name>", "tenant")
    .option("--app <id>", "only this app's actions")
    .option(
      "--state <states>",
      `only these states, comma-separated: ${ACTION_STATES.join(", ")}`,
    )
    .option("--user <id or userName>", "only this user's actions")
    .option("--limit <n>", `at most this many (1-${MAX_LIST_LIMIT})`, "50")
    .option("--before <id>", "only actions older than this id (next page)")
    .option("--json", "print JSON")
    .action(
      async (options: {
        tenant: string;
        app?: string;
        state?: string;
        user?: string;
        limit: string;
        before?: string;
        json?: boolean;
      }) => {
        const states = parseStates(options.state);
        const limit = parsePositiveInt(
          "--limit",
          options.limit,
          MAX_LIST_LIMIT,
        );
        if (options.before !== undefined && !/^\d{1,18}$/.test(options.before))
          throw new UsageError("--before must be an action id");
        const rows = await withServices(cli, async (services, db) => {
          const tenant = await findTenant(db.knex, options.tenant);
          const user = options.user
            ? await findUserByIdOrUserName(
                services,
                db.knex,
                tenant.id,
                options.user,
              )
            : undefined;
          return services.actions.list(tenant.id, {
            ...(user ? { userId: user.id } : {}),
            ...(options.app ? { appId: options.app } : {}),
            ...(states.length ? { states } : {}),
            ...(options.before ? { beforeId: options.before } : {}),
            limit,
          });
        });
        const text =
          rows.length === 0
            ? "(no actions)"
            : formatTable([
                [
                  "ID",
                  "STATE",
                  "APP",
                  "ACTION",
                  "USER",
                  "RUN AT",
                  "ATTEMPTS",
                  "LAST ERROR",
                ],
                ...rows.map((r) => [
                  r.id,
                  r.state,
                  r.app_id,
                  r.kind,
                  actionView(r).userName ?? r.user_id,
                  r.run_at.toISOString(),
                  `${r.attempts}/${r.max_attempts}`,
                  errorText(r),
                ]),
              ]) +
              (rows.length === limit
                ? `\n(more: --before ${rows[rows.length - 1]!.id})`
                : "");
        printResult(!!options.json, rows.map(actionView), text);
      },
    );

  for (const verb of ["retry", "cancel"] as const) {
    const command = actions
      .command(`${verb} <id>`)
      .description(
        verb === "retry"
          ? "put a failed or cancelled action back in the queue with fresh attempts (audited)"
          : "cancel a pending or failed action (audited)",
      )
      .requiredOption("--tenant <name>", "tenant")
      .option("--json", "print the action as JSON");
    if (verb === "cancel")
      command.option("--reason <text>", "why, kept with the action");
    command.action(
      async (
        id: string,
        options: { tenant: string; reason?: string; json?: boolean },
      ) => {
        if (!/^\d{1,18}$/.test(id))
          throw new UsageError(`"${id}" is not an action id`);
        const row = await withServices(cli, async (services, db) => {
          const tenant = await findTenant(db.knex, options.tenant);
          const principal = cliPrincipal(tenant, cliActor(cli.env));
          return verb === "retry"
            ? services.actions.retry(principal, id)
            : services.actions.cancel(
                principal,
                id,
                options.reason ?? `cancelled by ${principal.actor}`,
              );
        });
        printResult(
          !!options.json,
          actionView(row),
          `${verb === "retry" ? "retried" : "cancelled"} action ${row.id} (${row.app_id} ${row.kind}): now ${row.state}`,
        );
      },
    );
  }
}

function parseStates(text: string | undefined): ActionState[] {
  const states =
    text
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const unknown = states.filter(
    (s) => !(ACTION_STATES as readonly string[]).includes(s),
  );
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown state(s) ${unknown.join(", ")}; use ${ACTION_STATES.join(", ")}`,
    );
  }
  return states as ActionState[];
}

function errorText(row: ActionRow): string {
  const error = row.last_error;
  if (!error) return "";
  const message = error.message ?? error.reason;
  const text = typeof message === "string" ? message : JSON.stringify(error);
  return typeof error.kind === "string" ? `${error.kind}: ${text}` : text;
}
