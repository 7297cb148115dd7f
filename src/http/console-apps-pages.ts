import type {
  AppActionSummary,
  DailyDeprovisioningClock,
  DeprovisioningClock,
} from "../store/actions-store.ts";
import type { AppHealth } from "./console-app-health.ts";
import { renderClockChart } from "./console-clock-chart.ts";
import {
  formatDuration,
  html,
  timeHtml,
  type SafeHtml,
} from "./console-html.ts";
import { csrfField, renderPage, type Notice } from "./console-layout.ts";
import { CONSOLE_BASE_PATH, type ConsoleSession } from "./console-session.ts";

/** One row of the Apps page. */
export interface AppOverview {
  id: string;
  connector: string | undefined;
  health: AppHealth;
  summary: AppActionSummary | undefined;
  blockedUntil: Date | undefined;
  /** True when the connector can be checked (the app is in the policy and configured). */
  checkable: boolean;
}

/** The outcome of a "check" of one app, shown above the table. */
export interface AppCheckResult {
  appId: string;
  ok: boolean;
  text: string;
}

const HEALTH_LABEL: Record<AppHealth["level"], string> = {
  misconfigured: "Misconfigured",
  failing: "Failing",
  waiting: "Waiting",
  degraded: "Degraded",
  healthy: "Healthy",
  idle: "Idle",
};

const HEALTH_TONE: Record<AppHealth["level"], string> = {
  misconfigured: "bad",
  failing: "bad",
  waiting: "warn",
  degraded: "warn",
  healthy: "ok",
  idle: "muted",
};

function healthCell(health: AppHealth): SafeHtml {
  return html`<span class="badge badge-${HEALTH_TONE[health.level]}"
      >${HEALTH_LABEL[health.level]}</span
    >
    <span class="health-reason">${health.reason}</span>`;
}

/** The Apps page: health per app, with a check of each connector's credentials. */
export function renderAppsPage(page: {
  session: ConsoleSession;
  now: Date;
  policyVersion: number | undefined;
  apps: AppOverview[];
  windowLabel: string;
  check?: AppCheckResult | undefined;
}): string {
  const { session, now } = page;
  const notice: Notice | undefined = page.check
    ? {
        kind: page.check.ok ? "ok" : "error",
        text: `Check of ${page.check.appId}: ${page.check.text}`,
      }
    : undefined;
  const body =
    page.apps.length === 0
      ? html`<p>
          This tenant has no policy with apps yet. Apply one with
          <code>scim-lifecycle policy apply</code> or
          <code>PUT /admin/v1/policy</code>.
        </p>`
      : html`<div
          class="table-wrap"
          role="region"
          aria-labelledby="apps-caption"
          tabindex="0"
        >
          <table>
            <caption id="apps-caption">
              Apps of policy version ${page.policyVersion ?? "none"}, with the
              outcomes of the ${page.windowLabel}
            </caption>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Health</th>
                <th scope="col" class="num">Succeeded</th>
                <th scope="col" class="num">Failed</th>
                <th scope="col" class="num">Due now</th>
                <th scope="col" class="num">Deferred</th>
                <th scope="col">Retry-After until</th>
                <th scope="col">Credentials</th>
              </tr>
            </thead>
            <tbody>
              ${page.apps.map(
                (app) =>
                  html`<tr>
                    <th scope="row">
                      ${app.id}${app.connector ? html`<br /><span class="muted note">${app.connector} connector</span>` : ""}
                    </th>
                    <td>${healthCell(app.health)}</td>
                    <td class="num">${app.summary?.succeeded ?? 0}</td>
                    <td class="num">
                      ${
                        app.summary?.failed
                          ? html`<a href="${CONSOLE_BASE_PATH}/failed"
                              >${app.summary.failed}</a
                            >`
                          : 0
                      }
                    </td>
                    <td class="num">${app.summary?.due ?? 0}</td>
                    <td class="num">
                      ${
                        app.summary?.deferred
                          ? html`<a href="${CONSOLE_BASE_PATH}/pending"
                              >${app.summary.deferred}</a
                            >`
                          : 0
                      }
                    </td>
                    <td>
                      ${app.blockedUntil ? timeHtml(app.blockedUntil, now) : html`<span class="muted">—</span>`}
                    </td>
                    <td>
                      ${
                        app.checkable
                          ? html`<form
                              method="post"
                              action="${CONSOLE_BASE_PATH}/apps/${encodeURIComponent(app.id)}/check"
                            >
                              ${csrfField(session)}<button
                                type="submit"
                                class="button-quiet"
                                aria-label="Check ${app.id}"
                              >
                                Check
                              </button>
                            </form>`
                          : html`<span class="muted">—</span>`
                      }
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
  return renderPage({
    session,
    section: "apps",
    title: "Apps",
    notice,
    body: html`<p class="lede">
        Health comes from the actions of the ${page.windowLabel} and any
        Retry-After window an app announced. <strong>Check</strong> makes the
        connector's cheap authenticated call (for Dropbox, team/get_info) to
        prove the credentials work.
      </p>
      ${body}`,
  });
}

const RANGES = [7, 30, 90] as const;

/** The deprovisioning clock page: per app, a chart of p50 and p99 per day and its data table. */
export function renderClockPage(page: {
  session: ConsoleSession;
  days: number;
  dayList: string[];
  totals: DeprovisioningClock[];
  daily: DailyDeprovisioningClock[];
}): string {
  const ranges = html`<nav class="ranges" aria-label="Period">
    ${RANGES.map((d) =>
      d === page.days
        ? html`<a
            href="${CONSOLE_BASE_PATH}/clock?days=${d}"
            aria-current="page"
            >Last ${d} days</a
          >`
        : html`<a href="${CONSOLE_BASE_PATH}/clock?days=${d}"
            >Last ${d} days</a
          >`,
    )}
  </nav>`;
  const sections = page.totals.map((total, index) => {
    const points = page.daily.filter((p) => p.app_id === total.app_id);
    const headingId = `clock-${index}`;
    return html`<section class="clock" aria-labelledby="${headingId}">
      <h2 id="${headingId}">${total.app_id}</h2>
      <p>
        ${total.actions} deprovisioning${total.actions === 1 ? "" : "s"} in the
        last ${page.days} days: median
        <strong>${formatDuration(total.p50_ms)}</strong>, p99
        <strong>${formatDuration(total.p99_ms)}</strong>, slowest
        ${formatDuration(total.max_ms)}.
      </p>
      <figure class="chart">
        ${renderClockChart({ appId: total.app_id, idPrefix: headingId, days: page.dayList, points })}
      </figure>
      <details>
        <summary>Table of the ${total.app_id} chart</summary>
        <table class="compact">
          <caption class="visually-hidden">
            Deprovisioning clock of ${total.app_id} per day (UTC)
          </caption>
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              <th scope="col" class="num">Deprovisionings</th>
              <th scope="col" class="num">p50</th>
              <th scope="col" class="num">p99</th>
            </tr>
          </thead>
          <tbody>
            ${points.map(
              (p) =>
                html`<tr>
                  <th scope="row">
                    <time datetime="${p.day}">${p.day}</time>
                  </th>
                  <td class="num">${p.actions}</td>
                  <td class="num">${formatDuration(p.p50_ms)}</td>
                  <td class="num">${formatDuration(p.p99_ms)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        <p class="muted">Days without deprovisionings are left out.</p>
      </details>
    </section>`;
  });
  return renderPage({
    session: page.session,
    section: "clock",
    title: "Deprovisioning clock",
    body: html`<p class="lede">
        How long it takes from the IdP's deactivation or deletion to the app's
        confirmation, for the steps that run at once (deferred steps such as a
        removal after 30 days are not counted). Times are per UTC day of the
        confirmation, on a logarithmic scale.
      </p>
      ${ranges}
      ${sections.length === 0 ? html`<p>No deprovisionings in the last ${page.days} days.</p>` : sections}`,
  });
}
