import type { AttributeDefinition } from "./scim-schema.ts";
import type { MemberRef } from "./stored-resource.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import {
  getCaseInsensitive,
  isPlainObject,
  type JsonObject,
} from "./plain-json.ts";

// RFC 7643 §2.3.5 dateTime is xsd:dateTime: a date, a time and an optional zone.
const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
const BOOLEAN_TEXT = /^(true|false)$/i;

/**
 * Coerces a client value for one attribute into its stored form: canonical sub-attribute names,
 * checked types, `null` and readOnly sub-attributes dropped. Returns undefined for "not set".
 */
export function coerceAttributeValue(
  definition: AttributeDefinition,
  value: unknown,
  path: string,
): unknown {
  if (value === null || value === undefined) return undefined;
  if (definition.multiValued) {
    // A lone element for a multi-valued attribute is read as a list of one.
    const items = Array.isArray(value) ? value : [value];
    const coerced = items
      .map((item, i) => coerceSingleValue(definition, item, `${path}[${i}]`))
      .filter((item) => item !== undefined);
    if (coerced.length === 0) return undefined;
    const primaries = coerced.filter(
      (item) => isPlainObject(item) && item.primary === true,
    );
    if (primaries.length > 1) {
      // RFC 7643 §2.4: the primary value "MUST appear no more than once".
      throw new ScimDomainError(
        "invalid_value",
        `${path} has more than one primary value`,
      );
    }
    return coerced;
  }
  if (Array.isArray(value)) {
    throw new ScimDomainError(
      "invalid_value",
      `${path} takes a single value, not an array`,
    );
  }
  return coerceSingleValue(definition, value, path);
}

/** Coerces one value (one element, for a multi-valued attribute); undefined for "not set". */
export function coerceSingleValue(
  definition: AttributeDefinition,
  value: unknown,
  path: string,
): unknown {
  if (value === null || value === undefined) return undefined;
  switch (definition.type) {
    case "string":
    case "reference":
    case "binary":
      // Numbers are not turned into strings: a client sending 42 for a string has a bug to see.
      if (typeof value === "string") return value;
      throw invalidValue(path, "a string", value);
    case "boolean":
      if (typeof value === "boolean") return value;
      // Microsoft Entra sends booleans as "True"/"False" unless the aadOptscim062020 flag is on.
      if (typeof value === "string" && BOOLEAN_TEXT.test(value)) {
        return value.toLowerCase() === "true";
      }
      throw invalidValue(path, "a boolean", value);
    case "integer":
      if (typeof value === "number" && Number.isInteger(value)) return value;
      throw invalidValue(path, "an integer", value);
    case "decimal":
      if (typeof value === "number" && Number.isFinite(value)) return value;
      throw invalidValue(path, "a number", value);
    case "dateTime":
      if (
        typeof value === "string" &&
        ISO_DATE_TIME.test(value) &&
        !Number.isNaN(Date.parse(value))
      ) {
        return value;
      }
      throw invalidValue(path, "an ISO 8601 date-time", value);
    case "complex":
      return coerceComplex(definition, value, path);
  }
}

function coerceComplex(
  definition: AttributeDefinition,
  value: unknown,
  path: string,
): unknown {
  const subAttributes = definition.subAttributes ?? [];
  if (typeof value === "string" && isManager(definition)) {
    // Microsoft Entra sometimes sends the enterprise manager as a bare id.
    return value.trim() === "" ? undefined : { value };
  }
  if (!isPlainObject(value)) throw invalidValue(path, "an object", value);
  const result: JsonObject = {};
  for (const [key, raw] of Object.entries(value)) {
    const sub = subAttributes.find(
      (s) => s.name.toLowerCase() === key.toLowerCase(),
    );
    // Unknown sub-attributes are ignored like unknown attributes; readOnly ones are the server's.
    if (!sub || sub.mutability === "readOnly") continue;
    const coerced = coerceAttributeValue(sub, raw, `${path}.${sub.name}`);
    if (coerced !== undefined) result[sub.name] = coerced;
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

function isManager(definition: AttributeDefinition): boolean {
  return (
    definition.name === "manager" &&
    !definition.multiValued &&
    (definition.subAttributes ?? []).some((s) => s.name === "value")
  );
}

/**
 * Reads group members as given by a client: `value` required, `type` User or Group,
 * `display`/`$ref` ignored (we resolve them ourselves), duplicates by value removed.
 * Returns undefined when the value is null.
 */
export function coerceMemberRefs(
  value: unknown,
  path: string,
): MemberRef[] | undefined {
  if (value === null || value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  const refs: MemberRef[] = [];
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const ref = coerceMemberRef(item, `${path}[${i}]`);
    if (ref && !seen.has(ref.value)) {
      seen.add(ref.value);
      refs.push(ref);
    }
  });
  return refs;
}

function coerceMemberRef(item: unknown, path: string): MemberRef | undefined {
  if (item === null) return undefined;
  // Microsoft's SCIM test collection adds members as bare id strings.
  const raw = typeof item === "string" ? { value: item } : item;
  if (!isPlainObject(raw))
    throw invalidValue(path, "an object with a value", item);
  const id = getCaseInsensitive(raw, "value");
  if (typeof id !== "string" || id.trim() === "") {
    throw new ScimDomainError(
      "invalid_value",
      `${path}.value is required and must be a string`,
    );
  }
  const type = getCaseInsensitive(raw, "type");
  if (type === undefined || type === null) return { value: id };
  const canonical =
    typeof type === "string"
      ? (["User", "Group"] as const).find(
          (t) => t.toLowerCase() === type.toLowerCase(),
        )
      : undefined;
  if (!canonical) {
    throw new ScimDomainError(
      "invalid_value",
      `${path}.type must be "User" or "Group"`,
    );
  }
  return { value: id, type: canonical };
}

function invalidValue(
  path: string,
  expected: string,
  actual: unknown,
): ScimDomainError {
  // Short strings are quoted so "yes" for a boolean reads as such; anything else by its type.
  const shown =
    typeof actual === "string" && actual.length <= 40
      ? JSON.stringify(actual)
      : Array.isArray(actual)
        ? "an array"
        : typeof actual;
  return new ScimDomainError(
    "invalid_value",
    `${path} must be ${expected}, not ${shown}`,
  );
}
