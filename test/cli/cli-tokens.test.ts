import assert from "node:assert/strict";
import { CLI_TOKEN_ID } from "../../src/cli/cli-context.ts";
import { createCliSandbox, type CliSandbox } from "./cli-process.ts";

interface IssuedJson {
  id: string;
  token: string;
  expiresAt: string | null;
}

interface RotatedJson extends IssuedJson {
  name: string;
  scopes: string[];
  previous: { id: string; expiresAt: string };
}

describe("CLI: help, exit codes and tokens", function () {
  this.timeout(180_000);
  let cli: CliSandbox;

  before(async () => {
    cli = await createCliSandbox();
  });
  after(async () => {
    await cli.dispose();
  });

  it("prints help with the exit codes and exits 0", async () => {
    const result = await cli.run(["--help"]);
    assert.equal(result.code, 0);
    for (const command of ["token", "app", "policy", "actions", "import"]) {
      assert.match(result.stdout, new RegExp(`\\n  ${command}\\b`));
    }
    assert.match(result.stdout, /Exit codes:/);
    assert.match(result.stdout, /2 {2}usage error or invalid input/);
  });

  it("exits 2 on an unknown command, an unknown option and a missing subcommand", async () => {
    const unknown = await cli.run(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const badOption = await cli.run(["tenant", "list", "--bogus"]);
    assert.equal(badOption.code, 2);
    assert.match(badOption.stderr, /unknown option '--bogus'/);
    const bare = await cli.run(["actions"]);
    assert.equal(bare.code, 2);
  });

  it("creates, lists, rotates with a grace period and revokes tokens", async () => {
    assert.equal((await cli.run(["tenant", "create", "acme"])).code, 0);
    const first = await cli.json<IssuedJson>([
      "token",
      "create",
      "--tenant",
      "acme",
      "--name",
      "okta",
      "--scopes",
      "scim:read,scim:write",
    ]);
    const unknownTenant = await cli.run(["token", "list", "--tenant", "nope"]);
    assert.equal(unknownTenant.code, 2);
    assert.match(unknownTenant.stderr, /tenant "nope" not found/);

    const badGrace = await cli.run([
      "token",
      "rotate",
      first.id,
      "--grace",
      "soon",
    ]);
    assert.equal(badGrace.code, 2);
    assert.match(badGrace.stderr, /--grace: invalid duration/);

    const rotated = await cli.json<RotatedJson>([
      "token",
      "rotate",
      first.id,
      "--grace",
      "2h",
    ]);
    assert.notEqual(rotated.token, first.token);
    assert.equal(rotated.name, "okta");
    assert.deepEqual(rotated.scopes, ["scim:read", "scim:write"]);
    assert.equal(rotated.previous.id, first.id);
    const graceLeftMs = Date.parse(rotated.previous.expiresAt) - Date.now();
    assert.ok(
      graceLeftMs > 110 * 60_000 && graceLeftMs <= 120 * 60_000,
      `old token expires in ${graceLeftMs} ms`,
    );

    const listed = await cli.json<{ id: string; revokedAt: string | null }[]>([
      "token",
      "list",
      "--tenant",
      "acme",
    ]);
    assert.deepEqual(
      listed.map((t) => t.id).sort(),
      [first.id, rotated.id].sort(),
    );

    await cli.inProcess(async (services, database) => {
      // Both secrets work during the grace period, for the same tenant and scopes.
      const oldPrincipal = await services.tokens.authenticate(first.token);
      const newPrincipal = await services.tokens.authenticate(rotated.token);
      assert.equal(oldPrincipal?.tenantName, "acme");
      assert.deepEqual(newPrincipal?.scopes, oldPrincipal?.scopes);
      const entry = await database
        .knex("audit_entries")
        .where({ key: "token.rotated", resource_id: first.id })
        .first<{ actor_token_id: string; detail: Record<string, unknown> }>();
      assert.equal(entry?.actor_token_id, CLI_TOKEN_ID);
      assert.equal(entry?.detail.successorId, rotated.id);
      assert.match(String(entry?.detail.actor), /^cli:.+@.+/);
    });

    // A rotation without grace retires the old token at once; an earlier expiry is never extended.
    const again = await cli.json<RotatedJson>([
      "token",
      "rotate",
      rotated.id,
      "--grace",
      "0s",
    ]);
    const expiredAgain = await cli.run(["token", "rotate", rotated.id]);
    assert.equal(expiredAgain.code, 2);
    assert.match(expiredAgain.stderr, /no live token/);
    const longer = await cli.json<RotatedJson>([
      "token",
      "rotate",
      first.id,
      "--grace",
      "7d",
    ]);
    assert.equal(longer.previous.expiresAt, rotated.previous.expiresAt);
    assert.equal((await cli.run(["token", "revoke", again.id])).code, 0);
    const revokedTwice = await cli.run(["token", "revoke", again.id]);
    assert.equal(revokedTwice.code, 2);

    await cli.inProcess(async (services) => {
      assert.equal(
        await services.tokens.authenticate(rotated.token),
        undefined,
      );
      assert.equal(await services.tokens.authenticate(again.token), undefined);
      assert.ok(await services.tokens.authenticate(longer.token));
      assert.ok(await services.tokens.authenticate(first.token));
    });
  });
});
