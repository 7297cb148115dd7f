import type { Db } from "../db/open-database.ts";
import {
  MAX_PENDING_ACTIONS_SHOWN,
  PENDING_ACTION_STATES,
} from "../domain/apps-extension.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import { ENTERPRISE_USER_URN } from "../domain/scim-urns.ts";

/** A users row. */
export interface UserRow {
  tenant_id: string;
  id: string;
  seq: string;
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  active: boolean;
  resource: StoredResource;
  emails_search: string;
  version: number;
  created_at: Date;
  updated_at: Date;
  /** The user's direct groups, on batched reads (one query instead of two). */
  groups_json?: { group_id: string; display_name: string }[];
  /** The user's app states, when the read asked for them (USER_APPS_SQL). */
  apps_json?: UserAppStateJson[];
  /** The user's unfinished actions, when the read asked for them (USER_PENDING_ACTIONS_SQL). */
  pending_json?: UserPendingActionJson[];
}

/** One app state as USER_APPS_SQL gives it; `since` is PostgreSQL's JSON text of a timestamptz. */
export interface UserAppStateJson {
  app: string;
  state: string;
  since: string;
}

/** One unfinished action as USER_PENDING_ACTIONS_SQL gives it. */
export interface UserPendingActionJson {
  app: string;
  action: string;
  run_at: string;
  state: string;
}

/**
 * A select-list expression giving a user's groups as JSON, so a read needs no second round trip.
 * Uses the group_members (tenant_id, member_id) index.
 */
export const USER_GROUPS_SQL = `(SELECT coalesce(json_agg(json_build_object('group_id', g.id, 'display_name', g.display_name) ORDER BY g.display_name, g.id), '[]'::json)
  FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
  WHERE gm.tenant_id = u.tenant_id AND gm.member_id = u.id) AS groups_json`;

/** A user's app states as JSON, by app; served by the app_states primary key. */
export const USER_APPS_SQL = `(SELECT coalesce(json_agg(json_build_object('app', s.app_id, 'state', s.state, 'since', s.since) ORDER BY s.app_id), '[]'::json)
  FROM app_states s
  WHERE s.tenant_id = u.tenant_id AND s.user_id = u.id) AS apps_json`;

/** The pending states as a SQL list (trusted constants, not client input). */
export const PENDING_ACTION_STATES_SQL = PENDING_ACTION_STATES.map(
  (state) => `'${state}'`,
).join(", ");

/**
 * A user's unfinished actions as JSON, the soonest first and at most MAX_PENDING_ACTIONS_SHOWN;
 * served by the actions (tenant_id, user_id, id) index.
 */
export const USER_PENDING_ACTIONS_SQL = `(SELECT coalesce(json_agg(json_build_object('app', p.app_id, 'action', p.kind, 'run_at', p.run_at, 'state', p.state) ORDER BY p.run_at, p.id), '[]'::json)
  FROM (SELECT a.id, a.app_id, a.kind, a.run_at, a.state FROM actions a
        WHERE a.tenant_id = u.tenant_id AND a.user_id = u.id AND a.state IN (${PENDING_ACTION_STATES_SQL})
        ORDER BY a.run_at, a.id LIMIT ${MAX_PENDING_ACTIONS_SHOWN}) p) AS pending_json`;

/** A timestamptz column in the ISO 8601 form of `Date.toISOString()` (milliseconds, UTC). */
function isoText(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The select list of a user read that formats to JSON text without parsing (formatUserText): the
 * resource as text, whether it has the enterprise extension, `meta`'s timestamps as text, and the
 * parts asked for. Groups come as their ids only (findGroupNames names them, once per page): a
 * JSON object per membership cost a third of a 100-user page.
 */
export function userTextColumns(parts: UserReadParts): string {
  return [
    `u.id, u.seq, u.version, u.resource::text AS resource_text,
     jsonb_typeof(u.resource -> '${ENTERPRISE_USER_URN}') = 'object' AS has_enterprise,
     ${isoText("u.created_at")} AS created_text, ${isoText("u.updated_at")} AS updated_text`,
    parts.groups ? USER_GROUP_IDS_SQL : undefined,
    parts.apps ? USER_APPS_SQL : undefined,
    parts.pendingActions ? USER_PENDING_ACTIONS_SQL : undefined,
  ]
    .filter((sql) => sql !== undefined)
    .join(", ");
}

/** A user's direct groups' ids, comma-separated (null when none); group_members (tenant_id, member_id). */
const USER_GROUP_IDS_SQL = `(SELECT string_agg(gm.group_id::text, ',')
  FROM group_members gm WHERE gm.tenant_id = u.tenant_id AND gm.member_id = u.id) AS group_ids`;

/** Which per-user subqueries a read adds to `u.*`. */
export interface UserReadParts {
  groups: boolean;
  apps: boolean;
  pendingActions: boolean;
}

/** The select-list subqueries for a read (joined with commas; empty when none is wanted). */
export function userReadColumns(parts: UserReadParts): string {
  return [
    parts.groups ? USER_GROUPS_SQL : undefined,
    parts.apps ? USER_APPS_SQL : undefined,
    parts.pendingActions ? USER_PENDING_ACTIONS_SQL : undefined,
  ]
    .filter((sql) => sql !== undefined)
    .join(", ");
}

/** The indexed columns copied out of a stored resource. */
export interface UserColumns {
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  active: boolean;
  emails_search: string;
}

/** Copies the columns that filters and uniqueness use out of the resource. */
export function userColumnsOf(resource: StoredResource): UserColumns {
  const emails = Array.isArray(resource.emails)
    ? (resource.emails as { value?: unknown }[])
    : [];
  return {
    user_name: String(resource.userName),
    external_id:
      typeof resource.externalId === "string" ? resource.externalId : null,
    display_name:
      typeof resource.displayName === "string" ? resource.displayName : null,
    active: resource.active !== false,
    // Newline-joined so the trigram index serves `emails.value co "x"`; the exact check follows.
    emails_search: emails
      .map((e) => (typeof e.value === "string" ? e.value.toLowerCase() : ""))
      .filter(Boolean)
      .join("\n"),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when the text is a UUID (ids that are not cannot exist, so skip the query). */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/** Finds a user by id; `forUpdate` locks the row (FOR UPDATE). Plain reads go through the read batcher. */
export async function findUserById(
  db: Db,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow | undefined> {
  if (!isUuid(id)) return undefined;
  const query = db("users as u")
    .where({ "u.tenant_id": tenantId, "u.id": id })
    .first<UserRow | undefined>("u.*");
  if (options.forUpdate) query.forUpdate("u");
  return query;
}

/**
 * A user's app states and unfinished actions, for a response to a write that did not read them
 * (a POST). Undefined when there is no such user.
 */
export async function findUserAppsExtension(
  db: Db,
  tenantId: string,
  id: string,
  parts: Omit<UserReadParts, "groups">,
): Promise<Pick<UserRow, "apps_json" | "pending_json"> | undefined> {
  const columns = userReadColumns({ ...parts, groups: false });
  if (!isUuid(id) || columns === "") return undefined;
  const result = await db.raw<{
    rows: Pick<UserRow, "apps_json" | "pending_json">[];
  }>(`SELECT ${columns} FROM users u WHERE u.tenant_id = ? AND u.id = ?`, [
    tenantId,
    id,
  ]);
  return result.rows[0];
}

/** Deletes a user; returns false when there was none. */
export async function deleteUserById(
  db: Db,
  tenantId: string,
  id: string,
): Promise<boolean> {
  if (!isUuid(id)) return false;
  return (await db("users").where({ tenant_id: tenantId, id }).delete()) > 0;
}

/** Ids of users in this tenant among the given ids (lower-case uuids). */
export async function findExistingUserIds(
  db: Db,
  tenantId: string,
  ids: string[],
  options: { lock?: boolean } = {},
): Promise<Set<string>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return new Set();
  const query = db("users")
    .where({ tenant_id: tenantId })
    .whereIn("id", valid)
    .select<{ id: string }[]>("id");
  // KEY SHARE keeps a concurrent delete from removing the user before our member row commits.
  if (options.lock) query.forKeyShare();
  const rows = await query;
  return new Set(rows.map((r) => r.id));
}

/** Escapes LIKE's wildcards so searched text matches literally (backslash is the default escape). */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * One page of a tenant's users in userName order, optionally those whose userName, displayName or
 * an e-mail contains `text` (case-insensitive), with their app states and unfinished actions.
 * Keyset paging on lower(userName), which is unique per tenant.
 */
export async function searchUsers(
  db: Db,
  tenantId: string,
  options: { text?: string; afterUserName?: string; limit: number },
): Promise<UserRow[]> {
  const bindings: unknown[] = [tenantId];
  let where = "u.tenant_id = ?";
  const text = options.text?.trim().toLowerCase();
  if (text) {
    const pattern = `%${escapeLike(text)}%`;
    // emails_search is lower-cased and trigram-indexed; the other two are small per tenant.
    where += ` AND (lower(u.user_name) LIKE ? OR lower(coalesce(u.display_name, '')) LIKE ?
                    OR u.emails_search LIKE ?)`;
    bindings.push(pattern, pattern, pattern);
  }
  if (options.afterUserName !== undefined) {
    where += " AND lower(u.user_name) > ?";
    bindings.push(options.afterUserName.toLowerCase());
  }
  bindings.push(options.limit);
  const columns = userReadColumns({
    groups: false,
    apps: true,
    pendingActions: true,
  });
  const result = await db.raw<{ rows: UserRow[] }>(
    `SELECT u.*, ${columns} FROM users u WHERE ${where}
     ORDER BY lower(u.user_name) LIMIT ?`,
    bindings as never[],
  );
  return result.rows;
}

/**
 * Users of a tenant whose userName (ignoring case) or externalId is among the given ones, for
 * matching a batch of imported rows in one round trip. Each arm uses its index.
 */
export async function findUsersByUserNamesOrExternalIds(
  db: Db,
  tenantId: string,
  userNames: string[],
  externalIds: string[],
): Promise<UserRow[]> {
  if (userNames.length === 0 && externalIds.length === 0) return [];
  const result = await db.raw<{ rows: UserRow[] }>(
    `SELECT u.* FROM unnest(?::text[]) AS k(key)
       JOIN users u ON u.tenant_id = ? AND lower(u.user_name) = lower(k.key)
     UNION ALL
     SELECT u.* FROM users u WHERE u.tenant_id = ? AND u.external_id = ANY(?::text[])`,
    [userNames, tenantId, tenantId, externalIds] as never[],
  );
  const byId = new Map(result.rows.map((row) => [row.id, row]));
  return [...byId.values()];
}
