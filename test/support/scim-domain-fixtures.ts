import assert from "node:assert/strict";
import {
  ScimDomainError,
  type ScimDomainErrorKind,
} from "../../src/domain/scim-domain-error.ts";
import type { StoredResource } from "../../src/domain/stored-resource.ts";
import { buildResourceSchemas } from "../../src/scim/schemas.ts";

/** The real User (with the Enterprise extension) and Group schemas, as /Schemas publishes them. */
export const SCHEMAS = buildResourceSchemas();

/** URN of the Enterprise User extension. */
export const ENTERPRISE =
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/** URN a PatchOp message lists in `schemas`. */
export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/** A PatchOp message carrying the given operations. */
export function patchBody(...operations: unknown[]): unknown {
  return { schemas: [PATCH_OP], Operations: operations };
}

/** The work email of USER_FIXTURE. */
export const WORK_EMAIL = {
  value: "bjensen@example.com",
  type: "work",
  primary: true,
};

/** The name of USER_FIXTURE. */
export const USER_NAME = { givenName: "Barbara", familyName: "Jensen" };

/** The enterprise extension attributes of USER_FIXTURE. */
export const USER_ENTERPRISE = {
  department: "Sales",
  manager: { value: "m-1" },
};

/** A stored user with a complex name, one email and enterprise attributes. */
export const USER_FIXTURE: StoredResource = {
  userName: "bjensen",
  active: true,
  name: USER_NAME,
  emails: [WORK_EMAIL],
  [ENTERPRISE]: USER_ENTERPRISE,
};

/** Asserts that `fn` throws a ScimDomainError of `kind` whose message matches `message`. */
export function assertScimError(
  fn: () => unknown,
  kind: ScimDomainErrorKind,
  message?: string,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(
      error instanceof ScimDomainError,
      `expected a ScimDomainError, got ${String(error)}`,
    );
    assert.equal(error.kind, kind, error.message);
    if (message !== undefined) assert.match(error.message, new RegExp(message));
    return true;
  });
}

/** One PATCH of USER_FIXTURE and the stored user it must yield. */
export interface UserPatchCase {
  it: string;
  operations: unknown[];
  expected: StoredResource;
}

/** Registers one test per case: the PATCH yields `expected`, reports a change, touches no members. */
export function itPatchesUser(
  cases: UserPatchCase[],
  apply: (
    current: StoredResource,
    body: unknown,
  ) => {
    resource: StoredResource;
    changed: boolean;
    memberChanges?: unknown;
  },
): void {
  for (const c of cases) {
    it(c.it, () => {
      const result = apply(USER_FIXTURE, patchBody(...c.operations));
      assert.deepEqual(result.resource, c.expected);
      assert.equal(result.changed, true);
      assert.equal(result.memberChanges, undefined);
    });
  }
}
