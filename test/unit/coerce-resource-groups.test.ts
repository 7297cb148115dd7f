import assert from "node:assert/strict";
import { coerceResource } from "../../src/domain/coerce-resource.ts";
import type {
  AttributeDefinition,
  ResourceSchema,
} from "../../src/domain/scim-schema.ts";
import { assertScimError, SCHEMAS } from "../support/scim-domain-fixtures.ts";

const { user, group } = SCHEMAS;

describe("coerceResource", () => {
  describe("Group bodies", () => {
    it("returns members apart from the stored resource, deduplicated, display and $ref ignored", () => {
      const { resource, members } = coerceResource(
        group,
        {
          schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
          displayName: "Sales",
          Members: [
            {
              value: "u-1",
              display: "Ann",
              $ref: "https://x/Users/u-1",
              type: "user",
            },
            { value: "g-1", type: "Group" },
            { value: "u-1", display: "Ann again" },
            null,
          ],
        },
        "create",
      );
      assert.deepEqual(resource, { displayName: "Sales" });
      assert.deepEqual(members, [
        { value: "u-1", type: "User" },
        { value: "g-1", type: "Group" },
      ]);
    });

    it("returns no members when the body does not mention them", () => {
      assert.equal(
        coerceResource(group, { displayName: "Sales" }, "replace").members,
        undefined,
      );
    });

    it("returns an empty member list when the body lists none", () => {
      assert.deepEqual(
        coerceResource(group, { displayName: "S", members: [] }, "replace")
          .members,
        [],
      );
    });

    it("accepts members given as bare ids (Microsoft's test collection)", () => {
      assert.deepEqual(
        coerceResource(group, { displayName: "S", members: "u-1" }, "create")
          .members,
        [{ value: "u-1" }],
      );
    });

    // [outcome, body, pattern the message matches]
    const errors: [string, unknown, string][] = [
      [
        "rejects a group without displayName",
        { members: [] },
        "displayName is required",
      ],
      [
        "rejects a member without value",
        { displayName: "S", members: [{ display: "Ann" }] },
        "members\\[0\\]\\.value is required",
      ],
      [
        "rejects a member of an unknown type",
        { displayName: "S", members: [{ value: "u", type: "Device" }] },
        'User" or "Group',
      ],
    ];
    for (const [outcome, body, message] of errors) {
      it(outcome, () =>
        assertScimError(
          () => coerceResource(group, body, "create"),
          "invalid_value",
          message,
        ),
      );
    }
  });

  describe("types without a User attribute to carry them", () => {
    const urn = "urn:ietf:params:scim:schemas:extension:test:2.0:User";
    const attribute = (
      name: string,
      type: AttributeDefinition["type"],
    ): AttributeDefinition => ({
      name,
      type,
      multiValued: false,
      required: false,
      caseExact: false,
      mutability: "readWrite",
      returned: "default",
      uniqueness: "none",
    });
    const measures: ResourceSchema = {
      ...user,
      extensions: [
        {
          id: urn,
          name: "Test",
          attributes: [
            attribute("seats", "integer"),
            attribute("ratio", "decimal"),
            attribute("hiredAt", "dateTime"),
          ],
        },
      ],
    };

    it("keeps integers, decimals and ISO 8601 date-times", () => {
      const body = {
        userName: "a",
        [urn]: { seats: 3, ratio: 0.5, hiredAt: "2024-02-29T09:30:00Z" },
      };
      assert.deepEqual(coerceResource(measures, body, "create").resource[urn], {
        seats: 3,
        ratio: 0.5,
        hiredAt: "2024-02-29T09:30:00Z",
      });
    });

    const bad: [string, Record<string, unknown>][] = [
      ["a fractional integer", { seats: 1.5 }],
      ["an integer as a string", { seats: "3" }],
      ["a decimal as a string", { ratio: "0.5" }],
      ["a date without a time", { hiredAt: "2024-02-29" }],
      ["a date-time that is not one", { hiredAt: "next Tuesday" }],
    ];
    for (const [what, value] of bad) {
      it(`rejects ${what}`, () =>
        assertScimError(
          () =>
            coerceResource(measures, { userName: "a", [urn]: value }, "create"),
          "invalid_value",
        ));
    }
  });
});
