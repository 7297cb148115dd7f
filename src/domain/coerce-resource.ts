import {
  attributesOf,
  findExtension,
  isReadOnlyExtension,
  resolveAttributePath,
  type AttributeDefinition,
  type ResolvedAttribute,
  type ResourceSchema,
} from "./scim-schema.ts";
import type { MemberRef, StoredResource } from "./stored-resource.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import { coerceAttributeValue, coerceMemberRefs } from "./coerce-value.ts";
import { isPlainObject, type JsonObject } from "./plain-json.ts";

/** A client body turned into the stored shape, with a Group's members kept apart. */
export interface CoercedResource {
  resource: StoredResource;
  /** Members a Group body lists; undefined when it does not mention them. */
  members?: MemberRef[];
}

/**
 * Turns a POST or PUT body into the stored shape: canonical names, checked types, nulls,
 * readOnly attributes, passwords and unknown attributes dropped, defaults and required checked.
 * Both modes coerce alike: a PUT carries the whole resource (RFC 7644 §3.5.1).
 */
export function coerceResource(
  schema: ResourceSchema,
  body: unknown,
  _mode: "create" | "replace",
): CoercedResource {
  if (!isPlainObject(body)) {
    throw new ScimDomainError(
      "invalid_syntax",
      `A ${schema.resourceType} must be a JSON object`,
    );
  }
  const resource: JsonObject = {};
  let members: MemberRef[] | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() === "schemas") {
      checkSchemas(value);
      continue;
    }
    const extension = findExtension(schema, key);
    if (extension) {
      // RFC 7643 §2.2: a read-only extension's values are the server's; a client's are ignored.
      if (value === null || isReadOnlyExtension(extension)) continue;
      if (!isPlainObject(value)) {
        throw new ScimDomainError(
          "invalid_value",
          `${extension.id} must be an object`,
        );
      }
      for (const [name, subValue] of Object.entries(value)) {
        const resolved = resolveAttributePath(
          schema,
          `${extension.id}:${name}`,
        );
        if (resolved) assignAttribute(resource, resolved, subValue);
      }
      continue;
    }
    const resolved = resolveAttributePath(schema, key);
    // Unknown attributes are ignored: IdPs send custom ones this server does not know.
    if (!resolved) continue;
    if (isMembersAttribute(schema, resolved)) {
      members = coerceMemberRefs(value, "members");
      continue;
    }
    assignAttribute(resource, resolved, value);
  }
  const coerced: CoercedResource = {
    resource: finishResource(schema, resource),
  };
  if (members) coerced.members = members;
  return coerced;
}

/** Re-validates a resource already in stored shape, such as the result of a PATCH. */
export function coerceStoredResource(
  schema: ResourceSchema,
  resource: StoredResource,
): StoredResource {
  return coerceResource(schema, resource, "replace").resource;
}

/** True for a Group's `members`, which is stored as rows rather than in the resource. */
export function isMembersAttribute(
  schema: ResourceSchema,
  resolved: Pick<ResolvedAttribute, "inExtension" | "attribute">,
): boolean {
  return (
    schema.resourceType === "Group" &&
    !resolved.inExtension &&
    resolved.attribute.name === "members"
  );
}

/** True for attributes a client may set and we store: not readOnly, not writeOnly. */
export function isStoredWritable(definition: AttributeDefinition): boolean {
  // writeOnly means password: we never store passwords, so a client's value is dropped.
  return (
    definition.mutability !== "readOnly" &&
    definition.mutability !== "writeOnly"
  );
}

function checkSchemas(value: unknown): void {
  // Checked loosely: unknown URNs are ignored, so an IdP listing an extension we lack still works.
  if (!Array.isArray(value) || !value.every((urn) => typeof urn === "string")) {
    throw new ScimDomainError(
      "invalid_syntax",
      "schemas must be an array of schema URNs",
    );
  }
}

function assignAttribute(
  resource: JsonObject,
  resolved: ResolvedAttribute,
  value: unknown,
): void {
  const { attribute, subAttribute } = resolved;
  if (
    !isStoredWritable(attribute) ||
    (subAttribute && !isStoredWritable(subAttribute))
  )
    return;
  const container = resolved.inExtension
    ? extensionOf(resource, resolved.schemaId)
    : resource;
  if (subAttribute) {
    // `emails.value` names no single element, so it cannot be assigned; ignored like an unknown key.
    if (attribute.multiValued) return;
    const coerced = coerceAttributeValue(
      subAttribute,
      value,
      resolved.canonicalPath,
    );
    if (coerced === undefined) return;
    const existing = container[attribute.name];
    container[attribute.name] = {
      ...(isPlainObject(existing) ? existing : {}),
      [subAttribute.name]: coerced,
    };
    return;
  }
  const coerced = coerceAttributeValue(
    attribute,
    value,
    resolved.canonicalPath,
  );
  if (coerced !== undefined) container[attribute.name] = coerced;
}

function extensionOf(resource: JsonObject, schemaId: string): JsonObject {
  const existing = resource[schemaId];
  if (isPlainObject(existing)) return existing;
  const created: JsonObject = {};
  resource[schemaId] = created;
  return created;
}

function finishResource(
  schema: ResourceSchema,
  resource: JsonObject,
): StoredResource {
  for (const extension of schema.extensions) {
    const value = resource[extension.id];
    if (isPlainObject(value) && Object.keys(value).length === 0)
      delete resource[extension.id];
  }
  const hasActive = schema.core.attributes.some((a) => a.name === "active");
  if (
    schema.resourceType === "User" &&
    hasActive &&
    resource.active === undefined
  ) {
    // A user nobody deactivated is active; lifecycle events read a missing flag the same way.
    resource.active = true;
  }
  for (const schemaId of [
    schema.core.id,
    ...schema.extensions.map((e) => e.id),
  ]) {
    const container =
      schemaId === schema.core.id ? resource : resource[schemaId];
    for (const attribute of attributesOf(schema, schemaId)) {
      if (!attribute.required || !isStoredWritable(attribute)) continue;
      const value = isPlainObject(container)
        ? container[attribute.name]
        : undefined;
      if (
        value === undefined ||
        (typeof value === "string" && value.trim() === "")
      ) {
        throw new ScimDomainError(
          "invalid_value",
          `${attribute.name} is required`,
        );
      }
    }
  }
  return resource;
}
