import { applyPatch } from "../../src/domain/patch-resource.ts";
import type { ScimDomainErrorKind } from "../../src/domain/scim-domain-error.ts";
import {
  assertScimError,
  PATCH_OP,
  patchBody as patch,
  SCHEMAS,
  USER_FIXTURE,
} from "../support/scim-domain-fixtures.ts";

// [outcome, body, error kind, pattern the message matches]
const CASES: [string, unknown, ScimDomainErrorKind, string][] = [
  ["rejects a body that is not an object", "x", "invalid_syntax", "PatchOp"],
  [
    "rejects a body without Operations",
    { schemas: [PATCH_OP] },
    "invalid_syntax",
    "Operations",
  ],
  ["rejects an empty Operations array", patch(), "invalid_syntax", "non-empty"],
  [
    "rejects schemas without the PatchOp URN",
    { schemas: ["urn:x"], Operations: [{ op: "add", value: {} }] },
    "invalid_syntax",
    "PatchOp",
  ],
  [
    "rejects an unknown op",
    patch({ op: "copy", path: "title", value: "x" }),
    "invalid_syntax",
    '"copy"',
  ],
  [
    "rejects an operation without op",
    patch({ path: "title", value: "x" }),
    "invalid_syntax",
    "op must be",
  ],
  [
    "rejects an operation that is not an object",
    patch("add"),
    "invalid_syntax",
    "object",
  ],
  [
    "rejects an add without value",
    patch({ op: "add", path: "title" }),
    "invalid_syntax",
    "add needs a value",
  ],
  [
    "rejects a remove without path",
    patch({ op: "remove" }),
    "no_target",
    "remove needs a path",
  ],
  [
    "rejects a path that is not a string",
    patch({ op: "remove", path: 3 }),
    "invalid_path",
    "string",
  ],
  [
    "rejects a path naming an unknown attribute",
    patch({ op: "replace", path: "shoeSize", value: "44" }),
    "invalid_path",
    "shoeSize",
  ],
  [
    "rejects an unknown sub-attribute after a filter",
    patch({ op: "replace", path: 'emails[type eq "work"].colour', value: "x" }),
    "invalid_path",
    "colour",
  ],
  [
    "rejects a malformed path",
    patch({ op: "replace", path: 'emails[type eq "work"', value: "x" }),
    "invalid_path",
    "not a valid path",
  ],
  [
    "rejects a filter on a single-valued attribute",
    patch({
      op: "replace",
      path: 'name[givenName eq "B"].familyName',
      value: "x",
    }),
    "invalid_path",
    "multi-valued",
  ],
  [
    "rejects a sub-attribute path on a multi-valued attribute without a filter",
    patch({ op: "add", path: "emails.value", value: "x" }),
    "invalid_path",
    "filter",
  ],
  [
    "rejects a filter naming an unknown sub-attribute",
    patch({ op: "remove", path: 'emails[colour eq "red"]' }),
    "invalid_filter",
    "colour",
  ],
  [
    "rejects an ordering comparison of a boolean",
    patch({ op: "remove", path: "emails[primary gt true]" }),
    "invalid_filter",
    "primary",
  ],
  [
    "rejects an unmatched filter that cannot describe a new element",
    patch({ op: "add", path: 'emails[value co "corp"].type', value: "work" }),
    "no_target",
    "No emails element",
  ],
  [
    "rejects a write to id",
    patch({ op: "replace", path: "id", value: "x" }),
    "mutability",
    "readOnly",
  ],
  [
    "rejects a write to meta.created",
    patch({
      op: "replace",
      path: "meta.created",
      value: "2020-01-01T00:00:00Z",
    }),
    "mutability",
    "readOnly",
  ],
  [
    "rejects a write to groups",
    patch({ op: "add", path: "groups", value: [{ value: "g" }] }),
    "mutability",
    "readOnly",
  ],
  [
    "rejects a boolean text other than true or false",
    patch({ op: "Replace", path: "active", value: "Yes" }),
    "invalid_value",
    "active must be a boolean",
  ],
  [
    "rejects a number for a string",
    patch({ op: "replace", path: "userName", value: 42 }),
    "invalid_value",
    "userName must be a string",
  ],
  [
    "rejects removing userName",
    patch({ op: "remove", path: "userName" }),
    "invalid_value",
    "userName is required",
  ],
  [
    "rejects two primary emails",
    patch({
      op: "replace",
      path: "emails",
      value: [
        { value: "a", primary: true },
        { value: "b", primary: true },
      ],
    }),
    "invalid_value",
    "more than one primary",
  ],
  [
    "rejects a pathless value that is not an object",
    patch({ op: "replace", value: "x" }),
    "invalid_value",
    "object of attributes",
  ],
  [
    "names the failing operation",
    patch(
      { op: "replace", path: "title", value: "ok" },
      { op: "replace", path: "nope", value: 1 },
    ),
    "invalid_path",
    "^Operations\\[1\\]",
  ],
];

describe("applyPatch errors", () => {
  for (const [outcome, body, kind, message] of CASES) {
    it(outcome, () =>
      assertScimError(
        () => applyPatch(SCHEMAS.user, USER_FIXTURE, body),
        kind,
        message,
      ),
    );
  }
});
