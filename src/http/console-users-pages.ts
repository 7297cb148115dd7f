import type { ActionRow } from "../store/actions-store.ts";
import type { UserAppStateJson, UserRow } from "../store/users-store.ts";
import { actionButtons, errorText, pager } from "./console-actions-pages.ts";
import { html, timeHtml, type SafeHtml } from "./console-html.ts";
import {
  renderPage,
  stateBadge,
  userHref,
  type Notice,
} from "./console-layout.ts";
import { CONSOLE_BASE_PATH, type ConsoleSession } from "./console-session.ts";
import type { TimelineItem } from "./console-timeline.ts";

/** The user's work (else primary, else first) e-mail. */
function emailOf(user: UserRow): string | undefined {
  const emails = Array.isArray(user.resource.emails)
    ? (user.resource.emails as {
        value?: unknown;
        type?: unknown;
        primary?: unknown;
      }[])
    : [];
  const pick =
    emails.find((e) => e.type === "work") ??
    emails.find((e) => e.primary === true) ??
    emails[0];
  return typeof pick?.value === "string" ? pick.value : undefined;
}

function idpStatus(user: UserRow): SafeHtml {
  return stateBadge(user.active ? "active" : "deactivated");
}

/** The Users page: search, then one row per user with the state in every app. */
export function renderUsersPage(page: {
  session: ConsoleSession;
  now: Date;
  query: string;
  users: UserRow[];
  appIds: string[];
  nextHref: string | undefined;
  firstPage: boolean;
}): string {
  const { now } = page;
  const apps = page.appIds;
  const table =
    page.users.length === 0
      ? html`<p>
          ${page.query ? html`No user matches “${page.query}”.` : "No users yet."}
        </p>`
      : html`<div
          class="table-wrap"
          role="region"
          aria-labelledby="users-caption"
          tabindex="0"
        >
          <table>
            <caption id="users-caption">
              ${page.query ? html`Users matching “${page.query}”` : "Users by userName"}
            </caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">E-mail</th>
                <th scope="col">In the IdP</th>
                ${apps.map((app) => html`<th scope="col">${app}</th>`)}
                <th scope="col">Next action</th>
              </tr>
            </thead>
            <tbody>
              ${page.users.map((user) => {
                const states = new Map<string, UserAppStateJson>(
                  (user.apps_json ?? []).map((s) => [s.app, s]),
                );
                const next = (user.pending_json ?? [])[0];
                return html`<tr>
                  <th scope="row" class="user-cell">
                    <a href="${userHref(user.id)}">${user.user_name}</a>${
                      user.display_name
                        ? html`<br /><span class="muted"
                              >${user.display_name}</span
                            >`
                        : ""
                    }
                  </th>
                  <td class="nowrap">
                    ${emailOf(user) ?? html`<span class="muted">—</span>`}
                  </td>
                  <td>${idpStatus(user)}</td>
                  ${apps.map((app) => {
                    const state = states.get(app);
                    return html`<td>
                      ${state ? stateBadge(state.state) : html`<span class="muted">—</span>`}
                    </td>`;
                  })}
                  <td>
                    ${
                      next
                        ? html`${next.action} in ${next.app},
                          ${timeHtml(next.run_at, now)}`
                        : html`<span class="muted">—</span>`
                    }
                  </td>
                </tr>`;
              })}
            </tbody>
          </table>
        </div>`;
  const firstHref = `${CONSOLE_BASE_PATH}/users${page.query ? `?q=${encodeURIComponent(page.query)}` : ""}`;
  return renderPage({
    session: page.session,
    section: "users",
    title: "Users",
    body: html`<form
        class="search"
        method="get"
        action="${CONSOLE_BASE_PATH}/users"
        role="search"
      >
        <label for="q">Search by userName, name or e-mail</label>
        <div class="search-row">
          <input
            id="q"
            name="q"
            type="search"
            value="${page.query}"
            maxlength="200"
            autocomplete="off"
            spellcheck="false"
          />
          <button type="submit">Search</button>
        </div>
      </form>
      ${table} ${pager(page.firstPage, firstHref, page.nextHref)}`,
  });
}

function actionsTable(
  id: string,
  caption: string,
  rows: ActionRow[],
  session: ConsoleSession,
  now: Date,
  userId: string,
): SafeHtml {
  return html`<div
    class="table-wrap"
    role="region"
    aria-labelledby="${id}"
    tabindex="0"
  >
    <table>
      <caption id="${id}">
        ${caption}
      </caption>
      <thead>
        <tr>
          <th scope="col">App</th>
          <th scope="col">Action</th>
          <th scope="col">State</th>
          <th scope="col">Due</th>
          <th scope="col">Last error</th>
          <th scope="col">
            <span class="visually-hidden">Operator actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (row) =>
            html`<tr>
              <td>${row.app_id}</td>
              <td>${row.kind}</td>
              <td>${stateBadge(row.state)}</td>
              <td>${timeHtml(row.run_at, now)}</td>
              <td class="error-text">${errorText(row)}</td>
              <td>${actionButtons(row, session, `user:${userId}`)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** A user's page: who they are, their state in each app, open actions and their timeline. */
export function renderUserPage(page: {
  session: ConsoleSession;
  now: Date;
  user: UserRow;
  appStates: UserAppStateJson[];
  openActions: ActionRow[];
  timeline: TimelineItem[];
  truncated: boolean;
  notice?: Notice | undefined;
}): string {
  const { user, now, session } = page;
  const email = emailOf(user);
  const states = page.appStates;
  return renderPage({
    session,
    section: "users",
    title: user.display_name ?? user.user_name,
    notice: page.notice,
    body: html`<p><a href="${CONSOLE_BASE_PATH}/users">← All users</a></p>
      <dl class="facts">
        <div>
          <dt>userName</dt>
          <dd>${user.user_name}</dd>
        </div>
        <div>
          <dt>E-mail</dt>
          <dd>${email ?? "—"}</dd>
        </div>
        <div>
          <dt>In the IdP</dt>
          <dd>${idpStatus(user)}</dd>
        </div>
        <div>
          <dt>externalId</dt>
          <dd>${user.external_id ?? "—"}</dd>
        </div>
        <div>
          <dt>SCIM id</dt>
          <dd><code>${user.id}</code></dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>${timeHtml(user.updated_at, now)}</dd>
        </div>
      </dl>
      <h2 id="apps-heading">State in each app</h2>
      ${
        states.length === 0
          ? html`<p>No action has touched this user in any app yet.</p>`
          : html`<table class="compact" aria-labelledby="apps-heading">
              <thead>
                <tr>
                  <th scope="col">App</th>
                  <th scope="col">State</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                ${states.map(
                  (s) =>
                    html`<tr>
                      <td>${s.app}</td>
                      <td>${stateBadge(s.state)}</td>
                      <td>${timeHtml(s.since, now)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      <h2>Open and failed actions</h2>
      ${
        page.openActions.length === 0
          ? html`<p>Nothing is pending or failed for this user.</p>`
          : actionsTable(
              "open-caption",
              "Pending, running and failed actions, the soonest due first",
              page.openActions,
              session,
              now,
              user.id,
            )
      }
      <h2>Timeline</h2>
      ${page.truncated ? html`<p class="notice notice-error">This user has a long history; the timeline shows the most recent entries of each kind only.</p>` : ""}
      ${timelineTable(page.timeline, now)}`,
  });
}

function timelineTable(items: TimelineItem[], now: Date): SafeHtml {
  if (items.length === 0) return html`<p>No history yet.</p>`;
  return html`<div
    class="table-wrap"
    role="region"
    aria-labelledby="timeline-caption"
    tabindex="0"
  >
    <table class="timeline">
      <caption id="timeline-caption">
        IdP events, actions and audit entries, oldest first; upcoming steps last
      </caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Source</th>
          <th scope="col">What</th>
          <th scope="col">State</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (item) => html`<tr${item.upcoming ? html` class="upcoming"` : ""}>
<td>${timeHtml(item.at, item.upcoming ? now : undefined, { seconds: true })}</td>
<td class="nowrap">${item.source}</td>
<td>${item.upcoming ? html`<strong>Upcoming:</strong> ` : ""}${item.what}</td>
<td>${item.state ? stateBadge(item.state) : ""}</td>
<td>${item.detail}</td>
</tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
