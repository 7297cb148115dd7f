/**
 * A deliberately tiny template language for webhook paths, headers and bodies: `{{ path.to.value }}`
 * and nothing else. No expressions, no helpers, no code: the templates come from an operator's app
 * config, the values from the IdP, and neither may run anything.
 */

const PLACEHOLDER = /\{\{\s*([A-Za-z_$][\w$:.-]*)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([A-Za-z_$][\w$:.-]*)\s*\}\}$/;
const MAX_DEPTH = 32;

/** The names a template may start with. */
export const TEMPLATE_ROOTS = [
  "user",
  "params",
  "ref",
  "idempotencyKey",
  "job",
  "group",
  "action",
] as const;

/** The values a template is rendered over. */
export type TemplateContext = Partial<
  Record<(typeof TEMPLATE_ROOTS)[number], unknown>
>;

/**
 * Looks `path` up in `root`. Keys may themselves contain dots (SCIM extension URNs such as
 * `urn:…:enterprise:2.0:User`), so each step takes the longest own key the rest starts with.
 */
export function lookupPath(root: unknown, path: string): unknown {
  let current = root;
  let rest = path;
  while (rest !== "") {
    if (current === null || typeof current !== "object") return undefined;
    const record = current as Record<string, unknown>;
    let best: string | undefined;
    for (const key of Object.keys(record)) {
      if (
        (rest === key || rest.startsWith(`${key}.`)) &&
        (best === undefined || key.length > best.length)
      )
        best = key;
    }
    if (best === undefined) return undefined;
    current = record[best];
    rest = rest.slice(best.length + 1);
  }
  return current;
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * Renders the placeholders in `template`. A string that is one placeholder alone keeps the
 * value's JSON type (unless `encode` is given); missing values render as "".
 */
export function renderString(
  template: string,
  context: TemplateContext,
  encode?: (text: string) => string,
): unknown {
  const whole = WHOLE_PLACEHOLDER.exec(template);
  if (whole && !encode) {
    const value = lookupPath(context, whole[1]!);
    return value === undefined || value === null ? "" : value;
  }
  return template.replace(PLACEHOLDER, (_match, path: string) => {
    const text = asText(lookupPath(context, path));
    return encode ? encode(text) : text;
  });
}

/** Renders every string inside a JSON template (keys are left as written). */
export function renderJson(
  template: unknown,
  context: TemplateContext,
  depth = 0,
): unknown {
  if (depth > MAX_DEPTH) return null;
  if (typeof template === "string") return renderString(template, context);
  if (Array.isArray(template))
    return template.map((item) => renderJson(item, context, depth + 1));
  if (template !== null && typeof template === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template))
      out[key] = renderJson(value, context, depth + 1);
    return out;
  }
  return template;
}

/** The placeholder paths used anywhere in a template (strings inside JSON included). */
export function placeholdersOf(template: unknown, depth = 0): string[] {
  if (depth > MAX_DEPTH) return [];
  if (typeof template === "string")
    return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  if (Array.isArray(template))
    return template.flatMap((item) => placeholdersOf(item, depth + 1));
  if (template !== null && typeof template === "object")
    return Object.values(template).flatMap((v) => placeholdersOf(v, depth + 1));
  return [];
}

/** Placeholders whose first segment is not a known root (a typo the operator should see). */
export function unknownPlaceholders(template: unknown): string[] {
  return placeholdersOf(template).filter(
    (path) =>
      !TEMPLATE_ROOTS.some(
        (root) => path === root || path.startsWith(`${root}.`),
      ),
  );
}

/** Rejects `{{` that is not a well-formed placeholder, so typos fail at config load. */
export function malformedPlaceholders(template: unknown): string[] {
  const strings: string[] = [];
  const collect = (value: unknown, depth: number) => {
    if (depth > MAX_DEPTH) return;
    if (typeof value === "string") strings.push(value);
    else if (Array.isArray(value)) value.forEach((v) => collect(v, depth + 1));
    else if (value !== null && typeof value === "object")
      Object.values(value).forEach((v) => collect(v, depth + 1));
  };
  collect(template, 0);
  return strings.filter((s) => s.replace(PLACEHOLDER, "").includes("{{"));
}
