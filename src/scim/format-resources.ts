import { etagOf } from "../services/domain-errors.ts";
import type { StoredResource } from "../domain/stored-resource.ts";
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

/** A user's SCIM representation (RFC 7643 §4.1) from its stored row. */
export function formatUser(
  row: FormattableRow,
  baseUrl: string,
  groups?: { group_id: string; display_name: string }[],
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
  out.meta = meta("User", row, `${baseUrl}/Users/${row.id}`);
  return out;
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
