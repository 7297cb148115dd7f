import { randomUUID } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { FakeApp } from "../connectors/connector-contract.ts";

/** The team token the fake accepts (`Authorization: Bearer …`). */
export const FAKE_DROPBOX_TOKEN = "fake-dropbox-team-token-3f9c";

/** Dropbox lets members/recover undo a removal for 7 days. */
const RECOVER_WINDOW_MS = 7 * 86_400_000;

/** A member's status, as Dropbox's TeamMemberStatus tags it. */
export type FakeMemberStatus = "active" | "invited" | "suspended" | "removed";

/** The admin tiers the fake knows; `team_admin` counts for "last admin" rules. */
export type FakeMemberRole =
  "team_admin" | "user_management_admin" | "member_only";

/** One team member as the fake keeps it. */
export interface FakeDropboxMember {
  teamMemberId: string;
  email: string;
  externalId?: string;
  givenName?: string;
  surname?: string;
  role: FakeMemberRole;
  status: FakeMemberStatus;
  removedAt?: Date;
  /** team_member_id of whoever holds this member's files: itself until a transfer. */
  filesOwner: string;
  welcomeEmailSent: boolean;
  /** Whether the last suspend or remove asked to wipe linked devices. */
  dataWiped: boolean;
}

/** A member to start the fake with (defaults: active member_only, generated id). */
export type FakeMemberSeed = Pick<FakeDropboxMember, "email"> &
  Partial<Omit<FakeDropboxMember, "email">>;

/** One request the fake received, with the status it answered. */
export interface FakeDropboxRequest {
  path: string;
  body: unknown;
  at: Date;
  status: number;
}

/** How to start the fake. */
export interface FakeDropboxOptions {
  members?: FakeMemberSeed[];
  teamName?: string;
  /**
   * add_v2, remove and move_former_member_files: 0 (default) answers at once; N > 0 returns an
   * async_job_id whose status is `in_progress` for N polls, then `complete`.
   */
  asyncPolls?: number;
  /** Status of members created by add_v2 (Dropbox shows `invited` until they join). */
  newMemberStatus?: "active" | "invited";
  /** The fake's clock (recover window, Retry-After windows, request times). */
  now?: () => Date;
}

/** A running fake Dropbox team API. */
export interface FakeDropbox extends FakeApp {
  token: string;
  /** Current members by lower-cased e-mail (copies). */
  members(): Record<string, FakeDropboxMember>;
  /** Like FakeApp's, plus `afterEffect`: apply the request, then answer with the failure. */
  failNext(
    status: number,
    options?: {
      count?: number;
      headers?: Record<string, string>;
      body?: unknown;
      afterEffect?: boolean;
    },
  ): void;
  /** Every request so far, oldest first. */
  requests(): FakeDropboxRequest[];
  /** Adds a member directly (not through the API, so it never counts as our effect). */
  addMember(seed: FakeMemberSeed): FakeDropboxMember;
  /** Answers every request with 429 and `Retry-After: retryAfterS` for `forMs`. */
  setRateLimit(options: {
    status?: 429;
    retryAfterS: number;
    forMs: number;
  }): void;
  /** Requests that arrived while a Retry-After the fake announced was still running. */
  requestsInsideRetryAfter(): FakeDropboxRequest[];
  /** Fails each request with probability `rate` (0 turns it off); seeded, so runs repeat. */
  failRandomly(rate: number, status: number, options?: FailureOptions): void;
}

/** Extra knobs for injected failures. */
export interface FailureOptions {
  /** Apply the request's effect, then answer with the failure (a lost response). */
  afterEffect?: boolean;
  /** Seed of failRandomly's generator. */
  seed?: number;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Failure {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  afterEffect: boolean;
}

interface Job {
  route: string;
  pollsLeft: number;
  result: unknown;
  /** The member whose files this job moves (move_former_member_files only). */
  movingFilesOf?: FakeDropboxMember;
}

type Json = Record<string, unknown>;
type Op = "add" | "suspend" | "unsuspend" | "remove" | "recover";

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const ok = (body: unknown = null): Reply => ({ status: 200, body });
const badRequest = (route: string, why: string): Reply => ({
  status: 400,
  body: `Error in call to API function "${route}": ${why}`,
});
const conflict = (tag: string): Reply => ({
  status: 409,
  body: { error_summary: `${tag}/...`, error: { ".tag": tag } },
});

function defaultFailureBody(
  status: number,
  headers: Record<string, string>,
): unknown {
  if (status === 401) {
    return {
      error_summary: "invalid_access_token/...",
      error: { ".tag": "invalid_access_token" },
    };
  }
  if (status === 429) {
    const retryAfter = Number(
      headers["Retry-After"] ?? headers["retry-after"] ?? 1,
    );
    return {
      error_summary: "too_many_requests/...",
      error: {
        reason: { ".tag": "too_many_requests" },
        retry_after: retryAfter,
      },
    };
  }
  if (status === 409) return conflict("other").body;
  return `fake failure ${status}`;
}

/** mulberry32: a tiny seeded generator, so random failures repeat from run to run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Starts a fake Dropbox team API on 127.0.0.1 with a random port. */
export async function startFakeDropbox(
  options: FakeDropboxOptions = {},
): Promise<FakeDropbox> {
  const now = options.now ?? (() => new Date());
  const asyncPolls = options.asyncPolls ?? 0;
  const team: FakeDropboxMember[] = [];
  /** The API operation that last set each member's status: repeating it is a duplicate. */
  const lastOp = new Map<FakeDropboxMember, Op>();
  const filesMovedByApi = new Set<FakeDropboxMember>();
  const jobs = new Map<string, Job>();
  const log: FakeDropboxRequest[] = [];
  const insideRetryAfter: FakeDropboxRequest[] = [];
  const failures: Failure[] = [];
  let duplicates = 0;
  let retryAfterUntil = 0;
  let rateLimit: { until: number; retryAfterS: number } | undefined;
  let random:
    | { rate: number; status: number; afterEffect: boolean; next: () => number }
    | undefined;

  function addMember(seed: FakeMemberSeed): FakeDropboxMember {
    const teamMemberId =
      seed.teamMemberId ?? `dbmid:${randomUUID().slice(0, 18)}`;
    const member: FakeDropboxMember = {
      role: "member_only",
      status: "active",
      welcomeEmailSent: false,
      dataWiped: false,
      ...seed,
      teamMemberId,
      filesOwner: seed.filesOwner ?? teamMemberId,
    };
    team.push(member);
    return member;
  }
  for (const seed of options.members ?? []) addMember(seed);

  const recoverable = (m: FakeDropboxMember) =>
    m.status === "removed" &&
    m.removedAt !== undefined &&
    now().getTime() - m.removedAt.getTime() <= RECOVER_WINDOW_MS;

  function find(selector: unknown): FakeDropboxMember | undefined {
    if (!isRecord(selector)) return undefined;
    const tag = selector[".tag"];
    const value = typeof tag === "string" ? selector[tag] : undefined;
    if (typeof value !== "string") return undefined;
    return team.find((m) =>
      tag === "team_member_id"
        ? m.teamMemberId === value
        : tag === "external_id"
          ? m.externalId === value
          : tag === "email" && m.email.toLowerCase() === value.toLowerCase(),
    );
  }
  const isSelector = (value: unknown) =>
    isRecord(value) &&
    ["team_member_id", "external_id", "email"].includes(
      String(value[".tag"]),
    ) &&
    typeof value[String(value[".tag"])] === "string";
  const activeAdmins = () =>
    team.filter((m) => m.role === "team_admin" && m.status === "active");

  function memberInfo(m: FakeDropboxMember): Json {
    const status =
      m.status === "removed"
        ? {
            ".tag": "removed",
            is_recoverable: recoverable(m),
            is_disconnected: false,
          }
        : { ".tag": m.status };
    const displayName = [m.givenName, m.surname].filter(Boolean).join(" ");
    return {
      profile: {
        team_member_id: m.teamMemberId,
        account_id: `dbid:${m.teamMemberId.slice(6)}`,
        ...(m.externalId === undefined ? {} : { external_id: m.externalId }),
        email: m.email,
        email_verified: true,
        secondary_emails: [],
        status,
        name: {
          given_name: m.givenName ?? "",
          surname: m.surname ?? "",
          familiar_name: m.givenName ?? "",
          display_name: displayName,
          abbreviated_name: displayName.replace(/\B\w+/g, ""),
        },
        membership_type: { ".tag": "full" },
        groups: [],
        member_folder_id: "1234",
      },
      roles:
        m.role === "member_only"
          ? []
          : [
              {
                role_id: `pid_dbtmr:${m.role}`,
                name: m.role,
                description: m.role,
              },
            ],
    };
  }

  /** Starts the async job of a launch (or answers it at once when asyncPolls is 0). */
  function launch(
    route: string,
    complete: Json,
    force = false,
    movingFilesOf?: FakeDropboxMember,
  ): Reply {
    if (asyncPolls === 0 && !force) return ok(complete);
    const id = `dbjid:${randomUUID()}`;
    jobs.set(id, {
      route,
      pollsLeft: asyncPolls,
      result: complete,
      movingFilesOf,
    });
    return ok({ ".tag": "async_job_id", async_job_id: id });
  }

  function pollJob(route: string, body: Json): Reply {
    const id = body.async_job_id;
    const job = typeof id === "string" ? jobs.get(id) : undefined;
    if (!job || job.route !== route) return conflict("invalid_async_job_id");
    if (job.pollsLeft > 0) {
      job.pollsLeft -= 1;
      return ok({ ".tag": "in_progress" });
    }
    job.movingFilesOf = undefined;
    return ok(job.result);
  }

  /** Checks transfer_dest_id / transfer_admin_id the way members/remove and move do. */
  function transferProblem(
    member: FakeDropboxMember,
    body: Json,
  ): string | undefined {
    if (body.transfer_dest_id === undefined) return undefined;
    if (body.transfer_admin_id === undefined)
      return "unspecified_transfer_admin_id";
    const dest = find(body.transfer_dest_id);
    if (!dest) return "transfer_dest_user_not_found";
    if (dest === member) return "removed_and_transfer_dest_should_differ";
    if (dest.status !== "active") return "transfer_dest_user_not_in_team";
    const admin = find(body.transfer_admin_id);
    if (!admin) return "transfer_admin_user_not_found";
    if (admin === member) return "removed_and_transfer_admin_should_differ";
    if (admin.status !== "active") return "transfer_admin_user_not_in_team";
    if (admin.role !== "team_admin") return "transfer_admin_is_not_admin";
    return undefined;
  }

  const repeated = (m: FakeDropboxMember, op: Op) => {
    if (lastOp.get(m) === op) duplicates += 1;
  };

  const routes: Record<string, (body: Json, route: string) => Reply> = {
    "team/get_info": () =>
      ok({
        name: options.teamName ?? "Fake Team",
        team_id: "dbtid:fake-team",
        num_licensed_users: 100,
        num_provisioned_users: team.filter((m) => m.status !== "removed")
          .length,
        num_used_licenses: team.filter((m) => m.status !== "removed").length,
        policies: {},
      }),

    "team/members/get_info_v2": (body, route) => {
      if (!Array.isArray(body.members) || !body.members.every(isSelector)) {
        return badRequest(route, "members: expected a list of UserSelectorArg");
      }
      return ok({
        members_info: body.members.map((selector: Json) => {
          const m = find(selector);
          return m
            ? { ".tag": "member_info", ...memberInfo(m) }
            : {
                ".tag": "id_not_found",
                id_not_found: selector[String(selector[".tag"])],
              };
        }),
      });
    },

    "team/members/add_v2": (body, route) => {
      const entries = body.new_members;
      if (
        !Array.isArray(entries) ||
        entries.length === 0 ||
        entries.length > 20
      ) {
        return badRequest(route, "new_members: expected 1 to 20 members");
      }
      const results = entries.map((entry: unknown) => {
        if (!isRecord(entry) || typeof entry.member_email !== "string") {
          return { ".tag": "user_creation_failed", user_creation_failed: "" };
        }
        const email = entry.member_email;
        const existing = find({ ".tag": "email", email });
        if (
          existing &&
          (existing.status !== "removed" || recoverable(existing))
        ) {
          if (existing.status !== "removed") repeated(existing, "add");
          return {
            ".tag": "user_already_on_team",
            user_already_on_team: email,
          };
        }
        const externalId =
          typeof entry.member_external_id === "string"
            ? entry.member_external_id
            : undefined;
        if (
          externalId !== undefined &&
          team.some((m) => m !== existing && m.externalId === externalId)
        ) {
          return {
            ".tag": "duplicate_external_member_id",
            duplicate_external_member_id: email,
          };
        }
        if (existing) team.splice(team.indexOf(existing), 1); // gone for good: a new membership
        const roleIds = Array.isArray(entry.role_ids) ? entry.role_ids : [];
        const member = addMember({
          email,
          externalId,
          givenName:
            typeof entry.member_given_name === "string"
              ? entry.member_given_name
              : undefined,
          surname:
            typeof entry.member_surname === "string"
              ? entry.member_surname
              : undefined,
          role: roleIds.includes("pid_dbtmr:team_admin")
            ? "team_admin"
            : "member_only",
          status: options.newMemberStatus ?? "active",
          // Dropbox's default is to send the invitation.
          welcomeEmailSent: entry.send_welcome_email !== false,
        });
        lastOp.set(member, "add");
        return { ".tag": "success", ...memberInfo(member) };
      });
      return launch(
        "team/members/add/job_status/get_v2",
        { ".tag": "complete", complete: results },
        body.force_async === true,
      );
    },

    "team/members/add/job_status/get_v2": (body, route) => pollJob(route, body),

    "team/members/suspend": (body, route) => {
      if (!isSelector(body.user))
        return badRequest(route, "user: missing required field");
      const m = find(body.user);
      if (!m) return conflict("user_not_found");
      if (m.status === "removed") return conflict("user_not_in_team");
      if (m.status !== "active") {
        if (m.status === "suspended") repeated(m, "suspend");
        return conflict("suspend_inactive_user");
      }
      if (m.role === "team_admin" && activeAdmins().length === 1)
        return conflict("suspend_last_admin");
      m.status = "suspended";
      m.dataWiped = body.wipe_data !== false;
      lastOp.set(m, "suspend");
      return ok();
    },

    "team/members/unsuspend": (body, route) => {
      if (!isSelector(body.user))
        return badRequest(route, "user: missing required field");
      const m = find(body.user);
      if (!m) return conflict("user_not_found");
      if (m.status === "removed") return conflict("user_not_in_team");
      if (m.status !== "suspended") {
        repeated(m, "unsuspend");
        return conflict("unsuspend_non_suspended_member");
      }
      m.status = "active";
      lastOp.set(m, "unsuspend");
      return ok();
    },

    "team/members/remove": (body, route) => {
      if (!isSelector(body.user))
        return badRequest(route, "user: missing required field");
      const m = find(body.user);
      if (!m) return conflict("user_not_found");
      if (m.status === "removed") {
        repeated(m, "remove");
        return conflict("user_not_in_team");
      }
      const wipe = body.wipe_data !== false;
      const keep = body.keep_account === true;
      if (keep && wipe) return conflict("cannot_keep_account_and_delete_data");
      if (keep && body.transfer_dest_id !== undefined)
        return conflict("cannot_keep_account_and_transfer");
      if (body.retain_team_shares === true && wipe)
        return conflict("cannot_retain_shares_when_data_wiped");
      if (body.retain_team_shares === true && !keep)
        return conflict("cannot_retain_shares_when_no_account_kept");
      const problem = transferProblem(m, body);
      if (problem) return conflict(problem);
      if (
        m.role === "team_admin" &&
        m.status === "active" &&
        activeAdmins().length === 1
      ) {
        return conflict("remove_last_admin");
      }
      m.status = "removed";
      m.removedAt = now();
      m.dataWiped = wipe;
      lastOp.set(m, "remove");
      const dest = find(body.transfer_dest_id);
      if (dest) {
        m.filesOwner = dest.teamMemberId;
        filesMovedByApi.add(m);
      }
      return launch("team/members/remove/job_status/get", {
        ".tag": "complete",
      });
    },

    "team/members/remove/job_status/get": (body, route) => pollJob(route, body),

    "team/members/recover": (body, route) => {
      if (!isSelector(body.user))
        return badRequest(route, "user: missing required field");
      const m = find(body.user);
      if (!m) return conflict("user_not_found");
      if (!recoverable(m)) {
        if (m.status !== "removed") repeated(m, "recover");
        return conflict("user_unrecoverable");
      }
      m.status = "active";
      m.removedAt = undefined;
      lastOp.set(m, "recover");
      return ok();
    },

    "team/members/move_former_member_files": (body, route) => {
      if (
        !isSelector(body.user) ||
        !isSelector(body.transfer_dest_id) ||
        !isSelector(body.transfer_admin_id)
      ) {
        return badRequest(
          route,
          "user, transfer_dest_id and transfer_admin_id are required",
        );
      }
      const m = find(body.user);
      if (!m) return conflict("user_not_found");
      if (m.status !== "removed") return conflict("user_not_removed");
      if (filesMovedByApi.has(m)) duplicates += 1;
      const moving = [...jobs.values()].some((job) => job.movingFilesOf === m);
      if (moving) return conflict("user_data_is_being_transferred");
      if (m.filesOwner !== m.teamMemberId)
        return conflict("user_data_already_transferred");
      const problem = transferProblem(m, body);
      if (problem) return conflict(problem);
      m.filesOwner = find(body.transfer_dest_id)!.teamMemberId;
      filesMovedByApi.add(m);
      return launch(
        "team/members/move_former_member_files/job_status/check",
        { ".tag": "complete" },
        false,
        m,
      );
    },

    "team/members/move_former_member_files/job_status/check": (body, route) =>
      pollJob(route, body),
  };

  function takeFailure(): Failure | undefined {
    if (failures.length > 0) return failures.shift();
    if (random && random.next() < random.rate) {
      return {
        status: random.status,
        headers: {},
        body: defaultFailureBody(random.status, {}),
        afterEffect: random.afterEffect,
      };
    }
    return undefined;
  }

  function answer(req: IncomingMessage, body: unknown, at: Date): Reply {
    const failure = takeFailure();
    const failed = failure && {
      status: failure.status,
      body: failure.body,
      headers: failure.headers,
    };
    if (failed && !failure.afterEffect) return failed;
    if (rateLimit && at.getTime() < rateLimit.until) {
      const headers = { "Retry-After": String(rateLimit.retryAfterS) };
      return { status: 429, headers, body: defaultFailureBody(429, headers) };
    }
    if (req.headers.authorization !== `Bearer ${FAKE_DROPBOX_TOKEN}`) {
      return { status: 401, body: defaultFailureBody(401, {}) };
    }
    if (req.method !== "POST") return { status: 405, body: "POST only" };
    const path = req.url ?? "/";
    const route = path.replace(/^\/2\//, "");
    const handler = routes[route];
    const reply: Reply = !handler
      ? { status: 404, body: `Unknown API function: "${route}"` }
      : body === undefined && route !== "team/get_info"
        ? badRequest(route, "request body: could not decode input as JSON")
        : handler(isRecord(body) ? body : {}, route);
    return failed ?? reply;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const at = now();
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = text === "" ? null : JSON.parse(text);
      } catch {
        body = undefined;
      }
      const path = req.url ?? "/";
      const entry: FakeDropboxRequest = { path, body, at, status: 0 };
      log.push(entry);
      if (at.getTime() < retryAfterUntil) insideRetryAfter.push(entry);

      const reply = answer(req, body, at);
      entry.status = reply.status;
      const retryAfter = Number(reply.headers?.["Retry-After"]);
      if (reply.status === 429 && Number.isFinite(retryAfter)) {
        retryAfterUntil = Math.max(
          retryAfterUntil,
          at.getTime() + retryAfter * 1000,
        );
      }
      const json = typeof reply.body !== "string";
      res.writeHead(reply.status, {
        "Content-Type": json ? "application/json" : "text/plain; charset=utf-8",
        ...reply.headers,
      });
      res.end(json ? JSON.stringify(reply.body) : reply.body);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${port}`,
    token: FAKE_DROPBOX_TOKEN,
    failNext(status, failure = {}) {
      const headers = failure.headers ?? {};
      const afterEffect = failure.afterEffect === true;
      for (let i = 0; i < (failure.count ?? 1); i++) {
        failures.push({
          status,
          headers,
          body: failure.body ?? defaultFailureBody(status, headers),
          afterEffect,
        });
      }
    },
    duplicateEffects: () => duplicates,
    members: () =>
      Object.fromEntries(team.map((m) => [m.email.toLowerCase(), { ...m }])),
    requests: () => [...log],
    addMember,
    setRateLimit({ retryAfterS, forMs }) {
      rateLimit = { until: now().getTime() + forMs, retryAfterS };
    },
    requestsInsideRetryAfter: () => [...insideRetryAfter],
    failRandomly(rate, status, failure = {}) {
      random =
        rate > 0
          ? {
              rate,
              status,
              afterEffect: failure.afterEffect === true,
              next: seededRandom(failure.seed ?? 1),
            }
          : undefined;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/**
 * A lifecycle config (SCIM_LIFECYCLE_CONFIG) for tenant `default`: a deactivated user is suspended
 * in this fake Dropbox, whose token the server reads from DROPBOX_TEAM_TOKEN.
 */
export function suspendOnDeactivationConfig(baseUrl: string): string {
  return `tenants:
  default:
    apps:
      - id: dropbox
        connector: dropbox
        config:
          baseUrl: ${baseUrl}
          token: { env: DROPBOX_TEAM_TOKEN }
    rules:
      - id: leavers
        on: user.deactivated
        do:
          - { app: dropbox, action: suspend, params: { wipeData: false } }
`;
}
