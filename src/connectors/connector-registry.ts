import { dropboxConnector } from "./dropbox/dropbox-connector.ts";
import { logConnector } from "./log/log-connector.ts";
import { scimConnector } from "./scim/scim-connector.ts";
import type { ConnectorDefinition } from "./types.ts";
import { webhookConnector } from "./webhook/webhook-connector.ts";

/**
 * A connector with its config type erased. Callers parse an app's config with the definition's
 * own `configSchema` before `create`, `actions` or `hostsOf`, so the value they pass is always
 * that schema's output even though the type no longer says which.
 */
export type RegisteredConnector = ConnectorDefinition<Record<string, unknown>>;

function register<Config>(
  definition: ConnectorDefinition<Config>,
): RegisteredConnector {
  // The one place the config type is forgotten (see RegisteredConnector).
  return definition as unknown as RegisteredConnector;
}

/** Every connector an app config may name, by id. */
export const CONNECTORS: ReadonlyMap<string, RegisteredConnector> = new Map(
  [
    register(dropboxConnector),
    register(scimConnector),
    register(webhookConnector),
    register(logConnector),
  ].map((definition) => [definition.id, definition]),
);
