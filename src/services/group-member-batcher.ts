import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction } from "../db/transaction.ts";
import { changedAttributes } from "../domain/lifecycle-event.ts";
import { applyPatch } from "../domain/patch-resource.ts";
import { isPlainObject } from "../domain/plain-json.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type { MemberChanges } from "../domain/stored-resource.ts";
import { AppError } from "../errors.ts";
import {
  deleteGroupMembers,
  findGroupMembersAmong,
  insertGroupMembers,
  type GroupMemberRow,
} from "../store/group-members-store.ts";
import {
  findGroupById,
  setGroupVersion,
  type GroupRow,
} from "../store/groups-store.ts";
import type { GroupRecord } from "./groups-service.ts";
import { isUuid } from "../store/users-store.ts";
import { fromDomain } from "./domain-errors.ts";
import {
  lookUpMembers,
  memberEvents,
  resolveFromLookup,
  type ResolvedMember,
} from "./group-membership.ts";
import {
  recordChanges,
  type Change,
  type ChangeEvent,
  type WriteContext,
} from "./write-context.ts";

/** Most membership PATCHes one transaction takes on. */
const MAX_BATCH = 100;

const MEMBERS_PATH = /^members(\[|$)/i;

/**
 * True for a PatchOp whose every operation adds or removes members (Okta's and Entra's membership
 * pushes). Those can share a transaction with other PATCHes of the same group.
 */
export function isMembershipPatch(body: unknown): boolean {
  if (!isPlainObject(body)) return false;
  const key = Object.keys(body).find((k) => k.toLowerCase() === "operations");
  const operations = key === undefined ? undefined : body[key];
  if (!Array.isArray(operations) || operations.length === 0) return false;
  return operations.every(
    (op) =>
      isPlainObject(op) &&
      typeof op.op === "string" &&
      ["add", "remove"].includes(op.op.toLowerCase()) &&
      typeof op.path === "string" &&
      MEMBERS_PATH.test(op.path.trim()),
  );
}

interface QueuedPatch {
  ctx: WriteContext;
  body: unknown;
  resolve: (record: GroupRecord) => void;
  reject: (error: unknown) => void;
}

/** What the batch did for one request: a result, an error, or "run me on my own". */
type Outcome = { record: GroupRecord } | { error: unknown } | { alone: true };

interface Parsed {
  changes: MemberChanges;
  resolved: ResolvedMember[];
  ignored: string[];
}

/**
 * Group commit for membership PATCHes. Concurrent PATCHes of one group queue behind the one in
 * flight and then run together: one transaction, one lock of the group row, one lookup of the
 * referenced users, one insert and one delete of member rows, one version update. Each request
 * still gets its own version, events and audit entry, in arrival order, exactly as if the requests
 * had run one after another. Without this, every PATCH holds the group row from its first
 * statement to its commit and a busy group serialises at a few hundred writes a second.
 */
export function createGroupMemberBatcher(deps: {
  knex: Knex;
  clock: Clock;
  schema: ResourceSchema;
  /** Adds the actions the tenant's policy plans for a change. */
  withPlan: (
    trx: Knex.Transaction,
    ctx: WriteContext,
    change: Change,
  ) => Promise<Change>;
  /** The one-request path, for a request the batch cannot take (e.g. it replaces all members). */
  runAlone: (
    ctx: WriteContext,
    id: string,
    body: unknown,
  ) => Promise<GroupRecord>;
}) {
  const { knex, clock, schema } = deps;
  const queues = new Map<string, QueuedPatch[]>();

  function notFound(id: string): AppError {
    return new AppError("scim.not_found", `Group ${id} not found`);
  }

  function parse(row: GroupRow, body: unknown): Parsed | Outcome {
    try {
      const result = fromDomain(() => applyPatch(schema, row.resource, body));
      if (
        result.memberChanges?.replaceAll ||
        changedAttributes(row.resource, result.resource).length > 0
      ) {
        return { alone: true };
      }
      return {
        changes: result.memberChanges ?? { add: [], remove: [] },
        resolved: [],
        ignored: [],
      };
    } catch (error) {
      return { error };
    }
  }

  async function applyBatch(
    trx: Knex.Transaction,
    tenantId: string,
    groupId: string,
    batch: QueuedPatch[],
  ): Promise<Outcome[]> {
    const row = await findGroupById(trx, tenantId, groupId, {
      forUpdate: true,
    });
    if (!row) return batch.map(() => ({ error: notFound(groupId) }));
    const at = clock.now();
    const parsed = batch.map((item) => parse(row, item.body));
    const lookup = await lookUpMembers(
      trx,
      tenantId,
      parsed.flatMap((p) => ("changes" in p ? p.changes.add : [])),
    );
    const outcomes: (Outcome | Parsed)[] = parsed.map((p) => {
      if (!("changes" in p)) return p;
      try {
        p.resolved = resolveFromLookup(
          lookup,
          groupId,
          p.changes.add,
          p.ignored,
        );
        return p;
      } catch (error) {
        return { error };
      }
    });

    const touched = new Set<string>();
    for (const p of outcomes) {
      if (!("changes" in p)) continue;
      for (const m of p.resolved) touched.add(m.id);
      for (const id of p.changes.remove) touched.add(id.toLowerCase());
    }
    const before = new Map(
      (
        await findGroupMembersAmong(
          trx,
          tenantId,
          groupId,
          [...touched].filter(isUuid),
        )
      ).map((m) => [m.member_id, m]),
    );

    // Play the requests in arrival order over the members they touch.
    const members = new Map(before);
    const removedIds = new Set<string>();
    const addedIds = new Set<string>();
    let version = row.version;
    const changes: { index: number; version: number; events: ChangeEvent[] }[] =
      [];
    outcomes.forEach((p, index) => {
      if (!("changes" in p)) return;
      const added: GroupMemberRow[] = [];
      const removed: GroupMemberRow[] = [];
      for (const id of new Set(p.changes.remove.map((v) => v.toLowerCase()))) {
        const member = members.get(id);
        if (!member) continue;
        removed.push(member);
        members.delete(id);
        removedIds.add(id);
      }
      for (const m of p.resolved) {
        if (members.has(m.id)) continue;
        const member = {
          group_id: groupId,
          member_id: m.id,
          member_type: m.type,
        };
        added.push(member);
        members.set(m.id, member);
        addedIds.add(m.id);
      }
      if (added.length + removed.length > 0) version += 1;
      changes.push({
        index,
        version,
        events: memberEvents(
          groupId,
          row.resource.displayName,
          version,
          added,
          removed,
        ),
      });
    });

    // Sorted ids: two transactions touching the same members lock them in the same order.
    await deleteGroupMembers(
      trx,
      tenantId,
      groupId,
      [...removedIds].filter((id) => before.has(id)).sort(),
    );
    await insertGroupMembers(
      trx,
      tenantId,
      groupId,
      [...addedIds].sort().flatMap((id) => {
        const m = members.get(id);
        return m ? [{ id, type: m.member_type }] : [];
      }),
      at,
    );
    if (version > row.version) {
      await setGroupVersion(trx, tenantId, groupId, {
        version,
        updated_at: at,
      });
    }
    const writes: { ctx: WriteContext; change: Change }[] = [];
    for (const change of changes) {
      const p = outcomes[change.index] as Parsed;
      const ctx = batch[change.index]!.ctx;
      writes.push({
        ctx,
        change: await deps.withPlan(trx, ctx, {
          auditKey: "scim.group.patched",
          resourceType: "Group",
          resourceId: groupId,
          at,
          events: change.events,
          ...(p.ignored.length > 0
            ? { notes: { ignoredMembers: p.ignored.slice(0, 100) } }
            : {}),
        }),
      });
      outcomes[change.index] = {
        record: {
          ...row,
          version: change.version,
          updated_at: change.version > row.version ? at : row.updated_at,
        },
      };
    }
    await recordChanges(trx, writes);
    return outcomes as Outcome[];
  }

  async function runBatch(
    tenantId: string,
    groupId: string,
    batch: QueuedPatch[],
  ): Promise<void> {
    if (batch.length === 1) {
      // Nothing to share: the one-request path costs a statement less.
      const [item] = batch as [QueuedPatch];
      await deps
        .runAlone(item.ctx, groupId, item.body)
        .then(item.resolve, item.reject);
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = await inTransaction(knex, (trx) =>
        applyBatch(trx, tenantId, groupId, batch),
      );
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    const alone: QueuedPatch[] = [];
    outcomes.forEach((outcome, i) => {
      const item = batch[i]!;
      if ("record" in outcome) item.resolve(outcome.record);
      else if ("error" in outcome) item.reject(outcome.error);
      else alone.push(item);
    });
    for (const item of alone) {
      await deps
        .runAlone(item.ctx, groupId, item.body)
        .then(item.resolve, item.reject);
    }
  }

  async function drain(key: string, tenantId: string, groupId: string) {
    for (;;) {
      const queue = queues.get(key)!;
      if (queue.length === 0) {
        queues.delete(key);
        return;
      }
      await runBatch(tenantId, groupId, queue.splice(0, MAX_BATCH));
    }
  }

  return {
    /** Applies a membership PATCH (see isMembershipPatch) in the group's next batch. */
    patch(
      ctx: WriteContext,
      groupId: string,
      body: unknown,
    ): Promise<GroupRecord> {
      const tenantId = ctx.principal.tenantId;
      const id = groupId.toLowerCase();
      const key = `${tenantId}/${id}`;
      return new Promise<GroupRecord>((resolve, reject) => {
        const item = { ctx, body, resolve, reject };
        const queue = queues.get(key);
        if (queue) {
          queue.push(item);
          return;
        }
        queues.set(key, [item]);
        void drain(key, tenantId, id);
      });
    },
  };
}
