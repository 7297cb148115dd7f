import type { Knex } from "knex";
import { lifecycleConfigSchema, type PolicyProblem } from "../domain/policy.ts";
import { AppError } from "../errors.ts";
import { findTenantByName } from "../store/tenants-store.ts";
import type { PolicyService } from "./policy-service.ts";

/** Every problem of a whole lifecycle config document (all tenants), [] when valid. */
export async function validateLifecycleConfig(
  deps: { knex: Knex; policies: PolicyService },
  document: unknown,
): Promise<PolicyProblem[]> {
  const parsed = lifecycleConfigSchema.safeParse(document);
  if (!parsed.success) {
    // Top-level shape only; each tenant's policy is checked below with paths of its own.
    const shape = lifecycleConfigSchema.safeParse({
      tenants: Object.fromEntries(
        Object.keys(
          (document as { tenants?: Record<string, unknown> })?.tenants ?? {},
        ).map((name) => [name, {}]),
      ),
    });
    if (!shape.success) {
      return shape.error.issues.map((issue) => ({
        path: issue.path.join(".") || "(document)",
        message: issue.message,
      }));
    }
  }
  const tenants = (document as { tenants: Record<string, unknown> }).tenants;
  const problems: PolicyProblem[] = [];
  for (const [name, policy] of Object.entries(tenants)) {
    if (!(await findTenantByName(deps.knex, name))) {
      problems.push({
        path: `tenants.${name}`,
        message: `no tenant "${name}"; create it with \`scim-lifecycle tenant create ${name}\``,
      });
    }
    problems.push(...deps.policies.validate(policy, `tenants.${name}`));
  }
  return problems;
}

/**
 * Applies a lifecycle config document (the `SCIM_LIFECYCLE_CONFIG` file): all tenants or none.
 * Each tenant whose policy changed gets a new version.
 */
export async function applyLifecycleConfig(
  deps: { knex: Knex; policies: PolicyService },
  document: unknown,
  source: "file" | "cli",
): Promise<{ tenant: string; version: number; changed: boolean }[]> {
  const problems = await validateLifecycleConfig(deps, document);
  if (problems.length > 0) {
    throw new AppError(
      "policy.invalid",
      `The lifecycle config has ${problems.length} problem(s):\n  ${problems
        .map((p) => `${p.path}: ${p.message}`)
        .join("\n  ")}`,
      { problems },
    );
  }
  const tenants = (document as { tenants: Record<string, unknown> }).tenants;
  const applied = [];
  for (const [name, policy] of Object.entries(tenants)) {
    const tenant = (await findTenantByName(deps.knex, name))!;
    const result = await deps.policies.apply(tenant.id, policy, { source });
    applied.push({ tenant: name, ...result });
  }
  return applied;
}
