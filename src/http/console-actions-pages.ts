import type { ActionRow } from "../store/actions-store.ts";
import { html, timeHtml, type SafeHtml } from "./console-html.ts";
import {
  csrfField,
  renderPage,
  userHref,
  type Notice,
} from "./console-layout.ts";
import { CONSOLE_BASE_PATH, type ConsoleSession } from "./console-session.ts";

/** Where an operator verb returns to: a list page or a user's page (never a free-form URL). */
export type BackTarget = "failed" | "pending" | `user:${string}`;

/** The path of a back target. */
export function backPath(back: BackTarget): string {
  return back.startsWith("user:")
    ? userHref(back.slice("user:".length))
    : `${CONSOLE_BASE_PATH}/${back}`;
}

/** The user's userName as the action was planned (actions outlive users), else the id. */
export function subjectName(row: ActionRow): string {
  const user = row.subject?.user as Record<string, unknown> | undefined;
  return typeof user?.userName === "string" ? user.userName : row.user_id;
}

/** One line for an action's last error (or a cancellation's reason). */
export function errorText(row: ActionRow): string {
  const error = row.last_error;
  if (!error) return "";
  const kind = typeof error.kind === "string" ? `${error.kind}: ` : "";
  const text =
    typeof error.message === "string"
      ? error.message
      : typeof error.reason === "string"
        ? error.reason
        : JSON.stringify(error);
  return `${kind}${text}`;
}

/** Retry and Cancel buttons, each its own POST form, for the states that allow them. */
export function actionButtons(
  row: ActionRow,
  session: ConsoleSession,
  back: BackTarget,
): SafeHtml {
  const label = `${row.kind} in ${row.app_id} for ${subjectName(row)}`;
  const form = (verb: "retry" | "cancel", text: string, quiet: boolean) =>
    html`<form
      method="post"
      action="${CONSOLE_BASE_PATH}/actions/${row.id}/${verb}"
    >
      ${csrfField(session)}<input type="hidden" name="back" value="${back}" />
      <button
        type="submit"
        ${quiet ? html` class="button-quiet"` : ""}
        aria-label="${text} ${label}"
      >
        ${text}
      </button>
    </form>`;
  const canRetry = row.state === "failed" || row.state === "cancelled";
  const canCancel = row.state === "pending" || row.state === "failed";
  if (!canRetry && !canCancel) return html``;
  return html`<div class="button-row">
    ${canRetry ? form("retry", "Retry", false) : ""}${
      canCancel ? form("cancel", "Cancel", true) : ""
    }
  </div>`;
}

/** Why a pending action is waiting. */
function waitingReason(row: ActionRow, now: Date): string {
  if (row.claims > 0 && row.last_error) {
    return row.last_error.kind === "rate_limited"
      ? "The app asked us to wait (Retry-After)"
      : "Retry after a failed attempt";
  }
  if (new Date(row.run_at) <= now) return "Due; the worker picks it up next";
  return `Deferred by rule ${row.rule_id}`;
}

/** The Pending page: actions waiting to run, the soonest due first. */
export function renderPendingPage(page: {
  session: ConsoleSession;
  now: Date;
  rows: ActionRow[];
  nextHref: string | undefined;
  firstPage: boolean;
  notice?: Notice | undefined;
}): string {
  const { session, now } = page;
  const body =
    page.rows.length === 0
      ? html`<p>
          ${page.firstPage ? "Nothing is waiting: no pending actions." : "No more pending actions."}
        </p>`
      : html`<div
          class="table-wrap"
          role="region"
          aria-labelledby="pending-caption"
          tabindex="0"
        >
          <table>
            <caption id="pending-caption">
              Pending actions, the soonest due first
            </caption>
            <thead>
              <tr>
                <th scope="col">Due</th>
                <th scope="col">User</th>
                <th scope="col">App</th>
                <th scope="col">Action</th>
                <th scope="col">Why it waits</th>
                <th scope="col">Planned by</th>
                <th scope="col">
                  <span class="visually-hidden">Operator actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              ${page.rows.map(
                (row) =>
                  html`<tr>
                    <td>${timeHtml(row.run_at, now)}</td>
                    <td class="user-cell">
                      <a href="${userHref(row.user_id)}">${subjectName(row)}</a>
                    </td>
                    <td>${row.app_id}</td>
                    <td>${row.kind}</td>
                    <td>${waitingReason(row, now)}</td>
                    <td>
                      ${row.event_type}
                      <span class="muted"
                        >(rule ${row.rule_id}, policy
                        v${row.policy_version})</span
                      >
                    </td>
                    <td>${actionButtons(row, session, "pending")}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
  return renderPage({
    session,
    section: "pending",
    title: "Pending actions",
    notice: page.notice,
    body: html`<p class="lede">
        Deferred steps (such as a removal 30 days after a deactivation) and
        retries wait here until they are due. Cancelling a pending action is
        recorded in the audit trail.
      </p>
      ${body}
      ${pager(page.firstPage, `${CONSOLE_BASE_PATH}/pending`, page.nextHref)}`,
  });
}

/** The Failed page: dead-lettered actions, the newest first, with Retry and Cancel. */
export function renderFailedPage(page: {
  session: ConsoleSession;
  now: Date;
  rows: ActionRow[];
  nextHref: string | undefined;
  firstPage: boolean;
  notice?: Notice | undefined;
}): string {
  const { session, now } = page;
  const body =
    page.rows.length === 0
      ? html`<p>
          ${page.firstPage ? "No failed actions." : "No more failed actions."}
        </p>`
      : html`<div
          class="table-wrap"
          role="region"
          aria-labelledby="failed-caption"
          tabindex="0"
        >
          <table>
            <caption id="failed-caption">
              Failed actions, the newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Failed</th>
                <th scope="col">User</th>
                <th scope="col">App</th>
                <th scope="col">Action</th>
                <th scope="col">Attempts</th>
                <th scope="col">Error</th>
                <th scope="col">
                  <span class="visually-hidden">Operator actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              ${page.rows.map(
                (row) =>
                  html`<tr id="action-${row.id}">
                    <td>${timeHtml(row.finished_at ?? row.updated_at, now)}</td>
                    <td class="user-cell">
                      <a href="${userHref(row.user_id)}">${subjectName(row)}</a>
                    </td>
                    <td>${row.app_id}</td>
                    <td>${row.kind}</td>
                    <td>${row.attempts} of ${row.max_attempts}</td>
                    <td class="error-text">${errorText(row)}</td>
                    <td>${actionButtons(row, session, "failed")}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>`;
  return renderPage({
    session,
    section: "failed",
    title: "Failed actions",
    notice: page.notice,
    body: html`<p class="lede">
        These actions stopped: the app refused them, our configuration is wrong,
        or they ran out of attempts. Fix the cause, then Retry (fresh attempts,
        now) or Cancel. Both are recorded in the audit trail.
      </p>
      ${body}
      ${pager(page.firstPage, `${CONSOLE_BASE_PATH}/failed`, page.nextHref)}`,
  });
}

/** First-page and next-page links for keyset-paged lists. */
export function pager(
  firstPage: boolean,
  firstHref: string,
  nextHref: string | undefined,
): SafeHtml {
  if (firstPage && !nextHref) return html``;
  return html`<nav class="pager" aria-label="Pages">
    ${
      firstPage ? "" : html`<a href="${firstHref}">First page</a>`
    }${nextHref ? html`<a href="${nextHref}">Next page</a>` : ""}
  </nav>`;
}
