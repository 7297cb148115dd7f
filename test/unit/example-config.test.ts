import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { CONNECTORS } from "../../src/connectors/connector-registry.ts";
import { lifecycleConfigSchema } from "../../src/domain/policy.ts";
import { buildResourceSchemas } from "../../src/scim/schemas.ts";
import { createAppConnectors } from "../../src/services/app-connectors.ts";
import { createLogger } from "../../src/logger.ts";
import { compilePolicy } from "../../src/domain/policy.ts";

// README.md points at this file: it must stay a valid, complete policy.
describe("examples/lifecycle.yaml", () => {
  it("is a valid lifecycle config with the seed rules", async () => {
    const document = parse(
      readFileSync(
        new URL("../../examples/lifecycle.yaml", import.meta.url),
        "utf8",
      ),
    );
    assert.ok(lifecycleConfigSchema.safeParse(document).success);
    const connectors = createAppConnectors({
      connectors: CONNECTORS,
      readSecret: (name) => `value-of-${name}-long-enough`,
      clock: { now: () => new Date() },
      logger: createLogger({ silent: true }),
    });
    const result = compilePolicy(document.tenants.default, {
      version: 1,
      catalog: (app) => connectors.catalogEntry(app),
      schemas: buildResourceSchemas(),
    });
    assert.deepEqual("problems" in result ? result.problems : [], []);
    assert.ok("policy" in result);
    assert.deepEqual(
      result.policy.rules.map((r) => r.id),
      [
        "dropbox-join",
        "dropbox-leave",
        "dropbox-return",
        "backup-leave",
        "backup-return",
        "postbeyond-leave",
      ],
    );
    await connectors.close();
  });
});
