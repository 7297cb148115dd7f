import type {
  CompareOperator,
  FilterNode,
  FilterValue,
} from "../domain/scim-filter-ast.ts";
import { APPS_EXTENSION_URN } from "../domain/apps-extension.ts";
import type { AttributeDefinition } from "../domain/scim-schema.ts";
import { AppError, isAppError } from "../errors.ts";
import {
  findSubAttribute,
  invalidFilter,
  jsonArraySource,
  objectScope,
  presentObjectSql,
  resolveFilterAttribute,
  sqlLiteral,
  type ElementScope,
  type FilterTarget,
  type SqlFragment,
} from "./scim-filter-attributes.ts";
import {
  compareOperand,
  escapeLike,
  presentOperand,
  sortExpression,
  sql,
} from "./scim-filter-operands.ts";

export type { FilterTarget, SqlFragment } from "./scim-filter-attributes.ts";

interface CompileContext {
  target: FilterTarget;
  nextAlias: () => string;
}

const SEARCHABLE = new Set<CompareOperator>(["eq", "co", "sw", "ew"]);

/** Compiles a filter AST into a SQL boolean expression over `target`, values only as bindings. */
export function compileFilter(
  node: FilterNode,
  target: FilterTarget,
): SqlFragment {
  let aliases = 0;
  const context: CompileContext = {
    target,
    nextAlias: () => `${target.alias}_${(aliases += 1)}`,
  };
  return compileNode(node, context, undefined);
}

function compileNode(
  node: FilterNode,
  ctx: CompileContext,
  scope: ElementScope | undefined,
): SqlFragment {
  switch (node.kind) {
    case "and":
    case "or":
      return join(
        node.terms.map((term) => compileNode(term, ctx, scope)),
        node.kind === "and" ? " AND " : " OR ",
      );
    case "not":
      return negate(compileNode(node.term, ctx, scope));
    case "valuePath":
      if (scope)
        invalidFilter(
          `"${node.path}[…]" cannot be nested inside "${scope.label}[…]"`,
        );
      return compileValuePath(node.path, node.filter, ctx);
    case "present":
    case "compare":
      return scope
        ? compileInScope(node, scope)
        : compileAttributeTerm(node, ctx);
  }
}

/** `attr[filter]`: every condition in the brackets applies to the same element. */
function compileValuePath(
  path: string,
  filter: FilterNode,
  ctx: CompileContext,
): SqlFragment {
  const attribute = resolveFilterAttribute(ctx.target, path);
  if (attribute.kind === "complex" && attribute.jsonb) {
    const scope = objectScope(
      attribute.label,
      attribute.definition,
      attribute.jsonb,
    );
    return scope.wrap(compileNode(filter, ctx, scope));
  }
  if (attribute.kind !== "collection" || attribute.sub) {
    invalidFilter(
      `"${path}[…]" needs a multi-valued or complex attribute before the brackets`,
    );
  }
  const scope = attribute.open(ctx.nextAlias);
  const exists = scope.wrap(compileNode(filter, ctx, scope));
  const conjuncts = filter.kind === "and" ? filter.terms : [filter];
  const prefilters = conjuncts.flatMap((term) =>
    term.kind === "compare" && term.path.toLowerCase() === "value"
      ? searchPrefilter(scope, term.op, term.value)
      : [],
  );
  return prefilters.length > 0
    ? join([...prefilters, exists], " AND ")
    : exists;
}

function compileInScope(
  node: Extract<FilterNode, { kind: "compare" | "present" }>,
  scope: ElementScope,
): SqlFragment {
  let sub: AttributeDefinition | undefined;
  if (scope.definition.type === "complex") {
    sub = findSubAttribute(scope.definition, scope.label, node.path);
  } else if (node.path.toLowerCase() !== "value") {
    invalidFilter(
      `Inside "${scope.label}[…]" the element is called "value", not "${node.path}"`,
    );
  }
  const operand = scope.operandOf(sub);
  return node.kind === "present"
    ? presentOperand(operand)
    : compareOperand(operand, node.op, node.value);
}

function compileAttributeTerm(
  node: Extract<FilterNode, { kind: "compare" | "present" }>,
  ctx: CompileContext,
): SqlFragment {
  const attribute = resolveFilterAttribute(ctx.target, node.path);
  switch (attribute.kind) {
    case "schemas":
      return compileSchemas(node, ctx);
    case "scalar":
      return node.kind === "present"
        ? presentOperand(attribute.operand)
        : compareOperand(attribute.operand, node.op, node.value);
    case "complex":
      if (node.kind === "present") {
        // meta is always there; it is not stored in `resource`.
        return sql(
          attribute.jsonb ? presentObjectSql(attribute.jsonb) : "true",
        );
      }
      return invalidFilter(
        `"${attribute.label}" is complex; compare one of its sub-attributes (${subNames(attribute.definition)})`,
      );
    case "collection": {
      if (node.kind === "present" && !attribute.sub)
        return attribute.open(ctx.nextAlias).wrap(undefined);
      // RFC 7644 §3.4.2.2: a multi-valued attribute compared directly means its `value` sub-attribute.
      let sub = attribute.sub;
      if (!sub && attribute.definition.type === "complex") {
        sub = attribute.definition.subAttributes?.find(
          (s) => s.name === "value",
        );
        if (!sub) {
          invalidFilter(
            `"${attribute.label}" has no "value"; compare one of its sub-attributes (${subNames(attribute.definition)})`,
          );
        }
      }
      if (node.kind === "compare" && node.op === "ne") {
        // "no element equals x", so users without the attribute match `ne` too.
        return negate(
          compileCollectionTerm(attribute.open(ctx.nextAlias), sub, {
            ...node,
            op: "eq",
          }),
        );
      }
      return compileCollectionTerm(attribute.open(ctx.nextAlias), sub, node);
    }
  }
}

function compileCollectionTerm(
  scope: ElementScope,
  sub: AttributeDefinition | undefined,
  node: Extract<FilterNode, { kind: "compare" | "present" }>,
): SqlFragment {
  const operand = scope.operandOf(sub);
  if (node.kind === "present") return scope.wrap(presentOperand(operand));
  const exists = scope.wrap(compareOperand(operand, node.op, node.value));
  const prefilter =
    sub?.name === "value" ? searchPrefilter(scope, node.op, node.value) : [];
  return prefilter.length > 0 ? join([...prefilter, exists], " AND ") : exists;
}

/**
 * A necessary condition the trigram index on `emails_search` can serve; the exact per-element check
 * that follows keeps the meaning. Lower-cased like the writer (users-store) lower-cases the column.
 */
function searchPrefilter(
  scope: ElementScope,
  op: CompareOperator,
  value: FilterValue,
): SqlFragment[] {
  if (!scope.searchColumn || !SEARCHABLE.has(op) || typeof value !== "string")
    return [];
  const pattern = `%${escapeLike(value.toLowerCase())}%`;
  return [
    { sql: `${scope.searchColumn} LIKE ? ESCAPE '\\'`, bindings: [pattern] },
  ];
}

/** `schemas` is not stored: the core schema always applies, an extension when its key is present. */
function compileSchemas(
  node: Extract<FilterNode, { kind: "compare" | "present" }>,
  ctx: CompileContext,
): SqlFragment {
  const { target } = ctx;
  if (node.kind === "present") return sql("true");
  if (
    (node.op !== "eq" && node.op !== "ne") ||
    typeof node.value !== "string"
  ) {
    return invalidFilter(
      `"schemas" can only be compared with eq or ne and a schema URN`,
    );
  }
  const urn = node.value.toLowerCase();
  const { schema, alias } = target;
  const extension = schema.extensions.find((e) => e.id.toLowerCase() === urn);
  let matches = sql("false");
  if (schema.core.id.toLowerCase() === urn) matches = sql("true");
  else if (extension?.id === APPS_EXTENSION_URN && target.table === "users") {
    // Read-only, from app_states and actions: shown when either has a row (as formatUser does).
    matches = join(
      extension.attributes.map((a) =>
        compileAttributeTerm(
          { kind: "present", path: `${extension.id}:${a.name}` },
          ctx,
        ),
      ),
      " OR ",
    );
  } else if (extension) {
    matches = sql(
      `jsonb_typeof(${alias}.resource->${sqlLiteral(extension.id)}) = 'object'`,
    );
  }
  return node.op === "eq" ? matches : negate(matches);
}

/** SQL expression to ORDER BY for a sortBy path (RFC 7644 §3.4.2.3); case-insensitive text by lower(). */
export function compileSortBy(path: string, target: FilterTarget): string {
  try {
    const attribute = resolveFilterAttribute(target, path);
    if (attribute.kind === "scalar") return sortExpression(attribute.operand);
    if (attribute.kind === "collection" && attribute.jsonb) {
      // Multi-valued: sort by the primary element's value, else the first one's (RFC 7644 §3.4.2.3).
      const sub =
        attribute.sub ??
        (attribute.definition.type === "complex"
          ? attribute.definition.subAttributes?.find((s) => s.name === "value")
          : undefined);
      if (attribute.definition.type !== "complex" || sub) {
        const element = `${target.alias}_sort`;
        const expression = sortExpression(
          attribute.open(() => element).operandOf(sub),
        );
        return (
          `(SELECT ${expression} FROM ${jsonArraySource(attribute.jsonb)} WITH ORDINALITY AS ${element}(v, n) ` +
          `ORDER BY coalesce((${element}.v->'primary') = 'true'::jsonb, false) DESC, ${element}.n LIMIT 1)`
        );
      }
    }
    if (attribute.kind === "collection") {
      // groups, members and the apps extension are rows of other tables: many per resource.
      return invalidFilter(
        `"${path}" cannot be used to sort: a resource has several, read from another table; filter on it instead`,
      );
    }
    return invalidFilter(`"${path}" cannot be used to sort`);
  } catch (error) {
    // A bad sortBy is a bad parameter value, not a bad filter.
    if (isAppError(error, "scim.invalid_filter"))
      throw new AppError("scim.invalid_value", `sortBy: ${error.message}`);
    throw error;
  }
}

function join(parts: SqlFragment[], separator: string): SqlFragment {
  if (parts.length === 1) return parts[0]!;
  return {
    sql: parts.map((p) => `(${p.sql})`).join(separator),
    bindings: parts.flatMap((p) => p.bindings),
  };
}

/** `not (x)` is true when x is false or unknown (NULL), as a reader of the filter expects. */
function negate(inner: SqlFragment): SqlFragment {
  return {
    sql: `NOT coalesce((${inner.sql}), false)`,
    bindings: inner.bindings,
  };
}

function subNames(definition: AttributeDefinition): string {
  return (definition.subAttributes ?? []).map((s) => s.name).join(", ");
}
