import { actionView } from "../domain/action.ts";
import { jsonApiErrors } from "./json-api-errors.ts";
import express, {
  type NextFunction,
  type Request,
  type Response,
} from "express";
import { ACTION_STATES } from "../domain/action.ts";
import type { Principal } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { ActionsService } from "../services/actions-service.ts";
import type { PolicyService } from "../services/policy-service.ts";
import type { TokensService } from "../services/tokens-service.ts";
import type { ActionState } from "../store/actions-store.ts";
import { createAuthenticate, requireScope } from "./authenticate.ts";

/** Where the JSON admin API lives. */
export const ADMIN_BASE_PATH = "/admin/v1";

/**
 * The admin JSON API: the tenant's policy (read, validate, apply, dry run) and the action queue
 * (list, retry, cancel). Reads need `audit:read`; changes need `admin`.
 */
export function createAdminRouter(deps: {
  tokens: TokensService;
  policies: PolicyService;
  actions: ActionsService;
  logger: Logger;
  translateError: (error: unknown) => unknown;
}): express.Router {
  const router = express.Router();
  const principal = (req: Request): Principal => req.principal!;
  const wrap =
    (handler: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction) => {
      handler(req, res).catch(next);
    };

  router.use(createAuthenticate(deps.tokens));
  router.use(express.json({ limit: "1mb" }));

  router.get(
    "/policy",
    requireScope("audit:read"),
    wrap(async (req, res) => {
      const current = await deps.policies.currentDocument(
        principal(req).tenantId,
      );
      res.json(current ?? { version: 0, document: { apps: [], rules: [] } });
    }),
  );
  router.post(
    "/policy/validate",
    requireScope("admin"),
    wrap(async (req, res) => {
      res.json({ problems: deps.policies.validate(req.body) });
    }),
  );
  router.put(
    "/policy",
    requireScope("admin"),
    wrap(async (req, res) => {
      const applied = await deps.policies.apply(
        principal(req).tenantId,
        req.body,
        { source: "api", tokenId: principal(req).tokenId },
      );
      res.status(applied.changed ? 201 : 200).json(applied);
    }),
  );
  router.post(
    "/policy/plan",
    requireScope("admin"),
    wrap(async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body.event !== "string" || typeof body.userId !== "string") {
        throw new AppError(
          "request.invalid",
          "send { event, userId, groupId?, document? }",
        );
      }
      const plan = await deps.actions.dryRun(principal(req).tenantId, {
        event: body.event,
        userId: body.userId,
        ...(typeof body.groupId === "string" ? { groupId: body.groupId } : {}),
        ...(body.document !== undefined ? { document: body.document } : {}),
      });
      res.json({
        actions: plan.actions.map((a) => ({
          app: a.app_id,
          action: a.kind,
          runAt: a.run_at,
          params: a.params,
          condition: a.condition,
          rule: a.rule_id,
          policyVersion: a.policy_version,
        })),
        cancels: plan.cancels.map((c) => ({
          app: c.app_id,
          actions: c.kinds ?? "all",
          rule: c.rule_id,
        })),
      });
    }),
  );

  router.get(
    "/actions",
    requireScope("audit:read"),
    wrap(async (req, res) => {
      const query = req.query as Record<string, string | undefined>;
      const states = query.state?.split(",").filter(Boolean) ?? [];
      for (const state of states) {
        if (!(ACTION_STATES as readonly string[]).includes(state)) {
          throw new AppError(
            "request.invalid",
            `state must be among ${ACTION_STATES.join(", ")}`,
          );
        }
      }
      const limit = Math.min(Number(query.limit ?? 100) || 100, 1000);
      const rows = await deps.actions.list(principal(req).tenantId, {
        ...(query.user ? { userId: query.user } : {}),
        ...(query.app ? { appId: query.app } : {}),
        ...(states.length ? { states: states as ActionState[] } : {}),
        ...(query.before ? { beforeId: query.before } : {}),
        limit,
      });
      res.json({
        actions: rows.map(actionView),
        ...(rows.length === limit
          ? { next: `?before=${rows[rows.length - 1]!.id}` }
          : {}),
      });
    }),
  );
  router.get(
    "/deprovisioning",
    requireScope("audit:read"),
    wrap(async (req, res) => {
      const days = Number(req.query.days ?? 30);
      if (!Number.isInteger(days) || days < 1 || days > 3650) {
        throw new AppError("request.invalid", "days must be 1 to 3650");
      }
      const apps = await deps.actions.deprovisioningClock(
        principal(req).tenantId,
        days,
      );
      res.json({
        days,
        apps: apps.map((a) => ({
          app: a.app_id,
          actions: a.actions,
          p50Ms: a.p50_ms,
          p99Ms: a.p99_ms,
          maxMs: a.max_ms,
        })),
      });
    }),
  );

  for (const verb of ["retry", "cancel"] as const) {
    router.post(
      `/actions/:id/${verb}`,
      requireScope("admin"),
      wrap(async (req, res) => {
        const id = String(req.params.id);
        const row =
          verb === "retry"
            ? await deps.actions.retry(principal(req), id)
            : await deps.actions.cancel(principal(req), id);
        res.json(actionView(row));
      }),
    );
  }

  router.use((_req, _res, next) => {
    next(new AppError("request.not_found", "no such admin endpoint"));
  });
  router.use(
    jsonApiErrors({
      logger: deps.logger,
      translateError: deps.translateError,
      api: "admin",
    }),
  );
  return router;
}
