import type { ActionRow } from "../store/actions-store.ts";
import type { AuditEntryRow } from "../store/audit-store.ts";
import type { LifecycleEventRow } from "../store/lifecycle-events-store.ts";
import { formatDuration, formatUtc } from "./console-html.ts";

/** One line of a user's timeline. */
export interface TimelineItem {
  at: Date;
  source: "IdP event" | "Action" | "Audit";
  what: string;
  detail: string;
  /** The action's state, for lines about an action. */
  state?: string;
  /** True for a step that has not happened yet (a pending action's due time). */
  upcoming: boolean;
}

// Within one instant (common: a fast worker, or a test's fake clock), entries follow causality:
// grouped by the lifecycle event they belong to, then the request's audit entry, the event, the
// actions planned for it, and what workers and operators did with them.
const RANK = { request: 0, event: 1, planned: 2, outcome: 3 } as const;

const text = (value: unknown) =>
  typeof value === "string" || typeof value === "number"
    ? String(value)
    : undefined;

function auditDetail(entry: AuditEntryRow): string {
  const d = entry.detail ?? {};
  const parts: string[] = [];
  if (entry.key.startsWith("action.")) {
    parts.push(`${text(d.app) ?? "?"} ${text(d.action) ?? ""}`.trim());
    if (d.attempt !== undefined) parts.push(`attempt ${text(d.attempt)}`);
    if (typeof d.durationMs === "number")
      parts.push(`took ${formatDuration(d.durationMs)}`);
    if (typeof d.deprovisionMs === "number")
      parts.push(
        `deprovisioned ${formatDuration(d.deprovisionMs)} after the IdP change`,
      );
    if (typeof d.retryAfterMs === "number")
      parts.push(`wait ${formatDuration(d.retryAfterMs)}`);
    if (typeof d.retryInMs === "number")
      parts.push(`retry in ${formatDuration(d.retryInMs)}`);
    const error = d.error as Record<string, unknown> | undefined;
    if (error && typeof error === "object")
      parts.push(
        `${text(error.kind) ?? "error"}: ${text(error.message) ?? ""}`,
      );
    if (typeof d.reason === "string") parts.push(d.reason);
    if (typeof d.cancelledByRule === "string")
      parts.push(`cancelled by rule ${d.cancelledByRule}`);
    if (d.byOperator) parts.push("by an operator");
  } else {
    if (d.method && d.path) parts.push(`${text(d.method)} ${text(d.path)}`);
    if (d.events && typeof d.events === "object") {
      const events = Object.keys(d.events as object);
      if (events.length) parts.push(`events: ${events.join(", ")}`);
    }
  }
  if (entry.actor_token_id)
    parts.push(`token ${entry.actor_token_id.slice(0, 8)}`);
  return parts.join("; ");
}

function eventDetail(event: LifecycleEventRow): string {
  const parts = [`version ${event.resource_version}`];
  const changed = event.data?.changed;
  if (Array.isArray(changed) && changed.length > 0) {
    parts.push(`changed ${changed.map(String).join(", ")}`);
  }
  if (event.actor_token_id)
    parts.push(`token ${event.actor_token_id.slice(0, 8)}`);
  return parts.join("; ");
}

/**
 * A user's history in time order: IdP lifecycle events, the actions planned for them (with
 * pending ones at their due time, as upcoming), and the audit trail, which records what workers
 * and operators did. The trail's `action.planned` entries are left out: the action lines say the
 * same and carry the action's current state.
 */
export function buildTimeline(input: {
  events: LifecycleEventRow[];
  actions: ActionRow[];
  audits: AuditEntryRow[];
  now: Date;
}): TimelineItem[] {
  const items: (TimelineItem & {
    group: number;
    rank: number;
    order: number;
  })[] = [];
  const eventOfAudit = new Map<string, number>();
  for (const event of input.events) {
    if (event.audit_entry_id)
      eventOfAudit.set(String(event.audit_entry_id), Number(event.id));
  }
  const eventOfAction = new Map<string, number>();
  for (const action of input.actions) {
    if (action.event_id)
      eventOfAction.set(String(action.id), Number(action.event_id));
  }
  // Entries tied to no event of this user sort after those that are, within the same instant.
  const groupOfAction = (action: ActionRow) =>
    action.event_id ? Number(action.event_id) : Number.MAX_SAFE_INTEGER;
  const groupOfAudit = (entry: AuditEntryRow) =>
    eventOfAudit.get(String(entry.id)) ??
    eventOfAction.get(String(entry.detail?.actionId)) ??
    Number.MAX_SAFE_INTEGER;
  for (const event of input.events) {
    items.push({
      at: new Date(event.occurred_at),
      source: "IdP event",
      what: event.type,
      detail: eventDetail(event),
      upcoming: false,
      group: Number(event.id),
      rank: RANK.event,
      order: Number(event.id),
    });
  }
  for (const action of input.actions) {
    const runAt = new Date(action.run_at);
    items.push({
      at: new Date(action.created_at),
      source: "Action",
      what: `${action.kind} in ${action.app_id} planned`,
      detail: `rule ${action.rule_id} (policy v${action.policy_version}) on ${action.event_type}; due ${formatUtc(runAt)}`,
      state: action.state,
      upcoming: false,
      group: groupOfAction(action),
      rank: RANK.planned,
      order: Number(action.id),
    });
    if (action.state === "pending" && runAt > input.now) {
      items.push({
        at: runAt,
        source: "Action",
        what: `${action.kind} in ${action.app_id} due`,
        detail: `scheduled by rule ${action.rule_id}`,
        state: action.state,
        upcoming: true,
        group: groupOfAction(action),
        rank: RANK.planned,
        order: Number(action.id),
      });
    }
  }
  for (const entry of input.audits) {
    if (entry.key === "action.planned") continue;
    items.push({
      at: new Date(entry.occurred_at),
      source: "Audit",
      what: entry.key,
      detail: auditDetail(entry),
      upcoming: false,
      group: groupOfAudit(entry),
      rank: entry.key.startsWith("action.") ? RANK.outcome : RANK.request,
      order: Number(entry.id),
    });
  }
  items.sort(
    (a, b) =>
      a.at.getTime() - b.at.getTime() ||
      a.group - b.group ||
      a.rank - b.rank ||
      a.order - b.order,
  );
  return items.map(
    ({ group: _group, rank: _rank, order: _order, ...item }) => item,
  );
}
