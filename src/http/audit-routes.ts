import { actionView } from "../domain/action.ts";
import { jsonApiErrors } from "./json-api-errors.ts";
import express, {
  type NextFunction,
  type Request,
  type Response,
} from "express";
import type { Principal } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { AuditService, AuditedAction } from "../services/audit-service.ts";
import type { TokensService } from "../services/tokens-service.ts";
import { createAuthenticate, requireScope } from "./authenticate.ts";

/** Where the auditor API lives. */
export const AUDIT_BASE_PATH = "/audit/v1";

/** What a cursor pages through; a cursor of one listing is refused by another. */
type CursorKind = "id" | "chain" | "action";

/** Opaque to clients (so that its form may change): the listing and the last key returned. */
function encodeCursor(kind: CursorKind, key: string): string {
  return Buffer.from(JSON.stringify({ o: kind, k: key })).toString("base64url");
}

function decodeCursor(kind: CursorKind, text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  const cursor = value as { o?: unknown; k?: unknown } | undefined;
  if (
    !cursor ||
    typeof cursor !== "object" ||
    typeof cursor.k !== "string" ||
    !/^\d{1,18}$/.test(cursor.k)
  ) {
    throw new AppError(
      "request.invalid",
      "the cursor is not valid: pass back a nextCursor exactly as received",
      { parameter: "cursor" },
    );
  }
  if (cursor.o !== kind) {
    throw new AppError(
      "request.invalid",
      "the cursor belongs to another listing (or another order)",
      { parameter: "cursor" },
    );
  }
  return cursor.k;
}

/**
 * Reads the query string: each parameter at most once, and only those the endpoint knows (a
 * misspelt filter must not silently widen what an auditor reads).
 */
function readQuery(
  req: Request,
  allowed: readonly string[],
): Record<string, string | undefined> {
  const query = req.query as Record<string, unknown>;
  const values: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!allowed.includes(name)) {
      throw new AppError(
        "request.invalid",
        allowed.length === 0
          ? `unknown parameter "${name}"; this endpoint takes none`
          : `unknown parameter "${name}"; this endpoint takes ${allowed.join(", ")}`,
        { parameter: name },
      );
    }
    if (typeof value !== "string") {
      throw new AppError(
        "request.invalid",
        `${name} must be given once, as a plain value`,
        { parameter: name },
      );
    }
    values[name] = value;
  }
  return values;
}

function limitOf(text: string | undefined): number | undefined {
  // "abc" becomes NaN, which the service refuses with a message naming the range.
  return text === undefined ? undefined : Number(text);
}

/**
 * The auditor API: the audit trail with its hash chain, actions with their attempts and outcomes,
 * a user's state in each app, and chain verification. Read-only; every endpoint needs `audit:read`
 * and sees only the token's tenant.
 */
export function createAuditRouter(deps: {
  tokens: TokensService;
  audit: AuditService;
  logger: Logger;
  translateError: (error: unknown) => unknown;
}): express.Router {
  const router = express.Router();
  const tenantOf = (req: Request): string =>
    (req.principal as Principal).tenantId;
  const wrap =
    (handler: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction) => {
      handler(req, res).catch(next);
    };

  router.use(createAuthenticate(deps.tokens));
  router.use(requireScope("audit:read"));

  router.get(
    "/events",
    wrap(async (req, res) => {
      const q = readQuery(req, [
        "user",
        "app",
        "key",
        "since",
        "until",
        "order",
        "cursor",
        "limit",
      ]);
      if (q.order !== undefined && q.order !== "id" && q.order !== "chain") {
        throw new AppError("request.invalid", "order must be id or chain", {
          parameter: "order",
        });
      }
      const order = q.order === "chain" ? "chain" : "id";
      const after =
        q.cursor === undefined ? undefined : decodeCursor(order, q.cursor);
      const page = await deps.audit.listEvents(
        tenantOf(req),
        {
          ...(q.user !== undefined ? { user: q.user } : {}),
          ...(q.app !== undefined ? { app: q.app } : {}),
          ...(q.key !== undefined ? { key: q.key } : {}),
          ...(q.since !== undefined ? { since: q.since } : {}),
          ...(q.until !== undefined ? { until: q.until } : {}),
        },
        {
          order,
          ...(after !== undefined ? { after } : {}),
          ...(q.limit !== undefined ? { limit: limitOf(q.limit) } : {}),
        },
      );
      const last = page.items[page.items.length - 1];
      const lastKey = last
        ? order === "chain"
          ? String(last.chain!.index)
          : last.id
        : after;
      res.json({
        events: page.items,
        hasMore: page.hasMore,
        // Also when nothing more is there yet: a reader following the trail resumes from it.
        nextCursor: lastKey === undefined ? null : encodeCursor(order, lastKey),
      });
    }),
  );

  router.get(
    "/actions",
    wrap(async (req, res) => {
      const q = readQuery(req, ["app", "state", "user", "cursor", "limit"]);
      const after =
        q.cursor === undefined ? undefined : decodeCursor("action", q.cursor);
      const page = await deps.audit.listActions(
        tenantOf(req),
        {
          ...(q.app !== undefined ? { app: q.app } : {}),
          ...(q.state !== undefined
            ? { states: q.state.split(",").filter(Boolean) }
            : {}),
          ...(q.user !== undefined ? { user: q.user } : {}),
        },
        {
          ...(after !== undefined ? { after } : {}),
          ...(q.limit !== undefined ? { limit: limitOf(q.limit) } : {}),
        },
      );
      const lastKey = page.items[page.items.length - 1]?.action.id ?? after;
      res.json({
        actions: page.items.map(formatAuditedAction),
        hasMore: page.hasMore,
        nextCursor:
          lastKey === undefined ? null : encodeCursor("action", lastKey),
      });
    }),
  );

  router.get(
    "/users/:id/apps",
    wrap(async (req, res) => {
      readQuery(req, []);
      const userId = String(req.params.id);
      const view = await deps.audit.userApps(tenantOf(req), userId);
      res.json({
        userId: userId.toLowerCase(),
        apps: view.apps.map((s) => ({
          app: s.app_id,
          state: s.state,
          since: s.since,
          ref: s.ref,
          updatedAt: s.updated_at,
        })),
        pendingActions: view.pending.map(actionView),
      });
    }),
  );

  router.get(
    "/verify",
    wrap(async (req, res) => {
      const q = readQuery(req, ["anchor"]);
      res.json(await deps.audit.verify(tenantOf(req), q.anchor));
    }),
  );

  router.use((_req, _res, next) => {
    next(
      new AppError(
        "request.not_found",
        "no such audit endpoint (GET events, actions, users/{id}/apps, verify)",
      ),
    );
  });
  router.use(
    jsonApiErrors({
      logger: deps.logger,
      translateError: deps.translateError,
      api: "audit",
    }),
  );
  return router;
}

function formatAuditedAction({ action, history }: AuditedAction) {
  return { ...actionView(action), history };
}
