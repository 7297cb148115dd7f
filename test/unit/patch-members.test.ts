import assert from "node:assert/strict";
import { applyPatch } from "../../src/domain/patch-resource.ts";
import type { MemberChanges } from "../../src/domain/stored-resource.ts";
import {
  assertScimError,
  patchBody,
  SCHEMAS,
} from "../support/scim-domain-fixtures.ts";

const GROUP = { displayName: "Sales" };
const patchGroup = (...operations: unknown[]) =>
  applyPatch(SCHEMAS.group, GROUP, patchBody(...operations));

// [outcome, operations, member changes they must compose to]
const CASES: [string, unknown[], MemberChanges][] = [
  [
    "adds members, ignoring display and $ref (Okta group push)",
    [
      {
        op: "add",
        path: "members",
        value: [{ value: "u-1", display: "Ann", $ref: "../Users/u-1" }],
      },
    ],
    { add: [{ value: "u-1" }], remove: [] },
  ],
  [
    "adds a member once when it is added twice",
    [
      {
        op: "add",
        path: "members",
        value: [{ value: "u-1" }, { value: "u-1" }],
      },
      { op: "Add", path: "members", value: [{ value: "u-1", type: "User" }] },
    ],
    { add: [{ value: "u-1" }], remove: [] },
  ],
  [
    'removes the member members[value eq "id"] names (Okta)',
    [{ op: "remove", path: 'members[value eq "u-1"]' }],
    { add: [], remove: ["u-1"] },
  ],
  [
    "removes every member an or of value filters names",
    [{ op: "remove", path: 'members[value eq "u-1" or value eq "u-2"]' }],
    { add: [], remove: ["u-1", "u-2"] },
  ],
  [
    "removes the members a value array names (Entra)",
    [
      {
        op: "Remove",
        path: "members",
        value: [{ value: "u-1" }, { value: "u-2" }],
      },
    ],
    { add: [], remove: ["u-1", "u-2"] },
  ],
  [
    "removes every member when remove names none",
    [{ op: "remove", path: "members" }],
    { replaceAll: [], add: [], remove: [] },
  ],
  [
    "replaces every member (Okta)",
    [
      {
        op: "replace",
        path: "members",
        value: [{ value: "u-1" }, { value: "g-1", type: "Group" }],
      },
    ],
    {
      replaceAll: [{ value: "u-1" }, { value: "g-1", type: "Group" }],
      add: [],
      remove: [],
    },
  ],
  [
    "replaces every member given in a pathless replace",
    [{ op: "replace", value: { members: [{ value: "u-1" }] } }],
    { replaceAll: [{ value: "u-1" }], add: [], remove: [] },
  ],
  [
    "adds the members given in a pathless add",
    [{ op: "add", value: { members: [{ value: "u-1" }] } }],
    { add: [{ value: "u-1" }], remove: [] },
  ],
  [
    "nets out an add and a remove of the same member in one request",
    [
      {
        op: "add",
        path: "members",
        value: [{ value: "u-1" }, { value: "u-2" }],
      },
      { op: "remove", path: 'members[value eq "u-1"]' },
    ],
    { add: [{ value: "u-2" }], remove: ["u-1"] },
  ],
  [
    "re-adds a member removed earlier in the request",
    [
      { op: "remove", path: 'members[value eq "u-1"]' },
      { op: "add", path: "members", value: { value: "u-1" } },
    ],
    { add: [{ value: "u-1" }], remove: [] },
  ],
  [
    "folds adds and removes after a replace into the replacement",
    [
      {
        op: "replace",
        path: "members",
        value: [{ value: "u-1" }, { value: "u-2" }],
      },
      {
        op: "add",
        path: "members",
        value: [{ value: "u-3" }, { value: "u-1" }],
      },
      { op: "remove", path: 'members[value eq "u-2"]' },
    ],
    { replaceAll: [{ value: "u-1" }, { value: "u-3" }], add: [], remove: [] },
  ],
  [
    "adds members given as bare ids (Microsoft's test collection)",
    [{ op: "add", path: "members", value: "string id 1" }],
    { add: [{ value: "string id 1" }], remove: [] },
  ],
];

describe("applyPatch on a Group", () => {
  for (const [outcome, operations, memberChanges] of CASES) {
    it(outcome, () => {
      assert.deepEqual(patchGroup(...operations), {
        resource: GROUP,
        memberChanges,
        changed: true,
      });
    });
  }

  it("renames the group without touching members", () => {
    assert.deepEqual(
      patchGroup({ op: "replace", path: "displayName", value: "Marketing" }),
      {
        resource: { displayName: "Marketing" },
        changed: true,
      },
    );
  });

  it("ignores the id Okta echoes in a pathless displayName replace", () => {
    const result = patchGroup({
      op: "replace",
      value: { id: "g-9", displayName: "Marketing" },
    });
    assert.deepEqual(result, {
      resource: { displayName: "Marketing" },
      changed: true,
    });
  });

  it("reports no change when Okta re-sends the same displayName", () => {
    const result = patchGroup({
      op: "replace",
      value: { id: "g-9", displayName: "Sales" },
    });
    assert.deepEqual(result, { resource: GROUP, changed: false });
  });

  it("reports no change when an add names no members", () => {
    assert.deepEqual(patchGroup({ op: "add", path: "members", value: [] }), {
      resource: GROUP,
      changed: false,
    });
  });

  // [outcome, operation, error kind, pattern the message matches]
  const errors: [
    string,
    unknown,
    "invalid_filter" | "invalid_path" | "invalid_value",
    string,
  ][] = [
    [
      "rejects a members filter on anything but value eq",
      { op: "remove", path: 'members[display eq "Ann"]' },
      "invalid_filter",
      'members\\[value eq "id"\\]',
    ],
    [
      "rejects a members filter joined with and",
      { op: "remove", path: 'members[value eq "u-1" and type eq "User"]' },
      "invalid_filter",
      "by id",
    ],
    [
      "rejects a members filter with another operator",
      { op: "remove", path: 'members[value sw "u-"]' },
      "invalid_filter",
      "by id",
    ],
    [
      "rejects a members filter on add",
      { op: "add", path: 'members[value eq "u-1"]', value: { value: "u-1" } },
      "invalid_path",
      "only select members to remove",
    ],
    [
      "rejects a member sub-attribute path",
      { op: "replace", path: 'members[value eq "u-1"].display', value: "Ann" },
      "invalid_path",
      "sub-attributes",
    ],
    [
      "rejects a member without value",
      { op: "add", path: "members", value: [{ display: "Ann" }] },
      "invalid_value",
      "value is required",
    ],
    [
      "rejects removing displayName",
      { op: "remove", path: "displayName" },
      "invalid_value",
      "displayName is required",
    ],
    [
      "rejects a User attribute",
      { op: "replace", path: "userName", value: "x" },
      "invalid_path",
      "userName",
    ],
  ];
  for (const [outcome, operation, kind, message] of errors) {
    it(outcome, () =>
      assertScimError(() => patchGroup(operation), kind, message),
    );
  }
});
