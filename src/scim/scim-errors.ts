import type { Logger } from "../logger.ts";
import { AppError } from "../errors.ts";
import { URN } from "./schemas.ts";

/** The SCIM Error message body (RFC 7644 §3.12). */
export interface ScimErrorBody {
  schemas: [typeof URN.error];
  status: string;
  scimType?: string;
  detail: string;
}

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/**
 * Turns any error into an HTTP status and SCIM error body. Known errors keep their detail;
 * unknown ones become a generic 500 and are logged with their cause.
 */
export function toScimError(
  raw: unknown,
  logger: Logger,
  context: Record<string, unknown> = {},
  translate: (error: unknown) => unknown = (e) => e,
): { status: number; body: ScimErrorBody } {
  const error = raw instanceof AppError ? raw : (translate(raw) ?? raw);
  if (error instanceof AppError) {
    if (error.status >= 500) {
      logger.error(error.message, {
        ...context,
        code: error.code,
        cause: String(error.cause ?? ""),
      });
    }
    return {
      status: error.status,
      body: body(error.status, error.message, error.scimType),
    };
  }
  const http = error as HttpLikeError | null;
  const status = http?.status ?? http?.statusCode;
  if (http && typeof status === "number" && status >= 400 && status < 500) {
    // body-parser and express raise these for malformed or oversized requests.
    switch (http.type) {
      case "entity.too.large":
        return {
          status: 413,
          body: body(413, "the request body is larger than the limit"),
        };
      case "entity.parse.failed":
        return {
          status: 400,
          body: body(
            400,
            `the request body is not valid JSON: ${http.message ?? ""}`,
            "invalidSyntax",
          ),
        };
      case "encoding.unsupported":
      case "charset.unsupported":
        return {
          status: 415,
          body: body(415, http.message ?? "unsupported encoding"),
        };
      default:
        return {
          status,
          body: body(
            status,
            http.expose ? (http.message ?? "bad request") : "bad request",
          ),
        };
    }
  }
  logger.error("unhandled error", {
    ...context,
    error: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  return { status: 500, body: body(500, "internal server error") };
}

function body(
  status: number,
  detail: string,
  scimType?: string,
): ScimErrorBody {
  return {
    schemas: [URN.error],
    status: String(status),
    ...(scimType ? { scimType } : {}),
    detail,
  };
}
