import { z } from "zod";
import { ACTION_KINDS, type AppState } from "../../domain/app-state.ts";
import { defineConnector, type ConnectorActionDefinition } from "../types.ts";

/** A log app's config. */
export const logConfigSchema = z.object({
  /** Names the pretend app in log lines, e.g. "slack (dry run)". */
  label: z.string().min(1).optional(),
});

/** A log app's config. */
export type LogConfig = z.infer<typeof logConfigSchema>;

// What the user's state would be in a real app after each kind; kinds absent here leave it as is.
const RESULTING_STATE: Partial<
  Record<(typeof ACTION_KINDS)[number], AppState>
> = {
  provision: "provisioned",
  suspend: "suspended",
  unsuspend: "provisioned",
  archive: "archived",
  restore: "provisioned",
  remove: "removed",
  recover: "provisioned",
};

const LOG_ACTIONS: Record<string, ConnectorActionDefinition> =
  Object.fromEntries(
    ACTION_KINDS.map((kind): [string, ConnectorActionDefinition] => {
      const state = RESULTING_STATE[kind];
      return [
        kind,
        {
          description: `Log "would ${kind} <userName>" instead of calling an app`,
          // Dry runs accept whatever a real connector's step would pass.
          params: z.record(z.string(), z.unknown()),
          ...(state ? { resultingState: state } : {}),
          ...(kind === "push_group" ? { group: true } : {}),
        },
      ];
    }),
  );

/** Calls nothing: logs what it would do, for demos and dry runs of a policy. */
export const logConnector = defineConnector<LogConfig>({
  id: "log",
  description: "Logs each action instead of calling an app (demos, dry runs)",
  configSchema: logConfigSchema,
  secretFields: [],
  actions: LOG_ACTIONS,
  hostsOf: () => [],
  create: (config, ctx) => ({
    async run(request) {
      const target = request.group
        ? ` in group ${request.group.displayName}`
        : "";
      const wouldDo = `would ${request.action} ${request.subject.userName}${target}`;
      ctx.logger.info(wouldDo, {
        connector: "log",
        ...(config.label ? { label: config.label } : {}),
        action: request.action,
        userId: request.subject.userId,
        params: request.params,
        ...(request.group ? { groupId: request.group.id } : {}),
        idempotencyKey: request.idempotencyKey,
      });
      return { status: "done", detail: { wouldDo } };
    },
    async check() {
      return { ok: true, detail: "the log connector calls nothing" };
    },
  }),
});
