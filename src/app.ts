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
import type { Logger } from "./logger.ts";
import { buildResourceSchemas } from "./scim/schemas.ts";
import { createScimRouter, SCIM_BASE_PATH } from "./scim/scim-router.ts";
import { toScimError } from "./scim/scim-errors.ts";
import { createGroupsService } from "./services/groups-service.ts";
import { createTokensService } from "./services/tokens-service.ts";
import { createUsersService } from "./services/users-service.ts";
import { createUserReadBatcher } from "./store/user-read-batcher.ts";

/** Everything the app needs from outside. */
export interface AppDeps {
  knex: Knex;
  clock: Clock;
  logger: Logger;
  maxBodyBytes?: number;
  publicBaseUrl?: string;
  trustProxy?: boolean;
}

/** Builds the services (the composition root for everything but the HTTP listener). */
export function createServices(
  deps: Pick<AppDeps, "knex" | "clock" | "logger">,
) {
  const schemas = buildResourceSchemas();
  const userReads = createUserReadBatcher(deps.knex);
  return {
    schemas,
    userReads,
    tokens: createTokensService(deps),
    users: createUsersService({
      knex: deps.knex,
      clock: deps.clock,
      schema: schemas.user,
      userReads,
    }),
    groups: createGroupsService({
      knex: deps.knex,
      clock: deps.clock,
      schema: schemas.group,
    }),
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
      tokens: services.tokens,
      users: services.users,
      groups: services.groups,
      logger: deps.logger,
      translateError: translatePgError,
      maxBodyBytes: deps.maxBodyBytes ?? 1_048_576,
      ...(deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {}),
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
