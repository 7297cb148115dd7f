import { AppError } from "../errors.ts";

/** Page size when the client gives no `count`. */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest page we return; advertised as filter.maxResults and pagination.maxPageSize. */
export const MAX_PAGE_SIZE = 1000;

/** A list or search request after validation (RFC 7644 §3.4.2, §3.4.3; RFC 9865 cursors). */
export interface ListRequest {
  filter?: string;
  sortBy?: string;
  descending: boolean;
  startIndex: number;
  count: number;
  attributes?: string;
  excludedAttributes?: string;
  /** Present (possibly empty for the first page) when the client asked for cursor paging. */
  cursor?: string;
}

function asString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) return value.join(",");
    throw new AppError("scim.invalid_value", `${name} must be a string`);
  }
  if (typeof value === "number" || typeof value === "boolean")
    return String(value);
  if (typeof value !== "string")
    throw new AppError("scim.invalid_value", `${name} must be a string`);
  return value;
}

function asInteger(value: unknown, name: string): number | undefined {
  const text = asString(value, name);
  if (text === undefined || text.trim() === "") return undefined;
  if (!/^-?\d+$/.test(text.trim())) {
    throw new AppError(
      "scim.invalid_value",
      `${name} must be an integer, got "${text}"`,
    );
  }
  return Number(text);
}

function pick(source: Record<string, unknown>, name: string): unknown {
  if (name in source) return source[name];
  const lower = name.toLowerCase();
  const key = Object.keys(source).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : source[key];
}

/** Reads list parameters from a query string or a SearchRequest body. */
export function parseListRequest(source: Record<string, unknown>): ListRequest {
  const startIndex = asInteger(pick(source, "startIndex"), "startIndex");
  const count = asInteger(pick(source, "count"), "count");
  const sortOrder = asString(pick(source, "sortOrder"), "sortOrder");
  if (sortOrder !== undefined && !/^(ascending|descending)$/i.test(sortOrder)) {
    throw new AppError(
      "scim.invalid_value",
      `sortOrder must be "ascending" or "descending"`,
    );
  }
  const cursor = asString(pick(source, "cursor"), "cursor");
  if (cursor !== undefined && startIndex !== undefined) {
    throw new AppError(
      "scim.invalid_value",
      "use either startIndex or cursor, not both",
    );
  }
  const request: ListRequest = {
    descending: sortOrder?.toLowerCase() === "descending",
    // RFC 7644 §3.4.2.4: values below 1 are treated as 1; a negative count as 0.
    startIndex: Math.max(1, startIndex ?? 1),
    count: Math.min(MAX_PAGE_SIZE, Math.max(0, count ?? DEFAULT_PAGE_SIZE)),
  };
  const filter = asString(pick(source, "filter"), "filter");
  if (filter !== undefined && filter.trim() !== "") request.filter = filter;
  const sortBy = asString(pick(source, "sortBy"), "sortBy");
  if (sortBy !== undefined && sortBy.trim() !== "")
    request.sortBy = sortBy.trim();
  const attributes = asString(pick(source, "attributes"), "attributes");
  if (attributes) request.attributes = attributes;
  const excluded = asString(
    pick(source, "excludedAttributes"),
    "excludedAttributes",
  );
  if (excluded) request.excludedAttributes = excluded;
  if (cursor !== undefined) request.cursor = cursor;
  return request;
}

/** Encodes a keyset position as an opaque cursor. */
export function encodeCursor(seq: string): string {
  return Buffer.from(JSON.stringify({ s: seq }), "utf8").toString("base64url");
}

/** Decodes a cursor; empty means the first page. RFC 9865 asks for 400 invalidCursor otherwise. */
export function decodeCursor(cursor: string): string | undefined {
  if (cursor === "") return undefined;
  try {
    const parsed = JSON.parse(
      Buffer.from(cursor, "base64url").toString("utf8"),
    ) as { s?: unknown };
    if (typeof parsed.s === "string" && /^\d+$/.test(parsed.s)) return parsed.s;
  } catch {
    // fall through to the error below
  }
  throw new AppError(
    "scim.invalid_cursor",
    "the cursor is not valid; start again without one",
  );
}
