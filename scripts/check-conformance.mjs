// Compares a conformance run with the cases README.md lists as deliberately failed.
// Usage: node scripts/check-conformance.mjs RUN_OUTPUT README.md
import { readFileSync } from "node:fs";

const [outputFile, readmeFile] = process.argv.slice(2);
const output = readFileSync(outputFile, "utf8");
const readme = readFileSync(readmeFile, "utf8");

const failed = [...output.matchAll(/^\s+FAIL (.+?)\s+--/gm)].map((m) =>
  m[1].trim(),
);
const section = readme
  .split("<!-- conformance-expected-failures:start -->")[1]
  ?.split("<!-- conformance-expected-failures:end -->")[0];
const expected = new Set(
  [...(section ?? "").matchAll(/^\| `([^`]+)`\s*\|/gm)].map((m) => m[1].trim()),
);
const unexpected = failed.filter((name) => !expected.has(name));
const nowPassing = [...expected].filter((name) => !failed.includes(name));
if (!/TOTAL: \d+ passed/.test(output)) {
  console.error("conformance: the suites did not run to the end");
  process.exit(1);
}
for (const name of nowPassing)
  console.warn(`conformance: listed as failing but passed: ${name}`);
if (unexpected.length > 0) {
  for (const name of unexpected)
    console.error(`conformance: unexpected failure: ${name}`);
  process.exit(1);
}
console.log(
  `conformance: ${failed.length} failures, all listed in README.md with their reason`,
);
