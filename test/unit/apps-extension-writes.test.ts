import assert from "node:assert/strict";
import { APPS_EXTENSION_URN as APPS } from "../../src/domain/apps-extension.ts";
import { coerceResource } from "../../src/domain/coerce-resource.ts";
import { applyPatch } from "../../src/domain/patch-resource.ts";
import {
  findExtension,
  isReadOnlyExtension,
} from "../../src/domain/scim-schema.ts";
import {
  assertScimError,
  ENTERPRISE,
  patchBody as patch,
  SCHEMAS,
  USER_FIXTURE,
} from "../support/scim-domain-fixtures.ts";

const CLIENT_VALUE = {
  apps: [{ app: "backup", state: "provisioned" }],
  pendingActions: [{ app: "backup", action: "remove" }],
};

describe("the read-only apps extension in writes", () => {
  it("is an extension of User whose every attribute is readOnly", () => {
    const extension = findExtension(SCHEMAS.user, APPS);
    assert.ok(extension);
    assert.equal(isReadOnlyExtension(extension), true);
    assert.equal(
      isReadOnlyExtension(findExtension(SCHEMAS.user, ENTERPRISE)!),
      false,
    );
  });

  for (const [label, value] of [
    ["an object", CLIENT_VALUE],
    ["a string", "archived"],
    ["an array", [CLIENT_VALUE]],
  ] as const) {
    it(`drops the extension from a POST or PUT body when it is ${label}`, () => {
      for (const mode of ["create", "replace"] as const) {
        const { resource } = coerceResource(
          SCHEMAS.user,
          { userName: "ann", [APPS]: value, [`${APPS}:apps`]: value },
          mode,
        );
        assert.deepEqual(resource, { userName: "ann", active: true });
      }
    });
  }

  const refused: [string, unknown][] = [
    ["replace of apps", { op: "replace", path: `${APPS}:apps`, value: [] }],
    [
      "add to pendingActions",
      { op: "add", path: `${APPS}:pendingActions`, value: [] },
    ],
    ["remove of apps", { op: "remove", path: `${APPS}:apps` }],
    [
      "replace of a filtered sub-attribute",
      {
        op: "replace",
        path: `${APPS}:apps[app eq "backup"].state`,
        value: "x",
      },
    ],
    [
      "add to the whole extension",
      { op: "add", path: APPS, value: CLIENT_VALUE },
    ],
    [
      "replace of the whole extension",
      { op: "Replace", path: APPS.toLowerCase(), value: {} },
    ],
    ["remove of the whole extension", { op: "remove", path: APPS }],
  ];
  for (const [label, operation] of refused) {
    it(`refuses a PATCH ${label} with mutability`, () => {
      assertScimError(
        () => applyPatch(SCHEMAS.user, USER_FIXTURE, patch(operation)),
        "mutability",
        "readOnly",
      );
    });
  }

  it("ignores the extension in a pathless PATCH value, like other readOnly attributes", () => {
    const result = applyPatch(
      SCHEMAS.user,
      USER_FIXTURE,
      patch({
        op: "replace",
        value: { title: "Boss", [APPS]: CLIENT_VALUE, [`${APPS}:apps`]: [] },
      }),
    );
    assert.deepEqual(result.resource, { ...USER_FIXTURE, title: "Boss" });
  });

  it("drops the extension from a stored resource a PATCH rewrites", () => {
    const result = applyPatch(
      SCHEMAS.user,
      { ...USER_FIXTURE, [APPS]: CLIENT_VALUE },
      patch({ op: "replace", path: "title", value: "Boss" }),
    );
    assert.equal(result.resource[APPS], undefined);
  });
});
