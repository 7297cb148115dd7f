import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { ENTERPRISE_USER_URN } from "../../domain/scim-urns.ts";
import { APP_STATES } from "../../domain/app-state.ts";
import {
  connectorErrorFromResponse,
  fetchFromApp,
  readJsonBody,
  redactUrl,
} from "../outbound-http.ts";
import {
  ConnectorError,
  defineConnector,
  type ActionRequest,
  type ActionResult,
  type ConnectorActionDefinition,
  type ConnectorContext,
} from "../types.ts";
import {
  lookupPath,
  malformedPlaceholders,
  renderJson,
  renderString,
  unknownPlaceholders,
  type TemplateContext,
} from "./render-template.ts";

/** Header carrying the request's Unix time in seconds (part of the signed payload). */
export const TIMESTAMP_HEADER = "X-Scim-Lifecycle-Timestamp";
/** Header carrying `v1=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>`. */
export const SIGNATURE_HEADER = "X-Scim-Lifecycle-Signature";
/** How far a receiver should let the timestamp drift by default (replay window). */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

const DEFAULT_POLL_AFTER_MS = 5_000;
// Headers the connector owns: a config may not forge the signature or smuggle credentials.
const RESERVED_HEADERS =
  /^(authorization|idempotency-key|x-scim-lifecycle-.*|host|content-length|content-type|cookie|proxy-authorization)$/i;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const templateString = z.string().superRefine((value, ctx) => {
  for (const path of unknownPlaceholders(value))
    ctx.addIssue({
      code: "custom",
      message: `unknown placeholder {{${path}}}`,
    });
  if (malformedPlaceholders(value).length > 0)
    ctx.addIssue({ code: "custom", message: "malformed {{…}} placeholder" });
});

const headerMap = z
  .record(z.string().regex(HEADER_NAME), templateString)
  .refine(
    (headers) => !Object.keys(headers).some((h) => RESERVED_HEADERS.test(h)),
    {
      message:
        "headers may not set Authorization, Idempotency-Key, X-Scim-Lifecycle-*, Host, Content-* or Cookie; put credentials in `token`",
    },
  );

const fieldMatch = z.object({
  field: z.string().min(1),
  equals: z.union([z.string(), z.number(), z.boolean()]),
});

const actionSchema = z.object({
  description: z.string().optional(),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
  path: templateString.regex(/^\//, "path must start with /"),
  body: z
    .json()
    .optional()
    .superRefine((body, ctx) => {
      for (const path of unknownPlaceholders(body))
        ctx.addIssue({
          code: "custom",
          message: `unknown placeholder {{${path}}}`,
        });
      if (malformedPlaceholders(body).length > 0)
        ctx.addIssue({
          code: "custom",
          message: "malformed {{…}} placeholder",
        });
    }),
  headers: headerMap.optional(),
  resultingState: z.enum(APP_STATES).optional(),
  /** Statuses that mean success (default: any 2xx). Add 404 to a DELETE to make repeats succeed. */
  successStatuses: z
    .array(z.number().int().min(200).max(499))
    .min(1)
    .optional(),
  /** Saves response fields as the user's ref for this app: ref key → dotted path in the body. */
  refFrom: z.record(z.string(), z.string().min(1)).optional(),
  async: z
    .object({
      /** Dotted path of the job id in the start response (default `id`; else the Location header). */
      jobIdFrom: z.string().min(1).default("id"),
      /** GET path polled for status (may use {{job.id}}); absent: the start response's Location. */
      statusPath: templateString
        .regex(/^\//, "statusPath must start with /")
        .optional(),
      doneWhen: fieldMatch,
      failedWhen: fieldMatch.optional(),
      pollAfterMs: z.number().int().min(100).default(DEFAULT_POLL_AFTER_MS),
    })
    .optional(),
});

/** One configured HTTP action. */
export type WebhookAction = z.infer<typeof actionSchema>;

/** An app's webhook config (secrets already resolved from the environment). */
export const webhookConfigSchema = z.object({
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** HMAC key for the signature header. */
  secret: z.string().min(16, "use a random secret of at least 16 characters"),
  /** Sent as `Authorization: Bearer <token>`, or raw in `tokenHeader`. */
  token: z.string().min(1).optional(),
  /** For API-key style apps (e.g. `X-Api-Key`): carries the token instead of Authorization. */
  tokenHeader: z.string().regex(HEADER_NAME).optional(),
  allowedHosts: z.array(z.string().min(1)).min(1).optional(),
  /** GET path proving the credentials work; absent, `check` sends HEAD to baseUrl. */
  checkPath: z.string().regex(/^\//).optional(),
  /** Static, non-secret headers sent with every request. */
  headers: headerMap.optional(),
  actions: z
    .record(z.string().regex(/^[a-z][a-z0-9_]*$/), actionSchema)
    .refine((actions) => Object.keys(actions).length > 0, {
      message: "configure at least one action",
    }),
});

/** A webhook app's config. */
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

/** The signature header value for a payload. */
export function signWebhook(
  secret: string,
  timestamp: string,
  rawBody: string,
): string {
  const mac = createHmac("sha256", secret)
    .update(`${timestamp}.${rawBody}`)
    .digest("hex");
  return `v1=${mac}`;
}

/**
 * For receivers: true when `header` holds a `v1=` signature of `timestamp.rawBody` under `secret`
 * (any of several, comma-separated, during key rotation) and the timestamp is within tolerance.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | null | undefined,
  rawBody: string,
  header: string | null | undefined,
  options: { now?: Date; toleranceMs?: number } = {},
): boolean {
  if (!timestamp || !header || !/^\d+$/.test(timestamp)) return false;
  const toleranceMs = options.toleranceMs ?? SIGNATURE_TOLERANCE_MS;
  const now = (options.now ?? new Date()).getTime();
  if (Math.abs(now - Number(timestamp) * 1000) > toleranceMs) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody));
  return header
    .split(",")
    .map((part) => Buffer.from(part.trim()))
    .some(
      (given) =>
        given.length === expected.length && timingSafeEqual(given, expected),
    );
}

function templateContextOf(request: ActionRequest): TemplateContext {
  const { resource, ref, ...fields } = request.subject;
  return {
    user: {
      ...resource,
      ...fields,
      enterprise: resource[ENTERPRISE_USER_URN],
    },
    params: request.params,
    ref,
    idempotencyKey: request.idempotencyKey,
    action: request.action,
    ...(request.job ? { job: request.job } : {}),
    ...(request.group ? { group: request.group } : {}),
  };
}

function encodePathValue(text: string): string {
  // "." and ".." would climb the base path once the URL is normalised, even percent-encoded.
  if (text === "." || text === "..") {
    throw new ConnectorError(
      "rejected",
      `refusing to put "${text}" into a URL path`,
    );
  }
  return encodeURIComponent(text);
}

function urlOf(
  baseUrl: string,
  pathTemplate: string,
  context: TemplateContext,
): URL {
  const path = String(renderString(pathTemplate, context, encodePathValue));
  return new URL(baseUrl.replace(/\/+$/, "") + path);
}

function matches(
  body: unknown,
  match: { field: string; equals: unknown },
): boolean {
  return lookupPath(body, match.field) === match.equals;
}

function refFromBody(
  refFrom: Record<string, string> | undefined,
  body: unknown,
): Record<string, unknown> | undefined {
  if (!refFrom) return undefined;
  const ref: Record<string, unknown> = {};
  for (const [key, path] of Object.entries(refFrom)) {
    const value = lookupPath(body, path);
    if (value !== undefined && value !== null) ref[key] = value;
  }
  return Object.keys(ref).length > 0 ? ref : undefined;
}

function withRef<T extends ActionResult>(
  result: T,
  ref: Record<string, unknown> | undefined,
): T {
  return ref ? { ...result, ref } : result;
}

/** Sends signed, idempotent requests to one webhook app. */
function createSender(config: WebhookConfig, ctx: ConnectorContext) {
  const appName = `webhook app ${new URL(config.baseUrl).host}`;
  return {
    appName,
    /** The error for a failed answer, with our secrets cut from anything it echoes. */
    errorFrom: (res: Response) =>
      connectorErrorFromResponse(res, appName, {
        redact: [config.secret, config.token],
      }),
    async send(
      method: string,
      url: URL,
      options: {
        body?: unknown;
        headers?: Record<string, string>;
        idempotencyKey?: string;
      } = {},
    ): Promise<Response> {
      const rawBody =
        options.body === undefined ? "" : JSON.stringify(options.body);
      const timestamp = String(Math.floor(ctx.clock.now().getTime() / 1000));
      const headers = new Headers();
      for (const [name, value] of Object.entries({
        ...config.headers,
        ...options.headers,
      })) {
        try {
          headers.set(name, value.replace(/[\r\n]+/g, " "));
        } catch (error) {
          // Header values are Latin-1 only; a rendered "Zoë Łukasz" cannot be sent as is.
          throw new ConnectorError(
            "rejected",
            `header ${name} cannot carry its rendered value`,
            { cause: error },
          );
        }
      }
      headers.set("accept", "application/json");
      if (options.body !== undefined)
        headers.set("content-type", "application/json");
      if (options.idempotencyKey)
        headers.set("idempotency-key", options.idempotencyKey);
      headers.set(TIMESTAMP_HEADER, timestamp);
      headers.set(
        SIGNATURE_HEADER,
        signWebhook(config.secret, timestamp, rawBody),
      );
      if (config.token) {
        if (config.tokenHeader) headers.set(config.tokenHeader, config.token);
        else headers.set("authorization", `Bearer ${config.token}`);
      }
      return fetchFromApp(ctx.fetch, url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: rawBody } : {}),
      });
    },
  };
}

/** Generic signed HTTP calls per configured action, for apps with a REST API but no SCIM. */
export const webhookConnector = defineConnector<WebhookConfig>({
  id: "webhook",
  description:
    "Signed HTTP requests per action, from templates in the app's config (Backupify- or PostBeyond-style REST APIs)",
  configSchema: webhookConfigSchema,
  secretFields: ["secret", "token"],
  actions: (config) => {
    const actions: Record<string, ConnectorActionDefinition> = {};
    for (const [name, spec] of Object.entries(config.actions)) {
      actions[name] = {
        description:
          spec.description ??
          `${spec.method} ${spec.path}${spec.async ? " (long-running)" : ""}`,
        // Steps may pass any values; templates reach them as {{params.x}}.
        params: z.record(z.string(), z.unknown()),
        ...(spec.resultingState ? { resultingState: spec.resultingState } : {}),
      };
    }
    return actions;
  },
  hostsOf: (config) =>
    config.allowedHosts ?? [new URL(config.baseUrl).hostname],
  create: (config, ctx) => {
    const sender = createSender(config, ctx);

    const succeeded = (spec: WebhookAction, status: number) =>
      spec.successStatuses
        ? spec.successStatuses.includes(status)
        : status >= 200 && status < 300;

    async function poll(
      spec: WebhookAction,
      async: NonNullable<WebhookAction["async"]>,
      request: ActionRequest & { job: NonNullable<ActionRequest["job"]> },
      context: TemplateContext,
    ): Promise<ActionResult> {
      const location = request.job.data?.location;
      const url = async.statusPath
        ? urlOf(config.baseUrl, async.statusPath, context)
        : typeof location === "string"
          ? new URL(location, config.baseUrl)
          : undefined;
      if (!url) {
        throw new ConnectorError(
          "misconfigured",
          `action ${request.action}: no async.statusPath and the app gave no Location to poll`,
        );
      }
      const res = await sender.send("GET", url, {
        idempotencyKey: request.idempotencyKey,
      });
      if (!res.ok) throw await sender.errorFrom(res);
      const body = await readJsonBody(res);
      if (async.failedWhen && matches(body, async.failedWhen)) {
        throw new ConnectorError(
          "rejected",
          `${sender.appName}: job ${request.job.id} of ${request.action} failed`,
          { code: "job_failed" },
        );
      }
      if (matches(body, async.doneWhen)) {
        return withRef(
          { status: "done", detail: { jobId: request.job.id } },
          refFromBody(spec.refFrom, body),
        );
      }
      return {
        status: "in_progress",
        pollAfterMs: async.pollAfterMs,
        job: request.job,
      };
    }

    return {
      async run(request) {
        const spec = config.actions[request.action];
        if (!spec) {
          throw new ConnectorError(
            "misconfigured",
            `the app's webhook config has no action "${request.action}"`,
          );
        }
        const context = templateContextOf(request);
        if (request.job && spec.async)
          return poll(
            spec,
            spec.async,
            { ...request, job: request.job },
            context,
          );

        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(spec.headers ?? {}))
          headers[name] = String(renderString(value, context, (t) => t));
        const url = urlOf(config.baseUrl, spec.path, context);
        const res = await sender.send(spec.method, url, {
          ...(spec.body !== undefined
            ? { body: renderJson(spec.body, context) }
            : {}),
          headers,
          idempotencyKey: request.idempotencyKey,
        });
        if (!succeeded(spec, res.status)) throw await sender.errorFrom(res);
        const body = await readJsonBody(res);
        const ref = refFromBody(spec.refFrom, body);
        const detail = { status: res.status };
        if (!spec.async || matches(body, spec.async.doneWhen))
          return withRef({ status: "done", detail }, ref);

        const jobId = lookupPath(body, spec.async.jobIdFrom);
        const locationHeader = res.headers.get("location");
        // Relative to the request it answered (RFC 9110 §10.2.2), not to the base URL.
        const location = locationHeader
          ? new URL(locationHeader, url).toString()
          : undefined;
        if ((jobId === undefined || jobId === null) && !location) {
          throw new ConnectorError(
            "misconfigured",
            `${sender.appName} started ${request.action} but its answer has no ${spec.async.jobIdFrom} and no Location; check async.jobIdFrom`,
            { status: res.status },
          );
        }
        return withRef(
          {
            status: "in_progress",
            pollAfterMs: spec.async.pollAfterMs,
            job: {
              id: String(jobId ?? location),
              ...(location ? { data: { location } } : {}),
            },
            detail,
          },
          ref,
        );
      },

      async check() {
        if (config.checkPath) {
          const res = await sender.send(
            "GET",
            new URL(config.baseUrl.replace(/\/+$/, "") + config.checkPath),
          );
          if (!res.ok) throw await sender.errorFrom(res);
          await res.body?.cancel();
          return {
            ok: true,
            detail: `GET ${config.checkPath} answered ${res.status}`,
          };
        }
        // Without a check endpoint, any answer but an auth failure (or an outage) proves the
        // signature and token got through.
        const res = await sender.send("HEAD", new URL(config.baseUrl));
        if (
          res.status === 401 ||
          res.status === 403 ||
          res.status === 429 ||
          res.status >= 500
        )
          throw await sender.errorFrom(res);
        await res.body?.cancel();
        return {
          ok: true,
          detail: `HEAD ${redactUrl(config.baseUrl)} answered ${res.status}`,
        };
      },
    };
  },
});
