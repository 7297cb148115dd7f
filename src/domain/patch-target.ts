import type { FilterNode } from "./scim-filter-ast.ts";
import type { AttributeDefinition } from "./scim-schema.ts";

/** The PATCH operation names of RFC 7644 §3.5.2, lower-cased. */
export type PatchOperationName = "add" | "replace" | "remove";

/** Where one PATCH operation points, resolved against the resource schema. */
export interface PatchTarget {
  /** URN of the schema holding the attribute; extension attributes live under this key. */
  schemaId: string;
  inExtension: boolean;
  attribute: AttributeDefinition;
  /** From `name.givenName`, or after a filter as in `emails[type eq "work"].value`. */
  subAttribute?: AttributeDefinition;
  /** Selects elements of a multi-valued attribute. */
  valueFilter?: FilterNode;
  /** The path as the client wrote it, for messages. */
  path: string;
}
