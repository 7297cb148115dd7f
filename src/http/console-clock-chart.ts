import type { DailyDeprovisioningClock } from "../store/actions-store.ts";
import {
  formatDay,
  formatDuration,
  html,
  type SafeHtml,
} from "./console-html.ts";

const WIDTH = 720;
const HEIGHT = 240;
const LEFT = 64;
const RIGHT = 20;
const TOP = 34;
const BOTTOM = 30;
const PLOT_W = WIDTH - LEFT - RIGHT;
const PLOT_H = HEIGHT - TOP - BOTTOM;
/** About this many day labels fit under the plot without overlapping. */
const MAX_X_LABELS = 8;

// Log scale: a deprovisioning takes from milliseconds (a suspend) to hours (a backlog), and the
// p99 of a bad day is the line worth seeing next to a normal median.
const TICKS_MS = [
  1, 10, 100, 1_000, 10_000, 60_000, 600_000, 3_600_000, 21_600_000, 86_400_000,
  604_800_000, 2_592_000_000,
];

const SERIES = [
  { key: "p50_ms", label: "p50 (median)", color: "#1d4ed8", dash: "" },
  { key: "p99_ms", label: "p99", color: "#b45309", dash: "6 4" },
] as const;

/** The UTC days from `since` to `now`, inclusive, as YYYY-MM-DD. */
export function daysBetween(since: Date, now: Date): string[] {
  const days: string[] = [];
  const day = new Date(
    Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()),
  );
  while (day <= now) {
    days.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return days;
}

function scale(values: number[]): { lo: number; hi: number } {
  if (values.length === 0) return { lo: 100, hi: 10_000 };
  const positive = values.map((v) => Math.max(v, 1));
  const min = Math.min(...positive);
  const max = Math.max(...positive);
  let lo = [...TICKS_MS].reverse().find((t) => t <= min) ?? TICKS_MS[0]!;
  let hi = TICKS_MS.find((t) => t >= max) ?? TICKS_MS[TICKS_MS.length - 1]!;
  if (lo === hi) {
    const i = TICKS_MS.indexOf(lo);
    if (i + 1 < TICKS_MS.length) hi = TICKS_MS[i + 1]!;
    else lo = TICKS_MS[i - 1]!;
  }
  return { lo, hi };
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * One app's deprovisioning clock per day as an inline SVG line chart (p50 solid with circles, p99
 * dashed with squares, so the series differ by more than colour), with a title and description
 * for assistive technology. The page puts a data table next to it.
 */
export function renderClockChart(input: {
  appId: string;
  idPrefix: string;
  days: string[];
  points: DailyDeprovisioningClock[];
}): SafeHtml {
  const byDay = new Map(input.points.map((p) => [p.day, p]));
  const { lo, hi } = scale(input.points.flatMap((p) => [p.p50_ms, p.p99_ms]));
  const span = Math.log10(hi) - Math.log10(lo);
  const y = (ms: number) =>
    round(
      TOP +
        PLOT_H * (1 - (Math.log10(Math.max(ms, 1)) - Math.log10(lo)) / span),
    );
  const count = input.days.length;
  const x = (i: number) =>
    round(count <= 1 ? LEFT + PLOT_W / 2 : LEFT + (i * PLOT_W) / (count - 1));

  const ticks = TICKS_MS.filter((t) => t >= lo && t <= hi);
  const grid = ticks.map(
    (t) =>
      html`<line
          x1="${LEFT}"
          x2="${WIDTH - RIGHT}"
          y1="${y(t)}"
          y2="${y(t)}"
          class="grid"
        />
        <text
          x="${LEFT - 8}"
          y="${y(t) + 4}"
          text-anchor="end"
          class="axis-label"
          >${formatDuration(t)}</text
        >`,
  );
  const step = Math.max(1, Math.ceil(count / MAX_X_LABELS));
  // Counted back from the newest day, so it is labelled and the spacing stays even.
  const xLabels = input.days.map((day, i) =>
    (count - 1 - i) % step === 0
      ? html`<text
          x="${x(i)}"
          y="${HEIGHT - 10}"
          text-anchor="middle"
          class="axis-label"
          >${formatDay(day)}</text
        >`
      : "",
  );

  const series = SERIES.map((s) => {
    // A day without deprovisionings breaks the line rather than drawing a slope through it.
    let d = "";
    let previous = false;
    const markers: SafeHtml[] = [];
    input.days.forEach((day, i) => {
      const point = byDay.get(day);
      if (!point) {
        previous = false;
        return;
      }
      const px = x(i);
      const py = y(point[s.key]);
      d += `${previous ? "L" : "M"}${px} ${py} `;
      previous = true;
      const label = `${formatDay(day)}: ${s.label} ${formatDuration(point[s.key])} (${point.actions} deprovisioning${point.actions === 1 ? "" : "s"})`;
      markers.push(
        s.key === "p50_ms"
          ? html`<circle cx="${px}" cy="${py}" r="4" fill="${s.color}"
              ><title>${label}</title></circle
            >`
          : html`<rect
              x="${px - 4}"
              y="${py - 4}"
              width="8"
              height="8"
              fill="#ffffff"
              stroke="${s.color}"
              stroke-width="2"
              ><title>${label}</title></rect
            >`,
      );
    });
    return html`<g
      >${
        d
          ? html`<path
              d="${d.trim()}"
              fill="none"
              stroke="${s.color}"
              stroke-width="2"
              ${s.dash ? html` stroke-dasharray="${s.dash}"` : ""}
            />`
          : ""
      }${markers}</g
    >`;
  });

  const legend = SERIES.map(
    (s, i) =>
      html`<g transform="translate(${LEFT + i * 150} 12)">
        <line
          x1="0"
          x2="28"
          y1="0"
          y2="0"
          stroke="${s.color}"
          stroke-width="2"
          ${s.dash ? html` stroke-dasharray="${s.dash}"` : ""}
        />
        ${
          s.key === "p50_ms"
            ? html`<circle cx="14" cy="0" r="4" fill="${s.color}" />`
            : html`<rect
                x="10"
                y="-4"
                width="8"
                height="8"
                fill="#ffffff"
                stroke="${s.color}"
                stroke-width="2"
              />`
        }
        <text x="36" y="4" class="legend-label">${s.label}</text></g
      >`,
  );

  const titleId = `${input.idPrefix}-title`;
  const descId = `${input.idPrefix}-desc`;
  const worst = input.points.reduce(
    (m, p) => (p.p99_ms > m.p99_ms ? p : m),
    input.points[0] ?? {
      day: "",
      p99_ms: 0,
      p50_ms: 0,
      actions: 0,
      app_id: "",
    },
  );
  return html`<svg
    class="clock-chart"
    viewBox="0 0 ${WIDTH} ${HEIGHT}"
    role="img"
    aria-labelledby="${titleId} ${descId}"
    focusable="false"
    xmlns="http://www.w3.org/2000/svg"
  >
    <title id="${titleId}">
      Deprovisioning clock of ${input.appId} per day, p50 and p99
    </title>
    <desc id="${descId}">
      ${
        input.points.length === 0
          ? "No deprovisionings in this period."
          : `${input.points.length} day(s) with deprovisionings; the slowest p99 was ${formatDuration(worst.p99_ms)} on ${formatDay(worst.day)}. The table below lists every day.`
      }
    </desc>
    <rect
      x="${LEFT}"
      y="${TOP}"
      width="${PLOT_W}"
      height="${PLOT_H}"
      class="plot-area"
    />
    ${grid} ${xLabels} ${series} ${legend}
  </svg>`;
}
