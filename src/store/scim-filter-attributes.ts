import {
  resolveAttributePath,
  type AttributeDefinition,
  type ResourceSchema,
} from "../domain/scim-schema.ts";
import { APPS_EXTENSION_URN } from "../domain/apps-extension.ts";
import { AppError } from "../errors.ts";
import {
  appStatesScope,
  groupMembersScope,
  pendingActionsScope,
  userGroupsScope,
} from "./scim-filter-tables.ts";

/** What a filter is compiled against: the resource schema, its table and the table's alias. */
export interface FilterTarget {
  schema: ResourceSchema;
  table: "users" | "groups";
  alias: string;
}

/** SQL text with `?` placeholders and the values bound to them, in order. */
export interface SqlFragment {
  sql: string;
  bindings: unknown[];
}

/** Where a single value lives, which decides how it is compared. */
export type OperandStorage =
  | { kind: "text"; sql: string }
  | { kind: "uuid"; sql: string }
  | { kind: "boolean"; sql: string }
  | { kind: "timestamptz"; sql: string }
  /** A value inside `resource`: `jsonb` is the `->` form, `text` the `->>` form. */
  | { kind: "json"; jsonb: string; text: string }
  | { kind: "constant"; value: string };

/** One comparable value: its storage and the schema definition deciding type and case rules. */
export interface ScalarOperand {
  label: string;
  definition: AttributeDefinition;
  storage: OperandStorage;
}

/** Elements of a multi-valued attribute (or the one object of a complex one) a condition runs on. */
export interface ElementScope {
  label: string;
  definition: AttributeDefinition;
  /** Operand for a sub-attribute of the current element; undefined for scalar-valued arrays. */
  operandOf(sub: AttributeDefinition | undefined): ScalarOperand;
  /** "Some element satisfies the condition"; without one, "there is an element". */
  wrap(condition: SqlFragment | undefined): SqlFragment;
  /** Lower-cased, newline-joined copy of the values the trigram index covers (users' emails). */
  searchColumn?: string;
}

/** A filter attribute path resolved against the target's storage. */
export type FilterAttribute =
  | { kind: "scalar"; operand: ScalarOperand }
  | {
      kind: "complex";
      label: string;
      definition: AttributeDefinition;
      jsonb: string | undefined;
    }
  | {
      kind: "collection";
      label: string;
      definition: AttributeDefinition;
      sub: AttributeDefinition | undefined;
      open: (nextAlias: () => string) => ElementScope;
      /** The jsonb array, when the values live in `resource` (not in group_members). */
      jsonb?: string;
    }
  | { kind: "schemas" };

type ColumnStorage = Exclude<
  OperandStorage,
  { kind: "json" } | { kind: "constant" }
>;

const COLUMNS: Record<
  FilterTarget["table"],
  Record<string, [ColumnStorage["kind"], string]>
> = {
  users: {
    id: ["uuid", "id"],
    userName: ["text", "user_name"],
    externalId: ["text", "external_id"],
    displayName: ["text", "display_name"],
    active: ["boolean", "active"],
    "meta.created": ["timestamptz", "created_at"],
    "meta.lastModified": ["timestamptz", "updated_at"],
  },
  groups: {
    id: ["uuid", "id"],
    displayName: ["text", "display_name"],
    externalId: ["text", "external_id"],
    "meta.created": ["timestamptz", "created_at"],
    "meta.lastModified": ["timestamptz", "updated_at"],
  },
};

/** Throws the catalogue's invalid-filter error with a detail naming the attribute. */
export function invalidFilter(detail: string): never {
  throw new AppError("scim.invalid_filter", detail);
}

/** A SQL string literal for a trusted name from the schema (attribute names, URNs). */
export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function jsonChild(
  parent: string,
  key: string,
): { jsonb: string; text: string } {
  return {
    jsonb: `(${parent}->${sqlLiteral(key)})`,
    text: `(${parent}->>${sqlLiteral(key)})`,
  };
}

function refuseNever(definition: AttributeDefinition, label: string): void {
  // RFC 7643 §7: attributes returned "never" (password) must not be observable, not even by filtering.
  if (definition.returned === "never")
    invalidFilter(`Filtering on "${label}" is not allowed`);
}

/** Finds a sub-attribute by name (case-insensitive, RFC 7643 §2.1), refusing unknown ones. */
export function findSubAttribute(
  parent: AttributeDefinition,
  parentLabel: string,
  name: string,
): AttributeDefinition {
  const lower = name.toLowerCase();
  const sub = parent.subAttributes?.find((s) => s.name.toLowerCase() === lower);
  if (!sub) {
    invalidFilter(`"${parentLabel}" has no sub-attribute "${name}"`);
  }
  refuseNever(sub, `${parentLabel}.${sub.name}`);
  return sub;
}

/** Resolves a filter path to where its value is stored; unknown or hidden attributes are refused. */
export function resolveFilterAttribute(
  target: FilterTarget,
  path: string,
): FilterAttribute {
  const { schema, table, alias } = target;
  if (path.toLowerCase() === "schemas") return { kind: "schemas" };
  const resolved = resolveAttributePath(schema, path);
  if (!resolved) {
    invalidFilter(
      `Unknown attribute "${path}" for ${schema.resourceType} resources`,
    );
  }
  const { attribute, subAttribute, canonicalPath } = resolved;
  const label = resolved.inExtension
    ? `${resolved.schemaId}:${canonicalPath}`
    : canonicalPath;
  refuseNever(attribute, label);
  if (subAttribute) refuseNever(subAttribute, label);

  if (!resolved.inExtension) {
    const column = COLUMNS[table][canonicalPath];
    if (column) {
      const [kind, name] = column;
      const definition = subAttribute ?? attribute;
      return {
        kind: "scalar",
        operand: {
          label,
          definition,
          storage: { kind, sql: `${alias}.${name}` },
        },
      };
    }
    if (attribute.name === "meta") {
      if (!subAttribute)
        return {
          kind: "complex",
          label,
          definition: attribute,
          jsonb: undefined,
        };
      if (subAttribute.name === "resourceType") {
        const storage = {
          kind: "constant",
          value: schema.resourceType,
        } as const;
        return {
          kind: "scalar",
          operand: { label, definition: subAttribute, storage },
        };
      }
      invalidFilter(`"${label}" cannot be used in filters`);
    }
    if (table === "users" && attribute.name === "groups") {
      return collection(label, attribute, subAttribute, (next) =>
        userGroupsScope(target, attribute, next),
      );
    }
    if (table === "groups" && attribute.name === "members") {
      return collection(label, attribute, subAttribute, (next) =>
        groupMembersScope(target, attribute, next),
      );
    }
  }

  if (table === "users" && resolved.schemaId === APPS_EXTENSION_URN) {
    // Read-only extension: its values live in app_states and actions, not in `resource`.
    const scope =
      attribute.name === "apps" ? appStatesScope : pendingActionsScope;
    return collection(label, attribute, subAttribute, (next) =>
      scope(target, label, attribute, next),
    );
  }

  const parent = resolved.inExtension
    ? `${alias}.resource->${sqlLiteral(resolved.schemaId)}`
    : `${alias}.resource`;
  const own = jsonChild(parent, attribute.name);
  if (attribute.multiValued) {
    const searchColumn =
      table === "users" && !resolved.inExtension && attribute.name === "emails"
        ? `${alias}.emails_search`
        : undefined;
    return {
      ...collection(label, attribute, subAttribute, (next) =>
        jsonArrayScope(label, attribute, own.jsonb, next(), searchColumn),
      ),
      jsonb: own.jsonb,
    };
  }
  if (attribute.type !== "complex") {
    return {
      kind: "scalar",
      operand: {
        label,
        definition: attribute,
        storage: { kind: "json", ...own },
      },
    };
  }
  if (!subAttribute)
    return { kind: "complex", label, definition: attribute, jsonb: own.jsonb };
  const storage = {
    kind: "json",
    ...jsonChild(own.jsonb, subAttribute.name),
  } as const;
  return {
    kind: "scalar",
    operand: { label, definition: subAttribute, storage },
  };
}

function collection(
  label: string,
  definition: AttributeDefinition,
  sub: AttributeDefinition | undefined,
  open: (nextAlias: () => string) => ElementScope,
): Extract<FilterAttribute, { kind: "collection" }> {
  return { kind: "collection", label, definition, sub, open };
}

/** The one object of a single-valued complex attribute, for `name[givenName eq "x"]`. */
export function objectScope(
  label: string,
  definition: AttributeDefinition,
  jsonb: string,
): ElementScope {
  return {
    label,
    definition,
    operandOf: (sub) => {
      if (!sub)
        invalidFilter(`"${label}" is complex; name one of its sub-attributes`);
      const storage = { kind: "json", ...jsonChild(jsonb, sub.name) } as const;
      return { label: `${label}.${sub.name}`, definition: sub, storage };
    },
    wrap: (condition) =>
      condition ?? { sql: presentObjectSql(jsonb), bindings: [] },
  };
}

/** SQL true when a jsonb expression holds a non-empty object. */
export function presentObjectSql(jsonb: string): string {
  return `(jsonb_typeof(${jsonb}) = 'object' AND ${jsonb} <> '{}'::jsonb)`;
}

/** A non-array value yields no elements instead of a "cannot extract elements" error. */
export function jsonArraySource(jsonb: string): string {
  return `jsonb_array_elements(CASE WHEN jsonb_typeof(${jsonb}) = 'array' THEN ${jsonb} ELSE '[]'::jsonb END)`;
}

function jsonArrayScope(
  label: string,
  definition: AttributeDefinition,
  jsonb: string,
  element: string,
  searchColumn: string | undefined,
): ElementScope {
  const value = `${element}.v`;
  const scope: ElementScope = {
    label,
    definition,
    operandOf: (sub) => {
      if (!sub) {
        if (definition.type === "complex") {
          invalidFilter(
            `"${label}" is complex; name one of its sub-attributes`,
          );
        }
        const storage = {
          kind: "json",
          jsonb: value,
          text: `(${value} #>> '{}')`,
        } as const;
        return { label, definition, storage };
      }
      const storage = { kind: "json", ...jsonChild(value, sub.name) } as const;
      return { label: `${label}.${sub.name}`, definition: sub, storage };
    },
    wrap: (condition) => ({
      sql:
        `EXISTS (SELECT 1 FROM ${jsonArraySource(jsonb)} AS ${element}(v)` +
        (condition ? ` WHERE ${condition.sql})` : ")"),
      bindings: condition?.bindings ?? [],
    }),
  };
  if (searchColumn) scope.searchColumn = searchColumn;
  return scope;
}
