import { etagOf } from "../services/domain-errors.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
import type {
  UserAppStateJson,
  UserPendingActionJson,
  UserReadParts,
  UserRow,
} from "../store/users-store.ts";
import { URN } from "./schemas.ts";

/** What formatting needs of a stored user or group. */
export interface FormattableRow {
  id: string;
  resource: StoredResource;
  version: number;
  created_at: Date;
  updated_at: Date;
}

function meta(resourceType: string, row: FormattableRow, location: string) {
  return {
    resourceType,
    created: row.created_at.toISOString(),
    lastModified: row.updated_at.toISOString(),
    location,
    version: etagOf(row.version),
  };
}

/** What the apps extension shows of a user: app states and unfinished actions, as read. */
export interface UserLifecycle {
  apps?: UserAppStateJson[];
  pendingActions?: UserPendingActionJson[];
}

/** PostgreSQL's JSON text of a timestamptz, in the ISO 8601 form `meta` uses. */
function isoDateTime(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

/**
 * The apps extension's value, or undefined when the user has neither app states nor unfinished
 * actions: such users look as they did before the extension existed.
 */
function appsExtensionOf(
  lifecycle: UserLifecycle | undefined,
): Record<string, unknown> | undefined {
  const extension: Record<string, unknown> = {};
  if (lifecycle?.apps && lifecycle.apps.length > 0) {
    extension.apps = lifecycle.apps.map((a) => ({
      app: a.app,
      state: a.state,
      since: isoDateTime(a.since),
    }));
  }
  if (lifecycle?.pendingActions && lifecycle.pendingActions.length > 0) {
    extension.pendingActions = lifecycle.pendingActions.map((a) => ({
      app: a.app,
      action: a.action,
      runAt: isoDateTime(a.run_at),
      state: a.state,
    }));
  }
  return Object.keys(extension).length > 0 ? extension : undefined;
}

function userGroupsOf(
  groups: { group_id: string; display_name: string }[],
  baseUrl: string,
) {
  return groups.map((g) => ({
    value: g.group_id,
    display: g.display_name,
    $ref: `${baseUrl}/Groups/${g.group_id}`,
    type: "direct",
  }));
}

/** A user's SCIM representation (RFC 7643 §4.1) from its stored row. */
export function formatUser(
  row: FormattableRow,
  baseUrl: string,
  groups?: { group_id: string; display_name: string }[],
  lifecycle?: UserLifecycle,
): Record<string, unknown> {
  const schemas: string[] = [URN.user];
  if (row.resource[URN.enterpriseUser]) schemas.push(URN.enterpriseUser);
  const out: Record<string, unknown> = { schemas, id: row.id, ...row.resource };
  if (groups && groups.length > 0) out.groups = userGroupsOf(groups, baseUrl);
  const apps = appsExtensionOf(lifecycle);
  if (apps) {
    schemas.push(URN.apps);
    out[URN.apps] = apps;
  }
  out.meta = meta("User", row, `${baseUrl}/Users/${row.id}`);
  return out;
}

/** A user row as reads give it: the columns, plus what the read's subqueries folded in. */
export type UserReadRow = FormattableRow &
  Pick<UserRow, "groups_json" | "apps_json" | "pending_json">;

/** formatUser from a read row, with the parts the read asked for (a part left out is not shown). */
export function formatUserRow(
  row: UserReadRow,
  baseUrl: string,
  parts: UserReadParts,
): Record<string, unknown> {
  return formatUser(
    row,
    baseUrl,
    parts.groups ? (row.groups_json ?? []) : undefined,
    {
      ...(parts.apps ? { apps: row.apps_json ?? [] } : {}),
      ...(parts.pendingActions
        ? { pendingActions: row.pending_json ?? [] }
        : {}),
    },
  );
}

/** A group's SCIM representation (RFC 7643 §4.2); `members` undefined leaves them out. */
export function formatGroup(
  row: FormattableRow,
  baseUrl: string,
  members?: {
    member_id: string;
    member_type: string;
    display: string | null;
  }[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    schemas: [URN.group],
    id: row.id,
    ...row.resource,
  };
  if (members) {
    out.members = members.map((m) => ({
      value: m.member_id,
      ...(m.display !== null ? { display: m.display } : {}),
      type: m.member_type,
      $ref: `${baseUrl}/${m.member_type === "Group" ? "Groups" : "Users"}/${m.member_id}`,
    }));
  }
  out.meta = meta("Group", row, `${baseUrl}/Groups/${row.id}`);
  return out;
}

/**
 * A user row read for JSON text output (userTextColumns): the stored resource as PostgreSQL's text
 * of it, the timestamps already in `meta`'s ISO 8601 form, and the ids of the user's groups.
 */
export type UserTextRow = Pick<
  UserRow,
  "id" | "seq" | "version" | "apps_json" | "pending_json"
> & {
  resource_text: string;
  has_enterprise: boolean;
  created_text: string;
  updated_text: string;
  /** Comma-separated group ids, null when the user is in no group (read only when asked for). */
  group_ids?: string | null;
};

/** Group display names and their order (by display name, then id), for a page of UserTextRows. */
export type GroupNames = Map<string, { display_name: string; rank: number }>;

const USER_SCHEMAS_JSON = {
  core: JSON.stringify([URN.user]),
  enterprise: JSON.stringify([URN.user, URN.enterpriseUser]),
  coreApps: JSON.stringify([URN.user, URN.apps]),
  enterpriseApps: JSON.stringify([URN.user, URN.enterpriseUser, URN.apps]),
};
const APPS_KEY_JSON = JSON.stringify(URN.apps);

/**
 * Formats a page of UserTextRows (formatUserText), with what every row of the page shares built
 * once.
 */
export function createUserTextFormatter(
  baseUrl: string,
  parts: UserReadParts,
  groupNames: GroupNames,
) {
  // `…/Users/` as the opening of a JSON string: ids are UUIDs, versions integers, timestamps ISO
  // 8601 (USER_TEXT_COLUMNS), so they need no escaping.
  const locationOpening = JSON.stringify(`${baseUrl}/Users/`).slice(0, -1);
  /**
   * formatUserRow as JSON text, without parsing the stored resource: its text is spliced between
   * `id` and what follows it. The same members in the same order as
   * JSON.stringify(formatUserRow(…)) (the stored resource never holds `schemas`, `id`, `groups` or
   * `meta`); only the resource's whitespace is PostgreSQL's. For listings without
   * `attributes`/`excludedAttributes`, where parsing and re-serialising every page of 100 users
   * cost more than the query.
   */
  return function formatUserText(row: UserTextRow): string {
    const apps =
      parts.apps || parts.pendingActions
        ? appsExtensionOf({
            ...(parts.apps ? { apps: row.apps_json ?? [] } : {}),
            ...(parts.pendingActions
              ? { pendingActions: row.pending_json ?? [] }
              : {}),
          })
        : undefined;
    const schemas = row.has_enterprise
      ? apps
        ? USER_SCHEMAS_JSON.enterpriseApps
        : USER_SCHEMAS_JSON.enterprise
      : apps
        ? USER_SCHEMAS_JSON.coreApps
        : USER_SCHEMAS_JSON.core;
    const inner = row.resource_text.slice(1, -1).trim();
    let text = `{"schemas":${schemas},"id":"${row.id}"`;
    if (inner !== "") text += `,${inner}`;
    if (parts.groups && row.group_ids) {
      const groups = namedGroups(row.group_ids.split(","), groupNames);
      if (groups.length > 0)
        text += `,"groups":${JSON.stringify(userGroupsOf(groups, baseUrl))}`;
    }
    if (apps) text += `,${APPS_KEY_JSON}:${JSON.stringify(apps)}`;
    return `${text},"meta":{"resourceType":"User","created":"${row.created_text}","lastModified":"${row.updated_text}","location":${locationOpening}${row.id}","version":"W/\\"${row.version}\\""}}`;
  };
}

/** A user's groups with their names, in the names' order; a group deleted meanwhile is left out. */
function namedGroups(ids: string[], names: GroupNames) {
  const groups: { group_id: string; display_name: string; rank: number }[] = [];
  for (const id of ids) {
    const named = names.get(id);
    if (named) groups.push({ group_id: id, ...named });
  }
  return groups.sort((a, b) => a.rank - b.rank);
}
