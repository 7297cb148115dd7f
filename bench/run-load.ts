import autocannon from "autocannon";

/** One HTTP request a scenario wants sent. */
export interface BenchRequest {
  method: "GET" | "POST" | "PUT" | "PATCH";
  path: string;
  body?: string;
}

/** How to drive one autocannon run. */
export interface LoadOptions {
  origin: string;
  token: string;
  connections: number;
  /** Seconds to run; ignored when `amount` is given. */
  durationS?: number;
  /** Exactly this many requests (autocannon calls `next` once per request sent). */
  amount?: number;
  /** Builds the next request; called for every request, so it can randomise. */
  next: () => BenchRequest;
  title: string;
}

const running = new Set<autocannon.Instance>();

/** Stops every autocannon run in progress (SIGINT, or the server died). */
export function stopRunningLoads(): void {
  for (const instance of running) instance.stop();
}

/** Runs autocannon against the server; each request comes from `next()`. */
export function runLoad(options: LoadOptions): Promise<autocannon.Result> {
  const headers = {
    authorization: `Bearer ${options.token}`,
    "content-type": "application/scim+json",
    accept: "application/scim+json",
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.origin,
        title: options.title,
        connections: options.connections,
        ...(options.amount !== undefined
          ? { amount: options.amount }
          : { duration: options.durationS ?? 10 }),
        timeout: 30,
        headers,
        requests: [
          {
            setupRequest: (request) => {
              const next = options.next();
              request.method = next.method;
              request.path = next.path;
              request.body = next.body ?? "";
              return request;
            },
          },
        ],
      },
      (error: unknown, result: autocannon.Result) => {
        running.delete(instance);
        if (error)
          reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result);
      },
    );
    running.add(instance);
  });
}
