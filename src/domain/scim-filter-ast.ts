/** Comparison operators of RFC 7644 §3.4.2.2. */
export type CompareOperator =
  "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";

/** A literal in a filter: string, number, boolean or null. */
export type FilterValue = string | number | boolean | null;

/**
 * A parsed SCIM filter. Attribute paths are kept as written (`emails.value`,
 * `urn:…:enterprise:2.0:User:manager.value`); resolving them against a schema is the compiler's job.
 * Inside a `valuePath`, paths are relative to the multi-valued attribute (`type`, `value`).
 */
export type FilterNode =
  | { kind: "compare"; path: string; op: CompareOperator; value: FilterValue }
  | { kind: "present"; path: string }
  | { kind: "and"; terms: FilterNode[] }
  | { kind: "or"; terms: FilterNode[] }
  | { kind: "not"; term: FilterNode }
  | { kind: "valuePath"; path: string; filter: FilterNode };

/** A PATCH `path` (RFC 7644 §3.5.2): `attrPath`, `attrPath[valFilter]`, `attrPath[valFilter].sub`. */
export interface PatchPath {
  /** Attribute path, possibly URN-prefixed and dotted (`name.givenName`). */
  attribute: string;
  /** Filter selecting elements of a multi-valued attribute, paths relative to it. */
  valueFilter?: FilterNode;
  /** Sub-attribute after the filter (`emails[type eq "work"].value` → `value`). */
  subAttribute?: string;
}
