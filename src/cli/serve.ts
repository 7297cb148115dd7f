import type { Server } from "node:http";
import { createApp } from "../app.ts";
import { systemClock } from "../clock.ts";
import { createSecretReader, type Config } from "../config.ts";
import { applyLifecycleConfig } from "../services/lifecycle-config.ts";
import { readLifecycleConfig } from "./read-lifecycle-config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { openDatabase } from "../db/open-database.ts";
import type { Logger } from "../logger.ts";
import { SCIM_BASE_PATH } from "../scim/scim-router.ts";
import { createClusterMetricsClient } from "./cluster-metrics.ts";
import { createGracefulShutdown } from "./graceful-shutdown.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";

/**
 * Opens the database, migrates, ensures a token exists, and listens until SIGTERM/SIGINT.
 * A cluster worker skips the set-up its primary already did.
 */
export async function serve(
  config: Config,
  logger: Logger,
  options: { clusterWorker?: boolean; role?: ServeRole } = {},
): Promise<Server | undefined> {
  const role = options.role ?? "all";
  const database = await openConfiguredDatabase(config);
  if (!options.clusterWorker) {
    const applied = await migrateToLatest(database.knex);
    if (applied.length > 0)
      logger.info("migrations applied", { migrations: applied });
  }
  // With PostgreSQL, the worker gets connections of its own (see LifecycleDeps.workerKnex).
  const workerDatabase =
    config.databaseUrl && role !== "api"
      ? await openDatabase({
          databaseUrl: config.databaseUrl,
          poolMax: Math.max(4, Math.ceil(config.workerConcurrency / 2)),
        })
      : undefined;
  // A cluster worker's /metrics answers for every process (see cluster-metrics.ts).
  const clusterMetrics = options.clusterWorker
    ? createClusterMetricsClient()
    : undefined;
  const { app, services } = createApp({
    // A worker process serves only its probes and metrics.
    ...(role === "worker" ? { surface: "ops" as const } : {}),
    ...(workerDatabase ? { workerKnex: workerDatabase.knex } : {}),
    ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
    ...(clusterMetrics ? { scrapeMetrics: clusterMetrics.scrape } : {}),
    knex: database.knex,
    clock: systemClock,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    ...(config.publicBaseUrl ? { publicBaseUrl: config.publicBaseUrl } : {}),
    readSecret: createSecretReader(),
    outbound: { allowLinkLocal: config.outboundAllowLinkLocal },
    workerConcurrency: config.workerConcurrency,
    actionLeaseMs: config.actionLeaseMs,
  });
  clusterMetrics?.share(services.metrics.registry);
  // The API processes make the first token; a worker never prints one.
  const issued =
    options.clusterWorker || role === "worker"
      ? undefined
      : await services.tokens.ensureBootstrap(config.bootstrapToken);
  if (config.lifecycleConfig && !options.clusterWorker) {
    const applied = await applyLifecycleConfig(
      { knex: database.knex, policies: services.policies },
      await readLifecycleConfig(config.lifecycleConfig),
      "file",
    );
    logger.info("lifecycle config applied", {
      file: config.lifecycleConfig,
      tenants: applied,
    });
  }
  if (role !== "api") {
    services.worker.start();
    services.auditSealer.start();
  }
  const closeDatabases = async () => {
    await workerDatabase?.close();
    await database.close();
  };
  const server = app.listen(config.port, config.host);
  const shutdown = createGracefulShutdown({
    server,
    services,
    closeDatabases,
    budgetMs: config.shutdownTimeoutMs,
    logger,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const address = server.address();
  const port =
    typeof address === "object" && address ? address.port : config.port;
  if (issued) printIssuedToken(issued.secret, port);
  if (role === "worker")
    logger.info("worker started", {
      workerId: services.worker.id,
      // Probes and metrics only: /healthz, /readyz, /metrics.
      url: `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`,
    });
  else
    logger.info("listening", {
      url: `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}${SCIM_BASE_PATH}`,
      database: database.kind,
    });
  onSignals(logger, config.shutdownTimeoutMs, (done) => {
    shutdown().then(() => done(), done);
  });
  return server;
}

/** Which parts a process runs: the SCIM API, the action worker, or both. */
export type ServeRole = "api" | "worker" | "all";

function onSignals(
  logger: Logger,
  budgetMs: number,
  stop: (done: (error?: unknown) => void) => void,
): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, budgetMs });
    stop((error) => {
      if (error)
        logger.error("shutdown failed", { error: (error as Error).message });
      process.exit(error ? 1 : 0);
    });
    setTimeout(() => {
      logger.error("shutdown took longer than its budget; exiting", {
        budgetMs,
      });
      process.exit(1);
    }, budgetMs).unref();
  };
  process.once("SIGTERM", () => handle("SIGTERM"));
  process.once("SIGINT", () => handle("SIGINT"));
}

/** Prints a freshly created admin token once, to the terminal and never to the log. */
export function printIssuedToken(secret: string, port: number): void {
  process.stdout.write(
    `\nCreated tenant "default" with an admin token (shown once, store it now):\n\n  ${secret}\n\n` +
      `Try: curl -H "Authorization: Bearer ${secret}" http://127.0.0.1:${port}${SCIM_BASE_PATH}/Users\n\n`,
  );
}
