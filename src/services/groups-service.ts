import { randomUUID } from "node:crypto";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction } from "../db/transaction.ts";
import { coerceResource } from "../domain/coerce-resource.ts";
import { changedAttributes } from "../domain/lifecycle-event.ts";
import { applyPatch } from "../domain/patch-resource.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type {
  MemberChanges,
  StoredResource,
} from "../domain/stored-resource.ts";
import { AppError } from "../errors.ts";
import {
  deleteAllGroupMembers,
  deleteGroupMembers,
  insertGroupMembers,
  type GroupMemberRow,
} from "../store/group-members-store.ts";
import {
  deleteGroupById,
  findGroupById,
  insertGroup,
  updateGroupById,
  type GroupRow,
} from "../store/groups-store.ts";
import { checkIfMatch, fromDomain } from "./domain-errors.ts";
import type { ActionPlanner } from "./action-planner.ts";
import {
  createGroupMemberBatcher,
  isMembershipPatch,
} from "./group-member-batcher.ts";
import { memberEvents, resolveMembers } from "./group-membership.ts";
import { leaveAllGroups } from "./leave-all-groups.ts";
import {
  recordChange,
  type Change,
  type ChangeEvent,
  type WriteContext,
} from "./write-context.ts";

/** A group as the service returns it after a write (members are read separately). */
export type GroupRecord = Omit<GroupRow, "seq">;

function snapshot(
  id: string,
  resource: StoredResource,
): Record<string, unknown> {
  return { id, ...resource };
}

function hasKey(body: unknown, name: string): boolean {
  if (!body || typeof body !== "object") return false;
  return Object.keys(body).some((k) => k.toLowerCase() === name.toLowerCase());
}

function ignoredNote(ignored: string[]): { notes?: Record<string, unknown> } {
  return ignored.length > 0
    ? { notes: { ignoredMembers: ignored.slice(0, 100) } }
    : {};
}

function notFound(id: string): AppError {
  return new AppError("scim.not_found", `Group ${id} not found`);
}

/** SCIM group writes; membership changes are row inserts and deletes, never list rewrites. */
export function createGroupsService(deps: {
  knex: Knex;
  clock: Clock;
  schema: ResourceSchema;
  /** Plans the policy's actions for each write's events (none when absent). */
  planner?: ActionPlanner;
  /** Called after a write planned actions: wakes the local worker. */
  onActionsPlanned?: () => void;
}) {
  const { knex, clock, schema } = deps;

  /** Adds what the tenant's policy plans for a change's events (committed with the change). */
  async function withPlan(
    trx: Knex.Transaction,
    ctx: WriteContext,
    change: Change,
  ): Promise<Change> {
    const plan = await deps.planner?.plan(
      ctx.principal.tenantId,
      change.events,
      change.at,
      { trx },
    );
    if (!plan) return change;
    deps.onActionsPlanned?.();
    return { ...change, plan };
  }

  /** Records a change with the actions the tenant's policy plans for its events. */
  async function recordPlanned(
    trx: Knex.Transaction,
    ctx: WriteContext,
    change: Change,
  ): Promise<void> {
    await recordChange(trx, ctx, await withPlan(trx, ctx, change));
  }

  async function applyMemberChanges(
    trx: Knex.Transaction,
    tenantId: string,
    groupId: string,
    changes: MemberChanges,
    at: Date,
    ignored: string[],
  ): Promise<{ added: GroupMemberRow[]; removed: GroupMemberRow[] }> {
    const added: GroupMemberRow[] = [];
    const removed: GroupMemberRow[] = [];
    if (changes.replaceAll) {
      const wanted = await resolveMembers(
        trx,
        tenantId,
        groupId,
        changes.replaceAll,
        ignored,
      );
      const wantedIds = new Set(wanted.map((m) => m.id));
      const current = await deleteAllGroupMembers(trx, tenantId, groupId);
      // Put back the ones that stay; only real departures become events.
      const stay = current.filter((m) => wantedIds.has(m.member_id));
      removed.push(...current.filter((m) => !wantedIds.has(m.member_id)));
      const stayIds = new Set(stay.map((m) => m.member_id));
      await insertGroupMembers(
        trx,
        tenantId,
        groupId,
        stay.map((m) => ({ id: m.member_id, type: m.member_type })),
        at,
      );
      added.push(
        ...(await insertGroupMembers(
          trx,
          tenantId,
          groupId,
          wanted.filter((m) => !stayIds.has(m.id)),
          at,
        )),
      );
    }
    if (changes.remove.length > 0) {
      removed.push(
        ...(await deleteGroupMembers(
          trx,
          tenantId,
          groupId,
          changes.remove.map((id) => id.toLowerCase()),
        )),
      );
    }
    if (changes.add.length > 0) {
      const wanted = await resolveMembers(
        trx,
        tenantId,
        groupId,
        changes.add,
        ignored,
      );
      added.push(
        ...(await insertGroupMembers(trx, tenantId, groupId, wanted, at)),
      );
    }
    return { added, removed };
  }

  async function rewrite(
    trx: Knex.Transaction,
    ctx: WriteContext,
    row: GroupRow,
    next: StoredResource,
    memberChanges: MemberChanges | undefined,
    auditKey: string,
  ): Promise<GroupRecord> {
    const at = clock.now();
    const ignored: string[] = [];
    const { added, removed } = memberChanges
      ? await applyMemberChanges(
          trx,
          row.tenant_id,
          row.id,
          memberChanges,
          at,
          ignored,
        )
      : { added: [], removed: [] };
    const resourceChanged = changedAttributes(row.resource, next).length > 0;
    const changed = resourceChanged || added.length > 0 || removed.length > 0;
    const version = changed ? row.version + 1 : row.version;
    if (changed) {
      await updateGroupById(trx, row.tenant_id, row.id, {
        resource: next,
        version,
        updated_at: at,
      });
    }
    const events: ChangeEvent[] = [];
    if (resourceChanged) {
      events.push({
        type: "group.updated",
        resourceType: "Group",
        resourceId: row.id,
        version,
        data: {
          before: snapshot(row.id, row.resource),
          after: snapshot(row.id, next),
        },
      });
    }
    events.push(
      ...memberEvents(row.id, next.displayName, version, added, removed),
    );
    await recordPlanned(trx, ctx, {
      auditKey,
      resourceType: "Group",
      resourceId: row.id,
      at,
      events,
      ...ignoredNote(ignored),
    });
    return changed
      ? {
          ...row,
          display_name: String(next.displayName),
          resource: next,
          version,
          updated_at: at,
        }
      : row;
  }

  async function patchAlone(
    ctx: WriteContext,
    id: string,
    body: unknown,
    ifMatch?: string,
  ): Promise<GroupRecord> {
    return inTransaction(knex, async (trx) => {
      const row = await findGroupById(trx, ctx.principal.tenantId, id, {
        forUpdate: true,
      });
      if (!row) throw notFound(id);
      checkIfMatch(ifMatch, row.version);
      const result = fromDomain(() => applyPatch(schema, row.resource, body));
      return rewrite(
        trx,
        ctx,
        row,
        result.resource,
        result.memberChanges,
        "scim.group.patched",
      );
    });
  }

  const memberBatcher = createGroupMemberBatcher({
    knex,
    clock,
    schema,
    withPlan,
    runAlone: (ctx, id, body) => patchAlone(ctx, id, body),
  });

  return {
    /** Creates a group with its initial members (POST /Groups). */
    async createGroup(ctx: WriteContext, body: unknown): Promise<GroupRecord> {
      const { resource, members } = fromDomain(() =>
        coerceResource(schema, body, "create"),
      );
      return inTransaction(knex, async (trx) => {
        const tenantId = ctx.principal.tenantId;
        const at = clock.now();
        const id = randomUUID();
        const ignored: string[] = [];
        const resolved = await resolveMembers(
          trx,
          tenantId,
          id,
          members ?? [],
          ignored,
        );
        const record: GroupRecord = {
          tenant_id: tenantId,
          id,
          display_name: String(resource.displayName),
          external_id:
            typeof resource.externalId === "string"
              ? resource.externalId
              : null,
          resource,
          version: 1,
          created_at: at,
          updated_at: at,
        };
        await insertGroup(trx, {
          tenant_id: tenantId,
          id,
          resource,
          version: 1,
          created_at: at,
          updated_at: at,
        });
        const added = await insertGroupMembers(trx, tenantId, id, resolved, at);
        const events: ChangeEvent[] = [
          {
            type: "group.created",
            resourceType: "Group",
            resourceId: id,
            version: 1,
            data: { before: null, after: snapshot(id, resource) },
          },
          ...memberEvents(id, resource.displayName, 1, added, []),
        ];
        await recordPlanned(trx, ctx, {
          auditKey: "scim.group.created",
          resourceType: "Group",
          resourceId: id,
          at,
          events,
          ...ignoredNote(ignored),
        });
        return record;
      });
    },

    /** Replaces a group (PUT /Groups/{id}); `members` left out keeps the current members. */
    async replaceGroup(
      ctx: WriteContext,
      id: string,
      body: unknown,
      ifMatch?: string,
    ): Promise<GroupRecord> {
      const { resource, members } = fromDomain(() =>
        coerceResource(schema, body, "replace"),
      );
      return inTransaction(knex, async (trx) => {
        const row = await findGroupById(trx, ctx.principal.tenantId, id, {
          forUpdate: true,
        });
        if (!row) throw notFound(id);
        checkIfMatch(ifMatch, row.version);
        const changes: MemberChanges | undefined = hasKey(body, "members")
          ? { replaceAll: members ?? [], add: [], remove: [] }
          : undefined;
        return rewrite(trx, ctx, row, resource, changes, "scim.group.replaced");
      });
    },

    /**
     * Applies a PatchOp (PATCH /Groups/{id}); member edits cost the same at any group size.
     * Membership-only PATCHes without If-Match share a transaction with concurrent ones.
     */
    async patchGroup(
      ctx: WriteContext,
      id: string,
      body: unknown,
      ifMatch?: string,
    ): Promise<GroupRecord> {
      if (ifMatch === undefined && isMembershipPatch(body))
        return memberBatcher.patch(ctx, id, body);
      return patchAlone(ctx, id, body, ifMatch);
    },

    /** Deletes a group, its memberships and its membership in other groups (DELETE /Groups/{id}). */
    async deleteGroup(
      ctx: WriteContext,
      id: string,
      ifMatch?: string,
    ): Promise<void> {
      await inTransaction(knex, async (trx) => {
        const tenantId = ctx.principal.tenantId;
        const row = await findGroupById(trx, tenantId, id, { forUpdate: true });
        if (!row) throw notFound(id);
        checkIfMatch(ifMatch, row.version);
        const at = clock.now();
        const asMember = await leaveAllGroups(
          trx,
          tenantId,
          { id, type: "Group", reason: "group.deleted" },
          at,
        );
        const members = await deleteAllGroupMembers(trx, tenantId, id);
        await deleteGroupById(trx, tenantId, id);
        const events: ChangeEvent[] = [
          ...memberEvents(
            id,
            row.resource.displayName,
            row.version + 1,
            [],
            members,
            "group.deleted",
          ),
          {
            type: "group.deleted",
            resourceType: "Group",
            resourceId: id,
            version: row.version + 1,
            data: {
              before: snapshot(id, row.resource),
              after: null,
              memberCount: members.length,
            },
          },
        ];
        events.push(...asMember);
        await recordPlanned(trx, ctx, {
          auditKey: "scim.group.deleted",
          resourceType: "Group",
          resourceId: id,
          at,
          events,
        });
      });
    },
  };
}

/** The groups service's interface. */
export type GroupsService = ReturnType<typeof createGroupsService>;
