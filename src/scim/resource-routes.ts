import express, { type Request, type Response } from "express";
import { requireScope } from "../http/authenticate.ts";
import { AppError } from "../errors.ts";
import { etagOf } from "../services/domain-errors.ts";
import type { GroupsService } from "../services/groups-service.ts";
import type { UsersService } from "../services/users-service.ts";
import type { WriteContext } from "../services/write-context.ts";
import { parseListRequest } from "./list-request.ts";
import type { FormattableRow } from "./format-resources.ts";
import {
  listResponseJson,
  type Projection,
  type ResourceReader,
} from "./resource-reader.ts";

/** Media type of every SCIM response (RFC 7644 §3.1). */
export const SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8";

/** Sends a SCIM JSON body. */
export function sendScim(res: Response, status: number, body: unknown): void {
  sendScimJson(res, status, JSON.stringify(body));
}

/** Sends a SCIM body that is already JSON text. */
export function sendScimJson(
  res: Response,
  status: number,
  json: string,
): void {
  res.status(status).type(SCIM_CONTENT_TYPE).send(json);
}

/** The base URL resource locations are built from. */
export type BaseUrlOf = (req: Request) => string;

function projectionOf(req: Request): Projection {
  const q = req.query as Record<string, unknown>;
  const projection: Projection = {};
  if (typeof q.attributes === "string") projection.attributes = q.attributes;
  if (typeof q.excludedAttributes === "string")
    projection.excludedAttributes = q.excludedAttributes;
  return projection;
}

/** Answers 405 with the `Allow` header RFC 9110 §15.5.6 requires. */
export function methodNotAllowed(allow: string): express.RequestHandler {
  return (req, res) => {
    res.setHeader("Allow", allow);
    throw new AppError(
      "request.method_not_allowed",
      `${req.method} is not allowed here; use ${allow}`,
    );
  };
}

/** Builds the audit context of a write request. */
export function writeContextOf(req: Request): WriteContext {
  return {
    principal: req.principal!,
    requestId: req.requestId,
    method: req.method,
    path: req.originalUrl.split("?")[0]!,
    body: req.body,
  };
}

function requireBody(req: Request): unknown {
  if (
    req.body === undefined ||
    req.body === null ||
    typeof req.body !== "object"
  ) {
    throw new AppError(
      "scim.invalid_syntax",
      "the request body must be a JSON object sent as application/scim+json or application/json",
    );
  }
  return req.body;
}

function idOf(req: Request): string {
  return String(req.params.id);
}

function ifMatchOf(req: Request): string | undefined {
  return req.get("if-match") ?? undefined;
}

/** Routes for /Users or /Groups: list, search, get, create, replace, patch, delete. */
export function createResourceRoutes(deps: {
  kind: "User" | "Group";
  reader: ResourceReader;
  users: UsersService;
  groups: GroupsService;
  baseUrlOf: BaseUrlOf;
}): express.Router {
  const { kind, reader, users, groups, baseUrlOf } = deps;
  const router = express.Router();
  const read = requireScope("scim:read");
  const write = requireScope("scim:write");
  const list = kind === "User" ? reader.listUsers : reader.listGroups;
  const get = kind === "User" ? reader.getUser : reader.getGroup;

  router.get("/", read, async (req, res) => {
    const request = parseListRequest(req.query as Record<string, unknown>);
    const page = await list(req.principal!, request, baseUrlOf(req));
    sendScimJson(res, 200, listResponseJson(page));
  });

  router.post("/.search", read, async (req, res) => {
    const request = parseListRequest(
      requireBody(req) as Record<string, unknown>,
    );
    const page = await list(req.principal!, request, baseUrlOf(req));
    sendScimJson(res, 200, listResponseJson(page));
  });

  router.all("/.search", methodNotAllowed("POST"));

  router.get("/:id", read, async (req, res) => {
    const { body, version } = await get(
      req.principal!,
      idOf(req),
      baseUrlOf(req),
      projectionOf(req),
    );
    res.setHeader("ETag", etagOf(version));
    sendScim(res, 200, body);
  });

  async function respondWith(
    req: Request,
    res: Response,
    status: number,
    row: FormattableRow,
  ) {
    const body = await reader.formatWritten(
      kind,
      req.principal!,
      row,
      baseUrlOf(req),
      projectionOf(req),
    );
    res.setHeader("ETag", etagOf(row.version));
    if (status === 201)
      res.setHeader("Location", (body.meta as { location: string }).location);
    sendScim(res, status, body);
  }

  router.post("/", write, async (req, res) => {
    const body = requireBody(req);
    const ctx = writeContextOf(req);
    const row =
      kind === "User"
        ? await users.createUser(ctx, body)
        : await groups.createGroup(ctx, body);
    await respondWith(req, res, 201, row);
  });

  router.put("/:id", write, async (req, res) => {
    const body = requireBody(req);
    const ctx = writeContextOf(req);
    const id = idOf(req);
    const row =
      kind === "User"
        ? await users.replaceUser(ctx, id, body, ifMatchOf(req))
        : await groups.replaceGroup(ctx, id, body, ifMatchOf(req));
    await respondWith(req, res, 200, row);
  });

  router.patch("/:id", write, async (req, res) => {
    const body = requireBody(req);
    const ctx = writeContextOf(req);
    const id = idOf(req);
    if (kind === "User") {
      await respondWith(
        req,
        res,
        200,
        await users.patchUser(ctx, id, body, ifMatchOf(req)),
      );
      return;
    }
    const row = await groups.patchGroup(ctx, id, body, ifMatchOf(req));
    // RFC 7644 §3.5.2: 204 is allowed unless `attributes` was asked for; a 10,000-member group
    // is not serialised back for every membership change.
    if (req.query.attributes !== undefined) {
      await respondWith(req, res, 200, row);
      return;
    }
    res.setHeader("ETag", etagOf(row.version));
    res.status(204).end();
  });

  router.delete("/:id", write, async (req, res) => {
    const ctx = writeContextOf(req);
    if (kind === "User") await users.deleteUser(ctx, idOf(req), ifMatchOf(req));
    else await groups.deleteGroup(ctx, idOf(req), ifMatchOf(req));
    res.status(204).end();
  });

  router.all("/", methodNotAllowed("GET, POST"));
  router.all("/:id", methodNotAllowed("GET, PUT, PATCH, DELETE"));
  return router;
}
