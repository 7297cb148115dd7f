import type { Knex } from "knex";
import { deleteMembershipsOfMember } from "../store/group-members-store.ts";
import { bumpGroupVersions } from "../store/groups-store.ts";
import type { ChangeEvent } from "./write-context.ts";

/**
 * Removes a user or group being deleted from every group it belongs to, bumping those groups'
 * versions, and returns the `group.member_removed` events that records.
 */
export async function leaveAllGroups(
  trx: Knex.Transaction,
  tenantId: string,
  member: { id: string; type: "User" | "Group"; reason: string },
  at: Date,
): Promise<ChangeEvent[]> {
  const removed = await deleteMembershipsOfMember(trx, tenantId, member.id);
  const versions = await bumpGroupVersions(
    trx,
    tenantId,
    removed.map((r) => r.group_id),
    at,
  );
  return removed.map((r) => ({
    type: "group.member_removed",
    resourceType: "Group",
    resourceId: r.group_id,
    version: versions.get(r.group_id) ?? 0,
    data: {
      groupId: r.group_id,
      memberId: member.id,
      memberType: member.type,
      reason: member.reason,
    },
  }));
}
