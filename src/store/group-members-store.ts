import type { Db } from "../db/open-database.ts";

/** A member as stored. */
export interface GroupMemberRow {
  group_id: string;
  member_id: string;
  member_type: "User" | "Group";
}

/** A member with the display text readers show. */
export interface GroupMemberView extends GroupMemberRow {
  display: string | null;
}

/** Adds members, skipping ones already present; returns the rows actually inserted. */
export async function insertGroupMembers(
  db: Db,
  tenantId: string,
  groupId: string,
  members: { id: string; type: "User" | "Group" }[],
  at: Date,
): Promise<GroupMemberRow[]> {
  if (members.length === 0) return [];
  return db("group_members")
    .insert(
      members.map((m) => ({
        tenant_id: tenantId,
        group_id: groupId,
        member_id: m.id,
        member_type: m.type,
        added_at: at,
      })),
    )
    .onConflict(["tenant_id", "group_id", "member_id"])
    .ignore()
    .returning<GroupMemberRow[]>(["group_id", "member_id", "member_type"]);
}

/** Removes the given members; returns the rows actually removed. */
export async function deleteGroupMembers(
  db: Db,
  tenantId: string,
  groupId: string,
  memberIds: string[],
): Promise<GroupMemberRow[]> {
  if (memberIds.length === 0) return [];
  return db("group_members")
    .where({ tenant_id: tenantId, group_id: groupId })
    .whereIn("member_id", memberIds)
    .delete()
    .returning<GroupMemberRow[]>(["group_id", "member_id", "member_type"]);
}

/** Removes every member of a group; returns the rows removed. */
export async function deleteAllGroupMembers(
  db: Db,
  tenantId: string,
  groupId: string,
): Promise<GroupMemberRow[]> {
  return db("group_members")
    .where({ tenant_id: tenantId, group_id: groupId })
    .delete()
    .returning<GroupMemberRow[]>(["group_id", "member_id", "member_type"]);
}

/** Removes a user or group from every group it belongs to; returns the rows removed. */
export async function deleteMembershipsOfMember(
  db: Db,
  tenantId: string,
  memberId: string,
): Promise<GroupMemberRow[]> {
  return db("group_members")
    .where({ tenant_id: tenantId, member_id: memberId })
    .delete()
    .returning<GroupMemberRow[]>(["group_id", "member_id", "member_type"]);
}

/** Members of the given groups with display names, in insertion-stable order. */
export async function listMembersOfGroups(
  db: Db,
  tenantId: string,
  groupIds: string[],
): Promise<GroupMemberView[]> {
  if (groupIds.length === 0) return [];
  return db("group_members as gm")
    .leftJoin("users as u", function () {
      this.on("u.tenant_id", "gm.tenant_id").andOn("u.id", "gm.member_id");
    })
    .leftJoin("groups as g", function () {
      this.on("g.tenant_id", "gm.tenant_id").andOn("g.id", "gm.member_id");
    })
    .where("gm.tenant_id", tenantId)
    .whereIn("gm.group_id", groupIds)
    .orderBy(["gm.group_id", "gm.added_at", "gm.member_id"])
    .select<GroupMemberView[]>(
      "gm.group_id",
      "gm.member_id",
      "gm.member_type",
      db.raw(
        "coalesce(u.display_name, u.user_name, g.display_name) as display",
      ),
    );
}

/** Which of the given ids are members of the group now. */
export async function findGroupMembersAmong(
  db: Db,
  tenantId: string,
  groupId: string,
  memberIds: string[],
): Promise<GroupMemberRow[]> {
  if (memberIds.length === 0) return [];
  return db("group_members")
    .where({ tenant_id: tenantId, group_id: groupId })
    .whereIn("member_id", memberIds)
    .select<GroupMemberRow[]>("group_id", "member_id", "member_type");
}
