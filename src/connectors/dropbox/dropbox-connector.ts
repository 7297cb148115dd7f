import { z } from "zod";
import {
  ConnectorError,
  defineConnector,
  type ActionRequest,
  type ActionResult,
  type ActionSubject,
  type ConnectorActionDefinition,
  type ConnectorContext,
  type DownstreamJob,
} from "../types.ts";

const DEFAULT_BASE_URL = "https://api.dropboxapi.com";
/** Between polls of a Dropbox async job; Dropbox's own jobs usually finish within seconds. */
const JOB_POLL_MS = 3_000;
/** When a 429 carries neither a Retry-After header nor a `retry_after` field. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
/** Dropbox team member ids look like `dbmid:AAH…`; anything else in an id field is a mistake. */
const MEMBER_ID = z.string().regex(/^dbmid:/, 'a team_member_id ("dbmid:…")');

const configSchema = z.strictObject({
  baseUrl: z.url().default(DEFAULT_BASE_URL),
  token: z.string().min(1),
  /** The admin who gets transfer error mails (`transfer_admin_id`) unless a step names one. */
  adminMemberId: MEMBER_ID.optional(),
  timeoutMs: z.number().int().positive().optional(),
});

/** An app's Dropbox config, after secrets are resolved. */
export type DropboxConfig = z.infer<typeof configSchema>;

const transferFields = {
  /** The receiver by e-mail (usually `{{manager.email}}`), resolved to a team_member_id first. */
  transferDestEmail: z.email().optional(),
  transferDestId: MEMBER_ID.optional(),
  transferAdminId: MEMBER_ID.optional(),
};

const provisionParams = z.strictObject({
  /** false = silent invite (SSO onboarding announces the account itself). */
  sendWelcomeEmail: z.boolean().default(false),
  roleId: z
    .string()
    .regex(/^pid_dbtmr:/, 'a role id ("pid_dbtmr:…")')
    .optional(),
});
const suspendParams = z.strictObject({ wipeData: z.boolean().default(true) });
const noParams = z.strictObject({});
const removeParams = z
  .strictObject({
    wipeData: z.boolean().default(true),
    keepAccount: z.boolean().default(false),
    retainTeamShares: z.boolean().default(false),
    ...transferFields,
  })
  .superRefine((p, ctx) => {
    const dest =
      p.transferDestEmail !== undefined || p.transferDestId !== undefined;
    if (p.transferDestEmail !== undefined && p.transferDestId !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["transferDestId"],
        message: "give transferDestEmail or transferDestId, not both",
      });
    }
    // Dropbox's own rules (MembersRemoveError), checked here so a bad step fails at policy load.
    if (p.keepAccount && p.wipeData) {
      ctx.addIssue({
        code: "custom",
        path: ["keepAccount"],
        message: "keepAccount needs wipeData: false",
      });
    }
    if (p.keepAccount && dest) {
      ctx.addIssue({
        code: "custom",
        path: ["keepAccount"],
        message: "keepAccount cannot be combined with a file transfer",
      });
    }
    if (p.retainTeamShares && !p.keepAccount) {
      ctx.addIssue({
        code: "custom",
        path: ["retainTeamShares"],
        message: "retainTeamShares needs keepAccount: true and wipeData: false",
      });
    }
  });
const transferParams = z.strictObject(transferFields).superRefine((p, ctx) => {
  if (
    (p.transferDestEmail === undefined) ===
    (p.transferDestId === undefined)
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["transferDestEmail"],
      message: "give exactly one of transferDestEmail or transferDestId",
    });
  }
});

type TransferTarget = z.infer<typeof transferParams>;

const ACTIONS = {
  provision: {
    description: "members/add_v2: add (invite) the user to the team",
    params: provisionParams,
    resultingState: "provisioned",
  },
  suspend: {
    description: "members/suspend: block sign-in, keep data and licence",
    params: suspendParams,
    resultingState: "suspended",
  },
  unsuspend: {
    description: "members/unsuspend: let a suspended member sign in again",
    params: noParams,
    resultingState: "provisioned",
  },
  remove: {
    description:
      "members/remove: take the member off the team, optionally moving their files",
    params: removeParams,
    resultingState: "removed",
  },
  recover: {
    description: "members/recover: undo a removal (within 7 days)",
    params: noParams,
    resultingState: "provisioned",
  },
  transfer: {
    description:
      "members/move_former_member_files: give a removed member's files to another",
    params: transferParams,
  },
} satisfies Record<string, ConnectorActionDefinition>;

type UserSelector =
  | { ".tag": "team_member_id"; team_member_id: string }
  | { ".tag": "external_id"; external_id: string }
  | { ".tag": "email"; email: string };

/** What members/get_info_v2 told us about one member. */
interface MemberInfo {
  teamMemberId: string;
  status: string;
  recoverable: boolean;
}

/** A route's answer: its JSON, or the tag of its 409 (route-specific) error. */
type Outcome =
  { ok: true; body: unknown } | { ok: false; tag: string; summary: string };

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const tagOf = (value: unknown): string | undefined =>
  isRecord(value) && typeof value[".tag"] === "string"
    ? value[".tag"]
    : undefined;
const byId = (team_member_id: string): UserSelector => ({
  ".tag": "team_member_id",
  team_member_id,
});

/** Milliseconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

function memberInfoOf(item: unknown): MemberInfo | undefined {
  if (
    tagOf(item) !== "member_info" ||
    !isRecord(item) ||
    !isRecord(item.profile)
  )
    return undefined;
  const { team_member_id: id, status } = item.profile;
  if (typeof id !== "string") return undefined;
  return {
    teamMemberId: id,
    status: tagOf(status) ?? "unknown",
    recoverable: isRecord(status) && status.is_recoverable === true,
  };
}

const done = (
  member?: { teamMemberId: string },
  detail?: Json,
): ActionResult => ({
  status: "done",
  ...(member ? { ref: { teamMemberId: member.teamMemberId } } : {}),
  ...(detail ? { detail } : {}),
});

/** The Dropbox team API (v2): members are added, suspended, removed and recovered. */
export const dropboxConnector = defineConnector<DropboxConfig>({
  id: "dropbox",
  description: "Dropbox team (Business) members through the team API v2",
  configSchema,
  secretFields: ["token"],
  actions: ACTIONS,
  hostsOf: (config) => [new URL(config.baseUrl).hostname],
  create: (config, ctx) => {
    const api = createDropboxApi(config, ctx);

    function paramsOf<T>(schema: z.ZodType<T>, request: ActionRequest): T {
      const parsed = schema.safeParse(request.params);
      if (parsed.success) return parsed.data;
      const problems = parsed.error.issues
        .map((i) => `${i.path.join(".") || "params"}: ${i.message}`)
        .join("; ");
      throw new ConnectorError(
        "misconfigured",
        `dropbox ${request.action}: ${problems}`,
      );
    }

    /** How we address the subject: the id Dropbox gave us, else the IdP external id, else e-mail. */
    function selectorOf(
      subject: ActionSubject,
      preferEmail = false,
    ): UserSelector {
      const id = subject.ref.teamMemberId;
      if (typeof id === "string" && id !== "") return byId(id);
      if (subject.externalId && !preferEmail) {
        return { ".tag": "external_id", external_id: subject.externalId };
      }
      if (subject.email) return { ".tag": "email", email: subject.email };
      if (subject.externalId) {
        return { ".tag": "external_id", external_id: subject.externalId };
      }
      throw new ConnectorError(
        "rejected",
        `user ${subject.userId} has no e-mail or externalId`,
      );
    }

    /** The transfer admin, checked before any request: Dropbox requires one with a receiver. */
    function transferAdmin(target: TransferTarget): string | undefined {
      if (
        target.transferDestEmail === undefined &&
        target.transferDestId === undefined
      ) {
        return undefined;
      }
      const admin = target.transferAdminId ?? config.adminMemberId;
      if (!admin) {
        throw new ConnectorError(
          "misconfigured",
          "dropbox: a file transfer needs transferAdminId in the step or adminMemberId in the app config",
        );
      }
      return admin;
    }

    /** Resolves the transfer receiver (an e-mail becomes its team_member_id) and admin. */
    async function transferIds(target: TransferTarget) {
      const admin = transferAdmin(target);
      if (admin === undefined) return undefined;
      let dest = target.transferDestId ?? "";
      if (target.transferDestEmail !== undefined) {
        const found = await api.member({
          ".tag": "email",
          email: target.transferDestEmail,
        });
        if (!found || found.status === "removed") {
          throw new ConnectorError(
            "rejected",
            `dropbox: transfer receiver ${target.transferDestEmail} is not on the team`,
            { code: "transfer_dest_user_not_found" },
          );
        }
        dest = found.teamMemberId;
      }
      return { transfer_dest_id: byId(dest), transfer_admin_id: byId(admin) };
    }

    /** A member already on the team counts as provisioned only when active or invited. */
    function alreadyOnTeam(
      member: MemberInfo | undefined,
      email: string,
    ): ActionResult {
      if (
        member &&
        (member.status === "active" || member.status === "invited")
      ) {
        return done(member, { alreadyOnTeam: true });
      }
      const hint =
        member?.status === "suspended"
          ? "is suspended; unsuspend it instead"
          : "was removed and is still recoverable; recover it instead";
      throw new ConnectorError(
        "rejected",
        `dropbox: ${email} is already on the team but ${hint}`,
        { code: "user_already_on_team" },
      );
    }

    async function addResults(
      body: unknown,
      email: string,
    ): Promise<ActionResult> {
      const results =
        isRecord(body) && Array.isArray(body.complete) ? body.complete : [];
      const first: unknown = results[0];
      const tag = tagOf(first);
      if (tag === "success") {
        const member = memberInfoOf({
          ...(first as Json),
          ".tag": "member_info",
        });
        if (member) {
          return done(member, { invited: member.status === "invited" });
        }
      }
      if (tag === "user_already_on_team") {
        return alreadyOnTeam(
          await api.member({ ".tag": "email", email }),
          email,
        );
      }
      throw new ConnectorError(
        "rejected",
        `dropbox members/add_v2: ${tag ?? "no result"} for ${email}`,
        { code: tag },
      );
    }

    async function provision(request: ActionRequest): Promise<ActionResult> {
      const params = paramsOf(provisionParams, request);
      const { subject } = request;
      if (!subject.email) {
        throw new ConnectorError(
          "rejected",
          `user ${subject.userId} has no e-mail to invite`,
        );
      }
      if (request.job) {
        const polled = await api.poll(
          request.job,
          "team/members/add/job_status/get_v2",
        );
        if (polled.status === "complete") {
          return addResults(polled.body, subject.email);
        }
        if (polled.status === "in_progress") return polled.result;
      }
      if (request.attempt > 1 || request.job) {
        // A lost response may have added them already; a second add is not Dropbox-idempotent.
        const member = await api.member(selectorOf(subject, true));
        if (member && !(member.status === "removed" && !member.recoverable)) {
          return alreadyOnTeam(member, subject.email);
        }
      }
      const entry = {
        member_email: subject.email,
        ...(subject.givenName ? { member_given_name: subject.givenName } : {}),
        ...(subject.familyName ? { member_surname: subject.familyName } : {}),
        ...(subject.externalId
          ? { member_external_id: subject.externalId }
          : {}),
        send_welcome_email: params.sendWelcomeEmail,
        ...(params.roleId ? { role_ids: [params.roleId] } : {}),
      };
      const launched = await api.expect("team/members/add_v2", {
        new_members: [entry],
      });
      if (tagOf(launched) === "async_job_id") {
        return api.started(launched, "team/members/add/job_status/get_v2");
      }
      return addResults(launched, subject.email);
    }

    /**
     * Runs a Void route. On a retry it looks first, since Dropbox has no idempotency key; an
     * `alreadyDone` tag counts as success only when a fresh look at the member agrees.
     */
    async function simple(
      request: ActionRequest,
      route: string,
      body: Json,
      wanted: string,
      alreadyDone: Record<string, (m: MemberInfo | undefined) => boolean>,
    ): Promise<ActionResult> {
      const user = selectorOf(request.subject);
      if (request.attempt > 1) {
        const member = await api.member(user);
        if (member?.status === wanted) {
          return done(member, { alreadyDone: true });
        }
      }
      const outcome = await api.call(route, { user, ...body });
      if (outcome.ok) {
        const known = user[".tag"] === "team_member_id";
        return done(known ? { teamMemberId: user.team_member_id } : undefined);
      }
      const check = alreadyDone[outcome.tag];
      if (check) {
        const member = await api.member(user);
        if (check(member)) return done(member, { alreadyDone: true });
      }
      throw api.rejected(route, outcome);
    }

    async function remove(request: ActionRequest): Promise<ActionResult> {
      const params = paramsOf(removeParams, request);
      transferAdmin(params);
      if (request.job) {
        const polled = await api.poll(
          request.job,
          "team/members/remove/job_status/get",
        );
        if (polled.status === "complete") {
          return done(undefined, { removed: true });
        }
        if (polled.status === "in_progress") return polled.result;
      }
      const user = selectorOf(request.subject);
      if (request.attempt > 1 || request.job) {
        const member = await api.member(user);
        if (!member || member.status === "removed") {
          return done(member, { alreadyDone: true });
        }
      }
      const transfer = await transferIds(params);
      const outcome = await api.call("team/members/remove", {
        user,
        wipe_data: params.wipeData,
        keep_account: params.keepAccount,
        retain_team_shares: params.retainTeamShares,
        ...transfer,
      });
      if (!outcome.ok) {
        const gone =
          outcome.tag === "user_not_in_team" ||
          outcome.tag === "user_not_found";
        if (gone && request.attempt > 1) {
          return done(undefined, { alreadyDone: true });
        }
        throw api.rejected("team/members/remove", outcome);
      }
      if (tagOf(outcome.body) === "async_job_id") {
        return api.started(outcome.body, "team/members/remove/job_status/get");
      }
      return done(undefined, { removed: true });
    }

    async function transfer(request: ActionRequest): Promise<ActionResult> {
      const params = paramsOf(transferParams, request);
      transferAdmin(params);
      const route = "team/members/move_former_member_files";
      if (request.job && request.job.data?.reissue !== true) {
        const polled = await api.poll(request.job, `${route}/job_status/check`);
        if (polled.status === "complete") {
          return done(undefined, { transferred: true });
        }
        if (polled.status === "in_progress") return polled.result;
      }
      const ids = await transferIds(params);
      const outcome = await api.call(route, {
        user: selectorOf(request.subject),
        ...ids,
      });
      if (outcome.ok) {
        if (tagOf(outcome.body) === "async_job_id") {
          return api.started(outcome.body, `${route}/job_status/check`);
        }
        return done(undefined, { transferred: true });
      }
      if (outcome.tag === "user_data_already_transferred") {
        return done(undefined, { alreadyDone: true });
      }
      if (outcome.tag === "user_data_is_being_transferred") {
        // Started by an attempt whose answer we lost: ask again later, which then says "already".
        return {
          status: "in_progress",
          pollAfterMs: JOB_POLL_MS,
          job: {
            id: `reissue:${request.idempotencyKey}`,
            data: { reissue: true },
          },
        };
      }
      throw api.rejected(route, outcome);
    }

    const handlers: Record<
      keyof typeof ACTIONS,
      (r: ActionRequest) => Promise<ActionResult>
    > = {
      provision,
      suspend: (request) => {
        const params = paramsOf(suspendParams, request);
        // suspend_inactive_user also means "invited" or "removed": only a suspended member is done.
        return simple(
          request,
          "team/members/suspend",
          { wipe_data: params.wipeData },
          "suspended",
          {
            suspend_inactive_user: (m) => m?.status === "suspended",
          },
        );
      },
      unsuspend: (request) => {
        paramsOf(noParams, request);
        return simple(request, "team/members/unsuspend", {}, "active", {
          unsuspend_non_suspended_member: (m) =>
            m?.status === "active" || m?.status === "invited",
        });
      },
      recover: (request) => {
        paramsOf(noParams, request);
        // Dropbox answers user_unrecoverable for an active member too: look before giving up.
        return simple(request, "team/members/recover", {}, "active", {
          user_unrecoverable: (m) => m?.status === "active",
        });
      },
      remove,
      transfer,
    };

    return {
      async run(request) {
        const handler = Object.hasOwn(handlers, request.action)
          ? handlers[request.action as keyof typeof ACTIONS]
          : undefined;
        if (!handler) {
          throw new ConnectorError(
            "misconfigured",
            `dropbox has no action "${request.action}"`,
          );
        }
        return handler(request);
      },
      async check() {
        const info = await api.expect("team/get_info", null);
        const name =
          isRecord(info) && typeof info.name === "string"
            ? info.name
            : undefined;
        return { ok: true, ...(name ? { detail: name } : {}) };
      },
    };
  },
});

/** The HTTP side: one POST per route, Dropbox's error shapes turned into ConnectorErrors. */
function createDropboxApi(config: DropboxConfig, ctx: ConnectorContext) {
  const base = config.baseUrl.replace(/\/+$/, "");
  /** Belt and braces: no message we build may carry the token, whatever the app echoes. */
  const redact = (text: string) => text.split(config.token).join("[redacted]");

  async function call(route: string, body: unknown): Promise<Outcome> {
    const where = `dropbox ${route.replace(/^team\//, "")}`;
    let response: Response;
    let text: string;
    try {
      response = await ctx.fetch(`${base}/2/${route}`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${config.token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(body),
        ...(config.timeoutMs
          ? { signal: AbortSignal.timeout(config.timeoutMs) }
          : {}),
      });
      text = await response.text();
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      const reason =
        error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
      throw new ConnectorError(
        "retryable",
        redact(`${where}: no answer (${reason})`),
        { cause: error },
      );
    }
    let json: unknown;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const { status } = response;
    if (status >= 200 && status < 300) {
      if (json === undefined) {
        throw new ConnectorError(
          "retryable",
          `${where}: ${status} with a body that is not JSON`,
          { status },
        );
      }
      return { ok: true, body: json };
    }
    const error = isRecord(json) ? json.error : undefined;
    const summary =
      isRecord(json) && typeof json.error_summary === "string"
        ? json.error_summary
        : "";
    // error_summary ends in "/..." padding so nobody string-matches it; the tag is the stable part.
    const tag = tagOf(error) ?? (summary.split("/")[0] || undefined);
    const detail = redact(summary || text.slice(0, 200).trim() || "no details");
    if (status === 409) {
      return { ok: false, tag: tag ?? "other", summary: detail };
    }
    if (status === 429) {
      const bodyWait =
        isRecord(error) && typeof error.retry_after === "number"
          ? error.retry_after * 1000
          : undefined;
      const retryAfterMs =
        parseRetryAfter(response.headers.get("retry-after"), ctx.clock.now()) ??
        bodyWait ??
        DEFAULT_RATE_LIMIT_WAIT_MS;
      throw new ConnectorError(
        "rate_limited",
        `${where}: 429 rate limited (${detail})`,
        { status, retryAfterMs, code: tag },
      );
    }
    const retryAfterMs = parseRetryAfter(
      response.headers.get("retry-after"),
      ctx.clock.now(),
    );
    const options = {
      status,
      code: tag,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
    if (status >= 500 || status === 408) {
      throw new ConnectorError(
        "retryable",
        `${where}: ${status} (${detail})`,
        options,
      );
    }
    // 400 is a malformed call, 401/403 a bad, expired or under-scoped token: ours to fix.
    throw new ConnectorError(
      "misconfigured",
      `${where}: ${status} (${detail})`,
      options,
    );
  }

  function rejected(
    route: string,
    outcome: Extract<Outcome, { ok: false }>,
  ): ConnectorError {
    return new ConnectorError(
      "rejected",
      `dropbox ${route.replace(/^team\//, "")}: ${outcome.tag} (${outcome.summary})`,
      { status: 409, code: outcome.tag },
    );
  }

  async function expect(route: string, body: unknown): Promise<unknown> {
    const outcome = await call(route, body);
    if (!outcome.ok) throw rejected(route, outcome);
    return outcome.body;
  }

  /** One member by selector, or undefined when Dropbox does not know them. */
  async function member(user: UserSelector): Promise<MemberInfo | undefined> {
    const body = await expect("team/members/get_info_v2", { members: [user] });
    const items =
      isRecord(body) && Array.isArray(body.members_info)
        ? body.members_info
        : [];
    return memberInfoOf(items[0]);
  }

  function started(launch: unknown, statusRoute: string): ActionResult {
    const id = isRecord(launch) ? launch.async_job_id : undefined;
    if (typeof id !== "string") {
      throw new ConnectorError(
        "retryable",
        `dropbox: async launch without a job id`,
      );
    }
    return {
      status: "in_progress",
      pollAfterMs: JOB_POLL_MS,
      job: { id, data: { endpoint: statusRoute } },
    };
  }

  /**
   * Polls a job. `lost` means Dropbox no longer knows the job (expired, or an
   * internal_error it asks us to verify): the caller checks the state and acts again if needed.
   */
  async function poll(
    job: DownstreamJob,
    statusRoute: string,
  ): Promise<
    | { status: "complete"; body: unknown }
    | { status: "in_progress"; result: ActionResult }
    | { status: "lost" }
  > {
    const outcome = await call(statusRoute, { async_job_id: job.id });
    if (!outcome.ok) {
      if (
        outcome.tag === "invalid_async_job_id" ||
        outcome.tag === "internal_error"
      ) {
        ctx.logger.warn("dropbox job lost; checking state", {
          route: statusRoute,
          tag: outcome.tag,
        });
        return { status: "lost" };
      }
      throw rejected(statusRoute, outcome);
    }
    const tag = tagOf(outcome.body);
    if (tag === "in_progress") {
      return {
        status: "in_progress",
        result: {
          status: "in_progress",
          pollAfterMs: JOB_POLL_MS,
          job: { ...job },
        },
      };
    }
    if (tag === "failed") {
      const why = isRecord(outcome.body) ? String(outcome.body.failed) : "";
      throw new ConnectorError(
        "rejected",
        redact(`dropbox ${statusRoute}: job failed (${why})`),
        { code: "failed" },
      );
    }
    return { status: "complete", body: outcome.body };
  }

  return { call, expect, member, started, poll, rejected };
}
