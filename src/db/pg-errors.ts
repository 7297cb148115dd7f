import { AppError } from "../errors.ts";

interface PgLikeError {
  code?: string;
  constraint?: string;
  message?: string;
  name?: string;
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

const UNIQUE_MESSAGES: Record<string, string> = {
  users__tenant_id_lower_user_name:
    "userName is already taken (compared case-insensitively)",
  tenants__name: "a tenant with that name already exists",
};

/** True for errors worth retrying the whole transaction: serialization failure, deadlock. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as PgLikeError | null)?.code;
  return code === "40001" || code === "40P01";
}

/** Maps a PostgreSQL or driver error to an AppError, or returns undefined when it is not one. */
export function translatePgError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const pgError = error as PgLikeError | null;
  if (!pgError || typeof pgError !== "object") return undefined;
  const code = pgError.code ?? "";
  const message = pgError.message ?? "";
  if (code === "23505") {
    const constraint = pgError.constraint ?? "";
    if (constraint === "tenants__name") {
      return new AppError(
        "tenant.already_exists",
        UNIQUE_MESSAGES[constraint]!,
      );
    }
    return new AppError(
      "scim.uniqueness",
      UNIQUE_MESSAGES[constraint] ??
        "a resource with that unique value already exists",
      { constraint },
      { cause: error },
    );
  }
  if (code === "23503") {
    // A row we referenced (e.g. the group a member is added to) was deleted by a concurrent request.
    return new AppError(
      "scim.not_found",
      "the resource was deleted by another request",
      undefined,
      {
        cause: error,
      },
    );
  }
  if (
    CONNECTION_CODES.has(code) ||
    code.startsWith("08") ||
    /Timeout acquiring a connection|Unable to acquire a connection|aborted|Connection terminated|connection is closed|Client has encountered a connection error|PGlite is closed/i.test(
      message,
    )
  ) {
    return new AppError(
      "db.unavailable",
      "the database is unavailable; retry later",
      undefined,
      {
        cause: error,
      },
    );
  }
  return undefined;
}
