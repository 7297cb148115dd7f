import type { Command } from "commander";
import { isPlainObject } from "../domain/plain-json.ts";
import { RULE_EVENTS, type PolicyProblem } from "../domain/policy.ts";
import type { WritePlan } from "../services/action-planner.ts";
import {
  applyLifecycleConfig,
  validateLifecycleConfig,
} from "../services/lifecycle-config.ts";
import {
  findTenant,
  findUserByIdOrUserName,
  formatTable,
  printResult,
  requireCompilingPolicy,
  withServices,
  type CliContext,
} from "./cli-context.ts";
import { EXIT_CODE, UsageError } from "./exit-codes.ts";
import { readLifecycleConfig } from "./read-lifecycle-config.ts";

/** `policy validate|apply|plan`. */
export function registerPolicyCommands(
  program: Command,
  cli: CliContext,
): void {
  const policy = program
    .command("policy")
    .description(
      "lifecycle config files (apps and rules per tenant, as in SCIM_LIFECYCLE_CONFIG)",
    );

  policy
    .command("validate <file>")
    .description(
      "check a lifecycle config file and list every problem with its path (exit 2 when invalid)",
    )
    .option("--json", "print JSON: { valid, problems: [{ path, message }] }")
    .addHelpText(
      "after",
      "\nTenants must exist and app secrets ({ env: NAME }) must be set in this environment.",
    )
    .action(async (file: string, options: { json?: boolean }) => {
      const document = await readConfigFile(file);
      const problems = await withServices(cli, (services, db) =>
        validateDocument(
          { knex: db.knex, policies: services.policies },
          document,
        ),
      );
      const valid = problems.length === 0;
      printResult(
        !!options.json,
        { valid, problems },
        valid
          ? `${file} is valid: ${describeTenants(document)}`
          : `${file} has ${problems.length} problem(s):\n` +
              problems.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
      );
      if (!valid) process.exitCode = EXIT_CODE.usage;
    });

  policy
    .command("apply <file>")
    .description(
      "validate a lifecycle config file, then store each tenant's policy as a new version when it changed",
    )
    .option("--json", "print JSON: [{ tenant, version, changed }]")
    .action(async (file: string, options: { json?: boolean }) => {
      const document = await readConfigFile(file);
      const outcome = await withServices(cli, async (services, db) => {
        const deps = { knex: db.knex, policies: services.policies };
        const problems = await validateDocument(deps, document);
        if (problems.length > 0) return { problems, applied: undefined };
        const applied = await applyLifecycleConfig(deps, document, "cli");
        return { problems, applied };
      });
      if (!outcome.applied) {
        printResult(
          !!options.json,
          { valid: false, problems: outcome.problems },
          `nothing applied; ${file} has ${outcome.problems.length} problem(s):\n` +
            outcome.problems.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
        );
        process.exitCode = EXIT_CODE.usage;
        return;
      }
      printResult(
        !!options.json,
        outcome.applied,
        outcome.applied
          .map(
            (a) =>
              `${a.tenant}: version ${a.version} ${a.changed ? "(new version)" : "(unchanged)"}`,
          )
          .join("\n") || "(no tenants in the file)",
      );
    });

  policy
    .command("plan")
    .description(
      "dry run: what an event would plan for a user now, without writing anything",
    )
    .requiredOption("--tenant <name>", "tenant")
    .requiredOption("--event <type>", RULE_EVENTS.join(", "))
    .requiredOption("--user <id or userName>", "the user the event is about")
    .option(
      "--group <id>",
      "the group, for group.member_added and group.member_removed",
    )
    .option(
      "--file <file>",
      "plan with this lifecycle config file's policy for the tenant instead of the stored one",
    )
    .option("--json", "print JSON: { actions, cancels }")
    .action(
      async (options: {
        tenant: string;
        event: string;
        user: string;
        group?: string;
        file?: string;
        json?: boolean;
      }) => {
        const draft = options.file
          ? draftFor(await readConfigFile(options.file), options.tenant)
          : undefined;
        const { plan, user } = await withServices(cli, async (services, db) => {
          const tenant = await findTenant(db.knex, options.tenant);
          if (draft === undefined)
            await requireCompilingPolicy(services, tenant);
          const user = await findUserByIdOrUserName(
            services,
            db.knex,
            tenant.id,
            options.user,
          );
          const plan = await services.actions.dryRun(tenant.id, {
            event: options.event,
            userId: user.id,
            ...(options.group ? { groupId: options.group } : {}),
            ...(draft !== undefined ? { document: draft } : {}),
          });
          return { plan, user };
        });
        printResult(
          !!options.json,
          {
            user: { id: user.id, userName: user.user_name },
            ...planView(plan),
          },
          describePlan(options.event, user.user_name, plan),
        );
      },
    );
}

async function readConfigFile(file: string): Promise<unknown> {
  try {
    return await readLifecycleConfig(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code ? `cannot read ${file} (${code})` : (error as Error).message,
      { cause: error },
    );
  }
}

/** Every problem of a whole config document, including a shape too far off to look inside. */
async function validateDocument(
  deps: Parameters<typeof validateLifecycleConfig>[0],
  document: unknown,
): Promise<PolicyProblem[]> {
  if (!isPlainObject(document) || !isPlainObject(document.tenants)) {
    return [
      {
        path: "tenants",
        message:
          "expected a map of tenant names to policies: tenants: { <name>: { apps: [...], rules: [...] } }",
      },
    ];
  }
  return validateLifecycleConfig(deps, document);
}

function draftFor(document: unknown, tenant: string): unknown {
  const tenants = isPlainObject(document) ? document.tenants : undefined;
  if (!isPlainObject(tenants) || !(tenant in tenants)) {
    throw new UsageError(`the file has no policy for tenant "${tenant}"`);
  }
  return tenants[tenant];
}

function describeTenants(document: unknown): string {
  const tenants = (document as { tenants: Record<string, unknown> }).tenants;
  const parts = Object.entries(tenants).map(([name, policy]) => {
    const p = isPlainObject(policy) ? policy : {};
    const count = (value: unknown) => (Array.isArray(value) ? value.length : 0);
    return `${name} (${count(p.apps)} app(s), ${count(p.rules)} rule(s))`;
  });
  return parts.join(", ") || "no tenants";
}

function planView(plan: WritePlan) {
  return {
    actions: plan.actions.map((a) => ({
      app: a.app_id,
      action: a.kind,
      runAt: a.run_at,
      params: a.params,
      condition: a.condition,
      rule: a.rule_id,
      policyVersion: a.policy_version,
    })),
    cancels: plan.cancels.map((c) => ({
      app: c.app_id,
      actions: c.kinds ?? "all",
      rule: c.rule_id,
    })),
  };
}

function describePlan(
  event: string,
  userName: string,
  plan: WritePlan,
): string {
  if (plan.actions.length === 0 && plan.cancels.length === 0) {
    return `${event} for ${userName}: nothing would be planned or cancelled`;
  }
  const now = Date.now();
  const lines = [`${event} for ${userName}:`];
  if (plan.actions.length > 0) {
    lines.push(
      formatTable([
        ["  APP", "ACTION", "WHEN", "RULE", "IF", "PARAMS"],
        ...plan.actions.map((a) => [
          `  ${a.app_id}`,
          a.kind,
          a.run_at.getTime() - now > 1_000
            ? `in ${roughDuration(a.run_at.getTime() - now)} (${a.run_at.toISOString()})`
            : "now",
          `${a.rule_id} (v${a.policy_version})`,
          a.condition ? JSON.stringify(a.condition) : "-",
          JSON.stringify(a.params),
        ]),
      ]),
    );
  }
  for (const c of plan.cancels) {
    lines.push(
      `  cancel pending ${c.kinds ? c.kinds.join(", ") : "actions"} in ${c.app_id} (rule ${c.rule_id})`,
    );
  }
  return lines.join("\n");
}

function roughDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
  ] as const) {
    if (ms >= size) return `${Math.round(ms / size)}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}
