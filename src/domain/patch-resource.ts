import {
  findExtension,
  isReadOnlyExtension,
  resolveAttributePath,
  type AttributeDefinition,
  type ResourceSchema,
} from "./scim-schema.ts";
import type { MemberChanges, StoredResource } from "./stored-resource.ts";
import type { PatchPath } from "./scim-filter-ast.ts";
import type { PatchOperationName, PatchTarget } from "./patch-target.ts";
import { FilterSyntaxError, parsePatchPath } from "./scim-filter.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import {
  coerceStoredResource,
  isMembersAttribute,
  isStoredWritable,
} from "./coerce-resource.ts";
import { applyAttributeOperation } from "./patch-attribute.ts";
import {
  applyMembersOperation,
  createMemberChangeLog,
  toMemberChanges,
  type MemberChangeLog,
} from "./member-changes.ts";
import {
  deepEqual,
  getCaseInsensitive,
  hasCaseInsensitive,
  isPlainObject,
  type JsonObject,
} from "./plain-json.ts";

const PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const OPERATION_NAMES: readonly PatchOperationName[] = [
  "add",
  "replace",
  "remove",
];

/** The outcome of a PATCH: the new stored resource, membership changes, and whether anything changed. */
export interface PatchResult {
  resource: StoredResource;
  /** Set on Groups when the request touches `members`; applied in SQL, never as a list. */
  memberChanges?: MemberChanges;
  /** False when the resource deep-equals the input and membership is untouched. */
  changed: boolean;
}

interface PatchContext {
  schema: ResourceSchema;
  resource: JsonObject;
  members: MemberChangeLog;
}

/**
 * Applies a PatchOp message (RFC 7644 §3.5.2) to a stored resource, accepting the Okta and
 * Microsoft Entra dialects, then re-validates the result so a PATCH cannot store what a PUT
 * could not. Throws ScimDomainError.
 */
export function applyPatch(
  schema: ResourceSchema,
  current: StoredResource,
  body: unknown,
): PatchResult {
  const operations = readOperations(body);
  const context: PatchContext = {
    schema,
    resource: structuredClone(current),
    members: createMemberChangeLog(),
  };
  operations.forEach((operation, index) => {
    try {
      applyOperation(context, operation);
    } catch (error) {
      if (!(error instanceof ScimDomainError)) throw error;
      throw new ScimDomainError(
        error.kind,
        `Operations[${index}]: ${error.message}`,
      );
    }
  });
  const resource = coerceStoredResource(schema, context.resource);
  const memberChanges = toMemberChanges(context.members);
  const result: PatchResult = {
    resource,
    changed: memberChanges !== undefined || !deepEqual(resource, current),
  };
  if (memberChanges) result.memberChanges = memberChanges;
  return result;
}

function readOperations(body: unknown): unknown[] {
  if (!isPlainObject(body)) {
    throw new ScimDomainError(
      "invalid_syntax",
      "A PATCH body must be a PatchOp JSON object",
    );
  }
  // A missing `schemas` is tolerated; one that names something else is not a PatchOp.
  const schemas = getCaseInsensitive(body, "schemas");
  if (
    schemas !== undefined &&
    !(
      Array.isArray(schemas) &&
      schemas.some(
        (s) =>
          typeof s === "string" &&
          s.toLowerCase() === PATCH_OP_URN.toLowerCase(),
      )
    )
  ) {
    throw new ScimDomainError(
      "invalid_syntax",
      `schemas must contain "${PATCH_OP_URN}"`,
    );
  }
  const operations = getCaseInsensitive(body, "Operations");
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimDomainError(
      "invalid_syntax",
      "A PATCH body needs a non-empty Operations array",
    );
  }
  return operations;
}

function applyOperation(context: PatchContext, operation: unknown): void {
  if (!isPlainObject(operation)) {
    throw new ScimDomainError(
      "invalid_syntax",
      "each operation must be an object",
    );
  }
  const opText = getCaseInsensitive(operation, "op");
  // Microsoft Entra capitalises op names (`Add`, `Replace`, `Remove`).
  const op = OPERATION_NAMES.find(
    (name) => typeof opText === "string" && name === opText.toLowerCase(),
  );
  if (!op) {
    throw new ScimDomainError(
      "invalid_syntax",
      `op must be "add", "remove" or "replace", not ${JSON.stringify(opText ?? null)}`,
    );
  }
  const rawPath = getCaseInsensitive(operation, "path");
  if (
    rawPath !== undefined &&
    rawPath !== null &&
    typeof rawPath !== "string"
  ) {
    throw new ScimDomainError("invalid_path", "path must be a string");
  }
  const path =
    typeof rawPath === "string" && rawPath.trim() !== ""
      ? rawPath.trim()
      : undefined;
  const value = getCaseInsensitive(operation, "value");
  if (op !== "remove" && !hasCaseInsensitive(operation, "value")) {
    throw new ScimDomainError("invalid_syntax", `${op} needs a value`);
  }
  if (path !== undefined) {
    applyAtPath(context, op, path, value, false);
  } else if (op === "remove") {
    throw new ScimDomainError(
      "no_target",
      "remove needs a path naming what to remove",
    );
  } else {
    applyPathless(context, op, value);
  }
}

/**
 * RFC 7644 §3.5.2.1/§3.5.2.3 without a path: the value holds attributes to add or replace. Keys
 * may be dotted (`name.givenName`), URN-prefixed or filtered paths (Entra sends all three);
 * unknown keys are ignored because IdPs send custom attributes along with known ones.
 */
function applyPathless(
  context: PatchContext,
  op: "add" | "replace",
  value: unknown,
): void {
  if (!isPlainObject(value)) {
    throw new ScimDomainError(
      "invalid_value",
      `${op} without a path needs an object of attributes as its value`,
    );
  }
  for (const [key, item] of Object.entries(value)) {
    if (key.toLowerCase() === "schemas") continue;
    applyAtPath(context, op, key, item, true);
  }
}

function applyAtPath(
  context: PatchContext,
  op: PatchOperationName,
  path: string,
  value: unknown,
  lenient: boolean,
): void {
  const extension = findExtension(context.schema, path);
  if (extension) {
    if (isReadOnlyExtension(extension)) {
      // A read-only extension (the apps one) as the target: refused like a readOnly attribute,
      // ignored when a pathless value echoes it.
      if (lenient) return;
      throw new ScimDomainError("mutability", `"${path}" is readOnly`);
    }
    // The whole extension as the target: each attribute in the value is an operation of its own.
    if (op === "remove") {
      delete context.resource[extension.id];
      return;
    }
    if (value === null && lenient) return;
    if (!isPlainObject(value)) {
      throw new ScimDomainError(
        "invalid_value",
        `${extension.id} must be an object`,
      );
    }
    for (const [name, item] of Object.entries(value)) {
      applyAtPath(context, op, `${extension.id}:${name}`, item, true);
    }
    return;
  }
  const target = resolveTarget(context.schema, path, lenient);
  if (!target) return;
  if (isMembersAttribute(context.schema, target)) {
    applyMembersOperation(context.members, target, op, value);
  } else {
    applyAttributeOperation(context.resource, target, op, value);
  }
}

/** Resolves a path; undefined when the operation is to be skipped (see the comments inside). */
function resolveTarget(
  schema: ResourceSchema,
  path: string,
  lenient: boolean,
): PatchTarget | undefined {
  // Pathless keys are attribute names, not parsed unless they carry a filter: an IdP's custom
  // attribute may not even be a valid path, and it is ignored either way.
  const parsed: PatchPath =
    lenient && !path.includes("[") ? { attribute: path } : parse(path);
  const resolved = resolveAttributePath(schema, parsed.attribute);
  if (!resolved) {
    if (lenient) return undefined;
    throw new ScimDomainError(
      "invalid_path",
      `"${path}" names no attribute of a ${schema.resourceType}`,
    );
  }
  const { attribute } = resolved;
  let subAttribute = resolved.subAttribute;
  if (parsed.valueFilter) {
    if (subAttribute || !attribute.multiValued) {
      throw new ScimDomainError(
        "invalid_path",
        `"${path}": a filter can only follow a multi-valued attribute`,
      );
    }
    if (parsed.subAttribute !== undefined) {
      subAttribute = findSubAttribute(attribute, parsed.subAttribute);
      if (!subAttribute) {
        throw new ScimDomainError(
          "invalid_path",
          `"${path}": ${attribute.name} has no sub-attribute "${parsed.subAttribute}"`,
        );
      }
    }
  }
  const readOnly = [attribute, subAttribute].some(
    (d) => d?.mutability === "readOnly",
  );
  // A pathless value may echo readOnly attributes (Okta sends `id` with a displayName change).
  if (readOnly && lenient) return undefined;
  if (readOnly) {
    throw new ScimDomainError("mutability", `"${path}" is readOnly`);
  }
  // writeOnly is the password: accepted so Okta's password sync succeeds, never stored.
  if (
    !isStoredWritable(attribute) ||
    (subAttribute && !isStoredWritable(subAttribute))
  ) {
    return undefined;
  }
  const target: PatchTarget = {
    schemaId: resolved.schemaId,
    inExtension: resolved.inExtension,
    attribute,
    path,
  };
  if (subAttribute) target.subAttribute = subAttribute;
  if (parsed.valueFilter) target.valueFilter = parsed.valueFilter;
  return target;
}

function parse(path: string): PatchPath {
  try {
    return parsePatchPath(path);
  } catch (error) {
    if (error instanceof FilterSyntaxError) {
      throw new ScimDomainError(
        "invalid_path",
        `"${path}" is not a valid path: ${error.message}`,
      );
    }
    throw error;
  }
}

function findSubAttribute(
  attribute: AttributeDefinition,
  name: string,
): AttributeDefinition | undefined {
  return attribute.subAttributes?.find(
    (s) => s.name.toLowerCase() === name.toLowerCase(),
  );
}
