import { z } from "zod";
import { APP_STATES, type AppState } from "./app-state.ts";
import { parseDuration } from "./duration.ts";
import type { LifecycleEventType } from "./lifecycle-event.ts";
import { checkResourceFilter } from "./match-resource.ts";
import { hasPlaceholder, placeholdersOf } from "./render-template.ts";
import { parseFilter } from "./scim-filter.ts";
import type { FilterNode } from "./scim-filter-ast.ts";
import type { ResourceSchema } from "./scim-schema.ts";

/** Events a rule may react to: a user's lifecycle, and a user joining or leaving a group. */
export const RULE_EVENTS = [
  "user.created",
  "user.updated",
  "user.deactivated",
  "user.reactivated",
  "user.deleted",
  "group.member_added",
  "group.member_removed",
] as const satisfies readonly LifecycleEventType[];

/** An event type rules can name. */
export type RuleEvent = (typeof RULE_EVENTS)[number];

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
// Durations are checked with the other semantic problems, so one pass lists them all.
const duration = z.string();
const appState = z.enum(APP_STATES);

/** A secret in an app's config: read from this environment variable, never written inline. */
export const envReferenceSchema = z
  .object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) })
  .strict();

const stepSchema = z
  .object({
    app: z.string(),
    action: z.string(),
    /** Run this long after the event instead of now. */
    after: duration.optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    /** Checked when the step runs (after earlier actions for the same user and app): else skipped. */
    if: z
      .object({
        state: z.union([appState, z.array(appState).min(1)]),
        /** The user has been in that state for less than this long. */
        within: duration.optional(),
        /** The user has been in that state for at least this long. */
        notWithin: duration.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const ruleSchema = z
  .object({
    id: z.string().regex(NAME, "lower-case letters, digits, - and _"),
    on: z.enum(RULE_EVENTS),
    /** A SCIM filter over the user, or over the group for membership events. */
    when: z.string().optional(),
    /** Pending actions to cancel for this user in these apps (all kinds, or the ones listed). */
    cancel: z
      .array(
        z
          .object({ app: z.string(), actions: z.array(z.string()).optional() })
          .strict(),
      )
      .default([]),
    do: z.array(stepSchema).default([]),
  })
  .strict();

const appSchema = z
  .object({
    id: z.string().regex(NAME, "lower-case letters, digits, - and _"),
    connector: z.string(),
    config: z.record(z.string(), z.unknown()).default({}),
    /** Token bucket shared by every worker: at most this many calls a minute. */
    rateLimit: z
      .object({
        perMinute: z.number().int().positive(),
        burst: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    /** Attempts before an action is dead-lettered (`failed`). */
    maxAttempts: z.number().int().min(1).max(100).default(8),
    /** How long a downstream job may stay in progress before the action fails. */
    jobTimeout: duration.default("1h"),
  })
  .strict();

/** One tenant's apps and rules, as written in the config file or sent to the admin API. */
export const tenantPolicySchema = z
  .object({
    apps: z.array(appSchema).default([]),
    rules: z.array(ruleSchema).default([]),
  })
  .strict();

/** The whole `SCIM_LIFECYCLE_CONFIG` file: policies by tenant name. */
export const lifecycleConfigSchema = z
  .object({ tenants: z.record(z.string(), tenantPolicySchema) })
  .strict();

/** A tenant policy document as parsed (defaults applied). */
export type TenantPolicyDocument = z.infer<typeof tenantPolicySchema>;
/** An app of a policy document. */
export type AppDocument = z.infer<typeof appSchema>;

/** What policy validation needs to know about an app's connector. */
export interface AppCatalogEntry {
  /** Action kind → its params schema; `group` actions need a group (membership events). */
  actions: Record<
    string,
    { params: z.ZodType<Record<string, unknown>>; group?: boolean }
  >;
}

/** One validation problem, with where it is. */
export interface PolicyProblem {
  path: string;
  message: string;
}

/** A step ready to plan. */
export interface CompiledStep {
  app: string;
  action: string;
  afterMs: number;
  params: Record<string, unknown>;
  condition?: StepCondition;
}

/** When a step runs at all, checked against the user's state in the app at run time. */
export interface StepCondition {
  states: AppState[];
  withinMs?: number;
  notWithinMs?: number;
}

/** A rule ready to plan. */
export interface CompiledRule {
  id: string;
  on: RuleEvent;
  when?: FilterNode;
  cancel: { app: string; actions?: string[] }[];
  steps: CompiledStep[];
}

/** A tenant's policy, validated: what planning uses. */
export interface CompiledPolicy {
  /** The stored version this came from (0 when not stored, e.g. a dry run of a draft). */
  version: number;
  apps: Map<string, AppDocument>;
  rules: CompiledRule[];
  /** True when some step's params refer to `{{manager.…}}`: planning needs the manager. */
  needsManager: boolean;
}

/**
 * Validates a tenant policy and compiles it, listing every problem at once: unknown apps, actions
 * the connector does not offer, bad params, bad durations, conditions that are not valid filters.
 */
export function compilePolicy(
  input: unknown,
  options: {
    version: number;
    /** The app's connector entry, or a message saying why the app is unusable. */
    catalog: (app: AppDocument) => AppCatalogEntry | string;
    schemas: { user: ResourceSchema; group: ResourceSchema };
    pathPrefix?: string;
  },
): { policy: CompiledPolicy; problems: [] } | { problems: PolicyProblem[] } {
  const prefix = options.pathPrefix ? `${options.pathPrefix}.` : "";
  const parsed = tenantPolicySchema.safeParse(input);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((issue) => ({
        path: prefix + formatPath(issue.path),
        message: issue.message,
      })),
    };
  }
  const document = parsed.data;
  const problems: PolicyProblem[] = [];
  const apps = new Map<string, AppDocument>();
  const catalogs = new Map<string, AppCatalogEntry>();
  document.apps.forEach((app, i) => {
    const at = `${prefix}apps[${i}]`;
    if (apps.has(app.id)) {
      problems.push({ path: `${at}.id`, message: `duplicate app "${app.id}"` });
      return;
    }
    apps.set(app.id, app);
    if (durationMs(app.jobTimeout) === undefined) {
      problems.push({
        path: `${at}.jobTimeout`,
        message: `"${app.jobTimeout}" is not a duration (use e.g. 30m, 1h)`,
      });
    }
    const entry = options.catalog(app);
    if (typeof entry === "string") {
      problems.push({ path: at, message: entry });
    } else {
      catalogs.set(app.id, entry);
    }
  });

  const rules: CompiledRule[] = [];
  const ruleIds = new Set<string>();
  let needsManager = false;
  document.rules.forEach((rule, r) => {
    const at = `${prefix}rules[${r}]`;
    if (ruleIds.has(rule.id)) {
      problems.push({
        path: `${at}.id`,
        message: `duplicate rule "${rule.id}"`,
      });
    }
    ruleIds.add(rule.id);
    const isMembership = rule.on.startsWith("group.");
    let when: FilterNode | undefined;
    if (rule.when !== undefined) {
      try {
        when = parseFilter(rule.when);
        checkResourceFilter(
          when,
          isMembership ? options.schemas.group : options.schemas.user,
        );
        const derived = filterPaths(when).find((path) =>
          path.toLowerCase().startsWith(DERIVED_URN_PREFIX),
        );
        if (derived) {
          throw new Error(
            `"${derived}" is our own record of downstream state, not part of the user the IdP sent; conditions cannot use it (use a step's \`if: { state }\` instead)`,
          );
        }
      } catch (error) {
        problems.push({
          path: `${at}.when`,
          message: `not a valid filter over the ${isMembership ? "group" : "user"}: ${(error as Error).message}`,
        });
      }
    }
    rule.cancel.forEach((cancel, c) => {
      const catalog = checkApp(cancel.app, `${at}.cancel[${c}].app`);
      for (const action of cancel.actions ?? []) {
        if (catalog && !catalog.actions[action]) {
          problems.push({
            path: `${at}.cancel[${c}].actions`,
            message: `app "${cancel.app}" has no action "${action}"`,
          });
        }
      }
    });
    const steps: CompiledStep[] = [];
    rule.do.forEach((step, s) => {
      const stepAt = `${at}.do[${s}]`;
      const catalog = checkApp(step.app, `${stepAt}.app`);
      if (!catalog) return;
      const action = catalog.actions[step.action];
      if (!action) {
        problems.push({
          path: `${stepAt}.action`,
          message: `app "${step.app}" (${apps.get(step.app)?.connector}) has no action "${step.action}"; it offers ${Object.keys(catalog.actions).join(", ")}`,
        });
        return;
      }
      if (action.group && !isMembership) {
        problems.push({
          path: `${stepAt}.action`,
          message: `"${step.action}" acts on a group: use it on group.member_added or group.member_removed`,
        });
      }
      for (const [key, text] of [
        ["after", step.after],
        ["if.within", step.if?.within],
        ["if.notWithin", step.if?.notWithin],
      ] as const) {
        if (text !== undefined && durationMs(text) === undefined) {
          problems.push({
            path: `${stepAt}.${key}`,
            message: `"${text}" is not a duration (use e.g. 30s, 15m, 12h, 30d)`,
          });
        }
      }
      for (const issue of paramProblems(action.params, step.params)) {
        problems.push({
          path: `${stepAt}.params${issue.path}`,
          message: issue.message,
        });
      }
      for (const name of placeholdersOf(step.params)) {
        const root = name.split(".")[0];
        if (!["user", "manager", "group", "event"].includes(root ?? "")) {
          problems.push({
            path: `${stepAt}.params`,
            message: `unknown placeholder "{{${name}}}": use user.…, manager.…, group.… or event.…`,
          });
        }
        if (root === "manager") needsManager = true;
        if (root === "group" && !isMembership) {
          problems.push({
            path: `${stepAt}.params`,
            message: `"{{${name}}}" needs a membership event`,
          });
        }
      }
      steps.push({
        app: step.app,
        action: step.action,
        afterMs: step.after ? (durationMs(step.after) ?? 0) : 0,
        params: step.params,
        ...(step.if
          ? {
              condition: {
                states: Array.isArray(step.if.state)
                  ? step.if.state
                  : [step.if.state],
                ...(step.if.within
                  ? { withinMs: durationMs(step.if.within) ?? 0 }
                  : {}),
                ...(step.if.notWithin
                  ? { notWithinMs: durationMs(step.if.notWithin) ?? 0 }
                  : {}),
              },
            }
          : {}),
      });
    });
    rules.push({
      id: rule.id,
      on: rule.on,
      ...(when ? { when } : {}),
      cancel: rule.cancel,
      steps,
    });
  });
  if (problems.length > 0) return { problems };
  return {
    policy: { version: options.version, apps, rules, needsManager },
    problems: [],
  };

  function checkApp(id: string, path: string): AppCatalogEntry | undefined {
    if (!apps.has(id)) {
      problems.push({ path, message: `unknown app "${id}"` });
      return undefined;
    }
    return catalogs.get(id);
  }
}

function durationMs(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

// Attributes we derive (the apps extension) are not on the stored user a condition sees.
const DERIVED_URN_PREFIX = "urn:scim-lifecycle:";

function filterPaths(filter: FilterNode): string[] {
  switch (filter.kind) {
    case "and":
    case "or":
      return filter.terms.flatMap(filterPaths);
    case "not":
      return filterPaths(filter.term);
    case "valuePath":
      return [filter.path];
    default:
      return [filter.path];
  }
}

/** Params problems, ignoring values that are templates (they are checked once rendered). */
function paramProblems(
  schema: z.ZodType<Record<string, unknown>>,
  params: Record<string, unknown>,
): { path: string; message: string }[] {
  const result = schema.safeParse(params);
  if (result.success) return [];
  return result.error.issues
    .filter((issue) => !hasPlaceholder(valueAt(params, issue.path)))
    .map((issue) => ({
      path: issue.path.length ? `.${formatPath(issue.path)}` : "",
      message: issue.message,
    }));
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) =>
      typeof key === "number"
        ? `[${key}]`
        : `${i === 0 ? "" : "."}${String(key)}`,
    )
    .join("");
}
