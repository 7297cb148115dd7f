import type {
  CompareOperator,
  FilterNode,
  FilterValue,
} from "./scim-filter-ast.ts";
import type { AttributeDefinition } from "./scim-schema.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import { getCaseInsensitive, isPlainObject } from "./plain-json.ts";

const ORDERING_OPERATORS: ReadonlySet<CompareOperator> = new Set([
  "gt",
  "ge",
  "lt",
  "le",
]);
const SUBSTRING_OPERATORS: ReadonlySet<CompareOperator> = new Set([
  "co",
  "sw",
  "ew",
]);

/**
 * Throws invalid_filter unless `filter` is a value filter these element definitions can answer:
 * known sub-attributes, no nested `[…]`, operators that fit each type (RFC 7644 §3.4.2.2).
 */
export function checkElementFilter(
  filter: FilterNode,
  attributeDefs: AttributeDefinition[],
): void {
  switch (filter.kind) {
    case "and":
    case "or":
      for (const term of filter.terms) checkElementFilter(term, attributeDefs);
      return;
    case "not":
      checkElementFilter(filter.term, attributeDefs);
      return;
    case "present":
      definitionOf(filter.path, attributeDefs);
      return;
    case "compare": {
      const definition = definitionOf(filter.path, attributeDefs);
      const type = definition?.type ?? "string";
      const textual =
        type === "string" || type === "reference" || type === "binary";
      // RFC 7644 §3.4.2.2: gt/ge/lt/le on booleans and binary, and substring operators on
      // anything but strings, are invalid filters rather than silent non-matches.
      if (
        ORDERING_OPERATORS.has(filter.op) &&
        (type === "boolean" || type === "binary")
      ) {
        throw new ScimDomainError(
          "invalid_filter",
          `"${filter.op}" cannot compare the ${type} attribute "${filter.path}"`,
        );
      }
      if (SUBSTRING_OPERATORS.has(filter.op) && !textual) {
        throw new ScimDomainError(
          "invalid_filter",
          `"${filter.op}" needs a string attribute; "${filter.path}" is ${type}`,
        );
      }
      return;
    }
    case "valuePath":
      throw new ScimDomainError(
        "invalid_filter",
        `A value filter cannot contain another one ("${filter.path}[…]")`,
      );
  }
}

/**
 * True when one element of a multi-valued attribute satisfies a value filter such as
 * `type eq "work"`; paths are relative to the element and compared per `caseExact`.
 */
export function matchesElement(
  filter: FilterNode,
  element: unknown,
  attributeDefs: AttributeDefinition[],
): boolean {
  checkElementFilter(filter, attributeDefs);
  return evaluate(filter, element, attributeDefs);
}

function evaluate(
  filter: FilterNode,
  element: unknown,
  defs: AttributeDefinition[],
): boolean {
  switch (filter.kind) {
    case "and":
      return filter.terms.every((term) => evaluate(term, element, defs));
    case "or":
      return filter.terms.some((term) => evaluate(term, element, defs));
    case "not":
      return !evaluate(filter.term, element, defs);
    case "present":
      return isPresent(valueAt(filter.path, element, defs));
    case "compare":
      return compareValue(
        definitionOf(filter.path, defs),
        valueAt(filter.path, element, defs),
        filter.op,
        filter.value,
      );
    case "valuePath":
      return false;
  }
}

/**
 * The definition a relative path names. A simple multi-valued attribute has no sub-attributes;
 * RFC 7644 §3.5.2 lets filters name its elements as `value`, which yields undefined here.
 */
function definitionOf(
  path: string,
  defs: AttributeDefinition[],
): AttributeDefinition | undefined {
  const lower = path.toLowerCase();
  if (defs.length === 0 && lower === "value") return undefined;
  const definition = defs.find((d) => d.name.toLowerCase() === lower);
  if (!definition) {
    throw new ScimDomainError(
      "invalid_filter",
      `Unknown attribute "${path}" in a value filter`,
    );
  }
  return definition;
}

function valueAt(
  path: string,
  element: unknown,
  defs: AttributeDefinition[],
): unknown {
  if (isPlainObject(element)) {
    const definition = definitionOf(path, defs);
    return getCaseInsensitive(element, definition?.name ?? path);
  }
  return path.toLowerCase() === "value" ? element : undefined;
}

/** True when a value counts as present for `pr` (not null, empty string, array or object). */
export function isPresent(value: unknown): boolean {
  if (value === undefined || value === null || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** Compares one attribute value with a filter literal, by the attribute's type and case rules. */
export function compareValue(
  definition: AttributeDefinition | undefined,
  actual: unknown,
  op: CompareOperator,
  expected: FilterValue,
): boolean {
  if (Array.isArray(actual))
    return actual.some((a) => compareValue(definition, a, op, expected));
  if (actual === undefined || actual === null) {
    // An absent value equals null and differs from everything else.
    if (op === "eq") return expected === null;
    if (op === "ne") return expected !== null;
    return false;
  }
  if (expected === null) return op === "ne";
  const ordered = orderOf(definition, actual, expected);
  if (ordered === undefined) return op === "ne";
  const { cmp, text } = ordered;
  switch (op) {
    case "eq":
      return cmp === 0;
    case "ne":
      return cmp !== 0;
    case "gt":
      return cmp > 0;
    case "ge":
      return cmp >= 0;
    case "lt":
      return cmp < 0;
    case "le":
      return cmp <= 0;
    case "co":
      return text !== undefined && text.actual.includes(text.expected);
    case "sw":
      return text !== undefined && text.actual.startsWith(text.expected);
    case "ew":
      return text !== undefined && text.actual.endsWith(text.expected);
  }
}

interface Ordered {
  /** Sign of actual minus expected. */
  cmp: number;
  /** Both sides case-folded per caseExact, for the substring operators; strings only. */
  text?: { actual: string; expected: string };
}

/** Compares two values by the attribute's type; undefined when their types are unrelated. */
function orderOf(
  definition: AttributeDefinition | undefined,
  actual: unknown,
  expected: Exclude<FilterValue, null>,
): Ordered | undefined {
  if (typeof actual === "boolean" || typeof expected === "boolean") {
    if (typeof actual !== typeof expected) return undefined;
    return { cmp: actual === expected ? 0 : 1 };
  }
  if (typeof actual === "number" || typeof expected === "number") {
    if (typeof actual !== "number" || typeof expected !== "number")
      return undefined;
    return { cmp: Math.sign(actual - expected) };
  }
  if (typeof actual !== "string") return undefined;
  if (definition?.type === "dateTime") {
    const left = Date.parse(actual);
    const right = Date.parse(expected);
    if (!Number.isNaN(left) && !Number.isNaN(right)) {
      return { cmp: Math.sign(left - right) };
    }
  }
  const caseExact = definition?.caseExact ?? false;
  const left = caseExact ? actual : actual.toLowerCase();
  const right = caseExact ? expected : expected.toLowerCase();
  return {
    cmp: left < right ? -1 : left > right ? 1 : 0,
    text: { actual: left, expected: right },
  };
}
