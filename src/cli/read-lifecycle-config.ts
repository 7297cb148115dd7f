import { readFile } from "node:fs/promises";
import { parse } from "yaml";

/** Reads a lifecycle config file (YAML, or JSON, which is YAML too). */
export async function readLifecycleConfig(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8");
  try {
    return parse(text, { prettyErrors: true });
  } catch (error) {
    throw new Error(`${path} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
