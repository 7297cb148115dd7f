import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A server process started by a test, with its output so far. */
export interface RunningServer {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
}

/** Starts `scim-lifecycle serve` as a real process on a free port, as `npm start` does. */
export async function startServer(
  env: Record<string, string>,
  args: string[] = [],
): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "serve", ...args],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        // `npm start` runs on the embedded database, whatever DATABASE_URL the tests use.
        DATABASE_URL: "",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      60_000,
    );
    const check = () => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return { child, baseUrl, output: () => output };
}

/** Stops a server with SIGTERM (as an orchestrator does) and returns its exit code. */
export async function stopServer(
  server: RunningServer,
): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    server.child.once("exit", resolve),
  );
  server.child.kill("SIGTERM");
  return exited;
}
