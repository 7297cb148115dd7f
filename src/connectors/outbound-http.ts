import dns from "node:dns";
import net from "node:net";
import { Agent, request as undiciRequest } from "undici";
import { ConnectorError, type ConnectorContext } from "./types.ts";

/** How long one outbound request may take before it counts as a (retryable) timeout. */
export const OUTBOUND_TIMEOUT_MS = 30_000;

/** How long we wait after a 429 that names no Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 60_000;

const MAX_REDIRECTS = 5;
const DEFAULT_USER_AGENT = "scim-lifecycle/0.1";

/** A `dns.lookup`-shaped resolver; injectable so tests need no network. */
export type HostLookup = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (
    error: NodeJS.ErrnoException | null,
    addresses: dns.LookupAddress[],
  ) => void,
) => void;

/** Options of {@link createOutboundFetch}. */
export interface OutboundFetchOptions {
  /** Exact hostnames, or `*.example.com` for any subdomain of example.com. */
  allowedHosts: readonly string[];
  /**
   * Allow loopback, RFC 1918, unique-local and CGNAT addresses (default true: fakes and
   * on-premises apps live there). Set false for internet-only apps to close SSRF to the LAN.
   */
  allowPrivateNetworks?: boolean;
  /** Allow link-local and cloud metadata addresses (default false; almost never right). */
  allowLinkLocal?: boolean;
  /** Per request, including redirects (default {@link OUTBOUND_TIMEOUT_MS}). */
  timeoutMs?: number;
  userAgent?: string;
  /** Resolver used at connect time (default `dns.lookup`). */
  lookup?: HostLookup;
}

/** A fetch for ConnectorContext.fetch that also owns its connection pool. */
export type OutboundFetch = ConnectorContext["fetch"] & {
  /** Closes pooled keep-alive connections. */
  close(): Promise<void>;
};

// Cloud metadata services: AWS/GCP/Azure/OpenStack, AWS IPv6 (Nitro), Alibaba.
const METADATA_ADDRESSES = new Set([
  "169.254.169.254",
  "fd00:ec2::254",
  "100.100.100.200",
]);
const METADATA_HOSTNAMES = new Set([
  "metadata.google.internal",
  "metadata",
  "instance-data",
  "instance-data.ec2.internal",
]);

const LINK_LOCAL = new net.BlockList();
LINK_LOCAL.addSubnet("169.254.0.0", 16, "ipv4");
LINK_LOCAL.addSubnet("fe80::", 10, "ipv6");

const PRIVATE = new net.BlockList();
PRIVATE.addSubnet("127.0.0.0", 8, "ipv4");
PRIVATE.addSubnet("10.0.0.0", 8, "ipv4");
PRIVATE.addSubnet("172.16.0.0", 12, "ipv4");
PRIVATE.addSubnet("192.168.0.0", 16, "ipv4");
PRIVATE.addSubnet("100.64.0.0", 10, "ipv4");
PRIVATE.addSubnet("0.0.0.0", 8, "ipv4");
PRIVATE.addAddress("::1", "ipv6");
PRIVATE.addAddress("::", "ipv6");
PRIVATE.addSubnet("fc00::", 7, "ipv6");

function normaliseHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
}

function familyOf(address: string): "ipv4" | "ipv6" {
  return net.isIPv6(address) ? "ipv6" : "ipv4";
}

/** Why `address` may not be called under these options, or undefined when it may. */
function forbiddenAddressReason(
  address: string,
  options: Pick<
    OutboundFetchOptions,
    "allowLinkLocal" | "allowPrivateNetworks"
  >,
): string | undefined {
  const ip = normaliseHost(address).replace(/%.*$/, "");
  // BlockList matches IPv4-mapped IPv6 (::ffff:169.254.169.254) against IPv4 subnets too.
  const mappedV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip)?.[1];
  if (!options.allowLinkLocal) {
    if (
      METADATA_ADDRESSES.has(ip) ||
      (mappedV4 && METADATA_ADDRESSES.has(mappedV4))
    )
      return "a cloud metadata address";
    if (LINK_LOCAL.check(ip, familyOf(ip))) return "a link-local address";
  }
  if (options.allowPrivateNetworks === false && PRIVATE.check(ip, familyOf(ip)))
    return "a private or loopback address";
  return undefined;
}

/** True when `hostname` is in `allowedHosts` (exact, or `*.suffix` for subdomains). */
export function isHostAllowed(
  hostname: string,
  allowedHosts: readonly string[],
): boolean {
  const host = normaliseHost(hostname);
  return allowedHosts.some((entry) => {
    const allowed = normaliseHost(entry);
    if (allowed.startsWith("*.")) return host.endsWith(allowed.slice(1));
    return host === allowed;
  });
}

/** The URL without credentials or query, safe for messages and logs. */
export function redactUrl(url: URL | string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

function assertUrlAllowed(url: URL, options: OutboundFetchOptions): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConnectorError(
      "misconfigured",
      `refusing ${url.protocol} URL: only http and https are allowed`,
    );
  }
  const host = normaliseHost(url.hostname);
  if (!isHostAllowed(host, options.allowedHosts)) {
    throw new ConnectorError(
      "misconfigured",
      `refusing ${redactUrl(url)}: host ${host} is not in the app's allowed hosts`,
    );
  }
  if (!options.allowLinkLocal && METADATA_HOSTNAMES.has(host)) {
    throw new ConnectorError(
      "misconfigured",
      `refusing ${redactUrl(url)}: ${host} is a cloud metadata service`,
    );
  }
  // Connections to IP literals skip the resolver, so check them here.
  if (net.isIP(host)) {
    const reason = forbiddenAddressReason(host, options);
    if (reason)
      throw new ConnectorError(
        "misconfigured",
        `refusing ${redactUrl(url)}: ${host} is ${reason}`,
      );
  }
}

/**
 * Wraps a resolver so every address a connection would use is checked at connect time: the
 * address checked is the address connected to, so DNS rebinding cannot slip past the check.
 */
function guardedLookup(
  resolve: HostLookup,
  options: OutboundFetchOptions,
): net.LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 4);
      for (const { address } of addresses) {
        const reason = forbiddenAddressReason(address, options);
        if (reason) {
          return callback(
            new ConnectorError(
              "misconfigured",
              `refusing ${hostname}: it resolves to ${reason} (${address})`,
            ) as unknown as NodeJS.ErrnoException,
            "",
            4,
          );
        }
      }
      if (addresses.length === 0) {
        const notFound: NodeJS.ErrnoException = new Error(
          `${hostname} has no addresses`,
        );
        notFound.code = "ENOTFOUND";
        return callback(notFound, "", 4);
      }
      if (lookupOptions.all) {
        // net's autoSelectFamily asks for every address; the callback type only knows one.
        (
          callback as unknown as (
            e: null,
            addresses: dns.LookupAddress[],
          ) => void
        )(null, addresses);
        return;
      }
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function findConnectorError(error: unknown): ConnectorError | undefined {
  for (let e = error, depth = 0; e && depth < 8; depth++) {
    if (e instanceof ConnectorError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 8; depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === "TimeoutError") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function networkMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } })
    .cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  const message =
    typeof cause?.message === "string"
      ? cause.message
      : error instanceof Error
        ? error.message
        : String(error);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

/**
 * Turns whatever a fetch threw into a ConnectorError: ours (refusals) pass through; timeouts,
 * network failures and aborts (a shutting-down worker) become retryable.
 */
export function connectorErrorFromFetchFailure(
  error: unknown,
  url: URL | string,
  timeoutMs?: number,
): ConnectorError {
  const ours = findConnectorError(error);
  if (ours) return ours;
  if (isTimeout(error)) {
    return new ConnectorError(
      "retryable",
      timeoutMs === undefined
        ? `${redactUrl(url)} did not answer in time`
        : `${redactUrl(url)} did not answer within ${timeoutMs} ms`,
      { cause: error },
    );
  }
  return new ConnectorError(
    "retryable",
    `could not reach ${redactUrl(url)}: ${networkMessage(error)}`,
    { cause: error },
  );
}

/**
 * Calls `fetchFn` (a ConnectorContext.fetch) and guarantees that failures are ConnectorErrors,
 * whichever fetch the context carries.
 */
export async function fetchFromApp(
  fetchFn: ConnectorContext["fetch"],
  url: URL | string,
  init?: RequestInit,
): Promise<Response> {
  try {
    return await fetchFn(url, init);
  } catch (error) {
    throw connectorErrorFromFetchFailure(error, url);
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/**
 * A request body as undici's request takes it: strings and bytes as they are; anything else fetch
 * accepts (URLSearchParams, Blob, FormData, streams) read as fetch would send it, with the content
 * type fetch would give it when the caller set none.
 */
async function requestBody(
  body: RequestInit["body"],
  headers: Headers,
): Promise<string | Uint8Array | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  const encoded = new Response(body);
  const type = encoded.headers.get("content-type");
  if (type && !headers.has("content-type")) headers.set("content-type", type);
  return new Uint8Array(await encoded.arrayBuffer());
}

/** Statuses whose Response may not have a body (the Fetch standard's null body statuses). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** An answer of undici's request as a standard Response, its body read in full (within the timeout). */
async function responseOf(
  answer: Awaited<ReturnType<typeof undiciRequest>>,
  url: URL,
  timeoutMs: number,
): Promise<Response> {
  let text: string;
  try {
    text = await answer.body.text();
  } catch (error) {
    throw connectorErrorFromFetchFailure(error, url, timeoutMs);
  }
  if (answer.statusCode < 200 || answer.statusCode > 599) {
    throw new ConnectorError(
      "retryable",
      `${redactUrl(url)} answered with status ${answer.statusCode}`,
      { status: answer.statusCode },
    );
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return new Response(NULL_BODY_STATUSES.has(answer.statusCode) ? null : text, {
    status: answer.statusCode,
    headers,
  });
}

/**
 * A fetch restricted to `allowedHosts`, refusing link-local and metadata addresses after DNS
 * resolution, with a timeout. Refusals throw `misconfigured`; network errors and timeouts throw
 * `retryable`. Redirects are followed only to allowed hosts.
 */
export function createOutboundFetch(
  options: OutboundFetchOptions,
): OutboundFetch {
  const timeoutMs = options.timeoutMs ?? OUTBOUND_TIMEOUT_MS;
  const resolve: HostLookup =
    options.lookup ??
    ((hostname, lookupOptions, callback) =>
      dns.lookup(hostname, lookupOptions, callback));
  const dispatcher = new Agent({
    connect: { lookup: guardedLookup(resolve, options) },
  });

  const outboundFetch = async (
    input: string | URL,
    init: RequestInit = {},
  ): Promise<Response> => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new ConnectorError("misconfigured", "refusing an invalid URL");
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal
      ? AbortSignal.any([init.signal, timeout])
      : timeout;
    const headers = new Headers(init.headers);
    if (!headers.has("user-agent"))
      headers.set("user-agent", options.userAgent ?? DEFAULT_USER_AGENT);
    // undici's request does not decode compressed bodies: never ask for them.
    headers.delete("accept-encoding");
    let method = (init.method ?? "GET").toUpperCase();
    let body = await requestBody(init.body, headers);

    for (let hop = 0; ; hop++) {
      assertUrlAllowed(url, options);
      let answer: Awaited<ReturnType<typeof undiciRequest>>;
      try {
        // undici's request, not its fetch: a fifth of the CPU per call (no WHATWG streams), which
        // is most of what an action costs the worker. Connectors still get a standard Response.
        answer = await undiciRequest(url, {
          method: method as never,
          headers: Object.fromEntries(headers),
          body,
          signal,
          dispatcher,
        });
      } catch (error) {
        throw connectorErrorFromFetchFailure(error, url, timeoutMs);
      }
      const location = headerValue(answer.headers.location);
      if (!REDIRECT_STATUSES.has(answer.statusCode) || !location) {
        return responseOf(answer, url, timeoutMs);
      }
      await answer.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw new ConnectorError(
          "misconfigured",
          `${redactUrl(url)} redirected more than ${MAX_REDIRECTS} times`,
          { status: answer.statusCode },
        );
      }
      const next = new URL(location, url);
      // Like browsers: credentials never follow a redirect to another origin.
      if (next.origin !== url.origin) headers.delete("authorization");
      if (
        answer.statusCode === 303 ||
        ((answer.statusCode === 301 || answer.statusCode === 302) &&
          method === "POST")
      ) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
        headers.delete("content-type");
      }
      url = next;
    }
  };
  return Object.assign(outboundFetch, {
    close: () => dispatcher.close(),
  });
}

/** The response body as JSON, or undefined when it is empty or not JSON. */
export async function readJsonBody(res: Response): Promise<unknown> {
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    throw connectorErrorFromFetchFailure(error, res.url || "the app");
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Milliseconds to wait from a Retry-After header (delay-seconds or HTTP-date), if it has one. */
export function retryAfterMs(
  header: string | null,
  now: Date,
): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  if (/^\d+\.\d+$/.test(value)) return Math.ceil(Number(value) * 1000);
  // Every HTTP-date form (RFC 9110 §5.6.7) starts with a day name; Date.parse accepts "-5".
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

async function errorDetailsOf(
  res: Response,
): Promise<{ code?: string; detail?: string }> {
  let text: string;
  try {
    text = await res.text();
  } catch {
    return {};
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text.trim() ? { detail: text.trim().slice(0, 200) } : {};
  }
  if (!body || typeof body !== "object") return {};
  const record = body as Record<string, unknown>;
  const nested =
    record.error && typeof record.error === "object"
      ? (record.error as Record<string, unknown>)
      : {};
  const firstString = (...values: unknown[]) =>
    values.find((v): v is string => typeof v === "string" && v !== "");
  const code = firstString(
    record.scimType,
    record.code,
    record.error_code,
    typeof record.error === "string" ? record.error : undefined,
    nested.code,
  );
  const detail = firstString(
    record.detail,
    record.message,
    record.error_description,
    nested.message,
  );
  return {
    ...(code ? { code } : {}),
    ...(detail ? { detail: detail.slice(0, 200) } : {}),
  };
}

/**
 * Maps an unsuccessful response to a ConnectorError: 429 → rate_limited (Retry-After, else 60 s),
 * 5xx and 408 → retryable, 401/403 → misconfigured, other 4xx → rejected. Reads the body; values
 * in `redact` (the app's token) are cut from anything the app echoed back.
 */
export async function connectorErrorFromResponse(
  res: Response,
  appName: string,
  options: { now?: Date; redact?: readonly (string | undefined)[] } = {},
): Promise<ConnectorError> {
  const status = res.status;
  const details = await errorDetailsOf(res);
  const scrub = (text: string | undefined) =>
    text === undefined
      ? undefined
      : (options.redact ?? []).reduce<string>(
          (out, secret) =>
            secret ? out.split(secret).join("[redacted]") : out,
          text,
        );
  const code = scrub(details.code);
  const detail = scrub(details.detail);
  const message = `${appName} answered ${status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`;
  const now = options.now ?? new Date();
  const waitMs = retryAfterMs(res.headers.get("retry-after"), now);
  const base = { status, ...(code ? { code } : {}) };
  if (status === 429) {
    return new ConnectorError("rate_limited", message, {
      ...base,
      retryAfterMs: waitMs ?? DEFAULT_RETRY_AFTER_MS,
    });
  }
  if (status >= 500 || status === 408) {
    return new ConnectorError("retryable", message, {
      ...base,
      ...(waitMs !== undefined ? { retryAfterMs: waitMs } : {}),
    });
  }
  if (status === 401 || status === 403) {
    return new ConnectorError("misconfigured", message, base);
  }
  if (status >= 400) return new ConnectorError("rejected", message, base);
  // A 3xx we did not follow or a 1xx: the base URL points somewhere that is not the API.
  return new ConnectorError(
    "misconfigured",
    `${message} (unexpected; check the app's base URL)`,
    base,
  );
}
