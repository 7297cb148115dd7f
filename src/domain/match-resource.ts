import { compareValue, isPresent, matchesElement } from "./match-filter.ts";
import { getCaseInsensitive, isPlainObject } from "./plain-json.ts";
import type { FilterNode } from "./scim-filter-ast.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import {
  leafOf,
  resolveAttributePath,
  type ResolvedAttribute,
  type ResourceSchema,
} from "./scim-schema.ts";

/**
 * Throws invalid_filter unless every attribute the filter names exists in the schema, so a policy
 * condition with a typo fails when the policy loads, not silently at every event.
 */
export function checkResourceFilter(
  filter: FilterNode,
  schema: ResourceSchema,
): void {
  switch (filter.kind) {
    case "and":
    case "or":
      for (const term of filter.terms) checkResourceFilter(term, schema);
      return;
    case "not":
      checkResourceFilter(filter.term, schema);
      return;
    case "present":
    case "compare":
      resolveOrThrow(schema, filter.path);
      return;
    case "valuePath": {
      const resolved = resolveOrThrow(schema, filter.path);
      if (resolved.subAttribute || !resolved.attribute.multiValued) {
        throw new ScimDomainError(
          "invalid_filter",
          `"${filter.path}[…]" needs a multi-valued attribute`,
        );
      }
      // Validates the inner filter against the element's sub-attributes.
      matchesElement(filter.filter, {}, resolved.attribute.subAttributes ?? []);
      return;
    }
  }
}

/** True when a stored SCIM resource satisfies a filter (RFC 7644 §3.4.2.2), in memory. */
export function matchesResource(
  filter: FilterNode,
  resource: Record<string, unknown>,
  schema: ResourceSchema,
): boolean {
  switch (filter.kind) {
    case "and":
      return filter.terms.every((t) => matchesResource(t, resource, schema));
    case "or":
      return filter.terms.some((t) => matchesResource(t, resource, schema));
    case "not":
      return !matchesResource(filter.term, resource, schema);
    case "present": {
      const values = valuesAt(resource, resolveOrThrow(schema, filter.path));
      return values.some(isPresent);
    }
    case "compare": {
      const resolved = resolveOrThrow(schema, filter.path);
      const values = valuesAt(resource, resolved);
      const definition = leafOf(resolved);
      if (values.length === 0) {
        return compareValue(definition, undefined, filter.op, filter.value);
      }
      return values.some((v) =>
        compareValue(definition, v, filter.op, filter.value),
      );
    }
    case "valuePath": {
      const resolved = resolveOrThrow(schema, filter.path);
      const elements = valuesAt(resource, resolved);
      return elements.some((element) =>
        matchesElement(
          filter.filter,
          element,
          resolved.attribute.subAttributes ?? [],
        ),
      );
    }
  }
}

function resolveOrThrow(
  schema: ResourceSchema,
  path: string,
): ResolvedAttribute {
  const resolved = resolveAttributePath(schema, path);
  if (!resolved) {
    throw new ScimDomainError(
      "invalid_filter",
      `Unknown attribute "${path}" for ${schema.resourceType}`,
    );
  }
  return resolved;
}

/** The values a resolved path has in a resource, flattened over multi-valued attributes. */
function valuesAt(
  resource: Record<string, unknown>,
  resolved: ResolvedAttribute,
): unknown[] {
  const container = resolved.inExtension
    ? getCaseInsensitive(resource, resolved.schemaId)
    : resource;
  if (!isPlainObject(container)) return [];
  const top = getCaseInsensitive(container, resolved.attribute.name);
  const tops = Array.isArray(top) ? top : top === undefined ? [] : [top];
  if (!resolved.subAttribute) return tops;
  const sub = resolved.subAttribute.name;
  return tops.flatMap((t) => {
    if (!isPlainObject(t)) return [];
    const v = getCaseInsensitive(t, sub);
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  });
}
