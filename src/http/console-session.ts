import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Request, Response } from "express";
import type { Principal } from "../domain/scopes.ts";
import { digestToken } from "../services/tokens-service.ts";

/** Where the console lives; its cookies are scoped to this path. */
export const CONSOLE_BASE_PATH = "/console";

/** The session cookie: the admin token itself, re-checked with the tokens service on each request. */
export const SESSION_COOKIE = "scl_console";

/** The sign-in form's double-submit cookie (there is no session to derive a CSRF token from yet). */
export const SIGN_IN_COOKIE = "scl_console_sign_in";

/** An on-call shift: the browser forgets the session after this even if the tab stays open. */
const SESSION_MAX_AGE_S = 8 * 3_600;
const SIGN_IN_MAX_AGE_S = 3_600;
const CSRF_PURPOSE = "scim-lifecycle console csrf v1";

/** A signed-in console request: who it is, and the CSRF token its forms carry. */
export interface ConsoleSession {
  principal: Principal;
  csrf: string;
}

/** The session of a signed-in request (set by the console's session check). */
export function sessionOf(res: Response): ConsoleSession {
  return res.locals.consoleSession as ConsoleSession;
}

/** The request's cookies by name (first occurrence wins, values URI-decoded when they can be). */
export function readCookies(req: Request): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (req.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || cookies.has(name)) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      cookies.set(name, decodeURIComponent(raw));
    } catch {
      cookies.set(name, raw);
    }
  }
  return cookies;
}

function setCookie(
  req: Request,
  res: Response,
  name: string,
  value: string,
  maxAgeS: number,
): void {
  const attributes = [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${CONSOLE_BASE_PATH}`,
    `Max-Age=${maxAgeS}`,
    "HttpOnly",
    "SameSite=Strict",
  ];
  // req.secure follows X-Forwarded-Proto only when trust proxy is on (config TRUST_PROXY).
  if (req.secure) attributes.push("Secure");
  res.append("Set-Cookie", attributes.join("; "));
}

/** Starts a session: the token goes into an HttpOnly, SameSite=Strict cookie on /console. */
export function setSessionCookie(
  req: Request,
  res: Response,
  secret: string,
): void {
  setCookie(req, res, SESSION_COOKIE, secret, SESSION_MAX_AGE_S);
}

/** Ends the session in this browser. */
export function clearSessionCookie(req: Request, res: Response): void {
  setCookie(req, res, SESSION_COOKIE, "", 0);
}

/** A fresh sign-in form token, set as a cookie; the form carries the same value. */
export function issueSignInToken(req: Request, res: Response): string {
  const value = randomBytes(18).toString("base64url");
  setCookie(req, res, SIGN_IN_COOKIE, value, SIGN_IN_MAX_AGE_S);
  return value;
}

/** Forgets the sign-in form token once it has been used. */
export function clearSignInToken(req: Request, res: Response): void {
  setCookie(req, res, SIGN_IN_COOKIE, "", 0);
}

/**
 * True when the posted sign-in form token matches the cookie. SameSite=Strict keeps the cookie off
 * cross-site posts, so another site cannot sign a browser in with a token of its choosing.
 */
export function isValidSignInToken(req: Request, posted: unknown): boolean {
  const cookie = readCookies(req).get(SIGN_IN_COOKIE);
  return (
    typeof posted === "string" &&
    cookie !== undefined &&
    cookie !== "" &&
    safeEqual(cookie, posted)
  );
}

/**
 * The CSRF token of a session: an HMAC keyed by the token's digest. Stateless, so it holds across
 * processes and restarts, and it cannot be computed without the token, which only the HttpOnly
 * cookie carries.
 */
export function csrfTokenFor(secret: string): string {
  return createHmac("sha256", digestToken(secret))
    .update(CSRF_PURPOSE)
    .digest("base64url");
}

/** True when a posted CSRF token belongs to the session's token. */
export function isValidCsrf(secret: string, posted: unknown): boolean {
  return typeof posted === "string" && safeEqual(csrfTokenFor(secret), posted);
}

function safeEqual(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A console path to go to after signing in, or undefined when `next` is anything else (no open
 * redirects: only paths under the console, no scheme, no `//`, no backslashes).
 */
export function safeNextPath(next: unknown): string | undefined {
  if (typeof next !== "string" || next.length > 512) return undefined;
  if (!next.startsWith(`${CONSOLE_BASE_PATH}/`)) return undefined;
  if (next.includes("//") || next.includes("\\")) return undefined;
  if (!/^[A-Za-z0-9\-._~/?=&%+]*$/.test(next)) return undefined;
  return next;
}
