import type { z } from "zod";
import type { AppState } from "../domain/app-state.ts";

/**
 * How a downstream failure should be handled. `retryable`: try again with backoff (5xx, network,
 * timeouts). `rate_limited`: the app asked us to wait (`retryAfterMs`); nothing goes to that app
 * before then, and the attempt does not count. `rejected`: the app refused this request and
 * repeating it will not help (dead letter). `misconfigured`: our side is wrong (bad token, bad
 * params, forbidden URL); dead letter, and the operator must fix the app's configuration.
 */
export type ConnectorErrorKind =
  "retryable" | "rate_limited" | "rejected" | "misconfigured";

/** The one error a connector throws. */
export class ConnectorError extends Error {
  readonly kind: ConnectorErrorKind;
  /** For `rate_limited` (and optionally `retryable`): how long the app asked us to wait. */
  readonly retryAfterMs: number | undefined;
  /** The downstream HTTP status, when there was one. */
  readonly status: number | undefined;
  /** The app's own error tag (Dropbox `error_summary`, SCIM `scimType`…), when it gave one. */
  readonly code: string | undefined;

  constructor(
    kind: ConnectorErrorKind,
    message: string,
    options: {
      retryAfterMs?: number;
      status?: number;
      code?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ConnectorError";
    this.kind = kind;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.code = options.code;
  }
}

/** The user an action is about, as planned (attributes rendered from the SCIM user). */
export interface ActionSubject {
  /** Our SCIM id of the user. */
  userId: string;
  userName: string;
  externalId?: string;
  /** The work (else primary, else first) e-mail. */
  email?: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
  active: boolean;
  /** The whole SCIM user as it was when the action was planned. */
  resource: Record<string, unknown>;
  /**
   * What this app knows the user by, saved from earlier results of this app (e.g. Dropbox's
   * `team_member_id`, the downstream SCIM id). Empty before the first success.
   */
  ref: Record<string, unknown>;
}

/** The group of a group action (SCIM group push). */
export interface ActionGroup {
  id: string;
  displayName: string;
  externalId?: string;
  /** What this app knows the group by, from earlier results. */
  ref: Record<string, unknown>;
}

/** One call of a connector action. */
export interface ActionRequest {
  /** The action kind, e.g. `suspend`. */
  action: string;
  subject: ActionSubject;
  group?: ActionGroup;
  /** Parameters after templating, validated with the action's `params` schema. */
  params: Record<string, unknown>;
  /** Stable across retries of the same planned action; send it where the app accepts one. */
  idempotencyKey: string;
  /** Set when this call polls a downstream job started by an earlier call of the same action. */
  job?: DownstreamJob;
  /** Which attempt this is (1 = first). */
  attempt: number;
}

/** A long-running job in the downstream app (Dropbox async job, backup export…). */
export interface DownstreamJob {
  id: string;
  /** Anything the connector needs to poll it (e.g. which endpoint). */
  data?: Record<string, unknown>;
  /** When the first call started it (ISO 8601). */
  startedAt: string;
}

/** What a connector call achieved. */
export type ActionResult =
  | {
      status: "done";
      /** Merged into the user's ref for this app (ids the app gave us). */
      ref?: Record<string, unknown>;
      /** Shown to operators and kept in the audit trail (no secrets). */
      detail?: Record<string, unknown>;
    }
  | {
      status: "in_progress";
      /** Poll again after this long with `job` set. */
      pollAfterMs: number;
      job: Omit<DownstreamJob, "startedAt"> & { startedAt?: string };
      ref?: Record<string, unknown>;
      detail?: Record<string, unknown>;
    };

/** What a connector may use. It gets nothing else: no database, no queue, no SCIM. */
export interface ConnectorContext {
  /** fetch, restricted to the app's allowed hosts, with a timeout. */
  fetch: (url: string | URL, init?: RequestInit) => Promise<Response>;
  clock: { now(): Date };
  logger: {
    info(message: string, meta?: Record<string, unknown>): void;
    warn(message: string, meta?: Record<string, unknown>): void;
  };
}

/** One action a connector offers. */
export interface ConnectorActionDefinition {
  description: string;
  /** Validates (and defaults) the step's params, at policy load and again before each call. */
  params: z.ZodType<Record<string, unknown>>;
  /** The user's state in the app after this action succeeds, if the action changes it. */
  resultingState?: AppState;
  /** True for actions about a group (group push); they need `group` in the request. */
  group?: boolean;
}

/** An app's running connector: one method per action it offers, plus `check`. */
export interface ConnectorInstance {
  run(request: ActionRequest): Promise<ActionResult>;
  /** A cheap authenticated call that proves the configuration works. */
  check(): Promise<{ ok: true; detail?: string }>;
}

/** A connector: an id, a config schema, the actions it offers, and a factory. */
export interface ConnectorDefinition<Config = Record<string, unknown>> {
  id: string;
  description: string;
  /** Validates an app's `config` (after secrets are resolved from the environment). */
  configSchema: z.ZodType<Config>;
  /** Config keys holding secrets: they must be given as `{ env: NAME }`, never inline. */
  secretFields: readonly string[];
  /**
   * The actions this connector offers. For connectors whose actions come from the app's config
   * (webhook), a function of that config.
   */
  actions:
    | Record<string, ConnectorActionDefinition>
    | ((config: Config) => Record<string, ConnectorActionDefinition>);
  /** The hosts an app's config lets this connector call (for the outbound allowlist). */
  hostsOf(config: Config): string[];
  create(config: Config, ctx: ConnectorContext): ConnectorInstance;
}

/** Keeps the config type of a connector definition (identity at runtime). */
export function defineConnector<Config>(
  definition: ConnectorDefinition<Config>,
): ConnectorDefinition<Config> {
  return definition;
}
