import assert from "node:assert/strict";
import {
  coerceResource,
  coerceStoredResource,
} from "../../src/domain/coerce-resource.ts";
import type { ScimDomainErrorKind } from "../../src/domain/scim-domain-error.ts";
import {
  assertScimError,
  ENTERPRISE,
  SCHEMAS,
} from "../support/scim-domain-fixtures.ts";

const { user } = SCHEMAS;

describe("coerceResource", () => {
  describe("User bodies", () => {
    const cases: {
      it: string;
      body: Record<string, unknown>;
      expected: Record<string, unknown>;
    }[] = [
      {
        it: "rewrites attribute and sub-attribute names to canonical case",
        body: {
          UserName: "bjensen",
          NAME: { GivenName: "Barbara" },
          Emails: [{ Value: "b@example.com", Type: "work", Primary: true }],
        },
        expected: {
          userName: "bjensen",
          name: { givenName: "Barbara" },
          emails: [{ value: "b@example.com", type: "work", primary: true }],
          active: true,
        },
      },
      {
        it: "stores enterprise attributes given under the URN key with canonical names",
        body: {
          userName: "a",
          [ENTERPRISE]: { Department: "Sales", Manager: { Value: "m-1" } },
        },
        expected: {
          userName: "a",
          [ENTERPRISE]: { department: "Sales", manager: { value: "m-1" } },
          active: true,
        },
      },
      {
        it: "stores URN-prefixed enterprise keys under the URN key",
        body: {
          userName: "a",
          [`${ENTERPRISE}:department`]: "Sales",
          [`${ENTERPRISE}:manager`]: { value: "m-1" },
        },
        expected: {
          userName: "a",
          [ENTERPRISE]: { department: "Sales", manager: { value: "m-1" } },
          active: true,
        },
      },
      {
        it: "turns a bare manager id (Entra) into a manager object",
        body: { userName: "a", [ENTERPRISE]: { manager: "m-1" } },
        expected: {
          userName: "a",
          [ENTERPRISE]: { manager: { value: "m-1" } },
          active: true,
        },
      },
      {
        it: "drops nulls recursively, with null elements and objects left empty",
        body: {
          userName: "a",
          title: null,
          name: { givenName: "B", honorificPrefix: null },
          addresses: [
            null,
            { streetAddress: null, type: null },
            { locality: "Oslo" },
          ],
          [ENTERPRISE]: { department: null },
        },
        expected: {
          userName: "a",
          name: { givenName: "B" },
          addresses: [{ locality: "Oslo" }],
          active: true,
        },
      },
      {
        it: "ignores readOnly attributes, passwords, unknown attributes and unknown schema URNs",
        body: {
          schemas: [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:example:custom",
          ],
          id: "client-chosen",
          meta: {
            resourceType: "User",
            created: "2019-09-18T18:15:26.57+00:00",
          },
          groups: [{ value: "g-1" }],
          password: "hunter2",
          userName: "a",
          favouriteColour: "blue",
          [ENTERPRISE]: {
            manager: { value: "m-1", displayName: "Boss" },
            shoeSize: 44,
          },
        },
        expected: {
          userName: "a",
          [ENTERPRISE]: { manager: { value: "m-1" } },
          active: true,
        },
      },
      {
        it: "accepts Entra's string booleans case-insensitively",
        body: {
          userName: "a",
          active: "False",
          emails: [{ value: "e", primary: "TRUE" }],
        },
        expected: {
          userName: "a",
          active: false,
          emails: [{ value: "e", primary: true }],
        },
      },
      {
        it: "wraps a single object given for a multi-valued attribute",
        body: { userName: "a", emails: { value: "e", type: "work" } },
        expected: {
          userName: "a",
          emails: [{ value: "e", type: "work" }],
          active: true,
        },
      },
      {
        it: "keeps an explicit active false instead of the default",
        body: { userName: "a", active: false },
        expected: { userName: "a", active: false },
      },
    ];
    for (const c of cases) {
      it(c.it, () => {
        const { resource, members } = coerceResource(user, c.body, "create");
        assert.deepEqual(resource, c.expected);
        assert.equal(members, undefined);
      });
    }

    it("coerces Microsoft's recorded create with nulls, meta and capitalised sub-attributes", () => {
      const body = {
        userName: "OMalley",
        active: "True",
        addresses: [
          {
            country: "Bermuda",
            streetAddress: "4939 Hess Fork",
            type: "work",
            primary: false,
          },
          {
            country: null,
            formatted: "18522 Lisa Unions",
            locality: null,
            type: "other",
          },
        ],
        emails: [{ Primary: true, type: "work", value: "anna33@example.com" }],
        meta: {
          created: "2019-09-18T18:15:26.5788954+00:00",
          resourceType: "User",
        },
        name: {
          familyName: "OMalley",
          givenName: "Darl",
          honorificPrefix: null,
        },
        roles: [],
        [ENTERPRISE]: { Department: "bob", Manager: { Value: "SuzzyQ" } },
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
      };
      assert.deepEqual(coerceResource(user, body, "replace").resource, {
        userName: "OMalley",
        active: true,
        addresses: [
          {
            country: "Bermuda",
            streetAddress: "4939 Hess Fork",
            type: "work",
            primary: false,
          },
          { formatted: "18522 Lisa Unions", type: "other" },
        ],
        emails: [{ primary: true, type: "work", value: "anna33@example.com" }],
        name: { familyName: "OMalley", givenName: "Darl" },
        [ENTERPRISE]: { department: "bob", manager: { value: "SuzzyQ" } },
      });
    });
  });

  describe("User errors", () => {
    // [outcome, body, error kind, pattern the message matches]
    const cases: [string, unknown, ScimDomainErrorKind, string][] = [
      [
        "rejects a body that is not an object",
        [],
        "invalid_syntax",
        "JSON object",
      ],
      [
        "rejects schemas that is not an array of strings",
        { userName: "a", schemas: "x" },
        "invalid_syntax",
        "schemas",
      ],
      [
        "rejects a missing userName",
        { displayName: "A" },
        "invalid_value",
        "userName is required",
      ],
      [
        "rejects a blank userName",
        { userName: "  " },
        "invalid_value",
        "userName is required",
      ],
      [
        "rejects a number for a string instead of converting it",
        { userName: 42 },
        "invalid_value",
        "userName must be a string",
      ],
      [
        "rejects a boolean text other than true or false",
        { userName: "a", active: "yes" },
        "invalid_value",
        "active must be a boolean",
      ],
      [
        "rejects a number for a boolean",
        { userName: "a", active: 1 },
        "invalid_value",
        "active must be a boolean",
      ],
      [
        "rejects a string for a complex attribute",
        { userName: "a", name: "Barbara" },
        "invalid_value",
        "name must be an object",
      ],
      [
        "rejects an array for a single-valued attribute",
        { userName: "a", title: ["x"] },
        "invalid_value",
        "title takes a single value",
      ],
      [
        "rejects a wrongly typed sub-attribute",
        { userName: "a", emails: [{ value: "e", primary: "maybe" }] },
        "invalid_value",
        "emails\\[0\\]\\.primary",
      ],
      [
        "rejects two primary values in one attribute",
        {
          userName: "a",
          emails: [
            { value: "a", primary: true },
            { value: "b", primary: true },
          ],
        },
        "invalid_value",
        "more than one primary",
      ],
      [
        "rejects an extension given as a non-object",
        { userName: "a", [ENTERPRISE]: "Sales" },
        "invalid_value",
        ENTERPRISE,
      ],
    ];
    for (const [outcome, body, kind, message] of cases) {
      it(outcome, () =>
        assertScimError(
          () => coerceResource(user, body, "create"),
          kind,
          message,
        ),
      );
    }
  });
});

describe("coerceStoredResource", () => {
  it("returns a valid stored resource unchanged", () => {
    const stored = {
      userName: "a",
      active: false,
      [ENTERPRISE]: { department: "Sales" },
    };
    assert.deepEqual(coerceStoredResource(user, stored), stored);
  });

  it("drops sub-objects a PATCH left empty", () => {
    assert.deepEqual(
      coerceStoredResource(user, {
        userName: "a",
        active: true,
        name: {},
        [ENTERPRISE]: {},
      }),
      {
        userName: "a",
        active: true,
      },
    );
  });

  it("rejects a resource a PATCH left without userName", () => {
    assertScimError(
      () => coerceStoredResource(user, { active: true }),
      "invalid_value",
      "userName is required",
    );
  });
});
