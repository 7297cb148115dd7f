import type { Db } from "../db/open-database.ts";
import type { LifecycleEventType } from "../domain/lifecycle-event.ts";
import { maskSecrets } from "../domain/mask-secrets.ts";
import type { Principal } from "../domain/scopes.ts";
import type { CancelRequest, NewAction } from "../store/actions-store.ts";
import {
  insertAuditEntryWithEvents,
  insertChangeLogs,
  type ChangeLog,
} from "../store/change-log-store.ts";

/** Who asked for a write and how: recorded in the audit trail with the change. */
export interface WriteContext {
  principal: Principal;
  requestId: string;
  method: string;
  path: string;
  body: unknown;
}

/** A lifecycle event produced by a write. */
export interface ChangeEvent {
  type: LifecycleEventType;
  resourceType: "User" | "Group";
  resourceId: string;
  version: number;
  data: Record<string, unknown>;
}

/** What one write records: its audit key, resource, time and lifecycle events. */
export interface Change {
  auditKey: string;
  resourceType: "User" | "Group";
  resourceId: string;
  at: Date;
  events: ChangeEvent[];
  /** Anything else an auditor should see, e.g. member references that were ignored. */
  notes?: Record<string, unknown>;
  /** What the tenant's policy planned for these events (committed with them). */
  plan?: { actions: NewAction[]; cancels: CancelRequest[] };
}

/** The audit entry and event rows of one write. */
export function changeLogOf(ctx: WriteContext, change: Change): ChangeLog {
  return {
    ...(change.plan?.actions.length ? { actions: change.plan.actions } : {}),
    ...(change.plan?.cancels.length ? { cancels: change.plan.cancels } : {}),
    entry: {
      tenant_id: ctx.principal.tenantId,
      occurred_at: change.at,
      actor_token_id: ctx.principal.tokenId,
      key: change.auditKey,
      resource_type: change.resourceType,
      resource_id: change.resourceId,
      request_id: ctx.requestId,
      detail: {
        method: ctx.method,
        path: ctx.path,
        body: maskSecrets(ctx.body),
        events: countByType(change.events),
        ...(ctx.principal.actor ? { actor: ctx.principal.actor } : {}),
        ...change.notes,
      },
    },
    events: change.events.map((e) => ({
      tenant_id: ctx.principal.tenantId,
      type: e.type,
      resource_type: e.resourceType,
      resource_id: e.resourceId,
      resource_version: e.version,
      occurred_at: change.at,
      actor_token_id: ctx.principal.tokenId,
      request_id: ctx.requestId,
      data: e.data,
    })),
  };
}

/**
 * Appends the audit entry and the lifecycle events of one write inside its transaction,
 * so the change, its audit entry and its events commit together or not at all.
 */
export async function recordChange(
  db: Db,
  ctx: WriteContext,
  change: Change,
): Promise<void> {
  await insertAuditEntryWithEvents(db, changeLogOf(ctx, change));
}

/** Records several writes' changes in one statement, in the order given (a group commit). */
export async function recordChanges(
  db: Db,
  writes: { ctx: WriteContext; change: Change }[],
): Promise<void> {
  await insertChangeLogs(
    db,
    writes.map((w) => changeLogOf(w.ctx, w.change)),
  );
}

function countByType(events: ChangeEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
  return counts;
}
