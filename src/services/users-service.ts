import { randomUUID } from "node:crypto";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction, withDbErrors } from "../db/transaction.ts";
import { coerceResource } from "../domain/coerce-resource.ts";
import {
  changedAttributes,
  userChangeEvents,
  type LifecycleEventType,
} from "../domain/lifecycle-event.ts";
import { applyPatch } from "../domain/patch-resource.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import type { UserReadBatcher } from "../store/user-read-batcher.ts";
import { MAX_PENDING_ACTIONS_SHOWN } from "../domain/apps-extension.ts";
import { AppError } from "../errors.ts";
import type { UserWriteBatcher } from "../store/user-write-batcher.ts";
import {
  deleteUserById,
  findUserById,
  userColumnsOf,
  type UserRow,
} from "../store/users-store.ts";
import { checkIfMatch, fromDomain } from "./domain-errors.ts";
import type { ActionPlanner } from "./action-planner.ts";
import { leaveAllGroups } from "./leave-all-groups.ts";
import {
  changeLogOf,
  recordChange,
  type Change,
  type WriteContext,
} from "./write-context.ts";

/** A user as the service returns it after a write. */
export type UserRecord = Omit<UserRow, "seq" | "emails_search">;

function snapshot(
  id: string,
  resource: StoredResource,
): Record<string, unknown> {
  return { id, ...resource };
}

function auditKeyFor(events: LifecycleEventType[], fallback: string): string {
  for (const type of [
    "user.deactivated",
    "user.reactivated",
    "user.updated",
  ] as const) {
    if (events.includes(type)) return `scim.${type}`;
  }
  return fallback;
}

function hasKey(body: unknown, name: string): boolean {
  if (!body || typeof body !== "object") return false;
  return Object.keys(body).some((k) => k.toLowerCase() === name.toLowerCase());
}

const MAX_WRITE_ATTEMPTS = 8;

function notFound(id: string): AppError {
  return new AppError("scim.not_found", `User ${id} not found`);
}

/** SCIM user writes: each one a transaction with its audit entry and lifecycle events. */
export function createUsersService(deps: {
  knex: Knex;
  clock: Clock;
  schema: ResourceSchema;
  /** Batched single-user reads (the optimistic read before each rewrite). */
  userReads: UserReadBatcher;
  /** Batched user writes (creates and rewrites that arrive together share a statement). */
  userWrites: UserWriteBatcher;
  /** Plans the policy's actions for each write's events (none when absent). */
  planner?: ActionPlanner;
  /** Called after a write planned actions: wakes the local worker. */
  onActionsPlanned?: () => void;
  /** False when the tenant has no lifecycle data: the read before a rewrite skips it. */
  hasLifecycle?: (tenantId: string) => Promise<boolean>;
}) {
  const { knex, clock, schema, userReads } = deps;

  /**
   * Rewrites a user with optimistic concurrency: read (no lock), compute the new resource, then one
   * statement that updates the row only at the version read and appends its audit entry and events.
   * Two round trips instead of five; a concurrent writer makes the loser read again, so no update
   * is lost and events stay ordered per user.
   */
  async function rewrite(
    ctx: WriteContext,
    id: string,
    ifMatch: string | undefined,
    compute: (row: UserRow) => StoredResource,
    fallbackKey: string,
  ): Promise<UserRecord> {
    const tenantId = ctx.principal.tenantId;
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const row = await withDbErrors(async () =>
        userReads.byId(
          tenantId,
          id,
          (await deps.hasLifecycle?.(tenantId)) === false
            ? { apps: false, pendingActions: false }
            : {},
        ),
      );
      if (!row) throw notFound(id);
      checkIfMatch(ifMatch, row.version);
      const next = compute(row);
      const types = userChangeEvents(row.resource, next);
      const at = clock.now();
      const version = row.version + 1;
      const before = snapshot(row.id, row.resource);
      const after = snapshot(row.id, next);
      const change: Change = {
        auditKey: auditKeyFor(types, fallbackKey),
        resourceType: "User",
        resourceId: row.id,
        at,
        events: types.map((type) => ({
          type,
          resourceType: "User",
          resourceId: row.id,
          version,
          data: {
            before,
            after,
            changed: changedAttributes(row.resource, next),
          },
        })),
      };
      if (types.length === 0) {
        // Nothing changed: the request is still audited, the version stays.
        await withDbErrors(() => recordChange(knex, ctx, change));
        return row;
      }
      const plan = await withDbErrors(
        async () => await deps.planner?.plan(tenantId, change.events, at),
      );
      const log = changeLogOf(ctx, plan ? { ...change, plan } : change);
      const updated = await withDbErrors(() =>
        deps.userWrites.update(
          {
            tenantId,
            id: row.id,
            expectedVersion: row.version,
            resource: next,
            updatedAt: at,
          },
          log,
        ),
      );
      if (updated) {
        if (plan) deps.onActionsPlanned?.();
        return {
          ...row,
          ...userColumnsOf(next),
          resource: next,
          version,
          updated_at: at,
        };
      }
    }
    throw new AppError(
      "scim.conflict",
      `User ${id} is being changed by other requests at the same time; retry`,
    );
  }

  return {
    /** Creates a user (POST /Users). */
    async createUser(ctx: WriteContext, body: unknown): Promise<UserRecord> {
      const { resource } = fromDomain(() =>
        coerceResource(schema, body, "create"),
      );
      const at = clock.now();
      const id = randomUUID();
      const change: Change = {
        auditKey: "scim.user.created",
        resourceType: "User",
        resourceId: id,
        at,
        events: [
          {
            type: "user.created",
            resourceType: "User",
            resourceId: id,
            version: 1,
            data: { before: null, after: snapshot(id, resource) },
          },
        ],
      };
      const plan = await withDbErrors(
        async () =>
          await deps.planner?.plan(ctx.principal.tenantId, change.events, at),
      );
      const log = changeLogOf(ctx, plan ? { ...change, plan } : change);
      // One statement: the row, its audit entry and its event commit together or not at all.
      await withDbErrors(() =>
        deps.userWrites.insert(
          { tenantId: ctx.principal.tenantId, id, resource, createdAt: at },
          log,
        ),
      );
      if (plan) deps.onActionsPlanned?.();
      return {
        tenant_id: ctx.principal.tenantId,
        id,
        ...userColumnsOf(resource),
        resource,
        version: 1,
        created_at: at,
        updated_at: at,
        groups_json: [],
        // A new user has no app state yet, and its only unfinished actions are the ones this
        // statement queued: no read needed for the response.
        apps_json: [],
        pending_json: (plan?.actions ?? [])
          .map((a) => ({
            app: a.app_id,
            action: a.kind,
            run_at: a.run_at.toISOString(),
            state: "pending",
          }))
          .sort((x, y) => x.run_at.localeCompare(y.run_at))
          .slice(0, MAX_PENDING_ACTIONS_SHOWN),
      };
    },

    /** Replaces a user (PUT /Users/{id}); `active` left out keeps its current value. */
    async replaceUser(
      ctx: WriteContext,
      id: string,
      body: unknown,
      ifMatch?: string,
    ): Promise<UserRecord> {
      const { resource } = fromDomain(() =>
        coerceResource(schema, body, "replace"),
      );
      // A PUT that omits `active` must not reactivate a deactivated user by accident.
      const keepsActive = !hasKey(body, "active");
      return rewrite(
        ctx,
        id,
        ifMatch,
        (row) => (keepsActive ? { ...resource, active: row.active } : resource),
        "scim.user.replaced",
      );
    },

    /** Applies a PatchOp (PATCH /Users/{id}). */
    async patchUser(
      ctx: WriteContext,
      id: string,
      body: unknown,
      ifMatch?: string,
    ): Promise<UserRecord> {
      return rewrite(
        ctx,
        id,
        ifMatch,
        (row) =>
          fromDomain(() => applyPatch(schema, row.resource, body)).resource,
        "scim.user.patched",
      );
    },

    /** Deletes a user and its memberships (DELETE /Users/{id}). */
    async deleteUser(
      ctx: WriteContext,
      id: string,
      ifMatch?: string,
    ): Promise<void> {
      await inTransaction(knex, async (trx) => {
        const tenantId = ctx.principal.tenantId;
        const row = await findUserById(trx, tenantId, id, { forUpdate: true });
        if (!row) throw notFound(id);
        checkIfMatch(ifMatch, row.version);
        const at = clock.now();
        const events = await leaveAllGroups(
          trx,
          tenantId,
          { id, type: "User", reason: "user.deleted" },
          at,
        );
        await deleteUserById(trx, tenantId, id);
        events.push({
          type: "user.deleted",
          resourceType: "User",
          resourceId: id,
          version: row.version + 1,
          data: { before: snapshot(id, row.resource), after: null },
        });
        const change: Change = {
          auditKey: "scim.user.deleted",
          resourceType: "User",
          resourceId: id,
          at,
          events,
        };
        const plan = await deps.planner?.plan(tenantId, events, at, {
          known: new Map([[id, { ...row.resource, id }]]),
          trx,
        });
        await recordChange(trx, ctx, plan ? { ...change, plan } : change);
        if (plan) deps.onActionsPlanned?.();
      });
    },
  };
}

/** The users service's interface. */
export type UsersService = ReturnType<typeof createUsersService>;
