import type { ActionSubject } from "../types.ts";

/** SCIM URNs the outbound client sends. */
export const SCIM_URN = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterprise: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
  patchOp: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
} as const;

/** Which value of ours becomes the downstream `externalId`. */
export type ExternalIdSource = "externalId" | "userId";

const NAME_FIELDS = [
  "formatted",
  "familyName",
  "givenName",
  "middleName",
  "honorificPrefix",
  "honorificSuffix",
] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function pick(
  source: Record<string, unknown>,
  keys: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys)
    if (source[key] !== undefined && source[key] !== null)
      out[key] = source[key];
  return out;
}

/** The externalId we send and match by, or undefined when the subject has none. */
export function externalIdOf(
  subject: ActionSubject,
  source: ExternalIdSource,
): string | undefined {
  return source === "userId" ? subject.userId : subject.externalId;
}

/**
 * The user as the downstream app should hold it: userName, name, displayName, emails, active,
 * externalId and the enterprise extension. Our ids (manager.value, groups, meta) mean nothing
 * to another server, so they are left out.
 */
export function mapScimUser(
  subject: ActionSubject,
  options: { active: boolean; externalIdFrom: ExternalIdSource },
): Record<string, unknown> {
  const resource = subject.resource;
  const name = isRecord(resource.name)
    ? pick(resource.name, NAME_FIELDS)
    : pick(
        { givenName: subject.givenName, familyName: subject.familyName },
        NAME_FIELDS,
      );
  const emails = Array.isArray(resource.emails)
    ? resource.emails
        .filter(isRecord)
        .filter((e) => typeof e.value === "string")
        .map((e) => pick(e, ["value", "type", "primary", "display"]))
    : subject.email
      ? [{ value: subject.email, type: "work", primary: true }]
      : [];
  const enterprise = isRecord(resource[SCIM_URN.enterprise])
    ? Object.fromEntries(
        Object.entries(
          resource[SCIM_URN.enterprise] as Record<string, unknown>,
        ).filter(
          ([key, value]) =>
            key !== "manager" && value !== null && value !== undefined,
        ),
      )
    : undefined;
  const hasEnterprise =
    enterprise !== undefined && Object.keys(enterprise).length > 0;
  const externalId = externalIdOf(subject, options.externalIdFrom);
  const displayName =
    subject.displayName ??
    (typeof resource.displayName === "string"
      ? resource.displayName
      : undefined);

  return {
    schemas: hasEnterprise
      ? [SCIM_URN.user, SCIM_URN.enterprise]
      : [SCIM_URN.user],
    userName: subject.userName,
    ...(externalId ? { externalId } : {}),
    ...(Object.keys(name).length > 0 ? { name } : {}),
    ...(displayName ? { displayName } : {}),
    ...(emails.length > 0 ? { emails } : {}),
    active: options.active,
    ...(hasEnterprise ? { [SCIM_URN.enterprise]: enterprise } : {}),
  };
}

/**
 * True when every value in `want` is already in `have` (extra attributes the app adds, like
 * `meta` or defaulted sub-attributes, do not count as differences).
 */
export function isContainedIn(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return (
      Array.isArray(have) &&
      want.length === have.length &&
      want.every((item, i) => isContainedIn(item, have[i]))
    );
  }
  if (isRecord(want)) {
    if (!isRecord(have)) return false;
    return Object.entries(want).every(([key, value]) => {
      // SCIM attribute names are case-insensitive (RFC 7643 §2.1).
      const match = Object.keys(have).find(
        (k) => k.toLowerCase() === key.toLowerCase(),
      );
      return isContainedIn(
        value,
        match === undefined ? undefined : have[match],
      );
    });
  }
  return want === have;
}
