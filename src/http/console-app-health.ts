import type { AppActionSummary } from "../store/actions-store.ts";
import { formatDuration, formatUtc } from "./console-html.ts";

/** How an app is doing, worst first. */
export type AppHealthLevel =
  "misconfigured" | "failing" | "waiting" | "degraded" | "healthy" | "idle";

/** An app's health with the reason an on-call engineer reads first. */
export interface AppHealth {
  level: AppHealthLevel;
  reason: string;
}

/** Due actions older than this mean the worker is not keeping up (or not running). */
const OVERDUE_MS = 15 * 60_000;

/**
 * Derives an app's health from its recent action outcomes and Retry-After window. The worst
 * finding wins: a configuration that cannot work, then failures without a success since, then a
 * Retry-After window, then occasional failures, retries or a backlog.
 */
export function deriveAppHealth(input: {
  summary: AppActionSummary | undefined;
  blockedUntil: Date | undefined;
  problem: string | undefined;
  inPolicy: boolean;
  windowLabel: string;
  now: Date;
}): AppHealth {
  const s = input.summary;
  if (!input.inPolicy) {
    return {
      level: "misconfigured",
      reason:
        "Not in the current policy: its remaining actions fail when they run.",
    };
  }
  if (input.problem) {
    return { level: "misconfigured", reason: input.problem };
  }
  const lastFailed = s?.last_failed_at ? new Date(s.last_failed_at) : undefined;
  const lastSucceeded = s?.last_succeeded_at
    ? new Date(s.last_succeeded_at)
    : undefined;
  if (s && s.failed > 0 && (!lastSucceeded || lastFailed! >= lastSucceeded)) {
    return {
      level: "failing",
      reason: `${s.failed} failed in the ${input.windowLabel}, no success since the last failure.`,
    };
  }
  if (input.blockedUntil) {
    return {
      level: "waiting",
      reason: `The app asked us to wait (Retry-After) until ${formatUtc(input.blockedUntil)}.`,
    };
  }
  const problems: string[] = [];
  if (s && s.failed > 0)
    problems.push(`${s.failed} failed in the ${input.windowLabel}`);
  if (s && s.retrying > 0) problems.push(`${s.retrying} waiting to retry`);
  if (s?.oldest_due_at) {
    const lateMs = input.now.getTime() - new Date(s.oldest_due_at).getTime();
    if (lateMs > OVERDUE_MS) {
      problems.push(
        `${s.due} overdue, the oldest by ${formatDuration(lateMs)}`,
      );
    }
  }
  if (problems.length > 0) {
    return { level: "degraded", reason: `${problems.join("; ")}.` };
  }
  if (s && s.succeeded > 0) {
    return {
      level: "healthy",
      reason: `${s.succeeded} succeeded in the ${input.windowLabel}, none failed.`,
    };
  }
  return {
    level: "idle",
    reason: `No finished actions in the ${input.windowLabel}.`,
  };
}
