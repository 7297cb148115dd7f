import type { NextFunction, Request, RequestHandler, Response } from "express";
import passport from "passport";
import { Strategy as BearerStrategy } from "passport-http-bearer";
import type { Principal, Scope } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import type { TokensService } from "../services/tokens-service.ts";

const REALM = "scim-lifecycle";

/** Why a request was refused before it reached its handler (metrics label values). */
export type AuthFailureReason =
  "missing_token" | "invalid_token" | "missing_scope" | "invalid_metrics_token";

// Per response, so the metrics middleware can count refusals without every router taking an
// observer; the entry goes with the response object.
const authFailures = new WeakMap<Response, AuthFailureReason>();

/** Notes why a request was refused, for the request metrics. */
export function markAuthFailure(
  res: Response,
  reason: AuthFailureReason,
): void {
  authFailures.set(res, reason);
}

/** Why the request of this response was refused, if it was. */
export function authFailureOf(res: Response): AuthFailureReason | undefined {
  return authFailures.get(res);
}

/**
 * Bearer-token authentication through passport-http-bearer. Failures answer 401 with a
 * `WWW-Authenticate: Bearer` challenge (RFC 6750 §3); the error body is the caller's format.
 */
export function createAuthenticate(tokens: TokensService): RequestHandler {
  const authenticator = new passport.Authenticator();
  authenticator.use(
    "bearer",
    new BearerStrategy((secret, done) => {
      tokens.authenticate(secret).then(
        (principal) => done(null, principal ?? false),
        (error: unknown) => done(error),
      );
    }),
  );
  return (req: Request, res: Response, next: NextFunction) => {
    const hasToken = /^bearer\s+\S/i.test(req.get("authorization") ?? "");
    authenticator.authenticate(
      "bearer",
      { session: false },
      (error: unknown, principal: Principal | false) => {
        if (error) return next(error);
        if (!principal) {
          markAuthFailure(res, hasToken ? "invalid_token" : "missing_token");
          res.setHeader(
            "WWW-Authenticate",
            hasToken
              ? `Bearer realm="${REALM}", error="invalid_token"`
              : `Bearer realm="${REALM}"`,
          );
          return next(
            hasToken
              ? new AppError(
                  "auth.invalid_token",
                  "the bearer token is not valid, expired or revoked",
                )
              : new AppError(
                  "auth.missing_token",
                  "a bearer token is required (Authorization: Bearer <token>)",
                ),
          );
        }
        req.principal = principal;
        next();
      },
    )(req, res, next);
  };
}

/** Requires one of the scopes (`admin` grants all). */
export function requireScope(scope: Scope): RequestHandler {
  return (req, res, next) => {
    const scopes = req.principal?.scopes ?? [];
    if (scopes.includes(scope) || scopes.includes("admin")) return next();
    markAuthFailure(res, "missing_scope");
    next(
      new AppError(
        "auth.missing_scope",
        `this token lacks the "${scope}" scope`,
      ),
    );
  };
}
