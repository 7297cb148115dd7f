import { ScimDomainError } from "../domain/scim-domain-error.ts";
import { FilterSyntaxError } from "../domain/scim-filter.ts";
import { AppError, type ErrorCode } from "../errors.ts";

/** Runs pure domain code, turning its error types into AppErrors. */
export function fromDomain<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw toAppError(error);
  }
}

/** Maps domain error types to AppErrors; anything else passes through. */
export function toAppError(error: unknown): unknown {
  if (error instanceof ScimDomainError) {
    return new AppError(`scim.${error.kind}` as ErrorCode, error.message);
  }
  if (error instanceof FilterSyntaxError) {
    return new AppError("scim.invalid_filter", error.message);
  }
  return error;
}

/** Checks an If-Match header against the current version (RFC 7644 §3.14). */
export function checkIfMatch(
  ifMatch: string | undefined,
  version: number,
): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(",").map((t) => t.trim());
  if (tags.includes("*")) return;
  const current = etagOf(version);
  const matches = tags.some((t) => t === current || t === current.slice(2));
  if (!matches) {
    throw new AppError(
      "scim.version_mismatch",
      `the resource has changed (current version ${current}); read it again and retry`,
    );
  }
}

/** The weak ETag of a version. */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}
