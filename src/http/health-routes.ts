import express from "express";
import type { Logger } from "../logger.ts";
import type { WorkerStatus } from "../queue/worker.ts";

/** How long a readiness check may take: probes time out after 1 s by default in Kubernetes. */
export const READINESS_CHECK_TIMEOUT_MS = 2_000;

/** One readiness check's verdict. */
interface CheckResult {
  ok: boolean;
  [detail: string]: unknown;
}

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (it can do its work: the database
 * answers, its migrations are all applied, and, where this process runs the action worker, the
 * worker loop is alive). An API-only process never started a worker and is not judged by one.
 * Not ready answers 503, naming the failed checks.
 */
export function createHealthRouter(deps: {
  pingDatabase: () => Promise<unknown>;
  listPendingMigrations: () => Promise<string[]>;
  workerStatus: () => WorkerStatus;
  logger: Logger;
}): express.Router {
  const router = express.Router();
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const checks: Record<string, CheckResult> = {};
    try {
      await withTimeout(deps.pingDatabase(), READINESS_CHECK_TIMEOUT_MS);
      checks.database = { ok: true };
    } catch (error) {
      checks.database = { ok: false, error: describe(error) };
      deps.logger.warn("readiness: database check failed", {
        error: (error as Error).message,
      });
    }
    if (checks.database.ok) {
      try {
        const pending = await withTimeout(
          deps.listPendingMigrations(),
          READINESS_CHECK_TIMEOUT_MS,
        );
        checks.migrations =
          pending.length === 0 ? { ok: true } : { ok: false, pending };
      } catch (error) {
        checks.migrations = { ok: false, error: describe(error) };
      }
    } else {
      checks.migrations = { ok: false, error: "not checked: no database" };
    }
    const worker = deps.workerStatus();
    checks.worker =
      worker === "idle"
        ? { ok: true, status: "not run in this process" }
        : { ok: worker === "running", status: worker };
    const failed = Object.keys(checks).filter((name) => !checks[name]!.ok);
    res.status(failed.length === 0 ? 200 : 503).json({
      status: failed.length === 0 ? "ready" : "not ready",
      failed,
      checks,
    });
  });
  return router;
}

// Unauthenticated: say what kind of failure, never the driver's message (hosts, users).
function describe(error: unknown): string {
  return error instanceof ReadinessTimeout ? "timed out" : "unreachable";
}

class ReadinessTimeout extends Error {}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ReadinessTimeout()), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
