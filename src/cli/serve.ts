import type { Server } from "node:http";
import { createApp } from "../app.ts";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import type { Logger } from "../logger.ts";
import { SCIM_BASE_PATH } from "../scim/scim-router.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";

/** Opens the database, migrates, ensures a token exists, and listens until SIGTERM/SIGINT. */
export async function serve(config: Config, logger: Logger): Promise<Server> {
  const database = await openConfiguredDatabase(config);
  const applied = await migrateToLatest(database.knex);
  if (applied.length > 0)
    logger.info("migrations applied", { migrations: applied });
  const { app, services } = createApp({
    knex: database.knex,
    clock: systemClock,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    ...(config.publicBaseUrl ? { publicBaseUrl: config.publicBaseUrl } : {}),
  });
  const issued = await services.tokens.ensureBootstrap(config.bootstrapToken);
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const address = server.address();
  const port =
    typeof address === "object" && address ? address.port : config.port;
  if (issued) {
    // Printed once to the terminal, never to the log: only the digest is stored.
    process.stdout.write(
      `\nCreated tenant "default" with an admin token (shown once, store it now):\n\n  ${issued.secret}\n\n` +
        `Try: curl -H "Authorization: Bearer ${issued.secret}" http://127.0.0.1:${port}${SCIM_BASE_PATH}/Users\n\n`,
    );
  }
  logger.info("listening", {
    url: `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}${SCIM_BASE_PATH}`,
    database: database.kind,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    server.close(() => {
      database.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return server;
}
