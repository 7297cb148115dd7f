/**
 * Measures `scim-lifecycle import` on a generated HR master list, through the real binary:
 * a first run that creates every user, a re-run that finds them all unchanged, and a run where
 * a tenth of the rows changed. Each run goes through the SCIM write path with a lifecycle
 * policy, so events, audit entries and planned actions are written as for SCIM writes.
 *
 *   npx tsx bench/import-users.ts                          # 10,000 rows on PGlite (temp folder)
 *   DATABASE_URL=postgres://… npx tsx bench/import-users.ts  # on PostgreSQL (own database, dropped)
 *   BENCH_IMPORT_ROWS=50000 BENCH_IMPORT_CONCURRENCY=16 npx tsx bench/import-users.ts
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createBenchDatabase } from "./bench-database.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 10_000);
const TENANT = "bench-import";
/** Writes in flight on PostgreSQL (the CLI's default when unset). */
const CONCURRENCY = process.env.BENCH_IMPORT_CONCURRENCY;

interface Summary {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  elapsedMs: number;
  rowsPerSecond: number;
}

function run(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "bin/scim-lifecycle.js"), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function csvOf(rows: number, changedEvery: number | undefined): string {
  const lines = [
    "userName,externalId,givenName,familyName,displayName,email,title,department,employeeNumber,manager,active",
  ];
  for (let i = 0; i < rows; i++) {
    const n = String(i).padStart(6, "0");
    // Managers are earlier rows (a tree of ten reports each), as an HR export sorted by level lists them.
    const manager =
      i === 0 ? "" : `user${String(Math.floor((i - 1) / 10)).padStart(6, "0")}`;
    const title =
      changedEvery && i % changedEvery === 0 ? "Senior Engineer" : "Engineer";
    lines.push(
      `user${n},HR-${n},Given${n},Family${n},User ${n},user${n}@bench.test,${title},Dept ${i % 20},${n},${manager},true`,
    );
  }
  return lines.join("\n") + "\n";
}

const POLICY = `tenants:
  ${TENANT}:
    apps:
      - id: directory
        connector: log
    rules:
      - id: join
        on: user.created
        do: [{ app: directory, action: provision }]
      - id: change
        on: user.updated
        do: [{ app: directory, action: update }]
`;

async function main(): Promise<void> {
  const database = await createBenchDatabase(process.env.DATABASE_URL);
  const work = await mkdtemp(join(tmpdir(), "bench-import-"));
  try {
    const cli = async (args: string[]) => {
      const result = await run(database.env, args);
      if (result.code !== 0 && !args.includes("import"))
        throw new Error(`${args.join(" ")} failed: ${result.stderr}`);
      return result;
    };
    await cli(["tenant", "create", TENANT]);
    await writeFile(join(work, "policy.yaml"), POLICY);
    await cli(["policy", "apply", join(work, "policy.yaml")]);
    await writeFile(join(work, "users.csv"), csvOf(ROWS, undefined));
    await writeFile(join(work, "users-changed.csv"), csvOf(ROWS, 10));
    process.stdout.write(
      `import of ${ROWS} rows on ${database.kind} (${database.label})\n`,
    );
    const runs: [string, string][] = [
      ["first run (creates)", "users.csv"],
      ["re-run (unchanged)", "users.csv"],
      ["10% changed (updates)", "users-changed.csv"],
    ];
    for (const [label, file] of runs) {
      const started = performance.now();
      const result = await cli([
        "import",
        join(work, file),
        "--tenant",
        TENANT,
        "--json",
        ...(CONCURRENCY ? ["--concurrency", CONCURRENCY] : []),
      ]);
      const wallMs = performance.now() - started;
      const s = JSON.parse(result.stdout) as Summary;
      process.stdout.write(
        `${label.padEnd(24)} ${String(s.rowsPerSecond).padStart(6)} rows/s  ` +
          `(${(s.elapsedMs / 1000).toFixed(1)} s import, ${(wallMs / 1000).toFixed(1)} s with process start; ` +
          `created ${s.created}, updated ${s.updated}, unchanged ${s.unchanged}, failed ${s.failed})\n`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await database.dispose();
  }
}

await main();
