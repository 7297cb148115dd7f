import cluster from "node:cluster";
import { systemClock } from "../clock.ts";
import { createServices } from "../app.ts";
import { createSecretReader, type Config } from "../config.ts";
import { applyLifecycleConfig } from "../services/lifecycle-config.ts";
import { readLifecycleConfig } from "./read-lifecycle-config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import type { Logger } from "../logger.ts";
import { createTokensService } from "../services/tokens-service.ts";
import { serveClusterMetrics } from "./cluster-metrics.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";
import { printIssuedToken, serve, type ServeRole } from "./serve.ts";

const RESTART_DELAY_MS = 1_000;
/** How much longer than a worker's shutdown budget the primary waits for it before giving up. */
const SHUTDOWN_MARGIN_MS = 2_000;

/**
 * Runs `WEB_CONCURRENCY` API processes sharing one port (node:cluster). The primary migrates and
 * bootstraps once, then forks workers and replaces any that die; SIGTERM stops them all.
 */
export async function serveCluster(
  config: Config,
  logger: Logger,
  role: ServeRole = "all",
): Promise<void> {
  if (!cluster.isPrimary) {
    await serve(config, logger, { clusterWorker: true, role });
    return;
  }
  const database = await openConfiguredDatabase(config);
  let issuedSecret: string | undefined;
  try {
    const applied = await migrateToLatest(database.knex);
    if (applied.length > 0)
      logger.info("migrations applied", { migrations: applied });
    const tokens = createTokensService({
      knex: database.knex,
      clock: systemClock,
      logger,
    });
    issuedSecret = (await tokens.ensureBootstrap(config.bootstrapToken))
      ?.secret;
    if (config.lifecycleConfig) {
      const services = createServices({
        knex: database.knex,
        clock: systemClock,
        logger,
        readSecret: createSecretReader(),
      });
      try {
        const applied = await applyLifecycleConfig(
          { knex: database.knex, policies: services.policies },
          await readLifecycleConfig(config.lifecycleConfig),
          "file",
        );
        logger.info("lifecycle config applied", {
          file: config.lifecycleConfig,
          tenants: applied,
        });
      } finally {
        await services.close();
      }
    }
  } finally {
    await database.close();
  }
  if (issuedSecret) printIssuedToken(issuedSecret, config.port);
  serveClusterMetrics(logger);
  let stopping = false;
  let failedStop = false;
  const fork = () => cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      // A worker that overran its budget (or failed to close) exits 1: so does the whole.
      if (code !== 0) failedStop = true;
      if (Object.keys(cluster.workers ?? {}).length === 0)
        process.exit(failedStop ? 1 : 0);
      return;
    }
    logger.error("API worker died; starting another", {
      pid: worker.process.pid,
      code,
      signal,
    });
    setTimeout(fork, RESTART_DELAY_MS);
  });
  for (let i = 0; i < config.webConcurrency; i++) fork();
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down workers", { signal });
    for (const worker of Object.values(cluster.workers ?? {}))
      worker?.process.kill("SIGTERM");
    setTimeout(
      () => process.exit(1),
      config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS,
    ).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
