import type { Clock } from "../clock.ts";
import {
  createOutboundFetch,
  type OutboundFetch,
} from "../connectors/outbound-http.ts";
import type { RegisteredConnector } from "../connectors/connector-registry.ts";
import {
  ConnectorError,
  type ConnectorActionDefinition,
  type ConnectorInstance,
} from "../connectors/types.ts";
import { isPlainObject } from "../domain/plain-json.ts";
import type { AppCatalogEntry, AppDocument } from "../domain/policy.ts";
import type { Logger } from "../logger.ts";

/** How an app's check went. */
export interface AppCheck {
  ok: boolean;
  /** What the app said about itself (e.g. the team's name). */
  detail?: string;
  error?: { kind: string; message: string };
}

/** A running app: its connector instance and the actions it offers. */
export interface AppRuntime {
  app: AppDocument;
  instance: ConnectorInstance;
  actions: Record<string, ConnectorActionDefinition>;
}

/** Options that apply to every app's outbound HTTP. */
export interface OutboundPolicy {
  /** Allow link-local and metadata addresses (off: no SSRF to cloud metadata). */
  allowLinkLocal?: boolean;
  /** Allow loopback and private networks (on: on-premises apps and local fakes). */
  allowPrivateNetworks?: boolean;
  timeoutMs?: number;
}

type Resolved =
  | {
      definition: RegisteredConnector;
      config: Record<string, unknown>;
      actions: Record<string, ConnectorActionDefinition>;
    }
  | { problem: string };

/**
 * Turns an app of a policy (`{ id, connector, config }`) into a running connector: secrets are
 * read from the environment (`{ env: NAME }`) when the app is used and never stored or logged;
 * outbound HTTP is limited to the hosts the app's config names.
 */
export function createAppConnectors(deps: {
  connectors: ReadonlyMap<string, RegisteredConnector>;
  readSecret: (name: string) => string | undefined;
  clock: Clock;
  logger: Logger;
  outbound?: OutboundPolicy;
}) {
  const runtimes = new Map<
    string,
    { runtime: AppRuntime; fetch: OutboundFetch }
  >();
  // Retry-After windows known to this process, by tenant and app. Every outbound request of the
  // app passes this gate, so a call already under way (a read before a write) cannot send its
  // next request into a window another call just learnt about.
  const blocked = new Map<string, number>();
  const gateKey = (tenantId: string, appId: string) => `${tenantId}|${appId}`;

  function resolve(app: AppDocument): Resolved {
    const definition = deps.connectors.get(app.connector);
    if (!definition) {
      return {
        problem: `unknown connector "${app.connector}"; there are ${[...deps.connectors.keys()].join(", ")}`,
      };
    }
    const problems: string[] = [];
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(app.config)) {
      const secret = definition.secretFields.includes(key);
      if (isEnvReference(value)) {
        const found = deps.readSecret(value.env);
        if (found === undefined || found === "") {
          problems.push(
            `config.${key}: environment variable ${value.env} is not set`,
          );
        } else {
          config[key] = found;
        }
      } else if (secret && value !== undefined) {
        problems.push(
          `config.${key} is a secret: write { env: NAME } and set it in the environment, never inline`,
        );
      } else {
        config[key] = value;
      }
    }
    if (problems.length > 0) return { problem: problems.join("; ") };
    const parsed = definition.configSchema.safeParse(config);
    if (!parsed.success) {
      return {
        problem: parsed.error.issues
          .map((i) => `config.${i.path.join(".")}: ${i.message}`)
          .join("; "),
      };
    }
    const actions =
      typeof definition.actions === "function"
        ? definition.actions(parsed.data)
        : definition.actions;
    return { definition, config: parsed.data, actions };
  }

  return {
    /** What policy validation needs to know of an app, or why the app cannot be used. */
    catalogEntry(app: AppDocument): AppCatalogEntry | string {
      const resolved = resolve(app);
      if ("problem" in resolved) return resolved.problem;
      return { actions: resolved.actions };
    },

    /**
     * Runs an app's cheap authenticated call (`check`). An app whose config does not resolve (a
     * secret missing from the environment) fails as misconfigured; never throws.
     */
    async check(
      tenantId: string,
      policyVersion: number,
      app: AppDocument,
    ): Promise<AppCheck> {
      const runtime = this.runtimeFor(tenantId, policyVersion, app);
      if ("problem" in runtime) {
        return {
          ok: false,
          error: { kind: "misconfigured", message: runtime.problem },
        };
      }
      try {
        const checked = await runtime.instance.check();
        return {
          ok: true,
          ...(checked.detail ? { detail: checked.detail } : {}),
        };
      } catch (error) {
        // A ConnectorError says what kind of failure it is; its message names no secrets.
        return {
          ok: false,
          error:
            error instanceof ConnectorError
              ? { kind: error.kind, message: error.message }
              : { kind: "error", message: (error as Error).message },
        };
      }
    },

    /** The running connector of an app of a tenant's policy version (cached per version). */
    runtimeFor(
      tenantId: string,
      policyVersion: number,
      app: AppDocument,
    ): AppRuntime | { problem: string } {
      const key = `${tenantId}|${policyVersion}|${app.id}`;
      const cached = runtimes.get(key);
      if (cached) return cached.runtime;
      const resolved = resolve(app);
      if ("problem" in resolved) return resolved;
      const fetch = createOutboundFetch({
        allowedHosts: resolved.definition.hostsOf(resolved.config),
        allowLinkLocal: deps.outbound?.allowLinkLocal ?? false,
        allowPrivateNetworks: deps.outbound?.allowPrivateNetworks ?? true,
        ...(deps.outbound?.timeoutMs
          ? { timeoutMs: deps.outbound.timeoutMs }
          : {}),
      });
      const logger = deps.logger.child({ app: app.id, tenantId });
      const gate = gateKey(tenantId, app.id);
      const gated = (url: string | URL, init?: RequestInit) => {
        const until = blocked.get(gate) ?? 0;
        const waitMs = until - deps.clock.now().getTime();
        if (waitMs > 0) {
          return Promise.reject(
            new ConnectorError(
              "rate_limited",
              `${app.id} asked us to wait (Retry-After); ${waitMs} ms left`,
              { retryAfterMs: waitMs },
            ),
          );
        }
        return fetch(url, init);
      };
      const instance = resolved.definition.create(resolved.config, {
        fetch: gated,
        clock: deps.clock,
        logger: {
          info: (message, meta) => logger.info(message, meta),
          warn: (message, meta) => logger.warn(message, meta),
        },
      });
      const runtime = { app, instance, actions: resolved.actions };
      runtimes.set(key, { runtime, fetch });
      return runtime;
    },

    /** Holds every request to an app until `until` (a Retry-After), in this process. */
    block(tenantId: string, appId: string, until: Date): void {
      const key = gateKey(tenantId, appId);
      blocked.set(key, Math.max(blocked.get(key) ?? 0, until.getTime()));
    },

    /** The end of an app's Retry-After window known to this process, if it is in one. */
    blockedUntil(tenantId: string, appId: string): Date | undefined {
      const until = blocked.get(gateKey(tenantId, appId));
      return until !== undefined && until > deps.clock.now().getTime()
        ? new Date(until)
        : undefined;
    },

    /** Closes pooled outbound connections. */
    async close(): Promise<void> {
      const all = [...runtimes.values()];
      runtimes.clear();
      await Promise.allSettled(all.map((r) => r.fetch.close()));
    },
  };
}

/** The app connectors' interface. */
export type AppConnectors = ReturnType<typeof createAppConnectors>;

function isEnvReference(value: unknown): value is { env: string } {
  return (
    isPlainObject(value) &&
    Object.keys(value).length === 1 &&
    typeof value.env === "string"
  );
}
