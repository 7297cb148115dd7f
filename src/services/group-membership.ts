import type { Knex } from "knex";
import type { MemberRef } from "../domain/stored-resource.ts";
import { AppError } from "../errors.ts";
import type { GroupMemberRow } from "../store/group-members-store.ts";
import { findExistingGroupIds } from "../store/groups-store.ts";
import { findExistingUserIds } from "../store/users-store.ts";
import type { ChangeEvent } from "./write-context.ts";

/** A member reference that names a user or group of the tenant. */
export interface ResolvedMember {
  id: string;
  type: "User" | "Group";
}

/** Which of a set of member references exist in the tenant, as users and as groups. */
export interface MemberLookup {
  users: Set<string>;
  groups: Set<string>;
  /** Ids some reference asked for as a Group. */
  wantsGroup: Set<string>;
}

/**
 * Looks up member references in the tenant, locking the users against deletion (KEY SHARE) so a
 * member row never outlives its user.
 */
export async function lookUpMembers(
  trx: Knex.Transaction,
  tenantId: string,
  refs: MemberRef[],
): Promise<MemberLookup> {
  const ids = [...new Set(refs.map((r) => r.value.toLowerCase()))];
  const wantsGroup = new Set(
    refs.filter((r) => r.type === "Group").map((r) => r.value.toLowerCase()),
  );
  if (ids.length === 0)
    return { users: new Set(), groups: new Set(), wantsGroup };
  const users = await findExistingUserIds(trx, tenantId, ids, { lock: true });
  const groups = await findExistingGroupIds(
    trx,
    tenantId,
    ids.filter((id) => !users.has(id) || wantsGroup.has(id)),
  );
  return { users, groups, wantsGroup };
}

/**
 * Resolves references against a lookup. References to nothing in this tenant are ignored and
 * collected in `ignored` for the audit entry: storing them would leave dangling members, and IdPs
 * retry a rejected membership change forever.
 */
export function resolveFromLookup(
  lookup: MemberLookup,
  groupId: string,
  refs: MemberRef[],
  ignored: string[],
): ResolvedMember[] {
  const resolved: ResolvedMember[] = [];
  for (const id of new Set(refs.map((r) => r.value.toLowerCase()))) {
    if (id === groupId) {
      throw new AppError(
        "scim.invalid_value",
        "a group cannot be a member of itself",
      );
    }
    if (lookup.wantsGroup.has(id) && lookup.groups.has(id))
      resolved.push({ id, type: "Group" });
    else if (lookup.users.has(id)) resolved.push({ id, type: "User" });
    else if (lookup.groups.has(id)) resolved.push({ id, type: "Group" });
    else ignored.push(id);
  }
  return resolved;
}

/** Looks up and resolves member references in one go. */
export async function resolveMembers(
  trx: Knex.Transaction,
  tenantId: string,
  groupId: string,
  refs: MemberRef[],
  ignored: string[],
): Promise<ResolvedMember[]> {
  if (refs.length === 0) return [];
  return resolveFromLookup(
    await lookUpMembers(trx, tenantId, refs),
    groupId,
    refs,
    ignored,
  );
}

/** The `group.member_removed` and `group.member_added` events of one write, removals first. */
export function memberEvents(
  groupId: string,
  displayName: unknown,
  version: number,
  added: GroupMemberRow[],
  removed: GroupMemberRow[],
  reason?: string,
): ChangeEvent[] {
  const event = (
    type: "group.member_added" | "group.member_removed",
    m: GroupMemberRow,
  ): ChangeEvent => ({
    type,
    resourceType: "Group",
    resourceId: groupId,
    version,
    data: {
      groupId,
      groupDisplayName: displayName,
      memberId: m.member_id,
      memberType: m.member_type,
      ...(reason ? { reason } : {}),
    },
  });
  return [
    ...removed.map((m) => event("group.member_removed", m)),
    ...added.map((m) => event("group.member_added", m)),
  ];
}
