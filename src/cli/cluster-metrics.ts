import cluster from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Logger } from "../logger.ts";

// With WEB_CONCURRENCY > 1 the processes share one port and a scrape lands on any of them: each
// answering with its own counters would make every series jump between processes. So the one
// that gets the scrape asks the primary, which gathers every process's registry (prom-client's
// AggregatorRegistry over the cluster IPC channel) and answers with the sums.
const REQUEST = "scim-lifecycle:metrics-request";
const RESPONSE = "scim-lifecycle:metrics-response";
const SCRAPE_TIMEOUT_MS = 10_000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsResponse {
  type: typeof RESPONSE;
  id: number;
  contentType?: string;
  body?: string;
  error?: string;
}

/** Primary side: answers the workers' scrape requests with every worker's metrics, summed. */
export function serveClusterMetrics(logger: Logger): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    const reply = (answer: Omit<MetricsResponse, "type" | "id">) => {
      if (worker.isConnected())
        worker.send({ type: RESPONSE, id: message.id, ...answer });
    };
    aggregator.clusterMetrics().then(
      (body) => reply({ contentType: aggregator.contentType, body }),
      (error: unknown) => {
        logger.warn("could not gather the workers' metrics", {
          error: (error as Error).message,
        });
        reply({ error: (error as Error).message });
      },
    );
  });
}

/**
 * Worker side: offers this process's registry to the primary's aggregation and returns the scrape
 * function for GET /metrics, which asks the primary for everyone's.
 */
export function createClusterMetricsClient(): {
  share(registry: Registry): void;
  scrape(): Promise<{ contentType: string; body: string }>;
} {
  const pending = new Map<
    number,
    {
      resolve: (value: { contentType: string; body: string }) => void;
      reject: (error: Error) => void;
    }
  >();
  let nextId = 0;
  process.on("message", (message: unknown) => {
    if (!isMessage<MetricsResponse>(message, RESPONSE)) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.body !== undefined && message.contentType) {
      waiting.resolve({ contentType: message.contentType, body: message.body });
    } else {
      waiting.reject(new Error(message.error ?? "no metrics from the primary"));
    }
  });
  return {
    share(registry) {
      AggregatorRegistry.setRegistries([registry]);
      // Constructing one installs prom-client's listener that answers the primary's requests.
      new AggregatorRegistry();
    },
    scrape() {
      return new Promise((resolve, reject) => {
        if (!process.send) {
          reject(new Error("not a cluster worker"));
          return;
        }
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error("the primary did not answer in time"));
        }, SCRAPE_TIMEOUT_MS);
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        process.send({ type: REQUEST, id } satisfies MetricsRequest);
      });
    },
  };
}

function isMessage<T extends { type: string }>(
  message: unknown,
  type: T["type"],
): message is T {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { type?: unknown }).type === type &&
    typeof (message as { id?: unknown }).id === "number"
  );
}
