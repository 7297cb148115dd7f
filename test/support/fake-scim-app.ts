import http from "node:http";
import type { AddressInfo } from "node:net";
import type { FakeApp } from "../connectors/connector-contract.ts";
import { createTestContext, type TestContext } from "./test-app.ts";

/** A second instance of our own server, listening on 127.0.0.1, playing a downstream SCIM app. */
export interface DownstreamScimServer {
  ctx: TestContext;
  /** http://127.0.0.1:port (the SCIM API is under /scim/v2). */
  url: string;
  close(): Promise<void>;
}

/** One request that passed the proxy (the Authorization header is never kept). */
export interface ProxiedRequest {
  method: string;
  url: string;
  body: string;
  status: number;
}

/** A SCIM app for the connector contract: our server behind a proxy that can inject failures. */
export interface ScimAppProxy extends FakeApp {
  /** The downstream tenant's token. */
  token: string;
  requests(): ProxiedRequest[];
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  );
}

/** Builds our app on in-memory PGlite and serves it on a loopback port. */
export async function startDownstreamScimServer(): Promise<DownstreamScimServer> {
  const ctx = await createTestContext();
  const server = http.createServer(ctx.app);
  const url = await listen(server);
  return {
    ctx,
    url,
    close: async () => {
      await closeServer(server);
      await ctx.close();
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * Starts a proxy to `targetUrl` for one tenant. `duplicateEffects` counts successful writes that
 * repeat the previous successful write to the same resource (same method and body): the mark
 * of a connector re-sending an effect on retry instead of seeing it already happened.
 */
export async function startScimAppProxy(
  targetUrl: string,
  token: string,
): Promise<ScimAppProxy> {
  const target = new URL(targetUrl);
  const recorded: ProxiedRequest[] = [];
  const lastWrite = new Map<string, string>();
  const failures: {
    status: number;
    count: number;
    headers: Record<string, string>;
    body: unknown;
  }[] = [];
  let duplicates = 0;

  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const method = req.method ?? "GET";
      const record: ProxiedRequest = {
        method,
        url: req.url ?? "/",
        body: body.toString("utf8"),
        status: 0,
      };
      recorded.push(record);
      const failure = failures[0];
      if (failure) {
        if (--failure.count <= 0) failures.shift();
        record.status = failure.status;
        res.writeHead(failure.status, {
          "Content-Type": "application/scim+json",
          ...failure.headers,
        });
        res.end(JSON.stringify(failure.body));
        return;
      }
      const headers = { ...req.headers, host: target.host };
      const upstream = http.request(
        {
          host: target.hostname,
          port: target.port,
          method,
          path: req.url,
          headers,
          agent: false,
        },
        (answer) => {
          void readBody(answer).then((answerBody) => {
            const status = answer.statusCode ?? 502;
            record.status = status;
            const isWrite = method !== "GET" && method !== "HEAD";
            if (isWrite && status >= 200 && status < 300) {
              const resource = (req.url ?? "/").split("?")[0]!;
              const fingerprint = `${method} ${record.body}`;
              if (lastWrite.get(resource) === fingerprint) duplicates++;
              lastWrite.set(resource, fingerprint);
            }
            res.writeHead(status, answer.headers);
            res.end(answerBody);
          });
        },
      );
      upstream.on("error", () => {
        record.status = 502;
        res.writeHead(502).end();
      });
      upstream.end(body);
    })();
  });
  const url = await listen(server);
  let closed = false;

  return {
    url,
    token,
    failNext(status, options = {}) {
      failures.push({
        status,
        count: options.count ?? 1,
        headers: options.headers ?? {},
        body: options.body ?? {
          schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
          status: String(status),
          detail: "injected by the test proxy",
        },
      });
    },
    duplicateEffects: () => duplicates,
    requests: () => [...recorded],
    async close() {
      if (closed) return;
      closed = true;
      await closeServer(server);
    },
  };
}
