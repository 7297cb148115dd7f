import express, {
  type NextFunction,
  type Request,
  type Response,
} from "express";
import { AppError } from "../errors.ts";
import { backPath, type BackTarget } from "./console-actions-pages.ts";
import { registerConsolePages, type ConsoleDeps } from "./console-pages.ts";
import {
  CONSOLE_CSS,
  CONSOLE_FAVICON_SVG,
  renderBareError,
  renderError,
  renderSignIn,
} from "./console-layout.ts";
import {
  clearSessionCookie,
  clearSignInToken,
  CONSOLE_BASE_PATH,
  csrfTokenFor,
  isValidCsrf,
  isValidSignInToken,
  issueSignInToken,
  readCookies,
  safeNextPath,
  sessionOf,
  SESSION_COOKIE,
  setSessionCookie,
  type ConsoleSession,
} from "./console-session.ts";
import { isUuid } from "../store/users-store.ts";

export { CONSOLE_BASE_PATH } from "./console-session.ts";
export type { ConsoleDeps } from "./console-pages.ts";

// No script, no inline style, no framing, forms only to ourselves.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'";

const SIGNED_OUT_MESSAGES: Record<string, string> = {
  signed_out: "You are signed out.",
};

/** Parses the `back` field of an operator form; anything unexpected goes to the Failed page. */
export function parseBack(value: unknown): BackTarget {
  if (value === "failed" || value === "pending") return value;
  if (typeof value === "string" && value.startsWith("user:")) {
    const id = value.slice("user:".length);
    if (isUuid(id)) return `user:${id}`;
  }
  return "failed";
}

/**
 * The admin console: server-rendered pages for on-call engineers, signed in with an admin token
 * kept in an HttpOnly cookie and re-authenticated on every request.
 */
export function createConsoleRouter(deps: ConsoleDeps): express.Router {
  const router = express.Router();
  const { logger } = deps;

  router.use((_req, res, next) => {
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  router.use(express.urlencoded({ extended: false, limit: "16kb" }));

  router.get("/console.css", (_req, res) => {
    // The URL carries the content hash (CONSOLE_CSS_PATH), so it never changes under a browser.
    res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
    res.type("text/css").send(CONSOLE_CSS);
  });

  router.get("/favicon.svg", (_req, res) => {
    res.setHeader("Cache-Control", "public, max-age=86400");
    res.type("image/svg+xml").send(CONSOLE_FAVICON_SVG);
  });

  const showSignIn = (
    req: Request,
    res: Response,
    status: number,
    message?: string,
    next?: string,
  ) => {
    res
      .status(status)
      .type("html")
      .send(
        renderSignIn({
          signInToken: issueSignInToken(req, res),
          message,
          next,
        }),
      );
  };

  router.get("/sign-in", async (req, res) => {
    const secret = readCookies(req).get(SESSION_COOKIE);
    const principal = secret
      ? await deps.tokens.authenticate(secret)
      : undefined;
    const next = safeNextPath(req.query.next);
    if (principal?.scopes.includes("admin")) {
      res.redirect(303, next ?? `${CONSOLE_BASE_PATH}/users`);
      return;
    }
    const reason = typeof req.query.reason === "string" ? req.query.reason : "";
    res
      .status(200)
      .type("html")
      .send(
        renderSignIn({
          signInToken: issueSignInToken(req, res),
          message: SIGNED_OUT_MESSAGES[reason],
          next,
        }),
      );
  });

  router.post("/sign-in", async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNextPath(body.next);
    if (!isValidSignInToken(req, body.signin_csrf)) {
      logger.warn("console sign-in refused", {
        requestId: req.requestId,
        reason: "stale or cross-site form",
      });
      showSignIn(
        req,
        res,
        403,
        "The sign-in form expired or came from another site. Paste the token again.",
        next,
      );
      return;
    }
    const secret = typeof body.token === "string" ? body.token.trim() : "";
    const principal = secret
      ? await deps.tokens.authenticate(secret)
      : undefined;
    if (!principal) {
      logger.warn("console sign-in refused", {
        requestId: req.requestId,
        reason: secret ? "invalid token" : "no token",
      });
      showSignIn(
        req,
        res,
        401,
        secret
          ? "That token is not valid, expired or revoked."
          : "Paste an admin token to sign in.",
        next,
      );
      return;
    }
    if (!principal.scopes.includes("admin")) {
      logger.warn("console sign-in refused", {
        requestId: req.requestId,
        reason: "missing admin scope",
        tokenId: principal.tokenId,
      });
      showSignIn(
        req,
        res,
        403,
        `That token is valid but lacks the admin scope (it has ${principal.scopes.join(", ")}). Use a token with the admin scope.`,
        next,
      );
      return;
    }
    req.principal = principal;
    setSessionCookie(req, res, secret);
    clearSignInToken(req, res);
    logger.info("console sign-in", {
      requestId: req.requestId,
      tenant: principal.tenantName,
      tokenId: principal.tokenId,
    });
    res.redirect(303, next ?? `${CONSOLE_BASE_PATH}/users`);
  });

  // Every other page needs a live admin token: the cookie is checked with the tokens service on
  // each request, so a revoked token stops working at once (within the service's short cache in
  // other processes).
  router.use(async (req, res, next) => {
    const secret = readCookies(req).get(SESSION_COOKIE);
    const resume =
      req.method === "GET" ? safeNextPath(req.originalUrl) : undefined;
    if (!secret) {
      res.redirect(
        303,
        `${CONSOLE_BASE_PATH}/sign-in${resume ? `?next=${encodeURIComponent(resume)}` : ""}`,
      );
      return;
    }
    const principal = await deps.tokens.authenticate(secret);
    if (!principal || !principal.scopes.includes("admin")) {
      clearSessionCookie(req, res);
      showSignIn(
        req,
        res,
        principal ? 403 : 401,
        principal
          ? "Your token no longer has the admin scope. Sign in with an admin token."
          : "Your session ended: the token was revoked or expired. Sign in again.",
        resume,
      );
      return;
    }
    req.principal = principal;
    const session: ConsoleSession = { principal, csrf: csrfTokenFor(secret) };
    res.locals.consoleSession = session;
    if (req.method === "POST") {
      const posted = (req.body as Record<string, unknown> | undefined)?.csrf;
      if (!isValidCsrf(secret, posted)) {
        logger.warn("console form refused: CSRF token mismatch", {
          requestId: req.requestId,
          tokenId: principal.tokenId,
          path: req.path,
        });
        res
          .status(403)
          .type("html")
          .send(
            renderError(
              session,
              "Form refused",
              "This form was stale or sent from another site, so nothing was changed. Reload the page and try again.",
            ),
          );
        return;
      }
    }
    next();
  });

  router.post("/sign-out", (req, res) => {
    clearSessionCookie(req, res);
    logger.info("console sign-out", {
      requestId: req.requestId,
      tokenId: req.principal?.tokenId,
    });
    res.redirect(303, `${CONSOLE_BASE_PATH}/sign-in?reason=signed_out`);
  });

  router.get("/", (_req, res) => {
    res.redirect(303, `${CONSOLE_BASE_PATH}/users`);
  });

  for (const verb of ["retry", "cancel"] as const) {
    router.post(`/actions/:id/${verb}`, async (req, res) => {
      const session = sessionOf(res);
      const id = String(req.params.id);
      const back = parseBack((req.body as Record<string, unknown>).back);
      try {
        if (verb === "retry") await deps.actions.retry(session.principal, id);
        else
          await deps.actions.cancel(
            session.principal,
            id,
            "cancelled in the admin console",
          );
      } catch (error) {
        if (error instanceof AppError && error.code.startsWith("action.")) {
          res
            .status(error.status)
            .type("html")
            .send(
              renderError(
                session,
                error.code === "action.not_found"
                  ? "Action not found"
                  : "Action not changed",
                error.message,
                { href: backPath(back), label: "Back" },
              ),
            );
          return;
        }
        throw error;
      }
      const done = verb === "retry" ? "retried" : "cancelled";
      res.redirect(
        303,
        `${backPath(back)}?notice=${done}&action=${encodeURIComponent(id)}`,
      );
    });
  }

  registerConsolePages(router, deps);

  router.use((_req, res) => {
    res
      .status(404)
      .type("html")
      .send(
        renderError(
          sessionOf(res),
          "Page not found",
          "There is no console page at this address.",
          { href: `${CONSOLE_BASE_PATH}/users`, label: "Go to Users" },
        ),
      );
  });

  router.use(
    (error: unknown, req: Request, res: Response, _next: NextFunction) => {
      const parserStatus = (error as { status?: unknown; type?: unknown })
        .status;
      const translated = deps.translateError(error);
      const known = translated instanceof AppError ? translated : undefined;
      let status = known?.status ?? 500;
      let message =
        known?.message ??
        "Something went wrong on our side; it has been logged.";
      if (
        !known &&
        typeof parserStatus === "number" &&
        parserStatus >= 400 &&
        parserStatus < 500
      ) {
        // body-parser: a form too large or malformed. Its message names no secrets.
        status = parserStatus;
        message = "The form could not be read. Reload the page and try again.";
      } else if (status >= 500) {
        logger.error("console request failed", {
          requestId: req.requestId,
          path: req.path,
          error: (error as Error)?.message,
        });
      }
      if (res.headersSent) return;
      const session = res.locals.consoleSession as ConsoleSession | undefined;
      const title =
        status === 503
          ? "Database unavailable"
          : status >= 500
            ? "Error"
            : "Request refused";
      res
        .status(status)
        .type("html")
        .send(
          session
            ? renderError(session, title, message)
            : renderBareError(title, message),
        );
    },
  );
  return router;
}
