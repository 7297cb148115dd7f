import type { NextFunction, Request, Response } from "express";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";

/**
 * The error handler of the JSON APIs (admin, auditor): `{ error, message, details? }` with the
 * AppError's status; anything unknown is a logged 500 that leaks nothing.
 */
export function jsonApiErrors(deps: {
  logger: Logger;
  translateError: (error: unknown) => unknown;
  /** Names the API in the log line of an unexpected failure. */
  api: string;
}) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const translated = deps.translateError(error);
    const known = translated instanceof AppError ? translated : undefined;
    if (!known) {
      deps.logger.error(`${deps.api} request failed`, {
        requestId: req.requestId,
        error: (error as Error)?.message,
      });
    }
    const status = known?.status ?? 500;
    if (status === 401 && !res.getHeader("WWW-Authenticate"))
      res.setHeader("WWW-Authenticate", "Bearer");
    res.status(status).json({
      error: known?.code ?? "internal",
      message: known?.message ?? "internal error",
      ...(known?.details ? { details: known.details } : {}),
    });
  };
}
