import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const HASHED_FOLDERS = ["src", "migrations"];

/** Which code a run measured: the checked-out commit and a digest of the working tree's sources. */
export interface SourceVersion {
  /** The commit HEAD points at, read from .git (undefined outside a checkout). */
  commit?: string;
  /** SHA-256 (first 12 hex digits) over src/ and migrations/ as they are on disk. */
  sourceDigest: string;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory()
        ? listFiles(join(dir, entry.name))
        : [join(dir, entry.name)],
    ),
  );
  return nested.flat();
}

async function readCommit(): Promise<string | undefined> {
  try {
    const head = (
      await readFile(join(PROJECT_ROOT, ".git/HEAD"), "utf8")
    ).trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    try {
      return (await readFile(join(PROJECT_ROOT, ".git", ref), "utf8")).trim();
    } catch {
      const packed = await readFile(
        join(PROJECT_ROOT, ".git/packed-refs"),
        "utf8",
      );
      return packed
        .split("\n")
        .find((line) => line.endsWith(` ${ref}`))
        ?.split(" ")[0];
    }
  } catch {
    return undefined;
  }
}

/** Reads the commit and hashes the sources, so figures can be tied to the code they measured. */
export async function readSourceVersion(): Promise<SourceVersion> {
  const hash = createHash("sha256");
  for (const folder of HASHED_FOLDERS) {
    const files = (await listFiles(join(PROJECT_ROOT, folder))).sort();
    for (const file of files) {
      hash.update(file.slice(PROJECT_ROOT.length));
      hash.update("\0");
      hash.update(await readFile(file));
      hash.update("\0");
    }
  }
  const commit = await readCommit();
  return {
    ...(commit ? { commit } : {}),
    sourceDigest: hash.digest("hex").slice(0, 12),
  };
}
