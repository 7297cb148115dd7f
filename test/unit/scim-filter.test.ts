import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FilterNode } from "../../src/domain/scim-filter-ast.ts";
import {
  DEFAULT_FILTER_LIMITS,
  FilterSyntaxError,
  parseFilter,
  parsePatchPath,
} from "../../src/domain/scim-filter.ts";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const RFC_EXAMPLES = new URL(
  "../../../shared/scim-conformance/rfc7644/filter-examples.json",
  import.meta.url,
);

const pr = (path: string): FilterNode => ({ kind: "present", path });

/** Asserts that parsing fails with a FilterSyntaxError whose message matches. */
function assertSyntaxError(
  parse: () => unknown,
  message: RegExp,
  position?: number,
): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof FilterSyntaxError, String(error));
    assert.match(error.message, message);
    if (position !== undefined) assert.equal(error.position, position);
    return true;
  });
}

describe("parseFilter", () => {
  for (const op of ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]) {
    it(`parses the ${op} operator, case-insensitively`, () => {
      const expected = { kind: "compare", path: "userName", op, value: "x" };
      assert.deepEqual(parseFilter(`userName ${op} "x"`), expected);
      assert.deepEqual(
        parseFilter(`userName ${op.toUpperCase()} "x"`),
        expected,
      );
    });
  }

  it("parses pr in any case", () => {
    assert.deepEqual(parseFilter("title pr"), pr("title"));
    assert.deepEqual(parseFilter("title PR"), pr("title"));
  });

  it("binds and tighter than or", () => {
    assert.deepEqual(parseFilter("a pr or b pr and c pr"), {
      kind: "or",
      terms: [pr("a"), { kind: "and", terms: [pr("b"), pr("c")] }],
    });
    assert.deepEqual(parseFilter("a pr AND b pr Or c pr"), {
      kind: "or",
      terms: [{ kind: "and", terms: [pr("a"), pr("b")] }, pr("c")],
    });
  });

  it("groups with parentheses", () => {
    assert.deepEqual(parseFilter("(a pr or b pr) and c pr"), {
      kind: "and",
      terms: [{ kind: "or", terms: [pr("a"), pr("b")] }, pr("c")],
    });
  });

  it("flattens nested terms of the same kind into one n-ary node", () => {
    assert.deepEqual(parseFilter("a pr and (b pr and (c pr and d pr))"), {
      kind: "and",
      terms: [pr("a"), pr("b"), pr("c"), pr("d")],
    });
    assert.deepEqual(parseFilter("(a pr or b pr) or c pr"), {
      kind: "or",
      terms: [pr("a"), pr("b"), pr("c")],
    });
  });

  it("parses not (…) in any case and with or without a space", () => {
    const expected = { kind: "not", term: pr("a") };
    assert.deepEqual(parseFilter("not (a pr)"), expected);
    assert.deepEqual(parseFilter("NOT(a pr)"), expected);
    assert.deepEqual(parseFilter("not (a pr) and b pr"), {
      kind: "and",
      terms: [expected, pr("b")],
    });
  });

  it("does not take an attribute starting with a keyword for the keyword", () => {
    assert.deepEqual(parseFilter("notes pr and order pr"), {
      kind: "and",
      terms: [pr("notes"), pr("order")],
    });
  });

  it("parses value paths with a filter relative to the attribute", () => {
    assert.deepEqual(parseFilter('emails[type eq "work" and value co "@x"]'), {
      kind: "valuePath",
      path: "emails",
      filter: {
        kind: "and",
        terms: [
          { kind: "compare", path: "type", op: "eq", value: "work" },
          { kind: "compare", path: "value", op: "co", value: "@x" },
        ],
      },
    });
    assert.deepEqual(
      parseFilter('userType eq "Employee" and emails[not (type eq "work")]'),
      {
        kind: "and",
        terms: [
          { kind: "compare", path: "userType", op: "eq", value: "Employee" },
          {
            kind: "valuePath",
            path: "emails",
            filter: {
              kind: "not",
              term: { kind: "compare", path: "type", op: "eq", value: "work" },
            },
          },
        ],
      },
    );
  });

  it("keeps URN-prefixed and dotted paths as written", () => {
    for (const path of [
      "name.givenName",
      "urn:ietf:params:scim:schemas:core:2.0:User:userName",
      `${ENTERPRISE}:employeeNumber`,
      `${ENTERPRISE}:manager.value`,
      "members.$ref",
    ]) {
      assert.deepEqual(parseFilter(`${path} pr`), pr(path));
    }
  });

  it("parses numbers, booleans and null", () => {
    const valueOf = (text: string) => {
      const node = parseFilter(`x eq ${text}`);
      assert.equal(node.kind, "compare");
      return node.kind === "compare" ? node.value : undefined;
    };
    assert.equal(valueOf("42"), 42);
    assert.equal(valueOf("-1.5"), -1.5);
    assert.equal(valueOf("1e3"), 1000);
    assert.equal(valueOf("true"), true);
    assert.equal(valueOf("False"), false);
    assert.equal(valueOf("null"), null);
  });

  it("decodes JSON string escapes", () => {
    const node = parseFilter(String.raw`userName eq "a\"b\\c\u00e9\n\/"`);
    assert.deepEqual(node, {
      kind: "compare",
      path: "userName",
      op: "eq",
      value: 'a"b\\cé\n/',
    });
  });

  it("treats brackets, parentheses and keywords inside strings as text", () => {
    assert.deepEqual(parseFilter('userName eq "a) or (b] and [c"'), {
      kind: "compare",
      path: "userName",
      op: "eq",
      value: "a) or (b] and [c",
    });
  });

  it("parses every example filter of RFC 7644 §3.4.2.2", function () {
    if (!existsSync(fileURLToPath(RFC_EXAMPLES))) this.skip();
    const examples = JSON.parse(readFileSync(RFC_EXAMPLES, "utf8")) as {
      valid: { id: string; filter: string }[];
    };
    assert.equal(examples.valid.length, 19);
    for (const example of examples.valid) {
      assert.doesNotThrow(() => parseFilter(example.filter), example.id);
    }
  });

  describe("malformed filters", () => {
    const cases: [string, RegExp, number?][] = [
      ["", /empty/, 0],
      ["   ", /empty/, 0],
      ["userName eq", /Expected a value after "eq" at position 11/, 11],
      ["userName", /Expected an operator after "userName"/, 8],
      ['userName zz "x"', /Unknown operator "zz" at position 9/, 9],
      ["userName eq (", /Expected a value .* found "\("/, 12],
      ['(userName eq "x"', /Expected "\)" to close the "\(" at position 0/],
      ['userName eq "x")', /Expected the end of the filter at position 15/],
      ['emails[type eq "work"', /Expected "]" to close the "\[" at position 6/],
      ['emails[type eq "work"]]', /Expected the end of the filter/],
      ['emails[type eq "work"].value eq "x"', /found ".value"/],
      ['emails[type[value eq "x"] pr]', /Value paths cannot be nested/],
      ["emails[]", /Empty filter in "emails\[\]"/],
      ['userName eq "x" garbage', /found "garbage"/],
      ['userName eq "x" and', /Expected an attribute name .* end of the input/],
      ['userName eq 12"abc"', /right after the value/],
      ['userName eq "open', /Unterminated string starting at position 12/, 12],
      [String.raw`userName eq "\q"`, /Invalid escape sequence/, 13],
      ["not userName pr", /Expected "\(" after "not"/],
      ["a.b.c pr", /not an attribute path/],
      ['foo:bar eq "x"', /schema prefix must be a URN/],
      ['"x" eq userName', /Expected an attribute name at position 0/, 0],
    ];
    it("reads unquoted tokens as strings, as Microsoft's validator sends them", () => {
      assert.deepEqual(parseFilter("userName sw O"), {
        kind: "compare",
        path: "userName",
        op: "sw",
        value: "O",
      });
      assert.deepEqual(
        parseFilter("meta.created gt 2015-10-10T14:38:21.8617979-07:00"),
        {
          kind: "compare",
          path: "meta.created",
          op: "gt",
          value: "2015-10-10T14:38:21.8617979-07:00",
        },
      );
      assert.deepEqual(parseFilter("userName eq 12abc"), {
        kind: "compare",
        path: "userName",
        op: "eq",
        value: "12abc",
      });
      assert.deepEqual(parseFilter("title eq 12"), {
        kind: "compare",
        path: "title",
        op: "eq",
        value: 12,
      });
    });
    for (const [filter, message, position] of cases) {
      it(`rejects ${JSON.stringify(filter)}`, () => {
        assertSyntaxError(() => parseFilter(filter), message, position);
      });
    }
  });

  describe("limits", () => {
    it("defaults to 4096 characters, depth 16 and 64 terms", () => {
      assert.deepEqual(
        { ...DEFAULT_FILTER_LIMITS },
        { maxLength: 4096, maxDepth: 16, maxTerms: 64 },
      );
    });

    it("rejects a 100-term (a or b) and (c or d) chain without expanding it", () => {
      const groups = Array.from(
        { length: 50 },
        (_, i) => `(a${i} eq "x" or b${i} eq "y")`,
      );
      assertSyntaxError(
        () => parseFilter(groups.join(" and ")),
        /more than 64 comparisons/,
      );
    });

    it("accepts 64 terms and keeps the tree linear", () => {
      const groups = Array.from(
        { length: 32 },
        (_, i) => `(a${i} pr or b${i} pr)`,
      );
      const node = parseFilter(groups.join(" and "));
      assert.equal(node.kind, "and");
      assert.equal(node.kind === "and" ? node.terms.length : 0, 32);
    });

    it("rejects a 5,000-character filter before parsing it", () => {
      const filter = `userName eq "${"x".repeat(4990)}"`;
      assert.ok(filter.length > 5000);
      assertSyntaxError(
        () => parseFilter(filter),
        /characters long; at most 4096/,
      );
    });

    it("rejects nesting deeper than the limit", () => {
      const deep = `${"(".repeat(20)}a pr${")".repeat(20)}`;
      assertSyntaxError(() => parseFilter(deep), /nests deeper than 16/);
      const nots = `${"not (".repeat(17)}a pr${")".repeat(17)}`;
      assertSyntaxError(() => parseFilter(nots), /nests deeper than 16/);
      assert.deepEqual(
        parseFilter(`${"(".repeat(16)}a pr${")".repeat(16)}`),
        pr("a"),
      );
    });

    it("takes limits from the caller", () => {
      assertSyntaxError(
        () => parseFilter("a pr and b pr and c pr", { maxTerms: 2 }),
        /more than 2 comparisons/,
      );
      assertSyntaxError(
        () => parseFilter("a pr", { maxLength: 3 }),
        /at most 3/,
      );
    });
  });
});

describe("parsePatchPath", () => {
  it("parses attribute, sub-attribute and URN paths", () => {
    assert.deepEqual(parsePatchPath("userName"), { attribute: "userName" });
    assert.deepEqual(parsePatchPath("name.givenName"), {
      attribute: "name.givenName",
    });
    assert.deepEqual(parsePatchPath(`${ENTERPRISE}:department`), {
      attribute: `${ENTERPRISE}:department`,
    });
    assert.deepEqual(parsePatchPath(`${ENTERPRISE}:manager.value`), {
      attribute: `${ENTERPRISE}:manager.value`,
    });
  });

  it("parses a value filter and the sub-attribute after it", () => {
    assert.deepEqual(parsePatchPath('members[value eq "2819c223"]'), {
      attribute: "members",
      valueFilter: {
        kind: "compare",
        path: "value",
        op: "eq",
        value: "2819c223",
      },
    });
    assert.deepEqual(
      parsePatchPath('addresses[type eq "work"].streetAddress'),
      {
        attribute: "addresses",
        valueFilter: { kind: "compare", path: "type", op: "eq", value: "work" },
        subAttribute: "streetAddress",
      },
    );
    const path = parsePatchPath(
      'emails[type eq "work" and not (value ew ".org")].value',
    );
    assert.equal(path.valueFilter?.kind, "and");
    assert.equal(path.subAttribute, "value");
  });

  const bad: [string, RegExp][] = [
    ["", /empty/],
    ['emails[type eq "work"', /Expected "]"/],
    ['emails[type eq "work"].', /Expected a sub-attribute name/],
    ['emails[type eq "work"].value.display', /Expected a sub-attribute name/],
    ['emails[type eq "work"] x', /Expected the end of the path/],
    ["emails.value.x", /not an attribute path/],
    ["userName eq", /Expected the end of the path/],
    ['emails[type[value eq "x"] pr]', /cannot be nested/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assertSyntaxError(() => parsePatchPath(text), message);
    });
  }
});
