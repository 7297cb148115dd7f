import type { Knex } from "knex";
import { withDbErrors } from "../db/transaction.ts";
import {
  ACTION_STATES,
  type ActionRecord,
  type ActionState,
} from "../domain/action.ts";
import type { AuditHashContent } from "../domain/audit-hash.ts";
import { AppError } from "../errors.ts";
import type { AppStateRow } from "../store/app-states-store.ts";
import {
  hashContentOfAuditEntry,
  listActionAuditEntries,
  listAuditEntriesPage,
  type AuditEntryFilter,
  type ChainedAuditEntryRow,
} from "../store/audit-store.ts";
import { PENDING_ACTION_STATES } from "../domain/apps-extension.ts";
import { listActions } from "../store/actions-store.ts";
import { listAppStatesOfUser } from "../store/app-states-store.ts";
import {
  verifyAuditChain,
  type ChainAnchor,
  type ChainReport,
} from "./verify-audit-chain.ts";

/** Largest page the auditor API returns. */
export const AUDIT_PAGE_MAX = 1_000;
/** Page size when none is asked for. */
export const AUDIT_PAGE_DEFAULT = 100;
/** Entries per query when exporting. */
const EXPORT_PAGE_SIZE = 1_000;

/** An audit entry as auditors see it: the hashed content plus its place in the chain. */
export interface AuditEvent extends AuditHashContent {
  /** Null until the sealer has chained it (a second or so after the write). */
  chain: { index: number; prevHash: string; hash: string } | null;
}

/** Filters of the auditor's event listing and export, as given (validated here). */
export interface AuditEventQuery {
  /** Resource id (a user's or group's id). */
  user?: string;
  app?: string;
  /** An exact key, or a prefix ending with `.` or `*` (`action.` = every action entry). */
  key?: string;
  since?: string;
  until?: string;
}

/** An action with every audit entry about it: its plan, attempts, waits and outcome. */
export interface AuditedAction {
  action: ActionRecord;
  history: AuditEvent[];
}

/** A page in id order (or chain order) and whether more rows followed it when it was read. */
export interface AuditPage<T> {
  items: T[];
  hasMore: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A date, or a date and time with an explicit offset: a time without one would mean the server's zone.
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;
const KEY = /^[A-Za-z0-9_.-]+\*?$/;
const KEYSET_ID = /^\d{1,18}$/;

function invalid(parameter: string, message: string): AppError {
  return new AppError("request.invalid", message, { parameter });
}

function checkUuid(parameter: string, value: string): string {
  if (!UUID.test(value))
    throw invalid(parameter, `${parameter} must be a UUID`);
  return value.toLowerCase();
}

function checkTimestamp(parameter: string, value: string): string {
  const match = ISO_TIMESTAMP.exec(value);
  const [year, month, day, hour, minute, second] = (
    match?.slice(1, 7) ?? []
  ).map((part) => Number(part ?? 0));
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  // Date.parse rolls 2026-02-30 over to March; PostgreSQL would refuse it (a 500, not a 400).
  const valid =
    match !== null &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month! - 1 &&
    date.getUTCDate() === day &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    !Number.isNaN(Date.parse(value));
  if (!valid) {
    throw invalid(
      parameter,
      `${parameter} must be an ISO 8601 date or date-time with an offset (2026-03-01 or 2026-03-01T09:00:00Z)`,
    );
  }
  return value;
}

function checkApp(value: string): string {
  // No control characters: PostgreSQL text cannot hold NUL, and no app id has them.
  const control = [...value].some((c) => c.charCodeAt(0) < 0x20);
  if (value.length === 0 || value.length > 200 || control) {
    throw invalid("app", "app must be an app id of 1 to 200 characters");
  }
  return value;
}

/** Validates a page size: a whole number from 1; larger than the maximum means the maximum. */
function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return AUDIT_PAGE_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw invalid(
      "limit",
      `limit must be a whole number from 1 to ${AUDIT_PAGE_MAX}`,
    );
  }
  return Math.min(limit, AUDIT_PAGE_MAX);
}

function checkAfter(after: string | undefined): string | undefined {
  if (after !== undefined && !KEYSET_ID.test(after)) {
    throw invalid("cursor", "the cursor is not valid");
  }
  return after;
}

/** Turns the auditor's filters into store filters, or throws a request.invalid naming the problem. */
export function parseAuditEventQuery(query: AuditEventQuery): AuditEntryFilter {
  const filter: AuditEntryFilter = {};
  if (query.user !== undefined)
    filter.resourceId = checkUuid("user", query.user);
  if (query.app !== undefined) filter.app = checkApp(query.app);
  if (query.key !== undefined) {
    if (!KEY.test(query.key) || query.key === "*" || query.key.length > 200) {
      throw invalid(
        "key",
        "key must be an audit key (scim.user.created) or a prefix ending with . or * (action.)",
      );
    }
    if (query.key.endsWith("*")) filter.keyPrefix = query.key.slice(0, -1);
    else if (query.key.endsWith(".")) filter.keyPrefix = query.key;
    else filter.key = query.key;
  }
  if (query.since !== undefined)
    filter.since = checkTimestamp("since", query.since);
  if (query.until !== undefined)
    filter.until = checkTimestamp("until", query.until);
  if (
    filter.since &&
    filter.until &&
    Date.parse(filter.since) >= Date.parse(filter.until)
  ) {
    throw invalid("until", "until must be later than since");
  }
  return filter;
}

/** Parses a head recorded earlier, written `INDEX:HASH` (as verify prints it). */
export function parseChainAnchor(text: string): ChainAnchor {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/i.exec(text.trim());
  if (!match || Number(match[1]) < 1) {
    throw invalid(
      "anchor",
      "anchor must be INDEX:HASH, a chain index from 1 and the 64 hex digits of its hash",
    );
  }
  return { index: Number(match[1]), hash: match[2]!.toLowerCase() };
}

/** An audit row as auditors see it. */
export function toAuditEvent(row: ChainedAuditEntryRow): AuditEvent {
  return {
    ...hashContentOfAuditEntry(row),
    chain:
      row.chain_index === null
        ? null
        : {
            index: Number(row.chain_index),
            prevHash: row.prev_hash ?? "",
            hash: row.hash ?? "",
          },
  };
}

function pageOf<T>(rows: T[], limit: number): AuditPage<T> {
  return { items: rows.slice(0, limit), hasMore: rows.length > limit };
}

/** Read-only queries of the audit trail, the action queue and app states, for auditors. */
export function createAuditService(deps: { knex: Knex }) {
  const { knex } = deps;

  return {
    /**
     * A tenant's audit entries after a keyset position: in id order, or in chain order (sealed
     * entries only; a reader following the trail's end this way never misses a late commit).
     */
    async listEvents(
      tenantId: string,
      query: AuditEventQuery,
      page: { order?: "id" | "chain"; after?: string; limit?: number } = {},
    ): Promise<AuditPage<AuditEvent>> {
      const filter = parseAuditEventQuery(query);
      const limit = checkLimit(page.limit);
      const after = checkAfter(page.after);
      const rows = await withDbErrors(() =>
        listAuditEntriesPage(knex, tenantId, filter, {
          order: page.order ?? "id",
          limit: limit + 1,
          ...(after !== undefined ? { after } : {}),
        }),
      );
      return pageOf(rows.map(toAuditEvent), limit);
    },

    /** Every matching entry in id order, read page by page (exports: memory stays flat). */
    async *exportEvents(
      tenantId: string,
      query: AuditEventQuery,
    ): AsyncGenerator<AuditEvent> {
      const filter = parseAuditEventQuery(query);
      let after: string | undefined;
      for (;;) {
        const rows = await withDbErrors(() =>
          listAuditEntriesPage(knex, tenantId, filter, {
            order: "id",
            limit: EXPORT_PAGE_SIZE,
            ...(after !== undefined ? { after } : {}),
          }),
        );
        for (const row of rows) yield toAuditEvent(row);
        if (rows.length < EXPORT_PAGE_SIZE) return;
        after = rows[rows.length - 1]!.id;
      }
    },

    /** A tenant's actions in id order with their audit history, filtered by app, state and user. */
    async listActions(
      tenantId: string,
      query: { app?: string; states?: string[]; user?: string },
      page: { after?: string; limit?: number } = {},
    ): Promise<AuditPage<AuditedAction>> {
      const states = query.states ?? [];
      for (const state of states) {
        if (!(ACTION_STATES as readonly string[]).includes(state)) {
          throw invalid(
            "state",
            `state must be among ${ACTION_STATES.join(", ")}`,
          );
        }
      }
      const userId =
        query.user === undefined ? undefined : checkUuid("user", query.user);
      const appId = query.app === undefined ? undefined : checkApp(query.app);
      const limit = checkLimit(page.limit);
      const after = checkAfter(page.after);
      const { items, hasMore } = pageOf(
        await withDbErrors(() =>
          listActions(knex, tenantId, {
            order: "oldest",
            ...(userId ? { userId } : {}),
            ...(appId !== undefined ? { appId } : {}),
            ...(states.length ? { states: states as ActionState[] } : {}),
            ...(after !== undefined ? { afterId: after } : {}),
            limit: limit + 1,
          }),
        ),
        limit,
      );
      const entries = await withDbErrors(() =>
        listActionAuditEntries(
          knex,
          tenantId,
          items.map((a) => ({ id: a.id, userId: a.user_id })),
        ),
      );
      const history = new Map<string, AuditEvent[]>();
      for (const entry of entries) {
        const actionId = String(
          (entry.detail as Record<string, unknown>).actionId,
        );
        const list = history.get(actionId) ?? [];
        list.push(toAuditEvent(entry));
        history.set(actionId, list);
      }
      return {
        items: items.map((action) => ({
          action,
          history: history.get(action.id) ?? [],
        })),
        hasMore,
      };
    },

    /** A user's state in each downstream app, and the actions still to run for them. */
    async userApps(
      tenantId: string,
      userId: string,
    ): Promise<{ apps: AppStateRow[]; pending: ActionRecord[] }> {
      const id = checkUuid("id", userId);
      return withDbErrors(async () => ({
        apps: await listAppStatesOfUser(knex, tenantId, id),
        pending: await listActions(knex, tenantId, {
          userId: id,
          states: PENDING_ACTION_STATES,
          order: "oldest",
          limit: 1_000,
        }),
      }));
    },

    /** Verifies the tenant's hash chain, against a head recorded earlier when `anchor` is given. */
    verify(tenantId: string, anchor?: string): Promise<ChainReport> {
      const parsed =
        anchor === undefined ? undefined : parseChainAnchor(anchor);
      return withDbErrors(() =>
        verifyAuditChain(knex, tenantId, parsed ? { anchor: parsed } : {}),
      );
    },
  };
}

/** The audit service's interface. */
export type AuditService = ReturnType<typeof createAuditService>;
