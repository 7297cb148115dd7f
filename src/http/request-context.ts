import { randomUUID } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import type { Principal } from "../domain/scopes.ts";
import type { Logger } from "../logger.ts";

declare module "express-serve-static-core" {
  interface Request {
    requestId: string;
    principal?: Principal;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Gives each request an id (reusing a sane incoming X-Request-Id) and logs it on completion. */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.get("x-request-id");
    req.requestId =
      incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader("X-Request-Id", req.requestId);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const level = res.statusCode >= 500 ? "error" : "http";
      // Skip building the entry at all when the level is off (the default): hot path.
      if (!logger.isLevelEnabled(level)) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.log(level, "request", {
        requestId: req.requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
        tenant: req.principal?.tenantName,
        tokenId: req.principal?.tokenId,
      });
    });
    next();
  };
}
