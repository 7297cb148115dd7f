import { createHash } from "node:crypto";
import type { LifecycleEventType } from "./lifecycle-event.ts";
import { matchesResource } from "./match-resource.ts";
import { isPlainObject } from "./plain-json.ts";
import type { CompiledPolicy, StepCondition } from "./policy.ts";
import { renderTemplate } from "./render-template.ts";
import type { ResourceSchema } from "./scim-schema.ts";
import { ENTERPRISE_USER_URN as ENTERPRISE } from "./scim-urns.ts";

/** The event being planned for: enough to name it uniquely and say when it happened. */
export interface PlanningEvent {
  type: LifecycleEventType;
  /** The user, or the group for membership events. */
  resourceId: string;
  /** The resource's version the event produced. */
  version: number;
  occurredAt: Date;
  /** Position of the event among its write's events (links the actions to the event row). */
  index: number;
}

/** Who the actions are about. */
export interface PlanningSubject {
  /** The user as stored (for user.deleted: as it was before). */
  user: Record<string, unknown> & { id: string };
  /** The user's manager (enterprise extension), when the policy needs one and it exists. */
  manager?: Record<string, unknown> & { id: string };
  /** The group of a membership event. */
  group?: Record<string, unknown> & { id: string; displayName?: unknown };
}

/** One action to enqueue. */
export interface PlannedAction {
  appId: string;
  action: string;
  userId: string;
  groupId?: string;
  runAt: Date;
  /** Rendered from the step's templates. */
  params: Record<string, unknown>;
  condition?: StepCondition;
  /** Same event and step → same key, whatever the policy version: planning twice adds nothing. */
  idempotencyKey: string;
  ruleId: string;
  step: number;
  policyVersion: number;
  eventIndex: number;
  eventType: LifecycleEventType;
  eventOccurredAt: Date;
}

/** Pending actions of a user to cancel. */
export interface PlannedCancel {
  appId: string;
  userId: string;
  /** Only these kinds; every pending action of the app when absent. */
  actions?: string[];
  ruleId: string;
  policyVersion: number;
}

/**
 * The mapping engine: what an event means for every app, by the tenant's policy. Pure: the same
 * event, policy, subject and time always give the same plan.
 */
export function planActions(
  event: PlanningEvent,
  policy: CompiledPolicy,
  subject: PlanningSubject,
  schemas: { user: ResourceSchema; group: ResourceSchema },
): { actions: PlannedAction[]; cancels: PlannedCancel[] } {
  const actions: PlannedAction[] = [];
  const cancels: PlannedCancel[] = [];
  const membership = event.type.startsWith("group.");
  const context = templateContext(event, subject);
  for (const rule of policy.rules) {
    if (rule.on !== event.type) continue;
    if (rule.when) {
      const target = membership ? subject.group : subject.user;
      if (!target) continue;
      const schema = membership ? schemas.group : schemas.user;
      if (!matchesResource(rule.when, target, schema)) continue;
    }
    for (const cancel of rule.cancel) {
      cancels.push({
        appId: cancel.app,
        userId: subject.user.id,
        ...(cancel.actions ? { actions: cancel.actions } : {}),
        ruleId: rule.id,
        policyVersion: policy.version,
      });
    }
    rule.steps.forEach((step, i) => {
      actions.push({
        appId: step.app,
        action: step.action,
        userId: subject.user.id,
        ...(membership && subject.group ? { groupId: subject.group.id } : {}),
        runAt: new Date(event.occurredAt.getTime() + step.afterMs),
        params: renderTemplate(step.params, context) as Record<string, unknown>,
        ...(step.condition ? { condition: step.condition } : {}),
        idempotencyKey: idempotencyKeyOf(event, subject, rule.id, i),
        ruleId: rule.id,
        step: i,
        policyVersion: policy.version,
        eventIndex: event.index,
        eventType: event.type,
        eventOccurredAt: event.occurredAt,
      });
    });
  }
  return { actions, cancels };
}

function idempotencyKeyOf(
  event: PlanningEvent,
  subject: PlanningSubject,
  ruleId: string,
  step: number,
): string {
  const identity = [
    event.type,
    event.resourceId,
    event.version,
    subject.user.id,
    ruleId,
    step,
  ].join("|");
  return createHash("sha256").update(identity).digest("base64url").slice(0, 32);
}

/** What `{{ … }}` placeholders can name: flat, friendly fields plus the whole resource. */
function templateContext(
  event: PlanningEvent,
  subject: PlanningSubject,
): Record<string, unknown> {
  return {
    user: personFields(subject.user),
    ...(subject.manager ? { manager: personFields(subject.manager) } : {}),
    ...(subject.group
      ? {
          group: {
            id: subject.group.id,
            displayName: subject.group.displayName,
            externalId: subject.group.externalId,
          },
        }
      : {}),
    event: { type: event.type, occurredAt: event.occurredAt.toISOString() },
  };
}

/** The fields of a user that templates use most, by short names. */
export function personFields(
  user: Record<string, unknown> & { id: string },
): Record<string, unknown> {
  const name = isPlainObject(user.name) ? user.name : {};
  const enterprise = isPlainObject(user[ENTERPRISE]) ? user[ENTERPRISE] : {};
  const manager = isPlainObject(enterprise.manager) ? enterprise.manager : {};
  return {
    id: user.id,
    userName: user.userName,
    externalId: user.externalId,
    displayName: user.displayName,
    givenName: name.givenName,
    familyName: name.familyName,
    email: emailOf(user),
    active: user.active !== false,
    title: user.title,
    department: enterprise.department,
    employeeNumber: enterprise.employeeNumber,
    managerId: manager.value,
    enterprise,
  };
}

/** The work e-mail, else the primary one, else the first. */
export function emailOf(user: Record<string, unknown>): string | undefined {
  const emails = Array.isArray(user.emails)
    ? user.emails.filter(isPlainObject)
    : [];
  const pick =
    emails.find((e) => String(e.type ?? "").toLowerCase() === "work") ??
    emails.find((e) => e.primary === true) ??
    emails[0];
  return typeof pick?.value === "string" ? pick.value : undefined;
}
