import assert from "node:assert/strict";
import {
  changedAttributes,
  userChangeEvents,
} from "../../src/domain/lifecycle-event.ts";
import { maskSecrets } from "../../src/domain/mask-secrets.ts";

describe("userChangeEvents", () => {
  const cases: [
    string,
    Record<string, unknown>,
    Record<string, unknown>,
    string[],
  ][] = [
    [
      "nothing changed",
      { userName: "a", active: true },
      { userName: "a", active: true },
      [],
    ],
    [
      "an attribute changed",
      { userName: "a", title: "x" },
      { userName: "a", title: "y" },
      ["user.updated"],
    ],
    [
      "active went false",
      { userName: "a", active: true },
      { userName: "a", active: false },
      ["user.deactivated"],
    ],
    [
      "active came back",
      { userName: "a", active: false },
      { userName: "a", active: true },
      ["user.reactivated"],
    ],
    [
      "a rename and a deactivation together",
      { userName: "a", active: true },
      { userName: "b", active: false },
      ["user.updated", "user.deactivated"],
    ],
    [
      "absent active counts as active",
      { userName: "a" },
      { userName: "a", active: false },
      ["user.deactivated"],
    ],
  ];
  for (const [name, before, after, expected] of cases) {
    it(`yields ${JSON.stringify(expected)} when ${name}`, () => {
      assert.deepEqual(userChangeEvents(before, after), expected);
    });
  }

  it("lists changed top-level attributes in order", () => {
    assert.deepEqual(
      changedAttributes(
        { a: 1, b: { c: 1 }, d: 1 },
        { a: 1, b: { c: 2 }, e: 1 },
      ),
      ["b", "d", "e"],
    );
  });

  it("sees no change when only the order of keys differs (jsonb reorders them)", () => {
    const stored = {
      name: { familyName: "Lovelace", givenName: "Ada" },
      emails: [{ primary: true, type: "work", value: "ada@example.com" }],
    };
    const resent = {
      name: { givenName: "Ada", familyName: "Lovelace" },
      emails: [{ value: "ada@example.com", type: "work", primary: true }],
    };
    assert.deepEqual(changedAttributes(stored, resent), []);
    assert.deepEqual(userChangeEvents(stored, resent), []);
  });
});

describe("maskSecrets", () => {
  it("masks password values in bodies and PATCH operations", () => {
    const masked = maskSecrets({
      userName: "a",
      password: "p",
      Operations: [
        { op: "replace", path: "password", value: "p2" },
        { op: "replace", value: { password: "p3", title: "t" } },
      ],
    });
    assert.deepEqual(masked, {
      userName: "a",
      password: "[masked]",
      Operations: [
        { op: "replace", path: "password", value: "[masked]" },
        { op: "replace", value: { password: "[masked]", title: "t" } },
      ],
    });
  });
});
