import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse/sync";
import { createServices } from "../../src/app.ts";
import { createFakeClock } from "../../src/clock.ts";
import { openDatabase } from "../../src/db/open-database.ts";
import { hashAuditEntry } from "../../src/domain/audit-hash.ts";
import { createLogger } from "../../src/logger.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("audit CLI", function () {
  // Each run of the binary starts tsx and opens the embedded database: seconds, not milliseconds.
  this.timeout(180_000);
  let dataDir: string;
  let tenantId: string;
  /** Entries of the tenant: the four user creations, and whatever the CLI itself audits. */
  let entryCount: number;

  /** Runs the real binary on the embedded database under dataDir. */
  function cli(...args: string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["bin/scim-lifecycle.js", ...args],
        {
          cwd: ROOT,
          // The embedded database on disk, whatever DATABASE_URL the other tests use.
          env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Opens the data dir in this process (the CLI must have exited: PGlite is single-process). */
  async function withDatabase<T>(
    work: (database: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
  ): Promise<T> {
    const database = await openDatabase({ dataDir });
    try {
      return await work(database);
    } finally {
      await database.close();
    }
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "scim-audit-cli-"));
    const created = await cli("tenant", "create", "acme", "--json");
    assert.equal(created.code, 0, created.stderr);
    tenantId = JSON.parse(created.stdout).id;
    // Writes through the services, as the server makes them: two users at 09:00, two at 10:00.
    await withDatabase(async (database) => {
      const clock = createFakeClock(new Date("2026-03-01T09:00:00.000Z"));
      const services = createServices({
        knex: database.knex,
        clock,
        logger: createLogger({ silent: true }),
      });
      const write = (userName: string) =>
        services.users.createUser(
          {
            principal: {
              tenantId,
              tenantName: "acme",
              tokenId: randomUUID(),
              scopes: ["scim:write"],
            },
            requestId: randomUUID(),
            method: "POST",
            path: "/scim/v2/Users",
            body: { userName },
          },
          {
            schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
            userName,
          },
        );
      try {
        await write("ada@example.com");
        await write("bob@example.com");
        clock.advance("1h");
        await write("cyd@example.com");
        await write("dee@example.com");
      } finally {
        await services.close();
      }
      const counted = await database
        .knex("audit_entries")
        .where({ tenant_id: tenantId })
        .count<{ count: string }[]>({ count: "*" });
      entryCount = Number(counted[0]!.count);
    });
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("exports a tenant's entries as CSV to stdout, filtered by time", async () => {
    const all = await cli(
      "audit",
      "export",
      "--tenant",
      "acme",
      "--format",
      "csv",
    );
    assert.equal(all.code, 0, all.stderr);
    const rows = parse(all.stdout, { columns: true }) as Record<
      string,
      string
    >[];
    assert.equal(rows.length, entryCount);
    assert.deepEqual(Object.keys(rows[0]!), [
      "id",
      "occurredAt",
      "key",
      "resourceType",
      "resourceId",
      "actorTokenId",
      "requestId",
      "tenantId",
      "detail",
      "chainIndex",
      "prevHash",
      "hash",
    ]);
    const created = rows.filter((r) => r.key === "scim.user.created");
    assert.deepEqual(
      created.map((r) => JSON.parse(r.detail!).body.userName),
      [
        "ada@example.com",
        "bob@example.com",
        "cyd@example.com",
        "dee@example.com",
      ],
    );

    const later = await cli(
      "audit",
      "export",
      "--tenant",
      "acme",
      "--format",
      "csv",
      "--since",
      "2026-03-01T09:30:00Z",
    );
    const laterRows = parse(later.stdout, { columns: true }) as Record<
      string,
      string
    >[];
    assert.deepEqual(
      laterRows
        .filter((r) => r.key === "scim.user.created")
        .map((r) => JSON.parse(r.detail!).body.userName),
      ["cyd@example.com", "dee@example.com"],
    );
  });

  it("verifies the chain, sealing what the server left unsealed, and prints the head", async () => {
    const text = await cli("audit", "verify", "--tenant", "acme");
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`intact: ${entryCount} entries checked`),
    );
    const head = new RegExp(`head: (${entryCount}:[0-9a-f]{64})`).exec(
      text.stdout,
    )?.[1];
    assert.ok(head, text.stdout);

    const json = await cli(
      "audit",
      "verify",
      "--tenant",
      "acme",
      "--json",
      "--anchor",
      head,
    );
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.deepEqual(
      [report.ok, report.checked, report.unsealed, report.anchor.ok],
      [true, entryCount, 0, true],
    );
  });

  it("exports JSON lines to a file, each line enough to recompute its hash", async () => {
    const file = join(
      dataDir,
      "..",
      `${dataDir.split("/").pop()}-export.jsonl`,
    );
    try {
      const res = await cli(
        "audit",
        "export",
        "--tenant",
        "acme",
        "--format",
        "jsonl",
        "--output",
        file,
      );
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, new RegExp(`exported ${entryCount} entries`));
      const lines = readFileSync(file, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, entryCount);
      for (const line of lines) {
        const { chain, ...content } = line;
        assert.equal(
          hashAuditEntry(content, {
            chainIndex: chain.index,
            prevHash: chain.prevHash,
          }),
          chain.hash,
        );
      }
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("refuses an unknown tenant with exit code 2", async () => {
    const unknown = await cli("audit", "verify", "--tenant", "nope");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no tenant named "nope"/);
  });

  it("exits 3 naming the first broken link once an entry is edited in the database", async () => {
    const edited = await withDatabase(async (database) => {
      const row = await database
        .knex("audit_entries")
        .where({ tenant_id: tenantId, chain_index: 2 })
        .first<{ id: string }>();
      await database.knex.raw(
        `UPDATE audit_entries SET detail = jsonb_set(detail, '{path}', '"/elsewhere"') WHERE id = ?`,
        [row!.id],
      );
      return row!.id;
    });
    const res = await cli("audit", "verify", "--tenant", "acme");
    assert.equal(res.code, 3, res.stdout + res.stderr);
    assert.match(
      res.stdout,
      new RegExp(`BROKEN at entry 2 \\(id ${edited}\\): hash_mismatch`),
    );
    assert.match(res.stdout, /1 entries before it are intact/);
  });
});
