import express, {
  type NextFunction,
  type Request,
  type Response,
} from "express";
import type { Knex } from "knex";
import type { Clock } from "./clock.ts";
import { listPendingMigrations } from "./db/migrate.ts";
import { translatePgError } from "./db/pg-errors.ts";
import { requestContext } from "./http/request-context.ts";
import { createHealthRouter } from "./http/health-routes.ts";
import { httpMetrics } from "./http/http-metrics.ts";
import { createMetricsRouter } from "./http/metrics-routes.ts";
import { createMetrics } from "./metrics.ts";
import { readQueueStats } from "./queue/queue-stats.ts";
import { ADMIN_BASE_PATH, createAdminRouter } from "./http/admin-routes.ts";
import {
  CONSOLE_BASE_PATH,
  createConsoleRouter,
} from "./http/console-router.ts";
import { AUDIT_BASE_PATH, createAuditRouter } from "./http/audit-routes.ts";
import { createAuditSealer } from "./services/audit-sealer.ts";
import { createAuditService } from "./services/audit-service.ts";
import type { Logger } from "./logger.ts";
import { buildResourceSchemas } from "./scim/schemas.ts";
import { createScimRouter, SCIM_BASE_PATH } from "./scim/scim-router.ts";
import { toScimError } from "./scim/scim-errors.ts";
import { createGroupsService } from "./services/groups-service.ts";
import { createTokensService } from "./services/tokens-service.ts";
import { createUsersService } from "./services/users-service.ts";
import { createUserReadBatcher } from "./store/user-read-batcher.ts";
import { createUserWriteBatcher } from "./store/user-write-batcher.ts";
import { CONNECTORS } from "./connectors/connector-registry.ts";
import type { RegisteredConnector } from "./connectors/connector-registry.ts";
import { createWorker } from "./queue/worker.ts";
import { createActionExecutor } from "./services/action-executor.ts";
import { createActionPlanner } from "./services/action-planner.ts";
import { createActionsService } from "./services/actions-service.ts";
import {
  createAppConnectors,
  type OutboundPolicy,
} from "./services/app-connectors.ts";
import { createPolicyService } from "./services/policy-service.ts";

/** Everything the app needs from outside. */
export interface AppDeps extends LifecycleDeps {
  knex: Knex;
  clock: Clock;
  logger: Logger;
  maxBodyBytes?: number;
  publicBaseUrl?: string;
  trustProxy?: boolean;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /**
   * `ops`: only /healthz, /readyz and /metrics (a `--role worker` process, so it can be probed and
   * scraped). Default `full`: every API.
   */
  surface?: "full" | "ops";
  /** What GET /metrics serves (default: this app's registry; a cluster worker asks its primary). */
  scrapeMetrics?: () => Promise<{ contentType: string; body: string }>;
}

/** What the lifecycle engine needs from outside (all optional: defaults suit tests and dev). */
export interface LifecycleDeps {
  /** Connectors apps may use, by id (default: all built-in ones). */
  connectors?: ReadonlyMap<string, RegisteredConnector>;
  /** Resolves `{ env: NAME }` secrets (default: none are set). */
  readSecret?: (name: string) => string | undefined;
  outbound?: OutboundPolicy;
  workerConcurrency?: number;
  /**
   * A pool of its own for the action worker (PostgreSQL), so that a burst of SCIM writes does not
   * starve the actions it plans. Default: the app's pool.
   */
  workerKnex?: Knex;
  workerPollMs?: number;
  actionLeaseMs?: number;
}

/** Builds the services (the composition root for everything but the HTTP listener). */
export function createServices(
  deps: Pick<AppDeps, "knex" | "clock" | "logger"> & LifecycleDeps,
) {
  const { knex, clock, logger } = deps;
  const schemas = buildResourceSchemas();
  const userReads = createUserReadBatcher(knex);
  const userWrites = createUserWriteBatcher(knex);
  const appConnectors = createAppConnectors({
    connectors: deps.connectors ?? CONNECTORS,
    readSecret: deps.readSecret ?? (() => undefined),
    clock,
    logger,
    ...(deps.outbound ? { outbound: deps.outbound } : {}),
  });
  const policies = createPolicyService({
    knex,
    clock,
    logger,
    appConnectors,
    schemas,
  });
  const planner = createActionPlanner({ knex, policies, userReads, schemas });
  // A registry per instance: apps built side by side (tests) never share counters.
  const metrics = createMetrics({
    logger,
    readQueue: () => readQueueStats(knex, clock.now()),
    now: () => clock.now(),
  });
  const executor = createActionExecutor({
    knex: deps.workerKnex ?? knex,
    clock,
    logger,
    policies,
    appConnectors,
    observer: metrics,
  });
  const worker = createWorker({
    db: deps.workerKnex ?? knex,
    clock,
    logger,
    handle: executor.handle,
    ...(deps.workerConcurrency ? { concurrency: deps.workerConcurrency } : {}),
    ...(deps.workerPollMs ? { pollMs: deps.workerPollMs } : {}),
    ...(deps.actionLeaseMs ? { leaseMs: deps.actionLeaseMs } : {}),
  });
  const onActionsPlanned = () => worker.nudge();
  // Chains audit entries in the background; started where the worker is (serve.ts).
  const auditSealer = createAuditSealer({
    db: deps.workerKnex ?? knex,
    clock,
    logger,
  });
  return {
    schemas,
    userReads,
    policies,
    appConnectors,
    worker,
    metrics,
    auditSealer,
    audit: createAuditService({ knex }),
    actions: createActionsService({ knex, clock, policies, planner }),
    tokens: createTokensService(deps),
    users: createUsersService({
      knex,
      clock,
      schema: schemas.user,
      userReads,
      userWrites,
      planner,
      onActionsPlanned,
      hasLifecycle: (tenantId) => policies.hasLifecycle(tenantId),
    }),
    groups: createGroupsService({
      knex,
      clock,
      schema: schemas.group,
      planner,
      onActionsPlanned,
    }),
    /** Stops the worker and closes outbound connections (not the database). */
    async close(): Promise<void> {
      await worker.stop();
      await auditSealer.stop();
      await appConnectors.close();
    },
  };
}

/** The services' interface. */
export type Services = ReturnType<typeof createServices>;

/** Builds the express app (no listen). */
export function createApp(deps: AppDeps): {
  app: express.Express;
  services: Services;
} {
  const services = createServices(deps);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("trust proxy", deps.trustProxy ?? false);
  app.use(httpMetrics(app, services.metrics));
  app.use(requestContext(deps.logger));

  app.use(
    createHealthRouter({
      pingDatabase: () => deps.knex.raw("select 1"),
      listPendingMigrations: () => listPendingMigrations(deps.knex),
      workerStatus: () => services.worker.status(),
      logger: deps.logger,
    }),
  );
  app.use(
    createMetricsRouter({
      scrape: deps.scrapeMetrics ?? (() => services.metrics.scrape()),
      ...(deps.metricsToken ? { token: deps.metricsToken } : {}),
      logger: deps.logger,
    }),
  );

  if (deps.surface !== "ops") mountApis(app, deps, services);

  app.use((_req, res) => {
    res.status(404).json({
      error: "not found",
      hint:
        deps.surface === "ops"
          ? "this process runs the action worker: only /healthz, /readyz and /metrics"
          : `the SCIM API is under ${SCIM_BASE_PATH}`,
    });
  });
  app.use(
    (error: unknown, req: Request, res: Response, _next: NextFunction) => {
      const { status, body } = toScimError(
        error,
        deps.logger,
        { requestId: req.requestId },
        translatePgError,
      );
      if (!res.headersSent) res.status(status).json(body);
    },
  );
  return { app, services };
}

/** The SCIM, admin and auditor APIs and the console. */
function mountApis(
  app: express.Express,
  deps: AppDeps,
  services: Services,
): void {
  app.use(
    SCIM_BASE_PATH,
    createScimRouter({
      db: deps.knex,
      schemas: services.schemas,
      userReads: services.userReads,
      hasLifecycle: (tenantId) => services.policies.hasLifecycle(tenantId),
      tokens: services.tokens,
      users: services.users,
      groups: services.groups,
      logger: deps.logger,
      translateError: translatePgError,
      maxBodyBytes: deps.maxBodyBytes ?? 1_048_576,
      ...(deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {}),
    }),
  );

  app.use(
    ADMIN_BASE_PATH,
    createAdminRouter({
      tokens: services.tokens,
      policies: services.policies,
      actions: services.actions,
      logger: deps.logger,
      translateError: translatePgError,
    }),
  );
  app.use(
    AUDIT_BASE_PATH,
    createAuditRouter({
      tokens: services.tokens,
      audit: services.audit,
      logger: deps.logger,
      translateError: translatePgError,
    }),
  );
  app.use(
    CONSOLE_BASE_PATH,
    createConsoleRouter({
      db: deps.knex,
      clock: deps.clock,
      logger: deps.logger,
      tokens: services.tokens,
      actions: services.actions,
      policies: services.policies,
      appConnectors: services.appConnectors,
      translateError: translatePgError,
    }),
  );
}
