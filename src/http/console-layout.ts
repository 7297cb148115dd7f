import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { CONSOLE_BASE_PATH, type ConsoleSession } from "./console-session.ts";
import { html, htmlToString, type SafeHtml } from "./console-html.ts";

/** The console's one stylesheet, read once at start. */
export const CONSOLE_CSS = readFileSync(
  new URL("./console.css", import.meta.url),
  "utf8",
);

/** The stylesheet's URL; the content hash lets browsers cache it for good. */
export const CONSOLE_CSS_PATH = `${CONSOLE_BASE_PATH}/console.css?v=${createHash(
  "sha256",
)
  .update(CONSOLE_CSS)
  .digest("hex")
  .slice(0, 12)}`;

/** A small icon (a shield), served so browsers do not ask for /favicon.ico outside the console. */
export const CONSOLE_FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z" fill="#1e293b"/><path d="m10 16 4 4 8-8" fill="none" stroke="#fbbf24" stroke-width="3"/></svg>`;

/** The console's sections, in navigation order. */
export const SECTIONS = [
  { id: "users", label: "Users" },
  { id: "pending", label: "Pending" },
  { id: "failed", label: "Failed" },
  { id: "apps", label: "Apps" },
  { id: "clock", label: "Deprovisioning clock" },
] as const;

/** One of the console's sections. */
export type Section = (typeof SECTIONS)[number]["id"];

/** A one-line message at the top of a page, after an operator verb or a check. */
export interface Notice {
  kind: "ok" | "error";
  text: string;
}

function document(title: string, body: SafeHtml): string {
  return `<!doctype html>\n${htmlToString(
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · scim-lifecycle console</title>
        <link rel="stylesheet" href="${CONSOLE_CSS_PATH}" />
        <link
          rel="icon"
          type="image/svg+xml"
          href="${CONSOLE_BASE_PATH}/favicon.svg"
        />
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to main content</a>
        ${body}
      </body>
    </html>`,
  )}`;
}

/** A notice as a status (success) or alert (error) region. */
export function noticeHtml(notice: Notice | undefined): SafeHtml {
  if (!notice) return html``;
  return notice.kind === "ok"
    ? html`<p class="notice notice-ok" role="status">${notice.text}</p>`
    : html`<p class="notice notice-error" role="alert">${notice.text}</p>`;
}

/** The hidden CSRF field every POST form of a signed-in page carries. */
export function csrfField(session: ConsoleSession): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${session.csrf}" />`;
}

/** A signed-in page: header with navigation and sign-out, then the page's content. */
export function renderPage(page: {
  session: ConsoleSession;
  section: Section | undefined;
  title: string;
  notice?: Notice | undefined;
  body: SafeHtml;
}): string {
  const nav = SECTIONS.map(
    (s) =>
      html`<li>
        <a
          href="${CONSOLE_BASE_PATH}/${s.id}"
          ${s.id === page.section ? html` aria-current="page"` : ""}
          >${s.label}</a
        >
      </li>`,
  );
  return document(
    page.title,
    html`<header class="site-header">
        <p class="brand">
          <a href="${CONSOLE_BASE_PATH}/users">scim-lifecycle</a>
          <span>admin console</span>
        </p>
        <nav aria-label="Console sections">
          <ul>
            ${nav}
          </ul>
        </nav>
        <form
          class="sign-out"
          method="post"
          action="${CONSOLE_BASE_PATH}/sign-out"
        >
          <span
            >Tenant <strong>${page.session.principal.tenantName}</strong></span
          >
          ${csrfField(page.session)}
          <button type="submit" class="button-quiet">Sign out</button>
        </form>
      </header>
      <main id="main" tabindex="-1">
        <h1>${page.title}</h1>
        ${noticeHtml(page.notice)} ${page.body}
      </main>`,
  );
}

/** The sign-in form, with an optional message saying why it is shown again. */
export function renderSignIn(form: {
  signInToken: string;
  message?: string | undefined;
  next?: string | undefined;
}): string {
  return document(
    "Sign in",
    html`<main id="main" class="sign-in" tabindex="-1">
      <h1>Sign in to the admin console</h1>
      <p>
        Paste a token with the <code>admin</code> scope. Issue one with
        <code>scim-lifecycle token create --tenant NAME --scopes admin</code>.
      </p>
      ${form.message ? html`<p class="notice notice-error" role="alert" id="sign-in-error">${form.message}</p>` : ""}
      <form method="post" action="${CONSOLE_BASE_PATH}/sign-in">
        <input type="hidden" name="signin_csrf" value="${form.signInToken}" />
        ${form.next ? html`<input type="hidden" name="next" value="${form.next}" />` : ""}
        <label for="token">Admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          required
          autocomplete="current-password"
          spellcheck="false"
          ${form.message ? html` aria-describedby="sign-in-error" aria-invalid="true"` : ""}
        />
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        The token is kept in a cookie for this site only and checked on every
        request, so revoking it signs you out at once.
      </p>
    </main>`,
  );
}

/** A page for a failed request (not found, wrong state, server error), inside the layout. */
export function renderError(
  session: ConsoleSession,
  title: string,
  message: string,
  back?: { href: string; label: string },
): string {
  return renderPage({
    session,
    section: undefined,
    title,
    notice: { kind: "error", text: message },
    body: back ? html`<p><a href="${back.href}">${back.label}</a></p>` : html``,
  });
}

/** An error page for a request that has no session (the database was down during sign-in…). */
export function renderBareError(title: string, message: string): string {
  return document(
    title,
    html`<main id="main" class="sign-in" tabindex="-1">
      <h1>${title}</h1>
      <p class="notice notice-error" role="alert">${message}</p>
      <p><a href="${CONSOLE_BASE_PATH}/sign-in">Go to sign-in</a></p>
    </main>`,
  );
}

/** A state as a badge: the text carries the meaning, the colour only repeats it. */
export function stateBadge(state: string): SafeHtml {
  const tone =
    {
      provisioned: "ok",
      succeeded: "ok",
      active: "ok",
      suspended: "warn",
      archived: "warn",
      pending: "info",
      running: "info",
      in_progress: "info",
      removed: "muted",
      cancelled: "muted",
      skipped: "muted",
      unknown: "muted",
      failed: "bad",
      deactivated: "warn",
    }[state] ?? "muted";
  return html`<span class="badge badge-${tone}"
    >${state.replace("_", " ")}</span
  >`;
}

/** The console page of a user. */
export function userHref(userId: string): string {
  return `${CONSOLE_BASE_PATH}/users/${encodeURIComponent(userId)}`;
}
