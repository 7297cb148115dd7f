import type { AttributeDefinition } from "./scim-schema.ts";
import type { FilterNode } from "./scim-filter-ast.ts";
import type { PatchOperationName, PatchTarget } from "./patch-target.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import { coerceAttributeValue, coerceSingleValue } from "./coerce-value.ts";
import { checkElementFilter, matchesElement } from "./match-filter.ts";
import { deepEqual, isPlainObject, type JsonObject } from "./plain-json.ts";

/**
 * Applies one add, replace or remove to a stored resource in place (RFC 7644 §3.5.2). Values
 * are coerced to stored form first; the caller re-validates the whole resource afterwards.
 */
export function applyAttributeOperation(
  resource: JsonObject,
  target: PatchTarget,
  op: PatchOperationName,
  value: unknown,
): void {
  const container = containerOf(resource, target);
  if (target.valueFilter) {
    applyToElements(container, target, target.valueFilter, op, value);
  } else if (op === "remove") {
    removeAttribute(container, target, value);
  } else if (target.subAttribute) {
    setSubAttribute(container, target, target.subAttribute, op, value);
  } else {
    setAttribute(container, target, op, value);
  }
}

function containerOf(resource: JsonObject, target: PatchTarget): JsonObject {
  if (!target.inExtension) return resource;
  const existing = resource[target.schemaId];
  if (isPlainObject(existing)) return existing;
  // Left empty if nothing lands in it; the final coercion drops empty extensions.
  const created: JsonObject = {};
  resource[target.schemaId] = created;
  return created;
}

function setAttribute(
  container: JsonObject,
  target: PatchTarget,
  op: "add" | "replace",
  raw: unknown,
): void {
  const { attribute } = target;
  const value = coerceAttributeValue(attribute, raw, target.path);
  if (value === undefined) {
    // Replacing with null unassigns (RFC 7643 §2.5); adding null adds nothing.
    if (op === "replace") delete container[attribute.name];
    return;
  }
  const existing = container[attribute.name];
  if (attribute.multiValued) {
    // add appends (RFC 7644 §3.5.2.1); replace, with or without a path, swaps the whole list.
    container[attribute.name] =
      op === "add"
        ? appendDistinct(elementsOf(existing), value as unknown[])
        : value;
  } else if (
    attribute.type === "complex" &&
    isPlainObject(existing) &&
    isPlainObject(value) &&
    !namesNewReferent(existing, value)
  ) {
    // RFC 7644 §3.5.2.3: replacing a complex attribute replaces the sub-attributes given.
    container[attribute.name] = { ...existing, ...value };
  } else {
    container[attribute.name] = value;
  }
}

function setSubAttribute(
  container: JsonObject,
  target: PatchTarget,
  sub: AttributeDefinition,
  op: "add" | "replace",
  raw: unknown,
): void {
  const { attribute } = target;
  if (attribute.multiValued) {
    throw new ScimDomainError(
      "invalid_path",
      `"${target.path}" does not say which ${attribute.name} element to change; ` +
        `select it with a filter, e.g. ${attribute.name}[type eq "work"].${sub.name}`,
    );
  }
  const value = coerceAttributeValue(sub, raw, target.path);
  if (value === undefined && op === "add") return;
  const existing = container[attribute.name];
  const next: JsonObject = isPlainObject(existing) ? { ...existing } : {};
  if (value === undefined) {
    delete next[sub.name];
    container[attribute.name] = next;
    return;
  }
  container[attribute.name] = namesNewReferent(next, { [sub.name]: value })
    ? { [sub.name]: value }
    : { ...next, [sub.name]: value };
}

/**
 * A new `value` in a reference-like complex attribute (manager) points at another resource,
 * so its old `$ref` and `displayName` would describe the wrong one: replace it whole.
 */
function namesNewReferent(existing: JsonObject, value: JsonObject): boolean {
  return (
    value.value !== undefined &&
    existing.value !== undefined &&
    existing.value !== value.value
  );
}

function removeAttribute(
  container: JsonObject,
  target: PatchTarget,
  raw: unknown,
): void {
  const { attribute, subAttribute } = target;
  const existing = container[attribute.name];
  if (subAttribute) {
    if (attribute.multiValued) {
      writeElements(
        container,
        attribute,
        elementsOf(existing).map((e) => without(e, subAttribute)),
      );
    } else if (isPlainObject(existing)) {
      container[attribute.name] = without(existing, subAttribute);
    }
    return;
  }
  if (attribute.multiValued && raw !== undefined && raw !== null) {
    // Microsoft Entra names the values to remove in `value` instead of a filter.
    const doomed = (coerceAttributeValue(attribute, raw, target.path) ??
      []) as unknown[];
    const kept = elementsOf(existing).filter(
      (element) => !doomed.some((d) => containsValues(attribute, element, d)),
    );
    writeElements(container, attribute, kept);
    return;
  }
  delete container[attribute.name];
}

function applyToElements(
  container: JsonObject,
  target: PatchTarget,
  filter: FilterNode,
  op: PatchOperationName,
  raw: unknown,
): void {
  const { attribute, subAttribute: sub } = target;
  const defs = attribute.subAttributes ?? [];
  checkElementFilter(filter, defs);
  const elements = elementsOf(container[attribute.name]).map((e) =>
    isPlainObject(e) ? { ...e } : e,
  );
  const matched = new Set(
    elements.flatMap((element, i) =>
      matchesElement(filter, element, defs) ? [i] : [],
    ),
  );
  if (op === "remove") {
    // A remove whose filter matches nothing leaves nothing to do; it is not an error.
    if (matched.size === 0) return;
    const kept = sub
      ? elements.map((e, i) => (matched.has(i) ? without(e, sub) : e))
      : elements.filter((_, i) => !matched.has(i));
    writeElements(container, attribute, kept);
    return;
  }
  const value = sub
    ? coerceAttributeValue(sub, raw, target.path)
    : coerceSingleValue(
        attribute,
        singleElement(raw, target.path),
        target.path,
      );
  // Adding null adds nothing; replacing with null unassigns what the path selects.
  if (value === undefined && (op === "add" || matched.size === 0)) return;
  if (matched.size === 0) {
    elements.push(createElement(target, filter, value));
    matched.add(elements.length - 1);
  }
  for (const i of matched) {
    const element = elements[i];
    if (!isPlainObject(element)) continue;
    if (sub && value === undefined) delete element[sub.name];
    else if (sub) element[sub.name] = value;
    else
      elements[i] =
        value === undefined ? {} : { ...element, ...(value as JsonObject) };
  }
  const setsPrimary = sub
    ? sub.name === "primary" && value === true
    : isPlainObject(value) && value.primary === true;
  writeElements(
    container,
    attribute,
    setsPrimary ? demotePrimaries(elements, matched) : elements,
  );
}

/**
 * Microsoft Entra sends `Add`/`Replace` on `emails[type eq "work"].value` when the user has no
 * work email yet and expects one created, so an unmatched equality filter seeds a new element.
 */
function createElement(
  target: PatchTarget,
  filter: FilterNode,
  value: unknown,
): unknown {
  const seed = seedFromFilter(filter, target.attribute.subAttributes ?? []);
  if (!seed) {
    throw new ScimDomainError(
      "no_target",
      `No ${target.attribute.name} element matches "${target.path}"`,
    );
  }
  const element = target.subAttribute
    ? { ...seed, [target.subAttribute.name]: value }
    : { ...seed, ...(value as JsonObject) };
  return coerceSingleValue(target.attribute, element, target.path);
}

function seedFromFilter(
  filter: FilterNode,
  defs: AttributeDefinition[],
): JsonObject | undefined {
  if (
    filter.kind === "compare" &&
    filter.op === "eq" &&
    filter.value !== null
  ) {
    const definition = defs.find(
      (d) => d.name.toLowerCase() === filter.path.toLowerCase(),
    );
    return definition ? { [definition.name]: filter.value } : undefined;
  }
  if (filter.kind === "and") {
    const parts = filter.terms.map((term) => seedFromFilter(term, defs));
    return parts.every((p) => p !== undefined)
      ? Object.assign({}, ...parts)
      : undefined;
  }
  return undefined;
}

function singleElement(raw: unknown, path: string): unknown {
  if (!Array.isArray(raw)) return raw;
  if (raw.length === 1) return raw[0];
  throw new ScimDomainError(
    "invalid_value",
    `"${path}" selects elements; give one value`,
  );
}

function appendDistinct(existing: unknown[], added: unknown[]): unknown[] {
  const fresh: unknown[] = [];
  for (const element of added) {
    if (![...existing, ...fresh].some((e) => deepEqual(e, element)))
      fresh.push(element);
  }
  const result = [...existing, ...fresh];
  const keep = new Set(fresh.map((_, i) => existing.length + i));
  return fresh.some((e) => isPlainObject(e) && e.primary === true)
    ? demotePrimaries(result, keep)
    : result;
}

/** RFC 7644 §3.5.2: setting one value primary sets `primary` false on the others. */
function demotePrimaries(
  elements: unknown[],
  keep: ReadonlySet<number>,
): unknown[] {
  return elements.map((e, i) =>
    !keep.has(i) && isPlainObject(e) && e.primary === true
      ? { ...e, primary: false }
      : e,
  );
}

function containsValues(
  attribute: AttributeDefinition,
  element: unknown,
  wanted: unknown,
): boolean {
  if (!isPlainObject(element) || !isPlainObject(wanted))
    return deepEqual(element, wanted);
  return Object.entries(wanted).every(([name, value]) => {
    const sub = attribute.subAttributes?.find((s) => s.name === name);
    const actual = element[name];
    if (
      typeof actual === "string" &&
      typeof value === "string" &&
      !sub?.caseExact
    ) {
      return actual.toLowerCase() === value.toLowerCase();
    }
    return deepEqual(actual, value);
  });
}

function elementsOf(value: unknown): unknown[] {
  return Array.isArray(value) ? [...value] : [];
}

function without(element: unknown, sub: AttributeDefinition): unknown {
  if (!isPlainObject(element)) return element;
  const copy = { ...element };
  delete copy[sub.name];
  return copy;
}

function writeElements(
  container: JsonObject,
  attribute: AttributeDefinition,
  elements: unknown[],
): void {
  const kept = elements.filter(
    (e) => !(isPlainObject(e) && Object.keys(e).length === 0),
  );
  if (kept.length > 0) container[attribute.name] = kept;
  else delete container[attribute.name];
}
