import assert from "node:assert/strict";
import { UsageError } from "../../src/cli/exit-codes.ts";
import { matchRows } from "../../src/cli/import-match.ts";
import {
  applyRow,
  parseHeader,
  readRow,
  sameResource,
  type ImportRow,
} from "../../src/cli/import-row.ts";
import { URN } from "../../src/scim/schemas.ts";
import type { UserRow } from "../../src/store/users-store.ts";

const header = parseHeader(
  ["User Name", "external_id", "EMAIL", "manager", "Active", "title"],
  { ignoreUnknown: false },
);

function row(cells: string[], line = 2): ImportRow {
  const read = readRow(cells, line, header);
  assert.ok("values" in read, JSON.stringify(read));
  return read;
}

function user(id: string, userName: string, externalId?: string): UserRow {
  return {
    id,
    user_name: userName,
    external_id: externalId ?? null,
  } as UserRow;
}

describe("import rows", () => {
  it("matches header names ignoring case, spaces, - and _", () => {
    assert.deepEqual(header.columns, [
      "userName",
      "externalId",
      "email",
      "manager",
      "active",
      "title",
    ]);
  });

  it("refuses a header without userName, with unknown or repeated columns", () => {
    assert.throws(
      () => parseHeader(["email", "emial", "Email"], { ignoreUnknown: false }),
      (error: unknown) =>
        error instanceof UsageError &&
        /no userName column/.test(error.message) &&
        /given twice: Email/.test(error.message) &&
        /unknown column\(s\) "emial"/.test(error.message),
    );
    const lenient = parseHeader(["userName", "cost center", ""], {
      ignoreUnknown: true,
    });
    assert.deepEqual(lenient.columns, ["userName", undefined, undefined]);
  });

  it("reports a bad active value, a bad e-mail, an empty userName and a short row", () => {
    const reasons = [
      ["ann", "", "", "", "yes", ""],
      ["ann", "", "ann@", "", "", ""],
      ["", "HR-1", "", "", "", ""],
      ["ann", ""],
    ].map((cells) => {
      const read = readRow(cells, 5, header);
      return "reason" in read ? read.reason : "ok";
    });
    assert.match(reasons[0]!, /active must be true or false, not "yes"/);
    assert.match(reasons[1]!, /"ann@" is not an e-mail address/);
    assert.match(reasons[2]!, /userName is empty/);
    assert.match(reasons[3]!, /has 2 field\(s\); the header has 6/);
  });

  it("touches only the file's columns, keeps other e-mails and the stored userName case", () => {
    const stored = {
      userName: "Ann",
      title: "Engineer",
      phoneNumbers: [{ value: "+1 555", type: "work" }],
      emails: [
        { value: "ann@home.test", type: "home" },
        { value: "old@hr.test", type: "work", primary: true },
      ],
      active: true,
    };
    const next = applyRow(
      stored,
      row(["ann", "HR-1", "ann@hr.test", "boss", "", ""]),
      header.present,
      "11111111-1111-1111-1111-111111111111",
    );
    assert.deepEqual(next, {
      userName: "Ann",
      externalId: "HR-1",
      phoneNumbers: [{ value: "+1 555", type: "work" }],
      emails: [
        { value: "ann@home.test", type: "home" },
        { value: "ann@hr.test", type: "work", primary: true },
      ],
      active: true,
      [URN.enterpriseUser]: {
        manager: { value: "11111111-1111-1111-1111-111111111111" },
      },
    });
  });

  it("compares resources regardless of key order", () => {
    assert.ok(
      sameResource(
        { name: { givenName: "A", familyName: "B" }, active: true },
        { active: true, name: { familyName: "B", givenName: "A" } },
      ),
    );
    assert.ok(!sameResource({ emails: [{ value: "a" }] }, { emails: [] }));
  });

  it("refuses rows that match two users or a user another row already matched", () => {
    const targeted = new Map<string, number>();
    const { matched, failures } = matchRows(
      [
        row(["ann", "HR-2", "", "", "", ""], 2),
        row(["bea", "HR-1", "", "", "", ""], 3),
        row(["cy", "", "", "cy", "", ""], 4),
        row(["ANN", "", "", "", "", ""], 5),
        row(["dee", "HR-9", "", "", "", ""], 6),
      ],
      [user("a", "Ann", "HR-1"), user("b", "zed", "HR-2")],
      targeted,
    );
    assert.deepEqual(
      matched.map((m) => [m.row.userName, m.target?.id]),
      [
        ["bea", "a"],
        ["dee", undefined],
      ],
    );
    assert.deepEqual(
      failures.map((f) => [f.line, f.reason.replace(/ \(.*/, "")]),
      [
        [2, "userName matches user a"],
        [4, "a new user cannot be their own manager"],
        [5, "matches the same user as line 3"],
      ],
    );
  });
});
