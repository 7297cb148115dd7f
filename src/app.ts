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
import { ADMIN_BASE_PATH, createAdminRouter } from "./http/admin-routes.ts";
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
  const executor = createActionExecutor({
    knex: deps.workerKnex ?? knex,
    clock,
    logger,
    policies,
    appConnectors,
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
  return {
    schemas,
    userReads,
    policies,
    appConnectors,
    worker,
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
  app.use(requestContext(deps.logger));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await deps.knex.raw("select 1");
      const pending = await listPendingMigrations(deps.knex);
      if (pending.length > 0) {
        res.status(503).json({ status: "migrations pending", pending });
        return;
      }
      res.json({ status: "ready" });
    } catch {
      res.status(503).json({ status: "database unreachable" });
    }
  });

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

  app.use((_req, res) => {
    res.status(404).json({
      error: "not found",
      hint: `the SCIM API is under ${SCIM_BASE_PATH}`,
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
