import { z } from "zod";
import {
  ConnectorError,
  defineConnector,
  type ActionGroup,
  type ActionRequest,
  type ActionResult,
  type ActionSubject,
  type ConnectorActionDefinition,
} from "../types.ts";
import {
  SCIM_URN,
  externalIdOf,
  isContainedIn,
  mapScimUser,
} from "./map-scim-user.ts";
import {
  createScimHttpClient,
  scimLiteral,
  type ScimResource,
} from "./scim-http-client.ts";

/** An app's outbound SCIM config (the token already resolved from the environment). */
export const scimConfigSchema = z.object({
  /** The app's SCIM base, e.g. https://api.slack.com/scim/v2. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  token: z.string().min(1),
  /** How an existing downstream user is recognised before creating one. */
  matchBy: z.enum(["userName", "externalId"]).default("userName"),
  /** `delete` for apps whose DELETE is their deactivation (Slack); see the README first. */
  deactivateWith: z.enum(["patch_active", "delete"]).default("patch_active"),
  /** Send (and match by) the IdP's externalId, or our own user id. */
  externalIdFrom: z.enum(["externalId", "userId"]).default("externalId"),
  allowedHosts: z.array(z.string().min(1)).min(1).optional(),
});

/** A SCIM app's config. */
export type ScimConfig = z.infer<typeof scimConfigSchema>;

const noParams = z.looseObject({});

/** Talks SCIM 2.0 to any app that takes it (Slack, GitHub Enterprise, Zoom, PagerDuty, …). */
export const scimConnector = defineConnector<ScimConfig>({
  id: "scim",
  description:
    "Provisions users and pushes groups into an app that speaks SCIM 2.0",
  configSchema: scimConfigSchema,
  secretFields: ["token"],
  actions: (config) =>
    ({
      provision: {
        description:
          "Find the user by " + config.matchBy + "; create or reactivate it",
        params: noParams,
        resultingState: "provisioned",
      },
      update: {
        description: "Replace the user's attributes (PUT) when they differ",
        params: noParams,
      },
      suspend:
        config.deactivateWith === "delete"
          ? {
              description:
                "DELETE the user (what deactivation means in this app)",
              params: noParams,
              resultingState: "removed",
            }
          : {
              description: "PATCH active=false",
              params: noParams,
              resultingState: "suspended",
            },
      unsuspend: {
        description: "PATCH active=true",
        params: noParams,
        resultingState: "provisioned",
      },
      remove: {
        description: "DELETE the user (gone already counts as done)",
        params: noParams,
        resultingState: "removed",
      },
      push_group: {
        description:
          "Find or create the group by displayName, then add or remove the user (params.op)",
        params: z.looseObject({ op: z.enum(["add", "remove"]).default("add") }),
        group: true,
      },
    }) satisfies Record<string, ConnectorActionDefinition>,
  hostsOf: (config) =>
    config.allowedHosts ?? [new URL(config.baseUrl).hostname],
  create: (config, ctx) => {
    const client = createScimHttpClient(config, ctx);

    /** The downstream user: by the id we saved, else by the matchBy attribute. */
    async function findUser(
      subject: ActionSubject,
      options: { skipRef?: boolean } = {},
    ): Promise<ScimResource | undefined> {
      const refId = subject.ref.id;
      if (typeof refId === "string" && !options.skipRef) {
        const byId = await client.getById("Users", refId);
        if (byId) return byId;
      }
      const value =
        config.matchBy === "userName"
          ? subject.userName
          : externalIdOf(subject, config.externalIdFrom);
      if (!value) {
        throw new ConnectorError(
          "rejected",
          `the user has no ${config.externalIdFrom} to match ${client.appName} users by`,
          { code: "no_match_value" },
        );
      }
      return client.findOne("Users", config.matchBy, value);
    }

    async function requireUser(subject: ActionSubject): Promise<ScimResource> {
      const user = await findUser(subject);
      if (!user) {
        throw new ConnectorError(
          "rejected",
          `${subject.userName} does not exist in ${client.appName}`,
          { status: 404, code: "user_not_found" },
        );
      }
      return user;
    }

    async function setActive(
      user: ScimResource,
      active: boolean,
    ): Promise<boolean> {
      // Re-sending the same PATCH on a retry would be a second write; the read makes it a no-op.
      if (user.active === active || (active && user.active === undefined))
        return false;
      const res = await client.call(
        "PATCH",
        `/Users/${encodeURIComponent(user.id)}`,
        {
          schemas: [SCIM_URN.patchOp],
          Operations: [{ op: "replace", path: "active", value: active }],
        },
      );
      await res.body?.cancel();
      return true;
    }

    async function provision(subject: ActionSubject): Promise<ActionResult> {
      let user = await findUser(subject);
      if (!user) {
        const res = await client.call(
          "POST",
          "/Users",
          mapScimUser(subject, {
            active: true,
            externalIdFrom: config.externalIdFrom,
          }),
          [409],
        );
        if (res.status !== 409) {
          const created = await client.resourceOf(res, "POST /Users");
          return {
            status: "done",
            ref: { id: created.id },
            detail: { created: true },
          };
        }
        // Created by a request whose answer we lost, or by someone else: adopt it.
        await res.body?.cancel();
        user = await findUser(subject, { skipRef: true });
        if (!user) {
          throw new ConnectorError(
            "rejected",
            `${client.appName} reports ${subject.userName} as a duplicate but no ${config.matchBy} matches it`,
            { status: 409, code: "uniqueness" },
          );
        }
      }
      const reactivated = await setActive(user, true);
      return {
        status: "done",
        ref: { id: user.id },
        detail: { created: false, reactivated },
      };
    }

    async function update(subject: ActionSubject): Promise<ActionResult> {
      const user = await requireUser(subject);
      // PUT replaces everything, so keep the app's own active flag (suspend owns that).
      const desired = mapScimUser(subject, {
        active: typeof user.active === "boolean" ? user.active : true,
        externalIdFrom: config.externalIdFrom,
      });
      // Apps list `schemas` their own way; it is no difference worth a write.
      if (
        isContainedIn(
          { ...desired, schemas: undefined },
          { ...user, schemas: undefined },
        )
      )
        return {
          status: "done",
          ref: { id: user.id },
          detail: { changed: false },
        };
      const res = await client.call(
        "PUT",
        `/Users/${encodeURIComponent(user.id)}`,
        {
          ...desired,
          id: user.id,
        },
      );
      await res.body?.cancel();
      return {
        status: "done",
        ref: { id: user.id },
        detail: { changed: true },
      };
    }

    async function remove(subject: ActionSubject): Promise<ActionResult> {
      const user = await findUser(subject);
      // Gone already: a retry after a lost answer, or removed by hand.
      if (!user) return { status: "done", detail: { deleted: false } };
      const res = await client.call(
        "DELETE",
        `/Users/${encodeURIComponent(user.id)}`,
        undefined,
        [404],
      );
      await res.body?.cancel();
      return { status: "done", detail: { deleted: res.status !== 404 } };
    }

    async function findOrCreateGroup(
      group: ActionGroup,
      create: boolean,
    ): Promise<string | undefined> {
      const saved = group.ref.groupId;
      if (typeof saved === "string") {
        const byId = await client.getById("Groups", saved, "?attributes=id");
        if (byId) return byId.id;
      }
      const find = () =>
        client.findOne(
          "Groups",
          "displayName",
          group.displayName,
          "&excludedAttributes=members",
        );
      const found = await find();
      if (found || !create) return found?.id;
      const res = await client.call(
        "POST",
        "/Groups",
        {
          schemas: [SCIM_URN.group],
          displayName: group.displayName,
          ...(group.externalId ? { externalId: group.externalId } : {}),
        },
        [409],
      );
      if (res.status !== 409)
        return (await client.resourceOf(res, "POST /Groups")).id;
      await res.body?.cancel();
      return (await find())?.id;
    }

    async function pushGroup(request: ActionRequest): Promise<ActionResult> {
      const group = request.group;
      if (!group) {
        throw new ConnectorError(
          "misconfigured",
          "push_group needs a group in the request",
        );
      }
      const op = request.params.op === "remove" ? "remove" : "add";
      // The member first: an add for a user the app lacks must not leave an empty group behind.
      const user = await findUser(request.subject);
      if (!user && op === "add") {
        throw new ConnectorError(
          "rejected",
          `${request.subject.userName} does not exist in ${client.appName}; provision before pushing groups`,
          { status: 404, code: "user_not_found" },
        );
      }
      const groupId = await findOrCreateGroup(group, op === "add");
      if (!groupId) return { status: "done", detail: { op, changed: false } };
      if (!user)
        return {
          status: "done",
          ref: { groupId },
          detail: { op, changed: false },
        };
      const current = await client.getById(
        "Groups",
        groupId,
        "?attributes=members",
      );
      const members = Array.isArray(current?.members) ? current.members : [];
      const isMember = members.some(
        (m) => (m as { value?: unknown } | null)?.value === user.id,
      );
      if (isMember === (op === "add"))
        return {
          status: "done",
          ref: { groupId },
          detail: { op, changed: false },
        };
      const operation =
        op === "add"
          ? { op: "add", path: "members", value: [{ value: user.id }] }
          : { op: "remove", path: `members[value eq ${scimLiteral(user.id)}]` };
      const res = await client.call(
        "PATCH",
        `/Groups/${encodeURIComponent(groupId)}`,
        {
          schemas: [SCIM_URN.patchOp],
          Operations: [operation],
        },
      );
      await res.body?.cancel();
      return {
        status: "done",
        ref: { groupId },
        detail: { op, changed: true },
      };
    }

    return {
      async run(request) {
        const { subject } = request;
        switch (request.action) {
          case "provision":
            return provision(subject);
          case "update":
            return update(subject);
          case "suspend": {
            if (config.deactivateWith === "delete") return remove(subject);
            const user = await requireUser(subject);
            const changed = await setActive(user, false);
            return {
              status: "done",
              ref: { id: user.id },
              detail: { changed },
            };
          }
          case "unsuspend": {
            const user = await requireUser(subject);
            const changed = await setActive(user, true);
            return {
              status: "done",
              ref: { id: user.id },
              detail: { changed },
            };
          }
          case "remove":
            return remove(subject);
          case "push_group":
            return pushGroup(request);
          default:
            throw new ConnectorError(
              "misconfigured",
              `the scim connector has no action "${request.action}"`,
            );
        }
      },

      async check() {
        const res = await client.call("GET", "/ServiceProviderConfig");
        await res.body?.cancel();
        return {
          ok: true,
          detail: `GET /ServiceProviderConfig answered ${res.status}`,
        };
      },
    };
  },
});
