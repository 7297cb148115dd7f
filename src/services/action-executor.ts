import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { withDbErrors } from "../db/transaction.ts";
import {
  ConnectorError,
  type ActionRequest,
  type ActionResult,
  type ActionSubject,
  type DownstreamJob,
} from "../connectors/types.ts";
import type { AppState } from "../domain/app-state.ts";
import { retryDelayMs } from "../domain/backoff.ts";
import { parseDuration } from "../domain/duration.ts";
import { emailOf } from "../domain/plan-actions.ts";
import { isPlainObject } from "../domain/plain-json.ts";
import type { StepCondition } from "../domain/policy.ts";
import type { Logger } from "../logger.ts";
import {
  finishRun,
  takeRateToken,
  type ClaimedAction,
  type RunOutcome,
} from "../queue/action-queue.ts";
import type { AppConnectors, AppRuntime } from "./app-connectors.ts";
import type { PolicyService } from "./policy-service.ts";

/** Events whose immediate actions measure the deprovisioning clock. */
const DEPROVISION_EVENTS = new Set(["user.deactivated", "user.deleted"]);

/**
 * How one run ended, for operators' counters. `throttled`: it waited for the app's Retry-After
 * window or rate limit before calling; `rate_limited`: the app answered 429; `lease_lost`: another
 * worker owned the action by the time the outcome was recorded, so nothing was.
 */
export type ActionRunOutcome =
  | "succeeded"
  | "failed"
  | "skipped"
  | "attempt_failed"
  | "rate_limited"
  | "throttled"
  | "in_progress"
  | "lease_lost";

/** Told how each run ended once its outcome is committed (metrics); must not throw. */
export interface ActionObserver {
  actionRun(run: {
    app: string;
    kind: string;
    outcome: ActionRunOutcome;
    /** From the lifecycle event to this success, for a deprovisioning action run at once. */
    deprovisionMs?: number;
  }): void;
}

/** What one run decided, before it is recorded. */
interface Decision {
  outcome: RunOutcome;
  runOutcome: Exclude<ActionRunOutcome, "lease_lost">;
  auditKey: string | undefined;
  detail: Record<string, unknown>;
  appState?: { state?: AppState; ref?: Record<string, unknown> };
  blockUntil?: Date;
  deprovisionMs?: number;
}

/**
 * Runs claimed actions against their apps and records each outcome atomically: the queue row,
 * the user's app state and the audit entry commit together. Never throws for downstream errors;
 * they become retries, waits or dead letters.
 */
export function createActionExecutor(deps: {
  knex: Knex;
  clock: Clock;
  logger: Logger;
  policies: PolicyService;
  appConnectors: AppConnectors;
  random?: () => number;
  observer?: ActionObserver;
}) {
  const { knex, clock, logger } = deps;
  async function runtimeOf(
    action: ClaimedAction,
  ): Promise<AppRuntime | string> {
    const policy = await deps.policies.current(action.tenant_id);
    const app = policy?.apps.get(action.app_id);
    if (!policy || !app) {
      return `app "${action.app_id}" is not in the tenant's current policy`;
    }
    const runtime = deps.appConnectors.runtimeFor(
      action.tenant_id,
      policy.version,
      app,
    );
    return "problem" in runtime ? runtime.problem : runtime;
  }

  async function decide(action: ClaimedAction, now: Date): Promise<Decision> {
    const base = {
      actionId: action.id,
      app: action.app_id,
      action: action.kind,
      attempt: action.attempts,
      policyVersion: action.policy_version,
      rule: action.rule_id,
    };
    const fail = (error: Record<string, unknown>): Decision => ({
      outcome: { state: "failed", error },
      runOutcome: "failed",
      auditKey: "action.failed",
      detail: { ...base, error },
    });

    if (action.job_deadline && now > new Date(action.job_deadline)) {
      return fail({
        kind: "timeout",
        message: "the downstream job did not finish in time",
      });
    }
    const runtime = await runtimeOf(action);
    if (typeof runtime === "string") {
      return fail({ kind: "misconfigured", message: runtime });
    }
    const definition = runtime.actions[action.kind];
    if (!definition) {
      return fail({
        kind: "misconfigured",
        message: `app "${action.app_id}" no longer offers "${action.kind}"`,
      });
    }
    const key = {
      tenantId: action.tenant_id,
      appId: action.app_id,
      userId: action.user_id,
    };
    // Read by the claim, just before this run.
    const state = action.app_state ?? undefined;
    if (action.condition && !action.job) {
      const reason = unmetCondition(
        action.condition as unknown as StepCondition,
        state,
        now,
      );
      if (reason) {
        return {
          outcome: { state: "skipped", result: { reason } },
          runOutcome: "skipped",
          auditKey: "action.skipped",
          detail: { ...base, reason },
        };
      }
    }
    // Windows other processes recorded were checked by the claim; this process's own is checked
    // here, since it may have learnt of one while this action was being claimed.
    const waitUntil = deps.appConnectors.blockedUntil(
      action.tenant_id,
      action.app_id,
    );
    if (waitUntil) {
      return {
        outcome: { state: "pending", runAt: waitUntil, countAttempt: false },
        runOutcome: "throttled",
        auditKey: undefined,
        detail: base,
      };
    }
    if (runtime.app.rateLimit) {
      const next = await takeRateToken(
        knex,
        key,
        {
          perMinute: runtime.app.rateLimit.perMinute,
          burst: runtime.app.rateLimit.burst ?? runtime.app.rateLimit.perMinute,
        },
        now,
      );
      if (next) {
        return {
          outcome: { state: "pending", runAt: next, countAttempt: false },
          runOutcome: "throttled",
          auditKey: undefined,
          detail: base,
        };
      }
    }
    const params = definition.params.safeParse(action.params);
    if (!params.success) {
      return fail({
        kind: "misconfigured",
        message: `params: ${params.error.issues.map((i) => `${i.path.join(".") || "(params)"} ${i.message}`).join("; ")}`,
      });
    }

    const request: ActionRequest = {
      action: action.kind,
      subject: subjectOf(action, state),
      params: params.data,
      idempotencyKey: action.idempotency_key,
      attempt: action.attempts,
      ...(action.job ? { job: action.job as unknown as DownstreamJob } : {}),
      ...groupOf(action),
    };
    const started = Date.now();
    let result: ActionResult;
    try {
      result = await runtime.instance.run(request);
    } catch (error) {
      // Windows and backoff count from when the app answered, not from when we asked.
      return failureDecision(action, error, clock.now(), base, fail);
    }
    const durationMs = Date.now() - started;
    if (result.status === "in_progress") {
      const deadline = action.job_deadline
        ? new Date(action.job_deadline)
        : new Date(now.getTime() + parseDuration(runtime.app.jobTimeout));
      return {
        outcome: {
          state: "in_progress",
          runAt: new Date(now.getTime() + result.pollAfterMs),
          job: { startedAt: now.toISOString(), ...result.job },
          jobDeadline: deadline,
          ...(result.detail ? { result: result.detail } : {}),
        },
        runOutcome: "in_progress",
        // One entry when the job starts, not one per poll.
        auditKey: action.job ? undefined : "action.in_progress",
        detail: { ...base, jobId: result.job.id, durationMs },
        ...(result.ref ? { appState: { ref: result.ref } } : {}),
      };
    }
    const finishedAt = clock.now();
    const deprovisionMs =
      DEPROVISION_EVENTS.has(action.event_type) &&
      new Date(action.run_at).getTime() <=
        new Date(action.event_occurred_at).getTime() + 1_000
        ? finishedAt.getTime() - new Date(action.event_occurred_at).getTime()
        : undefined;
    return {
      outcome: {
        state: "succeeded",
        result: {
          ...(result.detail ?? {}),
          ...(result.ref ? { ref: result.ref } : {}),
        },
      },
      runOutcome: "succeeded",
      auditKey: "action.succeeded",
      ...(deprovisionMs !== undefined ? { deprovisionMs } : {}),
      detail: {
        ...base,
        durationMs,
        ...(deprovisionMs !== undefined ? { deprovisionMs } : {}),
      },
      appState: {
        ...(definition.resultingState
          ? { state: definition.resultingState }
          : {}),
        ...(result.ref ? { ref: result.ref } : {}),
      },
    };
  }

  function failureDecision(
    action: ClaimedAction,
    error: unknown,
    now: Date,
    base: Record<string, unknown>,
    fail: (error: Record<string, unknown>) => Decision,
  ): Decision {
    if (!(error instanceof ConnectorError)) {
      logger.error("connector failed unexpectedly", {
        actionId: action.id,
        app: action.app_id,
        error: (error as Error).message,
      });
    }
    const kind = error instanceof ConnectorError ? error.kind : "retryable";
    const described = {
      kind,
      message: (error as Error).message,
      ...(error instanceof ConnectorError && error.status
        ? { status: error.status }
        : {}),
      ...(error instanceof ConnectorError && error.code
        ? { code: error.code }
        : {}),
    };
    if (kind === "rate_limited") {
      const waitMs =
        error instanceof ConnectorError && error.retryAfterMs !== undefined
          ? error.retryAfterMs
          : 60_000;
      const until = new Date(now.getTime() + waitMs);
      deps.appConnectors.block(action.tenant_id, action.app_id, until);
      return {
        outcome: {
          state: "pending",
          runAt: until,
          countAttempt: false,
          error: described,
        },
        runOutcome: "rate_limited",
        auditKey: "action.rate_limited",
        detail: { ...base, retryAfterMs: waitMs },
        blockUntil: until,
      };
    }
    if (kind === "retryable" && action.attempts < action.max_attempts) {
      const delay = retryDelayMs(action.attempts, deps.random);
      return {
        outcome: {
          state: "pending",
          runAt: new Date(now.getTime() + delay),
          countAttempt: true,
          error: described,
        },
        runOutcome: "attempt_failed",
        auditKey: "action.attempt_failed",
        detail: { ...base, error: described, retryInMs: delay },
      };
    }
    return fail(described);
  }

  return {
    /** Runs one claimed action and records its outcome (the worker's handler). */
    async handle(action: ClaimedAction, workerId: string): Promise<void> {
      const now = clock.now();
      const decision = await decide(action, now);
      const at = clock.now();
      const owned = await withDbErrors(() =>
        finishRun(
          knex,
          { id: action.id, workerId, now: at },
          decision.outcome,
          {
            ...(decision.blockUntil
              ? {
                  blockApp: {
                    tenantId: action.tenant_id,
                    appId: action.app_id,
                    until: decision.blockUntil,
                  },
                }
              : {}),
            ...(decision.appState
              ? {
                  appState: {
                    tenantId: action.tenant_id,
                    userId: action.user_id,
                    appId: action.app_id,
                    ...decision.appState,
                    at,
                  },
                }
              : {}),
            ...(decision.auditKey
              ? {
                  audit: {
                    tenant_id: action.tenant_id,
                    occurred_at: at,
                    actor_token_id: null,
                    key: decision.auditKey,
                    resource_type: "User",
                    resource_id: action.user_id,
                    request_id: null,
                    detail: decision.detail,
                  },
                }
              : {}),
          },
        ),
      );
      if (!owned) {
        // Our lease was swept (or released at shutdown) and another worker may own the action
        // now: nothing was recorded.
        logger.warn("lease lost before the outcome was recorded", {
          actionId: action.id,
        });
      }
      // After the commit: a counted outcome is a recorded one.
      try {
        deps.observer?.actionRun({
          app: action.app_id,
          kind: action.kind,
          outcome: owned ? decision.runOutcome : "lease_lost",
          ...(owned && decision.deprovisionMs !== undefined
            ? { deprovisionMs: decision.deprovisionMs }
            : {}),
        });
      } catch (error) {
        // The outcome is committed; a broken counter must not make it look unrecorded.
        logger.warn("action observer failed", {
          actionId: action.id,
          error: (error as Error).message,
        });
      }
    },
  };
}

/** The executor's interface. */
export type ActionExecutor = ReturnType<typeof createActionExecutor>;

/** The user's state in the app, as the claim read it. */
type ClaimedAppState = NonNullable<ClaimedAction["app_state"]>;

/** Why a step's condition does not hold now, or undefined when it does. */
function unmetCondition(
  condition: StepCondition,
  state: ClaimedAppState | undefined,
  now: Date,
): string | undefined {
  const current = state?.state ?? "unknown";
  if (!condition.states.includes(current)) {
    return `the user is ${current} in this app, not ${condition.states.join(" or ")}`;
  }
  const sinceMs = state
    ? now.getTime() - new Date(state.since).getTime()
    : Infinity;
  if (condition.withinMs !== undefined && !(sinceMs < condition.withinMs)) {
    return `the user has been ${current} for longer than ${condition.withinMs} ms`;
  }
  if (condition.notWithinMs !== undefined && sinceMs < condition.notWithinMs) {
    return `the user has been ${current} for less than ${condition.notWithinMs} ms`;
  }
  return undefined;
}

function subjectOf(
  action: ClaimedAction,
  state: ClaimedAppState | undefined,
): ActionSubject {
  const user = isPlainObject(action.subject.user) ? action.subject.user : {};
  const name = isPlainObject(user.name) ? user.name : {};
  const text = (value: unknown) =>
    typeof value === "string" ? value : undefined;
  const subject: ActionSubject = {
    userId: action.user_id,
    userName: String(user.userName ?? ""),
    active: user.active !== false,
    resource: user,
    ref: state?.ref ?? {},
  };
  const optional = {
    externalId: text(user.externalId),
    email: emailOf(user),
    givenName: text(name.givenName),
    familyName: text(name.familyName),
    displayName: text(user.displayName),
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (subject as unknown as Record<string, unknown>)[k] = v;
  }
  return subject;
}

function groupOf(action: ClaimedAction): Pick<ActionRequest, "group"> {
  const group = action.subject.group;
  if (!action.group_id || !isPlainObject(group)) return {};
  return {
    group: {
      id: action.group_id,
      displayName: String(group.displayName ?? ""),
      ...(typeof group.externalId === "string"
        ? { externalId: group.externalId }
        : {}),
      ref: {},
    },
  };
}
