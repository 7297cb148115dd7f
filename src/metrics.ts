import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from "prom-client";
import type { AuthFailureReason } from "./http/authenticate.ts";
import type { HttpObserver } from "./http/http-metrics.ts";
import type { Logger } from "./logger.ts";
import type { QueueStat } from "./queue/queue-stats.ts";
import type { ActionObserver } from "./services/action-executor.ts";

/** Prefix of every series of ours (Node's default series keep their usual names). */
export const METRICS_PREFIX = "scim_lifecycle_";

// From a few seconds (a suspend at once) to a day (an IdP that syncs hourly, retries, backoff).
const DEPROVISION_BUCKETS_S = [
  1, 5, 15, 30, 60, 300, 900, 1_800, 3_600, 14_400, 86_400,
];

/** This app's Prometheus registry and the observers the services and HTTP layer report to. */
export interface Metrics extends HttpObserver, ActionObserver {
  registry: Registry;
  /** The registry in the text exposition format. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/**
 * Creates a registry of its own (never prom-client's global one, so apps built side by side in
 * tests do not share counters) with Node's default series and ours. Queue gauges are read from
 * the database when scraped, never kept in step by the code that changes the queue.
 */
export function createMetrics(deps: {
  logger: Logger;
  /** Unfinished actions by app and state; one query per scrape. */
  readQueue: () => Promise<QueueStat[]>;
  /** The time the age of due actions is measured against (the app's clock). */
  now: () => Date;
  /** Node's default series (default true). */
  defaultMetrics?: boolean;
}): Metrics {
  const registry = new Registry();
  if (deps.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpRequests = new Counter({
    name: `${METRICS_PREFIX}http_requests_total`,
    help: "HTTP requests by method, route pattern and status (aborted: the client left first).",
    labelNames: ["method", "route", "status"] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: `${METRICS_PREFIX}http_request_duration_seconds`,
    help: "HTTP request latency by method, route pattern and status.",
    labelNames: ["method", "route", "status"] as const,
    registers,
  });
  const authFailures = new Counter({
    name: `${METRICS_PREFIX}auth_failures_total`,
    help: "Requests refused before their handler: missing or invalid token, missing scope, bad metrics token.",
    labelNames: ["reason"] as const,
    registers,
  });
  const actionRuns = new Counter({
    name: `${METRICS_PREFIX}actions_total`,
    help: "Action runs by app, action kind and recorded outcome.",
    labelNames: ["app", "kind", "outcome"] as const,
    registers,
  });
  const deprovisionLatency = new Histogram({
    name: `${METRICS_PREFIX}deprovision_latency_seconds`,
    help: "From a user's deactivation or deletion to the success of an app action run at once for it.",
    labelNames: ["app"] as const,
    buckets: DEPROVISION_BUCKETS_S,
    registers,
  });
  const queueReadErrors = new Counter({
    name: `${METRICS_PREFIX}queue_read_errors_total`,
    help: "Scrapes whose queue gauges could not be read from the database (they are left out).",
    registers,
  });

  // Both queue gauges come from one query: the scrape collects them at the same time and they
  // share the query in flight.
  let reading: Promise<QueueStat[] | undefined> | undefined;
  const readQueueOnce = () => {
    reading ??= deps
      .readQueue()
      .catch((error: unknown) => {
        queueReadErrors.inc();
        deps.logger.warn("could not read the action queue for metrics", {
          error: (error as Error).message,
        });
        return undefined;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  new Gauge({
    name: `${METRICS_PREFIX}queue_depth`,
    help: "Unfinished actions by app and state (pending includes deferred steps not yet due).",
    labelNames: ["app", "state"] as const,
    // Every process reads the same database: across a cluster, the largest reading, not the sum.
    aggregator: "max",
    registers,
    async collect() {
      const stats = await readQueueOnce();
      this.reset();
      for (const stat of stats ?? []) {
        this.set({ app: stat.app, state: stat.state }, stat.depth);
      }
    },
  });
  new Gauge({
    name: `${METRICS_PREFIX}queue_oldest_due_age_seconds`,
    help: "Age of the oldest due, unfinished action by app (0 when none is due).",
    labelNames: ["app"] as const,
    aggregator: "max",
    registers,
    async collect() {
      const stats = await readQueueOnce();
      const now = deps.now().getTime();
      const oldest = new Map<string, number>();
      for (const stat of stats ?? []) {
        const age = stat.oldestDueAt
          ? Math.max(0, (now - stat.oldestDueAt.getTime()) / 1000)
          : 0;
        oldest.set(stat.app, Math.max(oldest.get(stat.app) ?? 0, age));
      }
      this.reset();
      for (const [app, age] of oldest) this.set({ app }, age);
    },
  });

  return {
    registry,
    async scrape() {
      return {
        contentType: registry.contentType,
        body: await registry.metrics(),
      };
    },
    requestFinished({ method, route, status, seconds }) {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    authFailed(reason: AuthFailureReason) {
      authFailures.inc({ reason });
    },
    actionRun({ app, kind, outcome, deprovisionMs }) {
      actionRuns.inc({ app, kind, outcome });
      if (deprovisionMs !== undefined) {
        deprovisionLatency.observe({ app }, deprovisionMs / 1000);
      }
    },
  };
}
