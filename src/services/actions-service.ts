import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import type { Principal } from "../domain/scopes.ts";
import { RULE_EVENTS, type RuleEvent } from "../domain/policy.ts";
import { AppError } from "../errors.ts";
import { cancelAction, retryAction } from "../queue/action-queue.ts";
import {
  findActionById,
  listActions,
  measureDeprovisioningClock,
  type ActionRow,
  type DeprovisioningClock,
  type ActionState,
} from "../store/actions-store.ts";
import { insertAuditEntry } from "../store/audit-store.ts";
import { findUserById } from "../store/users-store.ts";
import type { ActionPlanner, WritePlan } from "./action-planner.ts";
import type { PolicyService } from "./policy-service.ts";
import { inTransaction } from "../db/transaction.ts";

/** Operator verbs on the action queue, and dry runs of the policy. */
export function createActionsService(deps: {
  knex: Knex;
  clock: Clock;
  policies: PolicyService;
  planner: ActionPlanner;
}) {
  const { knex, clock } = deps;

  async function operatorVerb(
    principal: Principal,
    id: string,
    verb: "retried" | "cancelled",
    change: (trx: Knex.Transaction) => Promise<boolean>,
  ): Promise<ActionRow> {
    return inTransaction(knex, async (trx) => {
      const before = await findActionById(trx, principal.tenantId, id);
      if (!before)
        throw new AppError("action.not_found", `Action ${id} not found`);
      if (!(await change(trx))) {
        throw new AppError(
          "action.wrong_state",
          `Action ${id} is ${before.state}; only ${verb === "retried" ? "failed or cancelled" : "pending or failed"} actions can be ${verb}`,
        );
      }
      await insertAuditEntry(trx, {
        tenant_id: principal.tenantId,
        occurred_at: clock.now(),
        actor_token_id: principal.tokenId,
        key: `action.${verb}`,
        resource_type: "User",
        resource_id: before.user_id,
        request_id: null,
        detail: {
          actionId: id,
          app: before.app_id,
          action: before.kind,
          policyVersion: before.policy_version,
          previousState: before.state,
          byOperator: true,
          ...(principal.actor ? { actor: principal.actor } : {}),
        },
      });
      return (await findActionById(trx, principal.tenantId, id))!;
    });
  }

  return {
    /** A tenant's actions, newest first. */
    list(
      tenantId: string,
      filter: {
        userId?: string;
        appId?: string;
        states?: ActionState[];
        beforeId?: string;
        limit?: number;
      },
    ): Promise<ActionRow[]> {
      return listActions(knex, tenantId, filter);
    },

    /** The deprovisioning clock per app over the last `days` days. */
    deprovisioningClock(
      tenantId: string,
      days: number,
    ): Promise<DeprovisioningClock[]> {
      return measureDeprovisioningClock(
        knex,
        tenantId,
        new Date(clock.now().getTime() - days * 86_400_000),
      );
    },

    /** Puts a failed or cancelled action back in the queue with fresh attempts. */
    retry(principal: Principal, id: string): Promise<ActionRow> {
      return operatorVerb(principal, id, "retried", (trx) =>
        retryAction(trx, { tenantId: principal.tenantId, id }, clock.now()),
      );
    },

    /** Cancels a pending or failed action. */
    cancel(
      principal: Principal,
      id: string,
      reason?: string,
    ): Promise<ActionRow> {
      return operatorVerb(principal, id, "cancelled", (trx) =>
        cancelAction(
          trx,
          { tenantId: principal.tenantId, id },
          clock.now(),
          reason ?? `cancelled by an operator`,
        ),
      );
    },

    /**
     * What an event would plan for a user now, under the current policy or a draft document,
     * without writing anything.
     */
    async dryRun(
      tenantId: string,
      request: {
        event: string;
        userId: string;
        groupId?: string;
        document?: unknown;
      },
    ): Promise<WritePlan> {
      if (!(RULE_EVENTS as readonly string[]).includes(request.event)) {
        throw new AppError(
          "request.invalid",
          `event must be one of ${RULE_EVENTS.join(", ")}`,
        );
      }
      const event = request.event as RuleEvent;
      const user = await findUserById(knex, tenantId, request.userId);
      if (!user)
        throw new AppError(
          "scim.not_found",
          `User ${request.userId} not found`,
        );
      const draft =
        request.document === undefined
          ? undefined
          : deps.policies.compileDraft(request.document);
      const snapshot = { ...user.resource, id: user.id };
      const membership = event.startsWith("group.");
      if (membership && !request.groupId) {
        throw new AppError("request.invalid", `${event} needs groupId`);
      }
      const plan = await deps.planner.plan(
        tenantId,
        [
          membership
            ? {
                type: event,
                resourceType: "Group",
                resourceId: request.groupId!,
                version: 0,
                data: { memberId: user.id, memberType: "User" },
              }
            : {
                type: event,
                resourceType: "User",
                resourceId: user.id,
                version: user.version,
                data: { before: snapshot, after: snapshot },
              },
        ],
        clock.now(),
        { known: new Map([[user.id, snapshot]]), ...(draft ? { draft } : {}) },
      );
      return plan ?? { actions: [], cancels: [] };
    },
  };
}

/** The actions service's interface. */
export type ActionsService = ReturnType<typeof createActionsService>;
