import type {
  CompareOperator,
  FilterValue,
} from "../domain/scim-filter-ast.ts";
import type { AttributeType } from "../domain/scim-schema.ts";
import { AppError } from "../errors.ts";
import {
  invalidFilter,
  sqlLiteral,
  type ScalarOperand,
  type SqlFragment,
} from "./scim-filter-attributes.ts";

const COMPARISON_SQL = {
  eq: "=",
  gt: ">",
  ge: ">=",
  lt: "<",
  le: "<=",
} as const;
// RFC 7644 §3.4.2.2: ordering on booleans or binary is an invalidFilter; substring operators only make
// sense on text.
const ALLOWED: Record<
  Exclude<AttributeType, "complex">,
  ReadonlySet<CompareOperator>
> = {
  string: new Set(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
  reference: new Set(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
  binary: new Set(["eq", "ne", "co", "sw", "ew"]),
  boolean: new Set(["eq", "ne"]),
  dateTime: new Set(["eq", "ne", "gt", "ge", "lt", "le"]),
  decimal: new Set(["eq", "ne", "gt", "ge", "lt", "le"]),
  integer: new Set(["eq", "ne", "gt", "ge", "lt", "le"]),
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/;

/** `attribute op value` for one operand, type-checked against its schema definition. */
export function compareOperand(
  operand: ScalarOperand,
  op: CompareOperator,
  value: FilterValue,
): SqlFragment {
  const { label, definition, storage } = operand;
  if (value === null) {
    invalidFilter(
      `"${label} ${op} null" is not supported; use "${label} pr" or "not (${label} pr)"`,
    );
  }
  const type = definition.type;
  if (type === "complex")
    return invalidFilter(`"${label}" is complex; compare a sub-attribute`);
  if (!ALLOWED[type].has(op)) {
    invalidFilter(
      `Operator "${op}" cannot be used on "${label}" (a ${type} attribute); use ${[...ALLOWED[type]].join(", ")}`,
    );
  }
  if (type === "boolean") {
    const bool = toBoolean(value);
    if (bool === undefined)
      invalidFilter(
        `"${label}" is a boolean; compare it with true or false, not ${show(value)}`,
      );
    if (storage.kind === "boolean")
      return comparison(sql(storage.sql), op, "?", [bool]);
    if (storage.kind === "json")
      return comparison(sql(storage.jsonb), op, "?::jsonb", [String(bool)]);
  } else if (type === "dateTime") {
    if (typeof value !== "string" || !isDateTime(value)) {
      invalidFilter(
        `"${label}" is a dateTime; compare it with a date such as "2011-05-13T04:42:34Z", not ${show(value)}`,
      );
    }
    if (storage.kind === "timestamptz")
      return comparison(sql(storage.sql), op, "?::timestamptz", [value]);
    if (storage.kind === "json")
      return comparison(
        sql(`${storage.text}::timestamptz`),
        op,
        "?::timestamptz",
        [value],
      );
  } else if (type === "decimal" || type === "integer") {
    if (typeof value !== "number")
      invalidFilter(
        `"${label}" is a number; compare it with a number, not ${show(value)}`,
      );
    if (storage.kind === "json") {
      const number = `(CASE WHEN jsonb_typeof(${storage.jsonb}) = 'number' THEN ${storage.jsonb}::numeric END)`;
      return comparison(sql(number), op, "?::numeric", [value]);
    }
  } else {
    if (typeof value !== "string")
      invalidFilter(
        `"${label}" is a ${type}; compare it with a "quoted string", not ${show(value)}`,
      );
    if (storage.kind === "uuid" && (op === "eq" || op === "ne")) {
      // Cast the value, not the column, so the primary key serves `id eq`; a non-uuid matches nothing.
      if (!UUID.test(value)) return sql(op === "eq" ? "false" : "true");
      return comparison(sql(storage.sql), op, "?::uuid", [value]);
    }
    const text =
      storage.kind === "text"
        ? sql(storage.sql)
        : storage.kind === "json"
          ? sql(storage.text)
          : storage.kind === "uuid"
            ? sql(`${storage.sql}::text`)
            : storage.kind === "constant"
              ? { sql: "?::text", bindings: [storage.value] }
              : undefined;
    if (text) return compareText(text, definition.caseExact, op, value);
  }
  throw new AppError(
    "internal",
    `no comparison for ${label} stored as ${storage.kind}`,
  );
}

function compareText(
  text: SqlFragment,
  caseExact: boolean,
  op: CompareOperator,
  value: string,
): SqlFragment {
  // caseExact false (RFC 7643 §2.2): lower() on both sides, matching the lower(user_name) index.
  const fold = (expr: string): string => (caseExact ? expr : `lower(${expr})`);
  const left = { sql: fold(text.sql), bindings: text.bindings };
  const escaped = escapeLike(value);
  if (op === "co") return like(left, fold("?"), `%${escaped}%`);
  if (op === "sw") return like(left, fold("?"), `${escaped}%`);
  if (op === "ew") return like(left, fold("?"), `%${escaped}`);
  return comparison(left, op, fold("?"), [value]);
}

function like(left: SqlFragment, right: string, pattern: string): SqlFragment {
  return {
    sql: `${left.sql} LIKE ${right} ESCAPE '\\'`,
    bindings: [...left.bindings, pattern],
  };
}

/** `left op right`; `ne` is IS DISTINCT FROM so an absent attribute counts as "not equal". */
function comparison(
  left: SqlFragment,
  op: CompareOperator,
  right: string,
  bindings: unknown[],
): SqlFragment {
  const operator =
    op === "ne"
      ? "IS DISTINCT FROM"
      : COMPARISON_SQL[op as keyof typeof COMPARISON_SQL];
  if (!operator)
    throw new AppError("internal", `operator ${op} reached comparison()`);
  return {
    sql: `${left.sql} ${operator} ${right}`,
    bindings: [...left.bindings, ...bindings],
  };
}

/** `attribute pr`: not null and, for text, not empty. */
export function presentOperand(operand: ScalarOperand): SqlFragment {
  const { storage } = operand;
  switch (storage.kind) {
    case "constant":
      return sql("true");
    case "uuid":
    case "boolean":
    case "timestamptz":
      return sql(`${storage.sql} IS NOT NULL`);
    case "text":
      return sql(`(${storage.sql} IS NOT NULL AND ${storage.sql} <> '')`);
    case "json":
      return sql(`(${storage.text} IS NOT NULL AND ${storage.text} <> '')`);
  }
}

/** The ORDER BY expression for one operand; case-insensitive text sorts by lower(). */
export function sortExpression(operand: ScalarOperand): string {
  const { storage, definition } = operand;
  const fold = (expr: string): string =>
    definition.caseExact ? expr : `lower(${expr})`;
  switch (storage.kind) {
    case "constant":
      return `${sqlLiteral(storage.value)}::text`;
    case "uuid":
    case "boolean":
    case "timestamptz":
      return storage.sql;
    case "text":
      return fold(storage.sql);
    case "json":
      if (definition.type === "boolean") return storage.jsonb;
      if (definition.type === "decimal" || definition.type === "integer") {
        return `(CASE WHEN jsonb_typeof(${storage.jsonb}) = 'number' THEN ${storage.jsonb}::numeric END)`;
      }
      // dateTime values are stored as ISO 8601 text, which sorts chronologically.
      return definition.type === "dateTime" ? storage.text : fold(storage.text);
  }
}

/** A fragment without bindings. */
export function sql(text: string): SqlFragment {
  return { sql: text, bindings: [] };
}

/** Escapes LIKE wildcards so `co "%"` matches a literal percent sign. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** Booleans, plus the "True"/"False" strings Entra ID sends. */
function toBoolean(value: FilterValue): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && /^(true|false)$/i.test(value))
    return value.toLowerCase() === "true";
  return undefined;
}

/** An xsd:dateTime PostgreSQL will accept: checked here so a bad date is a 400, not a cast error. */
function isDateTime(value: string): boolean {
  const match = DATE_TIME.exec(value);
  if (!match) return false;
  const [, year, month, day, hour, minute, second, offsetHours, offsetMinutes] =
    match;
  const y = Number(year);
  const m = Number(month);
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return (
    y >= 1 &&
    m >= 1 &&
    m <= 12 &&
    Number(day) >= 1 &&
    Number(day) <= daysInMonth &&
    Number(hour ?? 0) <= 23 &&
    Number(minute ?? 0) <= 59 &&
    Number(second ?? 0) <= 59 &&
    Number(offsetHours ?? 0) <= 14 &&
    Number(offsetMinutes ?? 0) <= 59
  );
}

function show(value: FilterValue): string {
  return JSON.stringify(value);
}
