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
  if (groups && groups.length > 0) {
    out.groups = groups.map((g) => ({
      value: g.group_id,
      display: g.display_name,
      $ref: `${baseUrl}/Groups/${g.group_id}`,
      type: "direct",
    }));
  }
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
