import cliProgress from "cli-progress";
import type { ImportProgress } from "./import-users.ts";

/** How often progress lines are written when stderr is not a terminal (a log file, CI). */
const PLAIN_PROGRESS_EVERY_MS = 5_000;

/** Shows how an import is going on stderr. */
export interface ProgressReporter {
  update(progress: ImportProgress): void;
  /** Ends the output (a full bar when `completed`); later calls do nothing. */
  stop(completed?: boolean): void;
}

/**
 * A progress bar over the file's bytes when stderr is a terminal, a line every few seconds when it
 * is not, nothing when `quiet` (JSON output: stdout is for the machine, stderr stays clean).
 */
export function createProgressReporter(options: {
  totalBytes: number;
  label: string;
  quiet: boolean;
  stream?: NodeJS.WriteStream;
}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  const started = performance.now();
  const rate = (rows: number) => {
    const seconds = (performance.now() - started) / 1000;
    return seconds > 0 ? Math.round(rows / seconds) : 0;
  };
  const payload = (p: ImportProgress) => ({
    rows: p.done,
    rate: rate(p.done),
    created: p.created,
    updated: p.updated,
    unchanged: p.unchanged,
    failed: p.failed,
  });
  const total = Math.max(options.totalBytes, 1);

  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format:
          `${options.label} {bar} {percentage}% | {rows} rows, {rate} rows/s | ` +
          "created {created}, updated {updated}, unchanged {unchanged}, failed {failed}",
        stream,
        hideCursor: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(
      total,
      0,
      payload({
        rows: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        failed: 0,
        done: 0,
        bytesDone: 0,
      }),
    );
    let stopped = false;
    return {
      update: (p) => bar.update(Math.min(p.bytesDone, total), payload(p)),
      stop: (completed = false) => {
        if (stopped) return;
        stopped = true;
        if (completed) bar.update(total);
        bar.stop();
      },
    };
  }

  let last: ImportProgress | undefined;
  const timer = setInterval(() => {
    if (!last) return;
    const v = payload(last);
    stream.write(
      `${options.label}: ${v.rows} rows (${Math.floor((100 * last.bytesDone) / total)}%), ${v.rate} rows/s; ` +
        `created ${v.created}, updated ${v.updated}, unchanged ${v.unchanged}, failed ${v.failed}\n`,
    );
  }, PLAIN_PROGRESS_EVERY_MS);
  // Progress lines must never keep the process alive.
  timer.unref();
  return {
    update: (p) => {
      last = p;
    },
    stop: () => clearInterval(timer),
  };
}
