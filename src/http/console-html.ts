const SAFE = Symbol("safe-html");

/** Markup built by `html` (or a trusted constant): the only thing inserted without escaping. */
export interface SafeHtml {
  readonly [SAFE]: string;
}

/** What may be interpolated into `html`: text is escaped; false, null and undefined render nothing. */
export type HtmlValue =
  SafeHtml | string | number | false | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function isSafe(value: unknown): value is SafeHtml {
  return typeof value === "object" && value !== null && SAFE in value;
}

function render(value: HtmlValue): string {
  if (value === false || value === null || value === undefined) return "";
  if (isSafe(value)) return value[SAFE];
  if (Array.isArray(value)) return value.map(render).join("");
  if (typeof value === "number") return escapeHtml(String(value));
  if (typeof value === "string") return escapeHtml(value);
  // Anything else (an object slipped past the types) is a bug, not something to stringify.
  throw new TypeError(`cannot render ${typeof value} as HTML`);
}

/**
 * Tagged template for markup: every interpolated value is escaped unless it is itself `html`.
 * Attribute values in templates are always double-quoted, so escaping makes them safe too.
 */
export function html(
  strings: TemplateStringsArray,
  ...values: HtmlValue[]
): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i += 1) {
    out += render(values[i]!) + strings[i + 1]!;
  }
  return { [SAFE]: out };
}

/** The markup as a string, for the response body. */
export function htmlToString(value: SafeHtml): string {
  return value[SAFE];
}

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/** `2026-03-31 09:00 UTC`: on-call engineers compare times across regions, so always UTC. */
export function formatUtc(at: Date, seconds = false): string {
  return `${at
    .toISOString()
    .slice(0, seconds ? 19 : 16)
    .replace("T", " ")} UTC`;
}

/** `Mar 31` for a YYYY-MM-DD day. */
export function formatDay(day: string): string {
  const [, month, date] = day.split("-");
  return `${MONTHS[Number(month) - 1] ?? month} ${Number(date)}`;
}

/** A duration for people: `850 ms`, `4.2 s`, `3 min`, `5 h`, `30 days`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(abs)} ms`;
  if (abs < 60_000)
    return `${(abs / 1_000).toFixed(abs < 10_000 ? 1 : 0).replace(/\.0$/, "")} s`;
  if (abs < 3_600_000) return `${Math.round(abs / 60_000)} min`;
  if (abs < 2 * 86_400_000) return `${Math.round(abs / 3_600_000)} h`;
  return `${Math.round(abs / 86_400_000)} days`;
}

/** `in 30 days` or `5 min ago`, relative to `now`. */
export function formatRelative(at: Date, now: Date): string {
  const ms = at.getTime() - now.getTime();
  if (Math.abs(ms) < 1_000) return "now";
  return ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(ms)} ago`;
}

/** A `<time>` element with the UTC time and, when `now` is given, how far away it is. */
export function timeHtml(
  at: Date | string | null | undefined,
  now?: Date,
  options: { seconds?: boolean } = {},
): SafeHtml {
  if (at === null || at === undefined)
    return html`<span class="muted">—</span>`;
  const date = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(date.getTime())) return html`${String(at)}`;
  return html`<time datetime="${date.toISOString()}"
      >${formatUtc(date, options.seconds)}</time
    >${
      now
        ? html` <span class="muted relative"
            >(${formatRelative(date, now)})</span
          >`
        : ""
    }`;
}
