import type { Db } from "../db/open-database.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import { isUuid } from "./users-store.ts";

/** A groups row. */
export interface GroupRow {
  tenant_id: string;
  id: string;
  seq: string;
  display_name: string;
  external_id: string | null;
  resource: StoredResource;
  version: number;
  created_at: Date;
  updated_at: Date;
}

function groupColumnsOf(resource: StoredResource): {
  display_name: string;
  external_id: string | null;
} {
  return {
    display_name: String(resource.displayName),
    external_id:
      typeof resource.externalId === "string" ? resource.externalId : null,
  };
}

/** Finds a group by id; `forUpdate` locks the row for the rest of the transaction. */
export async function findGroupById(
  db: Db,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<GroupRow | undefined> {
  if (!isUuid(id)) return undefined;
  const query = db<GroupRow>("groups")
    .where({ tenant_id: tenantId, id })
    .first();
  if (options.forUpdate) query.forUpdate();
  return query;
}

/** Inserts a group row. */
export async function insertGroup(
  db: Db,
  row: Omit<GroupRow, "seq" | "display_name" | "external_id">,
): Promise<void> {
  await db("groups").insert({
    ...row,
    ...groupColumnsOf(row.resource),
    resource: JSON.stringify(row.resource),
  });
}

/** Rewrites a group's resource and bumps its version. */
export async function updateGroupById(
  db: Db,
  tenantId: string,
  id: string,
  change: { resource: StoredResource; version: number; updated_at: Date },
): Promise<void> {
  await db("groups")
    .where({ tenant_id: tenantId, id })
    .update({
      ...groupColumnsOf(change.resource),
      resource: JSON.stringify(change.resource),
      version: change.version,
      updated_at: change.updated_at,
    });
}

/** Sets a group's version and modification time, leaving its resource as it is. */
export async function setGroupVersion(
  db: Db,
  tenantId: string,
  id: string,
  change: { version: number; updated_at: Date },
): Promise<void> {
  await db("groups").where({ tenant_id: tenantId, id }).update(change);
}

/** Deletes a group (its member rows cascade); returns false when there was none. */
export async function deleteGroupById(
  db: Db,
  tenantId: string,
  id: string,
): Promise<boolean> {
  if (!isUuid(id)) return false;
  return (await db("groups").where({ tenant_id: tenantId, id }).delete()) > 0;
}

/** The ids and display names of some groups, by display name then id (as USER_GROUPS_SQL orders them). */
export async function findGroupNames(
  db: Db,
  tenantId: string,
  ids: string[],
): Promise<{ id: string; display_name: string }[]> {
  if (ids.length === 0) return [];
  const result = await db.raw<{ rows: { id: string; display_name: string }[] }>(
    `SELECT id, display_name FROM groups
       WHERE tenant_id = ? AND id = ANY (string_to_array(?, ',')::uuid[])
       ORDER BY display_name, id`,
    [tenantId, ids.join(",")],
  );
  return result.rows;
}

/** Ids of groups in this tenant among the given ids. */
export async function findExistingGroupIds(
  db: Db,
  tenantId: string,
  ids: string[],
): Promise<Set<string>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return new Set();
  const rows = await db("groups")
    .where({ tenant_id: tenantId })
    .whereIn("id", valid)
    .select<{ id: string }[]>("id");
  return new Set(rows.map((r) => r.id));
}

/** Bumps the version of groups whose membership changed; returns each group's new version. */
export async function bumpGroupVersions(
  db: Db,
  tenantId: string,
  groupIds: string[],
  at: Date,
): Promise<Map<string, number>> {
  if (groupIds.length === 0) return new Map();
  const rows = await db("groups")
    .where({ tenant_id: tenantId })
    .whereIn("id", [...new Set(groupIds)])
    .update({ version: db.raw("version + 1"), updated_at: at })
    .returning<{ id: string; version: number }[]>(["id", "version"]);
  return new Map(rows.map((r) => [r.id, r.version]));
}
