import {
  resolveAttributePath,
  type ResourceSchema,
} from "../domain/scim-schema.ts";
import { AppError } from "../errors.ts";

/** A parsed `attributes` / `excludedAttributes` list: schema URN → attribute → sub-attributes. */
type Selection = Map<string, Map<string, Set<string> | "all">>;

const ALWAYS_RETURNED = new Set(["id", "schemas"]);

/** Parses a comma-separated attribute list against a schema (RFC 7644 §3.4.2.5). */
export function parseAttributeList(
  schema: ResourceSchema,
  text: string | undefined,
  parameter: string,
): Selection | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const selection: Selection = new Map();
  for (const raw of text.split(",")) {
    // Microsoft's validator sends `attributes=emails[type eq "work"]`; the filter selects no less
    // than the attribute, so it is read as `emails`.
    const path = raw.trim().replace(/\[.*\]$/, "");
    if (!path) continue;
    if (path.toLowerCase() === "schemas") continue;
    const resolved = resolveAttributePath(schema, path);
    if (!resolved) {
      // An extension URN by itself selects the whole extension.
      const ext = schema.extensions.find(
        (e) => e.id.toLowerCase() === path.toLowerCase(),
      );
      if (ext) {
        selection.set(ext.id, new Map([["*", "all"]]));
        continue;
      }
      throw new AppError(
        "scim.invalid_value",
        `${parameter}: unknown attribute "${path}"`,
      );
    }
    const bySchema =
      selection.get(resolved.schemaId) ??
      new Map<string, Set<string> | "all">();
    selection.set(resolved.schemaId, bySchema);
    const name = resolved.attribute.name;
    if (!resolved.subAttribute) bySchema.set(name, "all");
    else {
      const existing = bySchema.get(name);
      if (existing !== "all") {
        const subs = existing ?? new Set<string>();
        subs.add(resolved.subAttribute.name);
        bySchema.set(name, subs);
      }
    }
  }
  return selection;
}

/** True when a selection names the attribute (so readers can skip loading it). */
export function selects(
  selection: Selection | undefined,
  schemaId: string,
  name: string,
): boolean {
  const bySchema = selection?.get(schemaId);
  return bySchema?.has(name) === true || bySchema?.has("*") === true;
}

/**
 * The `attributes` (include) or else `excludedAttributes` selection of a request, and whether it
 * returns an attribute, so readers skip loading what the response leaves out.
 */
export function selectionOf(
  schema: ResourceSchema,
  projection: { attributes?: string; excludedAttributes?: string },
) {
  const include = parseAttributeList(
    schema,
    projection.attributes,
    "attributes",
  );
  const exclude = include
    ? undefined
    : parseAttributeList(
        schema,
        projection.excludedAttributes,
        "excludedAttributes",
      );
  const wants = (name: string, schemaId = schema.core.id): boolean =>
    include
      ? selects(include, schemaId, name)
      : !selects(exclude, schemaId, name);
  return { include, exclude, wants };
}

function pickSubs(value: unknown, subs: Set<string>, keep: boolean): unknown {
  const one = (v: unknown) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(v)) {
      if (subs.has(k) === keep) out[k] = inner;
    }
    return out;
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}

function filterLevel(
  object: Record<string, unknown>,
  bySchema: Map<string, Set<string> | "all"> | undefined,
  mode: "include" | "exclude",
  isCore: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (isCore && (ALWAYS_RETURNED.has(key) || key.startsWith("urn:"))) {
      out[key] = value;
      continue;
    }
    const rule = bySchema?.get(key) ?? (bySchema?.has("*") ? "all" : undefined);
    if (mode === "include") {
      if (rule === "all") out[key] = value;
      else if (rule) out[key] = pickSubs(value, rule, true);
    } else if (rule === undefined) out[key] = value;
    else if (rule !== "all") out[key] = pickSubs(value, rule, false);
  }
  return out;
}

/** Applies `attributes` (include) or `excludedAttributes` to a formatted resource. */
export function projectResource(
  resource: Record<string, unknown>,
  schema: ResourceSchema,
  include: Selection | undefined,
  exclude: Selection | undefined,
): Record<string, unknown> {
  if (!include && !exclude) return resource;
  const mode = include ? "include" : "exclude";
  const selection = (include ?? exclude)!;
  const out = filterLevel(resource, selection.get(schema.core.id), mode, true);
  for (const ext of schema.extensions) {
    const value = resource[ext.id];
    if (!value || typeof value !== "object") continue;
    const bySchema = selection.get(ext.id);
    const projected = filterLevel(
      value as Record<string, unknown>,
      bySchema,
      mode,
      false,
    );
    if (Object.keys(projected).length > 0) out[ext.id] = projected;
    else delete out[ext.id];
  }
  if (Array.isArray(out.schemas)) {
    out.schemas = (out.schemas as string[]).filter(
      (urn) => urn === schema.core.id || out[urn] !== undefined,
    );
  }
  return out;
}
