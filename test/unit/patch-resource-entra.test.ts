import { applyPatch } from "../../src/domain/patch-resource.ts";
import type { StoredResource } from "../../src/domain/stored-resource.ts";
import {
  ENTERPRISE,
  itPatchesUser,
  SCHEMAS,
  USER_FIXTURE as BASE,
  WORK_EMAIL,
} from "../support/scim-domain-fixtures.ts";

const patchUser = (current: StoredResource, body: unknown) =>
  applyPatch(SCHEMAS.user, current, body);
const MANAGER = `${ENTERPRISE}:manager`;

// Requests as Microsoft Entra sends them without the aadOptscim062020 flag, and with it.
describe("applyPatch on what Microsoft Entra sends", () => {
  itPatchesUser(
    [
      {
        it: "deactivates with a capitalised Replace and the string False",
        operations: [{ op: "Replace", path: "active", value: "False" }],
        expected: { ...BASE, active: false },
      },
      {
        it: "reads string booleans in a pathless value",
        operations: [{ op: "Replace", value: { active: "False" } }],
        expected: { ...BASE, active: false },
      },
      {
        it: 'creates the work email an Add on emails[type eq "work"].value names',
        operations: [
          { op: "Remove", path: "emails" },
          {
            op: "Add",
            path: 'emails[type eq "work"].value',
            value: "b@corp.example",
          },
        ],
        expected: {
          ...BASE,
          emails: [{ type: "work", value: "b@corp.example" }],
        },
      },
      {
        it: "updates the existing work email rather than adding a second one",
        operations: [
          {
            op: "Add",
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
        it: "creates the work address a Replace on its streetAddress names",
        operations: [
          {
            op: "Replace",
            path: 'addresses[type eq "work"].streetAddress',
            value: "1 Main St",
          },
        ],
        expected: {
          ...BASE,
          addresses: [{ type: "work", streetAddress: "1 Main St" }],
        },
      },
      {
        it: "removes the elements a value array names, like members",
        operations: [
          {
            op: "Add",
            path: "emails",
            value: [{ value: "h@example.com", type: "home" }],
          },
          {
            op: "Remove",
            path: "emails",
            value: [{ value: "BJENSEN@example.com" }],
          },
        ],
        expected: {
          ...BASE,
          emails: [{ value: "h@example.com", type: "home" }],
        },
      },
      {
        it: "sets the manager from a bare id",
        operations: [{ op: "Add", path: MANAGER, value: "m-2" }],
        expected: {
          ...BASE,
          [ENTERPRISE]: { department: "Sales", manager: { value: "m-2" } },
        },
      },
      {
        it: "sets the manager from a value object, dropping the previous manager's $ref",
        operations: [
          {
            op: "replace",
            path: MANAGER,
            value: { value: "m-1", $ref: "../Users/m-1" },
          },
          { op: "replace", path: MANAGER, value: { value: "m-2" } },
        ],
        expected: {
          ...BASE,
          [ENTERPRISE]: { department: "Sales", manager: { value: "m-2" } },
        },
      },
      {
        it: "sets the manager through manager.value",
        operations: [{ op: "Replace", path: `${MANAGER}.value`, value: "m-3" }],
        expected: {
          ...BASE,
          [ENTERPRISE]: { department: "Sales", manager: { value: "m-3" } },
        },
      },
      {
        it: "removes the manager",
        operations: [{ op: "Remove", path: MANAGER }],
        expected: { ...BASE, [ENTERPRISE]: { department: "Sales" } },
      },
      {
        it: "drops the extension once its last attribute is removed",
        operations: [
          { op: "Remove", path: MANAGER },
          { op: "Remove", path: `${ENTERPRISE}:department` },
        ],
        expected: {
          userName: "bjensen",
          active: true,
          name: BASE.name,
          emails: [WORK_EMAIL],
        },
      },
      {
        it: "applies a pathless multi-attribute replace with dotted, URN and filtered keys",
        operations: [
          {
            op: "replace",
            value: {
              "name.givenName": "Babs",
              [`${ENTERPRISE}:department`]: "Marketing",
              'phoneNumbers[type eq "work"].value': "+47 555 0100",
              [MANAGER]: "m-4",
            },
          },
        ],
        expected: {
          ...BASE,
          name: { givenName: "Babs", familyName: "Jensen" },
          [ENTERPRISE]: { department: "Marketing", manager: { value: "m-4" } },
          phoneNumbers: [{ type: "work", value: "+47 555 0100" }],
        },
      },
      {
        it: "ignores unknown keys in a pathless value",
        operations: [
          {
            op: "Replace",
            value: {
              "urn:example:custom:shoeSize": "44",
              costCentreCode: "x",
              title: "Guide",
            },
          },
        ],
        expected: { ...BASE, title: "Guide" },
      },
    ],
    patchUser,
  );
});
