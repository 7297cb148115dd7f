import express from "express";
import { requireScope } from "../http/authenticate.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { etagOf } from "../services/domain-errors.ts";
import type { GroupsService } from "../services/groups-service.ts";
import type { UsersService } from "../services/users-service.ts";
import {
  methodNotAllowed,
  sendScim,
  writeContextOf,
  type BaseUrlOf,
} from "./resource-routes.ts";
import { toScimError } from "./scim-errors.ts";
import { URN } from "./schemas.ts";

/** Most operations one bulk request may carry (advertised in ServiceProviderConfig). */
export const MAX_BULK_OPERATIONS = 1000;
/** Largest bulk request body in bytes (advertised in ServiceProviderConfig). */
export const MAX_BULK_PAYLOAD_BYTES = 1_048_576;

interface BulkOperation {
  method: string;
  path: string;
  bulkId?: string;
  data?: unknown;
  version?: string;
}

interface BulkResult {
  method: string;
  bulkId?: string;
  location?: string;
  version?: string;
  status: string;
  response?: unknown;
}

const PATH = /^\/(Users|Groups)(?:\/([^/?#]+))?$/;
const BULK_REF = /^bulkId:(.+)$/;

function parseOperations(body: unknown): {
  operations: BulkOperation[];
  failOnErrors: number;
} {
  const record = body as Record<string, unknown> | null;
  if (
    !record ||
    typeof record !== "object" ||
    !Array.isArray(record.Operations)
  ) {
    throw new AppError(
      "scim.invalid_syntax",
      "a BulkRequest needs an Operations array",
    );
  }
  if (record.Operations.length > MAX_BULK_OPERATIONS) {
    throw new AppError(
      "request.too_large",
      `a bulk request may carry at most ${MAX_BULK_OPERATIONS} operations`,
    );
  }
  const failOnErrors =
    typeof record.failOnErrors === "number" && record.failOnErrors > 0
      ? Math.floor(record.failOnErrors)
      : Number.POSITIVE_INFINITY;
  const operations = record.Operations.map((op, index) => {
    const o = op as Record<string, unknown> | null;
    if (!o || typeof o.method !== "string" || typeof o.path !== "string") {
      throw new AppError(
        "scim.invalid_syntax",
        `Operations[${index}] needs a method and a path`,
      );
    }
    return o as unknown as BulkOperation;
  });
  return { operations, failOnErrors };
}

/** Replaces `bulkId:x` references with created ids; returns the unresolved ones. */
function resolveReferences(
  value: unknown,
  ids: Map<string, string>,
  missing: Set<string>,
): unknown {
  if (typeof value === "string") {
    const match = BULK_REF.exec(value);
    if (!match) return value;
    const id = ids.get(match[1]!);
    if (id === undefined) missing.add(match[1]!);
    return id ?? value;
  }
  if (Array.isArray(value))
    return value.map((v) => resolveReferences(v, ids, missing));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        resolveReferences(v, ids, missing),
      ]),
    );
  }
  return value;
}

/** POST /Bulk (RFC 7644 §3.7): each operation is its own transaction, in dependency order. */
export function createBulkRoutes(deps: {
  users: UsersService;
  groups: GroupsService;
  baseUrlOf: BaseUrlOf;
  logger: Logger;
  translateError: (error: unknown) => unknown;
}): express.Router {
  const router = express.Router();
  router.post("/Bulk", requireScope("scim:write"), async (req, res) => {
    const { operations, failOnErrors } = parseOperations(req.body);
    const baseUrl = deps.baseUrlOf(req);
    const ids = new Map<string, string>();
    const results: (BulkResult | undefined)[] = operations.map(() => undefined);
    let errors = 0;
    let pending = operations.map((_, i) => i);
    // Operations may reference bulkIds created later in the list: retry until no progress.
    while (pending.length > 0 && errors < failOnErrors) {
      const deferred: number[] = [];
      for (const index of pending) {
        if (errors >= failOnErrors) break;
        const op = operations[index]!;
        const missing = new Set<string>();
        const data = resolveReferences(op.data, ids, missing);
        const path = resolveReferences(op.path, ids, missing) as string;
        if (missing.size > 0) {
          deferred.push(index);
          continue;
        }
        try {
          results[index] = await runOperation(
            op,
            path,
            data,
            req,
            baseUrl,
            ids,
          );
        } catch (error) {
          errors++;
          const { status, body } = toScimError(
            error,
            deps.logger,
            { requestId: req.requestId },
            deps.translateError,
          );
          results[index] = {
            method: op.method,
            ...(op.bulkId ? { bulkId: op.bulkId } : {}),
            status: String(status),
            response: body,
          };
        }
      }
      if (deferred.length === pending.length) {
        for (const index of deferred) {
          errors++;
          const op = operations[index]!;
          results[index] = {
            method: op.method,
            ...(op.bulkId ? { bulkId: op.bulkId } : {}),
            status: "409",
            response: {
              schemas: [URN.error],
              status: "409",
              scimType: "invalidValue",
              detail:
                "references a bulkId that no operation in this request created",
            },
          };
        }
        break;
      }
      pending = deferred;
    }
    sendScim(res, 200, {
      schemas: [URN.bulkResponse],
      Operations: results.filter((r): r is BulkResult => r !== undefined),
    });
  });

  async function runOperation(
    op: BulkOperation,
    path: string,
    data: unknown,
    req: express.Request,
    baseUrl: string,
    ids: Map<string, string>,
  ): Promise<BulkResult> {
    const match = PATH.exec(path);
    if (!match)
      throw new AppError(
        "scim.invalid_path",
        `unsupported bulk path "${path}"`,
      );
    const [, endpoint, id] = match;
    const method = op.method.toUpperCase();
    const ctx = { ...writeContextOf(req), method, path, body: data };
    const isUser = endpoint === "Users";
    const ifMatch = op.version;
    const base = { method, ...(op.bulkId ? { bulkId: op.bulkId } : {}) };
    if (method === "POST" && !id) {
      if (!op.bulkId)
        throw new AppError("scim.invalid_syntax", "a bulk POST needs a bulkId");
      const row = isUser
        ? await deps.users.createUser(ctx, data)
        : await deps.groups.createGroup(ctx, data);
      ids.set(op.bulkId, row.id);
      return {
        ...base,
        location: `${baseUrl}/${endpoint}/${row.id}`,
        version: etagOf(row.version),
        status: "201",
      };
    }
    if (!id)
      throw new AppError(
        "scim.invalid_path",
        `${method} needs a resource id in its path`,
      );
    if (method === "PUT" || method === "PATCH") {
      const row =
        method === "PUT"
          ? isUser
            ? await deps.users.replaceUser(ctx, id, data, ifMatch)
            : await deps.groups.replaceGroup(ctx, id, data, ifMatch)
          : isUser
            ? await deps.users.patchUser(ctx, id, data, ifMatch)
            : await deps.groups.patchGroup(ctx, id, data, ifMatch);
      return {
        ...base,
        location: `${baseUrl}/${endpoint}/${id}`,
        version: etagOf(row.version),
        status: "200",
      };
    }
    if (method === "DELETE") {
      if (isUser) await deps.users.deleteUser(ctx, id, ifMatch);
      else await deps.groups.deleteGroup(ctx, id, ifMatch);
      return {
        ...base,
        location: `${baseUrl}/${endpoint}/${id}`,
        status: "204",
      };
    }
    throw new AppError(
      "scim.invalid_syntax",
      `unsupported bulk method "${op.method}"`,
    );
  }
  router.all("/Bulk", methodNotAllowed("POST"));
  return router;
}
