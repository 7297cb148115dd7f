import express, {
  type NextFunction,
  type Request,
  type Response,
} from "express";
import type { Db } from "../db/open-database.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import { AppError } from "../errors.ts";
import { createAuthenticate } from "../http/authenticate.ts";
import type { Logger } from "../logger.ts";
import type { GroupsService } from "../services/groups-service.ts";
import type { TokensService } from "../services/tokens-service.ts";
import type { UsersService } from "../services/users-service.ts";
import { createBulkRoutes, MAX_BULK_PAYLOAD_BYTES } from "./bulk-routes.ts";
import { createDiscoveryRoutes } from "./discovery-routes.ts";
import type { UserReadBatcher } from "../store/user-read-batcher.ts";
import { createResourceReader } from "./resource-reader.ts";
import {
  createResourceRoutes,
  sendScim,
  type BaseUrlOf,
} from "./resource-routes.ts";
import { toScimError } from "./scim-errors.ts";

/** Path the SCIM API is served under. */
export const SCIM_BASE_PATH = "/scim/v2";

/** The SCIM 2.0 API: authentication, discovery, Users, Groups, Bulk, and SCIM error bodies. */
export function createScimRouter(deps: {
  db: Db;
  userReads: UserReadBatcher;
  /** Whether a tenant has lifecycle data (else user reads skip it). */
  hasLifecycle?: (tenantId: string) => Promise<boolean>;
  schemas: { user: ResourceSchema; group: ResourceSchema };
  tokens: TokensService;
  users: UsersService;
  groups: GroupsService;
  logger: Logger;
  maxBodyBytes: number;
  publicBaseUrl?: string;
  /** Maps infrastructure errors (database outages) to AppErrors; injected by the composition root. */
  translateError: (error: unknown) => unknown;
}): express.Router {
  const { logger } = deps;
  const baseUrlOf: BaseUrlOf = deps.publicBaseUrl
    ? () => deps.publicBaseUrl!.replace(/\/$/, "") + SCIM_BASE_PATH
    : (req: Request) =>
        `${req.protocol}://${req.get("host") ?? "localhost"}${SCIM_BASE_PATH}`;
  const reader = createResourceReader({
    db: deps.db,
    schemas: deps.schemas,
    userReads: deps.userReads,
    ...(deps.hasLifecycle ? { hasLifecycle: deps.hasLifecycle } : {}),
  });
  const router = express.Router();

  router.use(createAuthenticate(deps.tokens));
  router.use(
    express.json({
      type: ["application/scim+json", "application/json", "application/*+json"],
      limit: Math.max(deps.maxBodyBytes, MAX_BULK_PAYLOAD_BYTES),
    }),
  );
  router.use(createDiscoveryRoutes({ baseUrlOf }));
  router.use(
    createBulkRoutes({
      users: deps.users,
      groups: deps.groups,
      baseUrlOf,
      logger,
      translateError: deps.translateError,
    }),
  );
  const routeDeps = {
    reader,
    users: deps.users,
    groups: deps.groups,
    baseUrlOf,
  };
  router.use("/Users", createResourceRoutes({ kind: "User", ...routeDeps }));
  router.use("/Groups", createResourceRoutes({ kind: "Group", ...routeDeps }));
  router.use(() => {
    throw new AppError("request.not_found", "no such SCIM endpoint");
  });
  router.use(
    (error: unknown, req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(error);
      const { status, body } = toScimError(
        error,
        logger,
        { requestId: req.requestId },
        deps.translateError,
      );
      sendScim(res, status, body);
    },
  );
  return router;
}
