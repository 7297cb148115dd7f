import assert from "node:assert/strict";
import { matchesElement } from "../../src/domain/match-filter.ts";
import { parseFilter } from "../../src/domain/scim-filter.ts";
import type { AttributeDefinition } from "../../src/domain/scim-schema.ts";
import { assertScimError, SCHEMAS } from "../support/scim-domain-fixtures.ts";

const emailDefs =
  SCHEMAS.user.core.attributes.find((a) => a.name === "emails")
    ?.subAttributes ?? [];
const certificateDefs: AttributeDefinition[] =
  SCHEMAS.user.core.attributes.find((a) => a.name === "x509Certificates")
    ?.subAttributes ?? [];
const EMAIL = { value: "Bjensen@Example.com", type: "work", primary: true };

// [filter, whether EMAIL matches it]
const CASES: [string, boolean][] = [
  ['type eq "work"', true],
  ['type eq "WORK"', true],
  ['type ne "work"', false],
  ['display ne "x"', true],
  ['display eq "x"', false],
  ["display eq null", true],
  ['value co "example"', true],
  ['value sw "BJENSEN"', true],
  ['value ew ".com"', true],
  ['value ew ".org"', false],
  ['value gt "a"', true],
  ['value ge "bjensen@example.com"', true],
  ['value lt "bjensen@example.com"', false],
  ['value le "c"', true],
  ["primary eq true", true],
  ["primary eq false", false],
  ['primary eq "true"', false],
  ["value pr", true],
  ["display pr", false],
  ['type eq "work" and primary eq true', true],
  ['type eq "home" or primary eq true', true],
  ['not (type eq "home")', true],
  ['not (type eq "work" and value co "example")', false],
];

describe("matchesElement", () => {
  for (const [filter, expected] of CASES) {
    it(`${expected ? "matches" : "does not match"} ${filter}`, () => {
      assert.equal(
        matchesElement(parseFilter(filter), EMAIL, emailDefs),
        expected,
      );
    });
  }

  it("compares caseExact sub-attributes exactly", () => {
    const certificate = { value: "TUlJQ0lqQ0NB" };
    assert.equal(
      matchesElement(
        parseFilter('value eq "TUlJQ0lqQ0NB"'),
        certificate,
        certificateDefs,
      ),
      true,
    );
    assert.equal(
      matchesElement(
        parseFilter('value eq "tuljq0lqq0nb"'),
        certificate,
        certificateDefs,
      ),
      false,
    );
  });

  it("reads sub-attribute names stored in another case", () => {
    assert.equal(
      matchesElement(
        parseFilter('Type eq "work"'),
        { TYPE: "work" },
        emailDefs,
      ),
      true,
    );
  });

  const errors: [string, string][] = [
    ["rejects an unknown sub-attribute", 'colour eq "red"'],
    ["rejects an ordering comparison of a boolean", "primary lt true"],
    ["rejects a substring operator on a boolean", 'primary co "t"'],
    ["rejects a nested value filter", 'emails[type eq "work"]'],
  ];
  for (const [outcome, filter] of errors) {
    it(outcome, () =>
      assertScimError(
        () => matchesElement(parseFilter(filter), EMAIL, emailDefs),
        "invalid_filter",
      ),
    );
  }
});
