import type { Express, NextFunction, Request, Response } from "express";
import { authFailureOf, type AuthFailureReason } from "./authenticate.ts";

/** What the request metrics are told (metrics.ts implements it over prom-client). */
export interface HttpObserver {
  requestFinished(request: {
    method: string;
    route: string;
    /** The status sent, or `aborted` when the client left before the response ended. */
    status: number | "aborted";
    seconds: number;
  }): void;
  authFailed(reason: AuthFailureReason): void;
}

/**
 * Route label of requests that reached no route and no mounted router (404s at the top), and of
 * any path that is not a pattern registered in the code.
 */
export const UNMATCHED_ROUTE = "unmatched";

/** The shape of router's listRoutes() (router 2.3), which @types/express does not describe. */
interface ListedRoute {
  path: string | RegExp;
  methods: string[] | undefined;
  router: { listRoutes?: () => ListedRoute[] } | undefined;
}

/**
 * Counts and times every request by method, status and route pattern (`/scim/v2/Users/:id`,
 * never the raw path or query), and counts refusals by reason. Register it first.
 *
 * The pattern is taken when the router matches a route: the mount path so far plus the route's
 * path. Requests refused before any route matched (a bad token) are labelled with the router they
 * entered, `/scim/v2/*`. Express matches paths case-insensitively, so the client's casing is
 * mapped back to the pattern as registered: labels stay bounded by the routes in the code.
 */
export function httpMetrics(app: Express, observer: HttpObserver) {
  let canonical: Map<string, string> | undefined;
  // Only patterns listed by the app's routers ever become labels: a path built any other way
  // (a mount path with a parameter in it) could carry ids.
  const labelOf = (path: string): string | undefined => {
    canonical ??= canonicalRoutes(app);
    return canonical.get(path.toLowerCase());
  };

  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    let matched: string | undefined;
    let route: unknown;
    // The router assigns req.route when a route matches, while req.baseUrl is that route's
    // mount path; by the time the response ends, baseUrl may have been unwound by error handling.
    Object.defineProperty(req, "route", {
      configurable: true,
      enumerable: true,
      get: () => route,
      set: (value: unknown) => {
        route = value;
        const path = (value as { path?: unknown } | undefined)?.path;
        if (typeof path === "string") matched = joinPath(req.baseUrl, path);
      },
    });
    let recorded = false;
    const record = (status: number | "aborted") => {
      if (recorded) return;
      recorded = true;
      const mount = req.baseUrl ? labelOf(req.baseUrl) : undefined;
      const label = matched
        ? (labelOf(matched) ?? UNMATCHED_ROUTE)
        : mount
          ? `${mount}/*`
          : UNMATCHED_ROUTE;
      observer.requestFinished({
        method: req.method,
        route: label,
        status,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
      const refused = authFailureOf(res);
      if (refused) observer.authFailed(refused);
    };
    res.once("finish", () => record(res.statusCode));
    res.once("close", () => record("aborted"));
    next();
  };
}

function joinPath(base: string, path: string): string {
  const joined = (base + (path === "/" ? "" : path)).replace(/\/{2,}/g, "/");
  return joined === "" ? "/" : joined;
}

/** Lower-cased route patterns and mount paths of the app → as registered. */
function canonicalRoutes(app: Express): Map<string, string> {
  const table = new Map<string, string>();
  const walk = (routes: ListedRoute[], prefix: string, depth: number) => {
    if (depth > 10) return;
    for (const entry of routes) {
      if (typeof entry.path !== "string") continue;
      const full = joinPath(prefix, entry.path);
      table.set(full.toLowerCase(), full);
      if (entry.router?.listRoutes) {
        walk(entry.router.listRoutes(), full === "/" ? "" : full, depth + 1);
      }
    }
  };
  const root = (
    app as unknown as { router?: { listRoutes?: () => ListedRoute[] } }
  ).router;
  if (root?.listRoutes) walk(root.listRoutes(), "", 0);
  return table;
}
