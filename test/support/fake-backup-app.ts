import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { FakeApp } from "../connectors/connector-contract.ts";

/** One request the fake received (the Authorization header is never kept). */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: Record<string, string>;
  rawBody: string;
  signatureValid: boolean;
  /** Whether the bearer token matched. */
  authorized: boolean;
  /** True when it arrived while a Retry-After we announced was still running. */
  insideRetryAfter: boolean;
}

/** A user as the backup app sees it. */
export type BackupUserState = "active" | "archived" | "removed";

/** A Backupify-style backup app on 127.0.0.1, for webhook connector tests. */
export interface FakeBackupApp extends FakeApp {
  secret: string;
  token: string;
  requests(): RecordedRequest[];
  /** The state of every user the app has seen, keyed by id (e-mail). */
  users(): Record<string, BackupUserState>;
  /** Answers 429 with `Retry-After: seconds` from the next request until the window ends. */
  rateLimit(seconds: number): void;
  /** Requests that arrived inside an announced Retry-After window (a polite client sends none). */
  requestsInsideRetryAfter(): number;
  /** Ends any Retry-After window now. */
  endRateLimit(): void;
}

interface StoredResponse {
  fingerprint: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface ExportJob {
  id: string;
  userId: string;
  polls: number;
}

const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

function signatureValid(
  secret: string,
  timestamp: string | undefined,
  rawBody: string,
  header: string | undefined,
): boolean {
  if (!timestamp || !header || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() - Number(timestamp) * 1000) > SIGNATURE_TOLERANCE_MS)
    return false;
  // Computed here independently of the connector, so a bug in its signing cannot hide.
  const expected = Buffer.from(
    "v1=" +
      createHmac("sha256", secret)
        .update(`${timestamp}.${rawBody}`)
        .digest("hex"),
  );
  return header.split(",").some((part) => {
    const given = Buffer.from(part.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Starts the fake. Export jobs finish after `exportPolls` status reads (default 2). */
export async function startFakeBackupApp(
  options: { secret?: string; token?: string; exportPolls?: number } = {},
): Promise<FakeBackupApp> {
  const secret = options.secret ?? "fake-backup-signing-secret";
  const token = options.token ?? "fake-backup-token";
  const exportPolls = options.exportPolls ?? 2;
  const recorded: RecordedRequest[] = [];
  const users = new Map<string, BackupUserState>();
  const exports = new Map<string, ExportJob>();
  const idempotent = new Map<string, StoredResponse>();
  const failures: {
    status: number;
    count: number;
    headers: Record<string, string>;
    body: unknown;
  }[] = [];
  let duplicates = 0;
  let jobSeq = 0;
  let rateLimitSeconds: number | undefined;
  let retryAfterUntil = 0;

  const stateOf = (id: string) => users.get(id) ?? "active";

  function route(
    method: string,
    url: URL,
  ): { status: number; headers?: Record<string, string>; body?: unknown } {
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (method === "GET" && path === "/account")
      return { status: 200, body: { plan: "business", seats: 100 } };
    if (method === "GET" && path === "/users") {
      const state = url.searchParams.get("state");
      return {
        status: 200,
        body: {
          users: [...users]
            .filter(([, s]) => !state || s === state)
            .map(([id, s]) => ({ id, state: s })),
        },
      };
    }
    if (
      (m = /^\/users\/([^/]+)\/(archive|restore)$/.exec(path)) &&
      method === "POST"
    ) {
      const id = decodeURIComponent(m[1]!);
      const target: BackupUserState =
        m[2] === "archive" ? "archived" : "active";
      if (stateOf(id) === "removed")
        return { status: 404, body: { code: "user_not_found" } };
      if (stateOf(id) === target) duplicates++;
      users.set(id, target);
      return { status: 200, body: { id, state: target } };
    }
    if ((m = /^\/users\/([^/]+)\/exports$/.exec(path)) && method === "POST") {
      const id = decodeURIComponent(m[1]!);
      if (stateOf(id) === "removed")
        return { status: 404, body: { code: "user_not_found" } };
      if ([...exports.values()].some((job) => job.userId === id)) duplicates++;
      const job: ExportJob = { id: `job-${++jobSeq}`, userId: id, polls: 0 };
      exports.set(job.id, job);
      return {
        status: 202,
        headers: { Location: `/exports/${job.id}` },
        body: { jobId: job.id, status: "running" },
      };
    }
    if ((m = /^\/exports\/([^/]+)$/.exec(path)) && method === "GET") {
      const job = exports.get(decodeURIComponent(m[1]!));
      if (!job) return { status: 404, body: { code: "job_not_found" } };
      job.polls++;
      const done = job.polls >= exportPolls;
      return {
        status: 200,
        body: {
          id: job.id,
          userId: job.userId,
          status: done ? "done" : "running",
          ...(done ? { downloadUrl: `/downloads/${job.id}.zip` } : {}),
        },
      };
    }
    if ((m = /^\/users\/([^/]+)$/.exec(path)) && method === "DELETE") {
      const id = decodeURIComponent(m[1]!);
      if (stateOf(id) === "removed")
        return { status: 404, body: { code: "user_not_found" } };
      // Backupify frees a seat only once the archive has been exported.
      const exported = [...exports.values()].some(
        (job) => job.userId === id && job.polls >= exportPolls,
      );
      if (!exported) return { status: 409, body: { code: "export_required" } };
      users.set(id, "removed");
      return { status: 204 };
    }
    return { status: 404, body: { code: "not_found" } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const method = req.method ?? "GET";
      const header = (name: string) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      const now = Date.now();
      const insideRetryAfter = now < retryAfterUntil;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (name !== "authorization" && typeof value === "string")
          headers[name] = value;
      const authorized = header("authorization") === `Bearer ${token}`;
      const record: RecordedRequest = {
        method,
        url: req.url ?? "/",
        headers,
        rawBody,
        signatureValid: signatureValid(
          secret,
          header("x-scim-lifecycle-timestamp"),
          rawBody,
          header("x-scim-lifecycle-signature"),
        ),
        authorized,
        insideRetryAfter,
      };
      recorded.push(record);

      const send = (
        status: number,
        body?: unknown,
        extra: Record<string, string> = {},
      ) => {
        // An announced Retry-After opens a window a polite client leaves alone.
        const announced = status === 429 ? extra["Retry-After"] : undefined;
        if (announced && /^\d+$/.test(announced))
          retryAfterUntil = Math.max(
            retryAfterUntil,
            now + Number(announced) * 1000,
          );
        res.writeHead(status, {
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
          ...extra,
        });
        res.end(
          body !== undefined && method !== "HEAD"
            ? JSON.stringify(body)
            : undefined,
        );
      };

      if (rateLimitSeconds !== undefined) {
        const remaining = insideRetryAfter
          ? Math.ceil((retryAfterUntil - now) / 1000)
          : rateLimitSeconds;
        return send(
          429,
          { code: "rate_limited" },
          { "Retry-After": String(remaining) },
        );
      }
      const failure = failures[0];
      if (failure) {
        if (--failure.count <= 0) failures.shift();
        return send(failure.status, failure.body, failure.headers);
      }
      if (!authorized) return send(401, { code: "invalid_token" });
      if (!record.signatureValid)
        return send(401, { code: "invalid_signature" });

      const url = new URL(req.url ?? "/", "http://fake");
      const key = header("idempotency-key");
      const isWrite = method !== "GET" && method !== "HEAD";
      if (isWrite && !key)
        return send(400, { code: "idempotency_key_required" });
      const fingerprint = `${method} ${url.pathname} ${rawBody}`;
      if (isWrite && key) {
        const stored = idempotent.get(key);
        if (stored) {
          if (stored.fingerprint !== fingerprint)
            return send(422, { code: "idempotency_key_reused" });
          return send(stored.status, stored.body, {
            ...stored.headers,
            "Idempotent-Replayed": "true",
          });
        }
      }
      const result = route(method, url);
      // Like Stripe: outcomes are remembered per key, server errors are not.
      if (isWrite && key && result.status < 500)
        idempotent.set(key, {
          fingerprint,
          status: result.status,
          headers: result.headers ?? {},
          body: result.body,
        });
      send(result.status, result.body, result.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;

  return {
    url: `http://127.0.0.1:${port}`,
    secret,
    token,
    failNext(status, opts = {}) {
      failures.push({
        status,
        count: opts.count ?? 1,
        headers: opts.headers ?? {},
        body: opts.body ?? { code: `forced_${status}` },
      });
    },
    duplicateEffects: () => duplicates,
    requests: () => [...recorded],
    users: () => Object.fromEntries(users),
    rateLimit(seconds) {
      rateLimitSeconds = seconds;
    },
    requestsInsideRetryAfter: () =>
      recorded.filter((r) => r.insideRetryAfter).length,
    endRateLimit() {
      rateLimitSeconds = undefined;
      retryAfterUntil = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
