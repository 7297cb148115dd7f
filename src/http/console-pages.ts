import type { Request, Router } from "express";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import type { ActionsService } from "../services/actions-service.ts";
import type { AppConnectors } from "../services/app-connectors.ts";
import type { PolicyService } from "../services/policy-service.ts";
import type { TokensService } from "../services/tokens-service.ts";
import {
  listPendingActionsByRunAt,
  measureDeprovisioningClockByDay,
  summarizeActionsByApp,
} from "../store/actions-store.ts";
import { listBlockedApps } from "../store/app-throttles-store.ts";
import { listAuditEntries } from "../store/audit-store.ts";
import { listLifecycleEvents } from "../store/lifecycle-events-store.ts";
import {
  findUserAppsExtension,
  findUserById,
  searchUsers,
} from "../store/users-store.ts";
import {
  renderPendingPage,
  renderFailedPage,
} from "./console-actions-pages.ts";
import { deriveAppHealth } from "./console-app-health.ts";
import {
  renderAppsPage,
  renderClockPage,
  type AppCheckResult,
  type AppOverview,
} from "./console-apps-pages.ts";
import { daysBetween } from "./console-clock-chart.ts";
import { renderError, type Notice } from "./console-layout.ts";
import { CONSOLE_BASE_PATH, sessionOf } from "./console-session.ts";
import { buildTimeline } from "./console-timeline.ts";
import { renderUserPage, renderUsersPage } from "./console-users-pages.ts";

/** What the console needs: services for every change, the database for store reads. */
export interface ConsoleDeps {
  db: Knex;
  clock: Clock;
  logger: Logger;
  tokens: TokensService;
  actions: ActionsService;
  policies: PolicyService;
  appConnectors: AppConnectors;
  /** The PostgreSQL error translator (db/ is not http's to import). */
  translateError: (error: unknown) => unknown;
}

const USERS_PER_PAGE = 50;
const ACTIONS_PER_PAGE = 50;
/** Per kind of timeline entry; a user with more has a note saying the timeline is cut. */
const TIMELINE_LIMIT = 1_000;
const HEALTH_WINDOW_MS = 24 * 3_600_000;
const HEALTH_WINDOW_LABEL = "last 24 hours";
const CLOCK_DEFAULT_DAYS = 30;

/** A query parameter as one string (the simple parser gives arrays for repeated names). */
function queryParam(req: Request, name: string): string | undefined {
  const value = req.query[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : undefined;
}

/** The notice after an operator verb's redirect; the text is ours, only a numeric id is echoed. */
function verbNotice(req: Request): Notice | undefined {
  const notice = queryParam(req, "notice");
  const id = queryParam(req, "action");
  if (!id || !/^\d{1,18}$/.test(id)) return undefined;
  if (notice === "retried") {
    return {
      kind: "ok",
      text: `Action ${id} is back in the queue with fresh attempts; the worker runs it next.`,
    };
  }
  if (notice === "cancelled") {
    return { kind: "ok", text: `Action ${id} was cancelled.` };
  }
  return undefined;
}

/** Registers the console's read pages and the app check (after the session check). */
export function registerConsolePages(router: Router, deps: ConsoleDeps): void {
  const { db, clock } = deps;

  router.get("/users", async (req, res) => {
    const session = sessionOf(res);
    const tenantId = session.principal.tenantId;
    const query = (queryParam(req, "q") ?? "").trim().slice(0, 200);
    const after = queryParam(req, "after");
    const users = await searchUsers(db, tenantId, {
      ...(query ? { text: query } : {}),
      ...(after ? { afterUserName: after } : {}),
      limit: USERS_PER_PAGE,
    });
    const policy = await deps.policies.current(tenantId);
    const appIds = [...(policy?.apps.keys() ?? [])];
    for (const user of users) {
      for (const state of user.apps_json ?? []) {
        if (!appIds.includes(state.app)) appIds.push(state.app);
      }
    }
    const last = users[users.length - 1];
    const params = (extra: Record<string, string>) =>
      new URLSearchParams({
        ...(query ? { q: query } : {}),
        ...extra,
      }).toString();
    res.type("html").send(
      renderUsersPage({
        session,
        now: clock.now(),
        query,
        users,
        appIds,
        firstPage: !after,
        nextHref:
          users.length === USERS_PER_PAGE && last
            ? `${CONSOLE_BASE_PATH}/users?${params({ after: last.user_name })}`
            : undefined,
      }),
    );
  });

  router.get("/users/:id", async (req, res) => {
    const session = sessionOf(res);
    const tenantId = session.principal.tenantId;
    const id = String(req.params.id);
    const user = await findUserById(db, tenantId, id);
    if (!user) {
      res
        .status(404)
        .type("html")
        .send(
          renderError(
            session,
            "User not found",
            "No user with this id in this tenant. It may have been deleted; its actions stay on the Pending and Failed pages.",
            { href: `${CONSOLE_BASE_PATH}/users`, label: "Back to Users" },
          ),
        );
      return;
    }
    const [extension, actions, events, audits] = await Promise.all([
      findUserAppsExtension(db, tenantId, id, {
        apps: true,
        pendingActions: false,
      }),
      deps.actions.list(tenantId, { userId: id, limit: TIMELINE_LIMIT }),
      listLifecycleEvents(db, tenantId, {
        resourceId: id,
        limit: TIMELINE_LIMIT,
      }),
      listAuditEntries(db, tenantId, { resourceId: id, limit: TIMELINE_LIMIT }),
    ]);
    const now = clock.now();
    const open = actions
      .filter((a) =>
        ["pending", "running", "in_progress", "failed"].includes(a.state),
      )
      .sort(
        (a, b) =>
          new Date(a.run_at).getTime() - new Date(b.run_at).getTime() ||
          Number(a.id) - Number(b.id),
      );
    res.type("html").send(
      renderUserPage({
        session,
        now,
        user,
        appStates: extension?.apps_json ?? [],
        openActions: open,
        timeline: buildTimeline({ events, actions, audits, now }),
        truncated: [actions, events, audits].some(
          (list) => list.length >= TIMELINE_LIMIT,
        ),
        notice: verbNotice(req),
      }),
    );
  });

  router.get("/pending", async (req, res) => {
    const session = sessionOf(res);
    const after = parsePendingCursor(queryParam(req, "after"));
    const rows = await listPendingActionsByRunAt(
      db,
      session.principal.tenantId,
      { ...(after ? { after } : {}), limit: ACTIONS_PER_PAGE },
    );
    const last = rows[rows.length - 1];
    res.type("html").send(
      renderPendingPage({
        session,
        now: clock.now(),
        rows,
        firstPage: !after,
        nextHref:
          rows.length === ACTIONS_PER_PAGE && last
            ? `${CONSOLE_BASE_PATH}/pending?after=${encodeURIComponent(
                `${new Date(last.run_at).toISOString()}_${last.id}`,
              )}`
            : undefined,
        notice: verbNotice(req),
      }),
    );
  });

  router.get("/failed", async (req, res) => {
    const session = sessionOf(res);
    const before = queryParam(req, "before");
    const beforeId = before && /^\d{1,18}$/.test(before) ? before : undefined;
    const rows = await deps.actions.list(session.principal.tenantId, {
      states: ["failed"],
      ...(beforeId ? { beforeId } : {}),
      limit: ACTIONS_PER_PAGE,
    });
    const last = rows[rows.length - 1];
    res.type("html").send(
      renderFailedPage({
        session,
        now: clock.now(),
        rows,
        firstPage: !beforeId,
        nextHref:
          rows.length === ACTIONS_PER_PAGE && last
            ? `${CONSOLE_BASE_PATH}/failed?before=${last.id}`
            : undefined,
        notice: verbNotice(req),
      }),
    );
  });

  async function appsOverview(tenantId: string) {
    const now = clock.now();
    const [policy, summaries, blocked] = await Promise.all([
      deps.policies.current(tenantId),
      summarizeActionsByApp(
        db,
        tenantId,
        new Date(now.getTime() - HEALTH_WINDOW_MS),
        now,
      ),
      listBlockedApps(db, tenantId, now),
    ]);
    const summaryOf = new Map(summaries.map((s) => [s.app_id, s]));
    const blockedOf = new Map(
      blocked.map((b) => [b.app_id, new Date(b.blocked_until)]),
    );
    const ids = [...(policy?.apps.keys() ?? [])];
    for (const s of summaries) if (!ids.includes(s.app_id)) ids.push(s.app_id);
    const apps: AppOverview[] = ids.map((id) => {
      const app = policy?.apps.get(id);
      const entry = app ? deps.appConnectors.catalogEntry(app) : undefined;
      const problem = typeof entry === "string" ? entry : undefined;
      // A window learnt by this process may not have reached the shared table yet.
      const blockedUntil =
        deps.appConnectors.blockedUntil(tenantId, id) ?? blockedOf.get(id);
      return {
        id,
        connector: app?.connector,
        summary: summaryOf.get(id),
        blockedUntil,
        checkable: app !== undefined && problem === undefined,
        health: deriveAppHealth({
          summary: summaryOf.get(id),
          blockedUntil,
          problem,
          inPolicy: app !== undefined,
          windowLabel: HEALTH_WINDOW_LABEL,
          now,
        }),
      };
    });
    return { policy, apps, now };
  }

  router.get("/apps", async (_req, res) => {
    const session = sessionOf(res);
    const { policy, apps, now } = await appsOverview(
      session.principal.tenantId,
    );
    res.type("html").send(
      renderAppsPage({
        session,
        now,
        policyVersion: policy?.version,
        apps,
        windowLabel: HEALTH_WINDOW_LABEL,
      }),
    );
  });

  router.post("/apps/:id/check", async (req, res) => {
    const session = sessionOf(res);
    const tenantId = session.principal.tenantId;
    const appId = String(req.params.id);
    const policy = await deps.policies.current(tenantId);
    const app = policy?.apps.get(appId);
    let check: AppCheckResult;
    if (!policy || !app) {
      check = {
        appId,
        ok: false,
        text: "this app is not in the current policy.",
      };
    } else {
      const result = await deps.appConnectors.check(
        tenantId,
        policy.version,
        app,
      );
      check = result.ok
        ? {
            appId,
            ok: true,
            text: `the credentials work${result.detail ? ` (${result.detail})` : ""}.`,
          }
        : {
            appId,
            ok: false,
            text: `${result.error!.kind}: ${result.error!.message}`,
          };
    }
    deps.logger.info("console app check", {
      requestId: req.requestId,
      tenantId,
      app: appId,
      ok: check.ok,
    });
    const { apps, now } = await appsOverview(tenantId);
    res.status(check.ok ? 200 : 502);
    res.type("html").send(
      renderAppsPage({
        session,
        now,
        policyVersion: policy?.version,
        apps,
        windowLabel: HEALTH_WINDOW_LABEL,
        check,
      }),
    );
  });

  router.get("/clock", async (req, res) => {
    const session = sessionOf(res);
    const asked = Number(queryParam(req, "days") ?? CLOCK_DEFAULT_DAYS);
    const days =
      Number.isInteger(asked) && asked >= 1 && asked <= 365
        ? asked
        : CLOCK_DEFAULT_DAYS;
    const now = clock.now();
    const since = new Date(now.getTime() - days * 86_400_000);
    const [totals, daily] = await Promise.all([
      deps.actions.deprovisioningClock(session.principal.tenantId, days),
      measureDeprovisioningClockByDay(db, session.principal.tenantId, since),
    ]);
    res.type("html").send(
      renderClockPage({
        session,
        days,
        dayList: daysBetween(since, now),
        totals,
        daily,
      }),
    );
  });
}

/** `2026-03-31T09:00:00.000Z_123` → the keyset position after that action. */
function parsePendingCursor(
  text: string | undefined,
): { runAt: Date; id: string } | undefined {
  const match = text ? /^(.+)_(\d{1,18})$/.exec(text) : null;
  if (!match) return undefined;
  const runAt = new Date(match[1]!);
  return Number.isNaN(runAt.getTime()) ? undefined : { runAt, id: match[2]! };
}
