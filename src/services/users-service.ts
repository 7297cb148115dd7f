import { randomUUID } from "node:crypto";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction } from "../db/transaction.ts";
import { coerceResource } from "../domain/coerce-resource.ts";
import {
  changedAttributes,
  userChangeEvents,
  type LifecycleEventType,
} from "../domain/lifecycle-event.ts";
import { applyPatch } from "../domain/patch-resource.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import { AppError } from "../errors.ts";
import {
  deleteUserById,
  findUserById,
  insertUser,
  updateUserById,
  userColumnsOf,
  type UserRow,
} from "../store/users-store.ts";
import { checkIfMatch, fromDomain } from "./domain-errors.ts";
import { leaveAllGroups } from "./leave-all-groups.ts";
import {
  recordChange,
  type ChangeEvent,
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

function notFound(id: string): AppError {
  return new AppError("scim.not_found", `User ${id} not found`);
}

/** SCIM user writes: each one a transaction with its audit entry and lifecycle events. */
export function createUsersService(deps: {
  knex: Knex;
  clock: Clock;
  schema: ResourceSchema;
}) {
  const { knex, clock, schema } = deps;

  async function rewrite(
    trx: Knex.Transaction,
    ctx: WriteContext,
    row: UserRow,
    next: StoredResource,
    fallbackKey: string,
  ): Promise<UserRecord> {
    const types = userChangeEvents(row.resource, next);
    const at = clock.now();
    const version = types.length > 0 ? row.version + 1 : row.version;
    if (types.length > 0) {
      await updateUserById(trx, row.tenant_id, row.id, {
        resource: next,
        version,
        updated_at: at,
      });
    }
    const before = snapshot(row.id, row.resource);
    const after = snapshot(row.id, next);
    const events: ChangeEvent[] = types.map((type) => ({
      type,
      resourceType: "User",
      resourceId: row.id,
      version,
      data: { before, after, changed: changedAttributes(row.resource, next) },
    }));
    await recordChange(trx, ctx, {
      auditKey: auditKeyFor(types, fallbackKey),
      resourceType: "User",
      resourceId: row.id,
      at,
      events,
    });
    return types.length > 0
      ? {
          ...row,
          ...userColumnsOf(next),
          resource: next,
          version,
          updated_at: at,
        }
      : row;
  }

  return {
    /** Creates a user (POST /Users). */
    async createUser(ctx: WriteContext, body: unknown): Promise<UserRecord> {
      const { resource } = fromDomain(() =>
        coerceResource(schema, body, "create"),
      );
      return inTransaction(knex, async (trx) => {
        const at = clock.now();
        const id = randomUUID();
        const record: UserRecord = {
          tenant_id: ctx.principal.tenantId,
          id,
          ...userColumnsOf(resource),
          resource,
          version: 1,
          created_at: at,
          updated_at: at,
          groups_json: [],
        };
        await insertUser(trx, {
          tenant_id: record.tenant_id,
          id,
          resource,
          version: 1,
          created_at: at,
          updated_at: at,
        });
        await recordChange(trx, ctx, {
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
        });
        return record;
      });
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
      return inTransaction(knex, async (trx) => {
        const row = await findUserById(trx, ctx.principal.tenantId, id, {
          forUpdate: true,
          withGroups: true,
        });
        if (!row) throw notFound(id);
        checkIfMatch(ifMatch, row.version);
        // A PUT that omits `active` must not reactivate a deactivated user by accident.
        const next = hasKey(body, "active")
          ? resource
          : { ...resource, active: row.active };
        return rewrite(trx, ctx, row, next, "scim.user.replaced");
      });
    },

    /** Applies a PatchOp (PATCH /Users/{id}). */
    async patchUser(
      ctx: WriteContext,
      id: string,
      body: unknown,
      ifMatch?: string,
    ): Promise<UserRecord> {
      return inTransaction(knex, async (trx) => {
        const row = await findUserById(trx, ctx.principal.tenantId, id, {
          forUpdate: true,
          withGroups: true,
        });
        if (!row) throw notFound(id);
        checkIfMatch(ifMatch, row.version);
        const { resource } = fromDomain(() =>
          applyPatch(schema, row.resource, body),
        );
        return rewrite(trx, ctx, row, resource, "scim.user.patched");
      });
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
        await recordChange(trx, ctx, {
          auditKey: "scim.user.deleted",
          resourceType: "User",
          resourceId: id,
          at,
          events,
        });
      });
    },
  };
}

/** The users service's interface. */
export type UsersService = ReturnType<typeof createUsersService>;
