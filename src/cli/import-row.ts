import type { StoredResource } from "../domain/stored-resource.ts";
import { isPlainObject } from "../domain/plain-json.ts";
import { URN } from "../scim/schemas.ts";
import { UsageError } from "./exit-codes.ts";

/** The columns an import file may have; only `userName` is required. */
export const IMPORT_COLUMNS = [
  "userName",
  "externalId",
  "givenName",
  "familyName",
  "displayName",
  "email",
  "title",
  "department",
  "employeeNumber",
  "manager",
  "active",
] as const;

/** One known column of an import file. */
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** The header of an import file: which column each field holds. */
export interface ImportHeader {
  /** By field position: the column, or undefined for an ignored unknown column. */
  columns: (ImportColumn | undefined)[];
  present: ReadonlySet<ImportColumn>;
}

/** A row that passed the checks that need no database. */
export interface ImportRow {
  line: number;
  userName: string;
  /** Trimmed cells of the known columns present in the header ("" for an empty cell). */
  values: Partial<Record<ImportColumn, string>>;
  active?: boolean;
}

/** A row that cannot be imported, and why. */
export interface RowFailure {
  line: number;
  userName: string | null;
  reason: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, "");
}

const BY_NORMALISED_NAME = new Map<string, ImportColumn>(
  IMPORT_COLUMNS.map((c) => [normaliseName(c), c]),
);

/**
 * Reads the header row: names match case-insensitively, ignoring spaces, `-` and `_`. Unknown
 * columns are an error unless ignored (a typo such as `emial` must not silently drop a column).
 */
export function parseHeader(
  cells: string[],
  options: { ignoreUnknown: boolean },
): ImportHeader {
  const columns: (ImportColumn | undefined)[] = [];
  const present = new Set<ImportColumn>();
  const unknown: string[] = [];
  const duplicate: string[] = [];
  for (const cell of cells) {
    const column = BY_NORMALISED_NAME.get(normaliseName(cell));
    columns.push(column);
    // A nameless column (a trailing comma in spreadsheet exports) holds nothing to import.
    if (!column && cell.trim() !== "") unknown.push(cell);
    else if (column && present.has(column)) duplicate.push(cell);
    else if (column) present.add(column);
  }
  const problems: string[] = [];
  if (!present.has("userName")) problems.push("no userName column");
  if (duplicate.length > 0)
    problems.push(`column(s) given twice: ${duplicate.join(", ")}`);
  if (unknown.length > 0 && !options.ignoreUnknown) {
    problems.push(
      `unknown column(s) ${unknown.map((u) => JSON.stringify(u)).join(", ")} (--ignore-unknown-columns skips them)`,
    );
  }
  if (problems.length > 0) {
    throw new UsageError(
      `the header row is not usable: ${problems.join("; ")}. Columns: ${IMPORT_COLUMNS.join(", ")}`,
    );
  }
  return { columns, present };
}

/** Checks one record against the header: field count, userName, active, email. */
export function readRow(
  record: string[],
  line: number,
  header: ImportHeader,
): ImportRow | RowFailure {
  const values: Partial<Record<ImportColumn, string>> = {};
  header.columns.forEach((column, i) => {
    if (column) values[column] = (record[i] ?? "").trim();
  });
  const userName = values.userName ?? "";
  const fail = (reason: string): RowFailure => ({
    line,
    userName: userName || null,
    reason,
  });
  if (record.length !== header.columns.length) {
    return fail(
      `has ${record.length} field(s); the header has ${header.columns.length}`,
    );
  }
  if (userName === "") return fail("userName is empty");
  const row: ImportRow = { line, userName, values };
  const active = values.active;
  if (active !== undefined && active !== "") {
    const lower = active.toLowerCase();
    if (lower !== "true" && lower !== "false")
      return fail(`active must be true or false, not "${active}"`);
    row.active = lower === "true";
  }
  if (values.email && !EMAIL.test(values.email)) {
    return fail(`email "${values.email}" is not an e-mail address`);
  }
  return row;
}

/**
 * The SCIM user body a row asks for: the stored user it updates (or nothing, for a new user)
 * with the file's columns applied. Columns the file does not have are left as they are; an empty
 * cell removes the attribute (but an empty `active` keeps the current value). `email` is the
 * work e-mail: other e-mails are kept. A userName that differs only in case is kept as stored.
 */
export function applyRow(
  base: StoredResource | undefined,
  row: ImportRow,
  present: ReadonlySet<ImportColumn>,
  managerId: string | undefined,
): Record<string, unknown> {
  const user: Record<string, unknown> = base ? structuredClone(base) : {};
  const has = (c: ImportColumn) => present.has(c);
  const set = (target: Record<string, unknown>, key: string, value = "") => {
    if (value === "") delete target[key];
    else target[key] = value;
  };
  // userName matches ignoring case: a file that only writes it differently renames nobody.
  if (
    typeof user.userName !== "string" ||
    user.userName.toLowerCase() !== row.userName.toLowerCase()
  )
    user.userName = row.userName;
  for (const column of ["externalId", "displayName", "title"] as const) {
    if (has(column)) set(user, column, row.values[column]);
  }
  if (has("givenName") || has("familyName")) {
    const name = isPlainObject(user.name) ? { ...user.name } : {};
    if (has("givenName")) set(name, "givenName", row.values.givenName);
    if (has("familyName")) set(name, "familyName", row.values.familyName);
    if (Object.keys(name).length > 0) user.name = name;
    else delete user.name;
  }
  if (has("email")) applyWorkEmail(user, row.values.email ?? "");
  if (has("department") || has("employeeNumber") || has("manager")) {
    const existing = user[URN.enterpriseUser];
    const enterprise = isPlainObject(existing) ? { ...existing } : {};
    if (has("department")) set(enterprise, "department", row.values.department);
    if (has("employeeNumber"))
      set(enterprise, "employeeNumber", row.values.employeeNumber);
    if (has("manager")) {
      const current = isPlainObject(enterprise.manager)
        ? enterprise.manager
        : undefined;
      if (!managerId) delete enterprise.manager;
      // Keep what else the stored manager says (displayName) when it is the same person.
      else if (current?.value !== managerId)
        enterprise.manager = { value: managerId };
    }
    if (Object.keys(enterprise).length > 0)
      user[URN.enterpriseUser] = enterprise;
    else delete user[URN.enterpriseUser];
  }
  if (row.active !== undefined) user.active = row.active;
  return user;
}

function applyWorkEmail(user: Record<string, unknown>, email: string): void {
  const emails = Array.isArray(user.emails)
    ? (user.emails as unknown[]).filter(isPlainObject)
    : [];
  const index = emails.findIndex(
    (e) => typeof e.type === "string" && e.type.toLowerCase() === "work",
  );
  if (email === "") {
    if (index >= 0) emails.splice(index, 1);
  } else if (index >= 0) {
    if (emails[index]!.value !== email)
      emails[index] = { ...emails[index], value: email };
  } else {
    emails.push({
      value: email,
      type: "work",
      ...(emails.some((e) => e.primary === true) ? {} : { primary: true }),
    });
  }
  if (emails.length > 0) user.emails = emails;
  else delete user.emails;
}

/**
 * True when two stored resources hold the same attributes. Key order is ignored: PostgreSQL's
 * jsonb returns keys in its own order, so the stored user never lists them as the file does.
 */
export function sameResource(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}
