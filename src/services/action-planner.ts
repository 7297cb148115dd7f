import type { Knex } from "knex";
import { isPlainObject } from "../domain/plain-json.ts";
import {
  planActions,
  type PlannedAction,
  type PlanningSubject,
} from "../domain/plan-actions.ts";
import type { CompiledPolicy } from "../domain/policy.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import { ENTERPRISE_USER_URN as ENTERPRISE } from "../domain/scim-urns.ts";
import type { CancelRequest, NewAction } from "../store/actions-store.ts";
import { findGroupById } from "../store/groups-store.ts";
import { findUserById } from "../store/users-store.ts";
import type { UserReadBatcher } from "../store/user-read-batcher.ts";
import type { PolicyService } from "./policy-service.ts";
import type { ChangeEvent } from "./write-context.ts";

type Resource = Record<string, unknown> & { id: string };

/** What a write planned: committed with the write's events. */
export interface WritePlan {
  actions: NewAction[];
  cancels: CancelRequest[];
}

/**
 * Plans the actions a write's events mean under the tenant's current policy, before the write's
 * statement runs, so they commit with it. Reads what templates and conditions need (the manager,
 * the group, a member) from committed state.
 */
export function createActionPlanner(deps: {
  knex: Knex;
  policies: PolicyService;
  userReads: UserReadBatcher;
  schemas: { user: ResourceSchema; group: ResourceSchema };
}) {
  const { policies, userReads, schemas } = deps;

  async function userById(
    tenantId: string,
    id: unknown,
    trx: Knex.Transaction | undefined,
  ): Promise<Resource | undefined> {
    if (typeof id !== "string") return undefined;
    // Inside a write's transaction, read through it: the embedded database has one connection.
    const row = trx
      ? await findUserById(trx, tenantId, id)
      : await userReads.byId(tenantId, id, {
          apps: false,
          pendingActions: false,
        });
    return row ? { ...row.resource, id: row.id } : undefined;
  }

  async function subjectOf(
    tenantId: string,
    event: ChangeEvent,
    policy: CompiledPolicy,
    known: Map<string, Resource>,
    trx: Knex.Transaction | undefined,
  ): Promise<PlanningSubject | undefined> {
    let user: Resource | undefined;
    let group: Resource | undefined;
    if (event.resourceType === "User") {
      const snapshot = event.data.after ?? event.data.before;
      user = isPlainObject(snapshot) ? (snapshot as Resource) : undefined;
    } else {
      if (event.data.memberType !== "User") return undefined;
      const memberId = String(event.data.memberId);
      user = known.get(memberId) ?? (await userById(tenantId, memberId, trx));
      const groupRow = await findGroupById(
        trx ?? deps.knex,
        tenantId,
        event.resourceId,
      );
      group = groupRow
        ? { ...groupRow.resource, id: groupRow.id }
        : {
            id: event.resourceId,
            displayName: event.data.groupDisplayName,
          };
    }
    if (!user) return undefined;
    let manager: Resource | undefined;
    if (policy.needsManager) {
      const enterprise = user[ENTERPRISE];
      const managerRef = isPlainObject(enterprise)
        ? enterprise.manager
        : undefined;
      const managerId = isPlainObject(managerRef)
        ? managerRef.value
        : managerRef;
      manager = await userById(tenantId, managerId, trx);
    }
    return {
      user,
      ...(manager ? { manager } : {}),
      ...(group ? { group } : {}),
    };
  }

  return {
    /**
     * The actions and cancels of a write's events; undefined when the tenant has no policy or no
     * rule listens to these events.
     */
    async plan(
      tenantId: string,
      events: ChangeEvent[],
      at: Date,
      options: {
        /** Users the caller already holds, by id. */
        known?: Map<string, Resource>;
        /** Plan with this policy instead of the tenant's current one (dry runs of drafts). */
        draft?: CompiledPolicy;
        /** The write's transaction, when planning inside one. */
        trx?: Knex.Transaction;
      } = {},
    ): Promise<WritePlan | undefined> {
      const known = options.known ?? new Map<string, Resource>();
      const draft = options.draft;
      const policy = draft ?? (await policies.current(tenantId, options.trx));
      if (!policy) return undefined;
      const listened = new Set(policy.rules.map((r) => r.on));
      if (!events.some((e) => listened.has(e.type as never))) return undefined;
      const plan: WritePlan = { actions: [], cancels: [] };
      for (const [index, event] of events.entries()) {
        if (!listened.has(event.type as never)) continue;
        const subject = await subjectOf(
          tenantId,
          event,
          policy,
          known,
          options.trx,
        );
        if (!subject) continue;
        const planned = planActions(
          {
            type: event.type,
            resourceId: event.resourceId,
            version: event.version,
            occurredAt: at,
            index,
          },
          policy,
          subject,
          schemas,
        );
        for (const action of planned.actions) {
          plan.actions.push(toNewAction(action, subject, policy));
        }
        for (const cancel of planned.cancels) {
          plan.cancels.push({
            app_id: cancel.appId,
            user_id: cancel.userId,
            kinds: cancel.actions ?? null,
            rule_id: cancel.ruleId,
            policy_version: cancel.policyVersion,
          });
        }
      }
      return plan.actions.length || plan.cancels.length ? plan : undefined;
    },
  };
}

/** The planner's interface. */
export type ActionPlanner = ReturnType<typeof createActionPlanner>;

function toNewAction(
  action: PlannedAction,
  subject: PlanningSubject,
  policy: CompiledPolicy,
): NewAction {
  return {
    app_id: action.appId,
    kind: action.action,
    user_id: action.userId,
    group_id: action.groupId ?? null,
    run_at: action.runAt,
    max_attempts: policy.apps.get(action.appId)?.maxAttempts ?? 8,
    params: action.params,
    condition: action.condition
      ? (action.condition as unknown as Record<string, unknown>)
      : null,
    subject: {
      user: subject.user,
      ...(subject.group ? { group: subject.group } : {}),
    },
    idempotency_key: action.idempotencyKey,
    policy_version: action.policyVersion,
    rule_id: action.ruleId,
    step: action.step,
    event_index: action.eventIndex,
    event_type: action.eventType,
    event_occurred_at: action.eventOccurredAt,
  };
}
