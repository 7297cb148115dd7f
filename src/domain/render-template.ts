import { isPlainObject } from "./plain-json.ts";

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}$/;

/** True when a value (or anything inside it) contains a `{{ … }}` placeholder. */
export function hasPlaceholder(value: unknown): boolean {
  if (typeof value === "string") return /\{\{.*\}\}/.test(value);
  if (Array.isArray(value)) return value.some(hasPlaceholder);
  if (isPlainObject(value)) return Object.values(value).some(hasPlaceholder);
  return false;
}

/** The dotted names a template value refers to (`manager.email` → ["manager.email"]). */
export function placeholdersOf(value: unknown): string[] {
  if (typeof value === "string") {
    return [...value.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  }
  if (Array.isArray(value)) return value.flatMap(placeholdersOf);
  if (isPlainObject(value)) return Object.values(value).flatMap(placeholdersOf);
  return [];
}

/**
 * Renders `{{ name.path }}` placeholders from a context of plain values. No expressions, no code:
 * only lookups. A string that is one placeholder keeps the value's type (a boolean stays a
 * boolean); inside longer text, values are stringified and missing ones render as "".
 * Path segments may be URNs with colons: `{{ user.urn:…:enterprise:2.0:User.department }}` is
 * written `{{ user.enterprise.department }}` by convention instead (see the README).
 */
export function renderTemplate(
  value: unknown,
  context: Record<string, unknown>,
): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(context, whole[1]!);
    return value.replace(PLACEHOLDER, (_, name: string) => {
      const found = lookup(context, name);
      if (found === undefined || found === null) return "";
      return typeof found === "object" ? JSON.stringify(found) : String(found);
    });
  }
  if (Array.isArray(value)) return value.map((v) => renderTemplate(v, context));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, renderTemplate(v, context)]),
    );
  }
  return value;
}

function lookup(context: Record<string, unknown>, name: string): unknown {
  let current: unknown = context;
  for (const part of name.split(".")) {
    if (!isPlainObject(current)) return undefined;
    current = current[part];
  }
  return current;
}
