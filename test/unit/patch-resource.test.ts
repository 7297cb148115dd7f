import assert from "node:assert/strict";
import { applyPatch } from "../../src/domain/patch-resource.ts";
import type { StoredResource } from "../../src/domain/stored-resource.ts";
import {
  ENTERPRISE,
  itPatchesUser,
  patchBody,
  SCHEMAS,
  USER_ENTERPRISE as EXTENSION,
  USER_FIXTURE as BASE,
  USER_NAME as NAME,
  WORK_EMAIL,
} from "../support/scim-domain-fixtures.ts";

const patchUser = (current: StoredResource, body: unknown) =>
  applyPatch(SCHEMAS.user, current, body);
const HOME_EMAIL = { value: "b@home.example", type: "home" };

describe("applyPatch on a User", () => {
  describe("RFC 7644 operations", () => {
    itPatchesUser(
      [
        {
          it: "adds a simple attribute",
          operations: [{ op: "add", path: "title", value: "Tour Guide" }],
          expected: { ...BASE, title: "Tour Guide" },
        },
        {
          it: "appends to a multi-valued attribute",
          operations: [{ op: "add", path: "emails", value: [HOME_EMAIL] }],
          expected: { ...BASE, emails: [WORK_EMAIL, HOME_EMAIL] },
        },
        {
          it: "demotes the old primary when an added value is primary",
          operations: [
            {
              op: "add",
              path: "emails",
              value: { ...HOME_EMAIL, primary: true },
            },
          ],
          expected: {
            ...BASE,
            emails: [
              { ...WORK_EMAIL, primary: false },
              { ...HOME_EMAIL, primary: true },
            ],
          },
        },
        {
          it: "demotes the old primary when a filter makes another value primary",
          operations: [
            { op: "add", path: "emails", value: [HOME_EMAIL] },
            {
              op: "replace",
              path: 'emails[type eq "home"].primary',
              value: true,
            },
          ],
          expected: {
            ...BASE,
            emails: [
              { ...WORK_EMAIL, primary: false },
              { ...HOME_EMAIL, primary: true },
            ],
          },
        },
        {
          it: "merges the sub-attributes of an added complex value",
          operations: [
            { op: "add", path: "name", value: { middleName: "Jane" } },
          ],
          expected: { ...BASE, name: { ...NAME, middleName: "Jane" } },
        },
        {
          it: "adds a sub-attribute by dotted path",
          operations: [
            { op: "add", path: "name.honorificPrefix", value: "Ms." },
          ],
          expected: { ...BASE, name: { ...NAME, honorificPrefix: "Ms." } },
        },
        {
          it: "replaces a simple attribute",
          operations: [{ op: "replace", path: "displayName", value: "Babs" }],
          expected: { ...BASE, displayName: "Babs" },
        },
        {
          it: "replaces a whole multi-valued attribute given a path",
          operations: [{ op: "replace", path: "emails", value: [HOME_EMAIL] }],
          expected: { ...BASE, emails: [HOME_EMAIL] },
        },
        {
          it: "keeps familyName when name is replaced with only givenName",
          operations: [
            { op: "replace", path: "name", value: { givenName: "Babs" } },
          ],
          expected: {
            ...BASE,
            name: { givenName: "Babs", familyName: "Jensen" },
          },
        },
        {
          it: "unassigns an attribute replaced with null",
          operations: [{ op: "replace", path: "name.givenName", value: null }],
          expected: { ...BASE, name: { familyName: "Jensen" } },
        },
        {
          it: "sets a sub-attribute on the elements a filter selects",
          operations: [
            {
              op: "replace",
              path: 'emails[type eq "work"].value',
              value: "b@corp.example",
            },
          ],
          expected: {
            ...BASE,
            emails: [{ ...WORK_EMAIL, value: "b@corp.example" }],
          },
        },
        {
          it: "merges a value into the elements a case-insensitive filter selects",
          operations: [
            {
              op: "replace",
              path: 'emails[type eq "WORK"]',
              value: { display: "Work" },
            },
          ],
          expected: { ...BASE, emails: [{ ...WORK_EMAIL, display: "Work" }] },
        },
        {
          it: "replaces multi-valued keys of a pathless value without appending duplicates",
          operations: [
            { op: "replace", value: { emails: [WORK_EMAIL], title: "Guide" } },
          ],
          expected: { ...BASE, title: "Guide" },
        },
        {
          it: "appends multi-valued keys of a pathless add",
          operations: [{ op: "add", value: { emails: [HOME_EMAIL] } }],
          expected: { ...BASE, emails: [WORK_EMAIL, HOME_EMAIL] },
        },
        {
          it: "removes an attribute",
          operations: [{ op: "remove", path: "name" }],
          expected: {
            userName: "bjensen",
            active: true,
            emails: [WORK_EMAIL],
            [ENTERPRISE]: EXTENSION,
          },
        },
        {
          it: "removes a sub-attribute",
          operations: [{ op: "remove", path: "name.givenName" }],
          expected: { ...BASE, name: { familyName: "Jensen" } },
        },
        {
          it: "removes the elements a filter selects, and the attribute once empty",
          operations: [
            {
              op: "remove",
              path: 'emails[type eq "work" and primary eq true]',
            },
          ],
          expected: {
            userName: "bjensen",
            active: true,
            name: NAME,
            [ENTERPRISE]: EXTENSION,
          },
        },
        {
          it: "removes a sub-attribute of the elements a filter selects",
          operations: [
            { op: "remove", path: 'emails[value ew "@EXAMPLE.com"].primary' },
          ],
          expected: {
            ...BASE,
            emails: [{ value: "bjensen@example.com", type: "work" }],
          },
        },
        {
          it: "maps mixed-case paths to canonical names",
          operations: [
            { op: "replace", path: "DisplayName", value: "Babs" },
            { op: "replace", path: "name.GivenName", value: "Barb" },
            {
              op: "replace",
              path: 'EMAILS[Type eq "work"].Value',
              value: "b@corp.example",
            },
          ],
          expected: {
            ...BASE,
            displayName: "Babs",
            name: { ...NAME, givenName: "Barb" },
            emails: [{ ...WORK_EMAIL, value: "b@corp.example" }],
          },
        },
        {
          it: "accepts a core path prefixed with the User schema URN",
          operations: [
            {
              op: "replace",
              path: "urn:ietf:params:scim:schemas:core:2.0:User:userName",
              value: "bj",
            },
          ],
          expected: { ...BASE, userName: "bj" },
        },
        {
          it: "adds each attribute of a value whose path is the extension URN",
          operations: [
            {
              op: "add",
              path: ENTERPRISE,
              value: { costCenter: "4130", Division: "EMEA" },
            },
          ],
          expected: {
            ...BASE,
            [ENTERPRISE]: {
              ...EXTENSION,
              costCenter: "4130",
              division: "EMEA",
            },
          },
        },
        {
          it: "applies operations in order",
          operations: [
            { op: "add", path: "title", value: "Guide" },
            { op: "remove", path: "title" },
            { op: "add", path: "nickName", value: "Babs" },
          ],
          expected: { ...BASE, nickName: "Babs" },
        },
      ],
      patchUser,
    );

    it("reports no change when an added element already exists", () => {
      const result = patchUser(
        BASE,
        patchBody({ op: "add", path: "emails", value: [WORK_EMAIL] }),
      );
      assert.deepEqual(result, { resource: BASE, changed: false });
    });

    it("treats a remove whose filter matches nothing as a no-op", () => {
      const result = patchUser(
        BASE,
        patchBody({ op: "remove", path: 'emails[type eq "home"]' }),
      );
      assert.deepEqual(result, { resource: BASE, changed: false });
    });

    it("accepts a body without schemas", () => {
      const result = patchUser(BASE, {
        Operations: [{ op: "replace", path: "title", value: "Guide" }],
      });
      assert.deepEqual(result.resource, { ...BASE, title: "Guide" });
    });

    it("leaves the input resource untouched", () => {
      const before = structuredClone(BASE);
      patchUser(
        BASE,
        patchBody(
          { op: "remove", path: "emails" },
          { op: "add", path: "name.givenName", value: "X" },
        ),
      );
      assert.deepEqual(BASE, before);
    });
  });

  describe("what Okta sends", () => {
    it("deactivates with a pathless replace of active", () => {
      const result = patchUser(
        BASE,
        patchBody({ op: "replace", value: { active: false } }),
      );
      assert.deepEqual(result, {
        resource: { ...BASE, active: false },
        changed: true,
      });
    });

    it("reports no change when the user is already active", () => {
      assert.equal(
        patchUser(BASE, patchBody({ op: "replace", value: { active: true } }))
          .changed,
        false,
      );
    });

    it("accepts a password change without storing the password", () => {
      const result = patchUser(
        BASE,
        patchBody({ op: "replace", value: { password: "s3cret!" } }),
      );
      assert.deepEqual(result, { resource: BASE, changed: false });
    });
  });
});
