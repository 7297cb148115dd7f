/** The SCIM failure kinds the domain can report; the service layer maps each to `scim.<kind>`. */
export type ScimDomainErrorKind =
  | "invalid_value"
  | "invalid_syntax"
  | "invalid_path"
  | "no_target"
  | "mutability"
  | "invalid_filter";

/**
 * A client mistake found by pure domain code (coercion, PATCH, filter matching). It is not an
 * AppError because domain/ imports nothing of ours outside domain/.
 */
export class ScimDomainError extends Error {
  readonly kind: ScimDomainErrorKind;

  constructor(kind: ScimDomainErrorKind, message: string) {
    super(message);
    this.name = "ScimDomainError";
    this.kind = kind;
  }
}
