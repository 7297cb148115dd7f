import type { Server, ServerResponse } from "node:http";
import type { Services } from "../app.ts";
import type { Logger } from "../logger.ts";

/**
 * The end of the budget kept for what follows the drain (releasing actions, closing pools): a
 * quarter of it, at most 5 s. Both are single statements or local work when the database answers.
 */
const CLOSE_RESERVE_MAX_MS = 5_000;
/** How long closing the services may take once runs were abandoned (their sockets stay open). */
const ABANDONED_CLOSE_MS = 1_000;

/**
 * Builds the SIGTERM path of a server process, within `budgetMs` from the signal:
 * 1. stop accepting connections; requests in flight finish (their keep-alive connections close
 *    after the response); at the drain deadline the connections still open are cut;
 * 2. at the same time the worker stops claiming and its runs in flight finish; runs still going at
 *    the deadline are released, so another process runs them at once (never lost: see
 *    releaseActions; never twice in effect: the same idempotency key goes downstream);
 * 3. services and databases close.
 * Call it right after `listen`, so it sees every request.
 */
export function createGracefulShutdown(deps: {
  server?: Server;
  services: Pick<Services, "worker" | "close">;
  closeDatabases: () => Promise<void>;
  budgetMs: number;
  logger: Logger;
}): () => Promise<void> {
  const { services, logger, budgetMs } = deps;
  const drainHttp = deps.server
    ? createHttpDrain(deps.server, logger)
    : undefined;
  return async () => {
    const started = Date.now();
    const reserveMs = Math.min(CLOSE_RESERVE_MAX_MS, Math.floor(budgetMs / 4));
    const drainUntil = started + budgetMs - reserveMs;
    const [, report] = await Promise.all([
      drainHttp?.(drainUntil),
      services.worker.stop({ graceMs: drainUntil - Date.now() }),
    ]);
    // Closing the outbound pools waits for the calls on them: after abandoned runs, only briefly;
    // the process exit ends their sockets.
    const closeUntil =
      report.abandoned > 0
        ? Math.min(
            Date.now() + ABANDONED_CLOSE_MS,
            started + budgetMs - reserveMs / 2,
          )
        : started + budgetMs - reserveMs / 2;
    const closing = services.close().catch((error: unknown) => {
      logger.error("services failed to close", {
        error: (error as Error).message,
      });
    });
    if (!(await settledBy(closing, closeUntil)) && report.abandoned === 0) {
      logger.warn("services did not close in time; exiting without them");
    }
    await deps.closeDatabases();
    logger.info("shut down", {
      ms: Date.now() - started,
      ...(report.abandoned > 0 ? { releasedActions: report.released } : {}),
    });
  };
}

/** Stops accepting, closes connections as their requests end, cuts the rest at `until`. */
function createHttpDrain(
  server: Server,
  logger: Logger,
): (until: number) => Promise<void> {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  // Node keeps a busy keep-alive connection open after close() until its keep-alive timeout;
  // a `Connection: close` answer, or closing it once idle, ends it with its request instead.
  server.on("request", (_req, res: ServerResponse) => {
    if (draining && !res.headersSent) res.setHeader("Connection", "close");
    inFlight.add(res);
    res.once("close", () => {
      inFlight.delete(res);
      if (draining) server.closeIdleConnections();
    });
  });
  return (until) => {
    draining = true;
    for (const res of inFlight) {
      if (!res.headersSent) res.setHeader("Connection", "close");
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          logger.warn("requests still running at the shutdown deadline", {
            requests: inFlight.size,
          });
          server.closeAllConnections();
        },
        Math.max(0, until - Date.now()),
      );
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
  };
}

/** Waits for `work` until `deadline` (epoch ms); true when it settled in time. */
async function settledBy(
  work: Promise<unknown>,
  deadline: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(
      () => resolve(false),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
