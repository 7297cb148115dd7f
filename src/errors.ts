/** Every error the application raises on purpose, with its HTTP status and SCIM `scimType`. */
export const ERROR_CATALOGUE = {
  "scim.invalid_filter": { status: 400, scimType: "invalidFilter" },
  "scim.too_many": { status: 400, scimType: "tooMany" },
  "scim.invalid_syntax": { status: 400, scimType: "invalidSyntax" },
  "scim.invalid_value": { status: 400, scimType: "invalidValue" },
  "scim.invalid_path": { status: 400, scimType: "invalidPath" },
  "scim.no_target": { status: 400, scimType: "noTarget" },
  "scim.mutability": { status: 400, scimType: "mutability" },
  "scim.invalid_version": { status: 400, scimType: "invalidVers" },
  "scim.invalid_cursor": { status: 400, scimType: "invalidCursor" },
  "scim.uniqueness": { status: 409, scimType: "uniqueness" },
  "scim.not_found": { status: 404, scimType: undefined },
  "scim.version_mismatch": { status: 412, scimType: undefined },
  "scim.conflict": { status: 409, scimType: undefined },
  "request.not_found": { status: 404, scimType: undefined },
  "request.method_not_allowed": { status: 405, scimType: undefined },
  "request.too_large": { status: 413, scimType: undefined },
  "request.unsupported_media_type": { status: 415, scimType: undefined },
  "request.not_implemented": { status: 501, scimType: undefined },
  "request.invalid": { status: 400, scimType: undefined },
  "auth.missing_token": { status: 401, scimType: undefined },
  "auth.invalid_token": { status: 401, scimType: undefined },
  "auth.missing_scope": { status: 403, scimType: undefined },
  "tenant.not_found": { status: 404, scimType: undefined },
  "tenant.already_exists": { status: 409, scimType: undefined },
  "token.not_found": { status: 404, scimType: undefined },
  "policy.invalid": { status: 400, scimType: undefined },
  "action.not_found": { status: 404, scimType: undefined },
  "action.wrong_state": { status: 409, scimType: undefined },
  "db.unavailable": { status: 503, scimType: undefined },
  "db.schema_newer_than_code": { status: 503, scimType: undefined },
  internal: { status: 500, scimType: undefined },
} as const satisfies Record<
  string,
  { status: number; scimType: string | undefined }
>;

/** A known error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The one error type services and the domain throw. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get scimType(): string | undefined {
    return ERROR_CATALOGUE[this.code].scimType;
  }
}

/** True for an AppError with the given code. */
export function isAppError(
  error: unknown,
  code?: ErrorCode,
): error is AppError {
  return (
    error instanceof AppError && (code === undefined || error.code === code)
  );
}
