import type { Db } from "../db/open-database.ts";
import { parseFilter } from "../domain/scim-filter.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type { Principal } from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import { toAppError } from "../services/domain-errors.ts";
import { listMembersOfGroups } from "../store/group-members-store.ts";
import { findGroupById, findGroupNames } from "../store/groups-store.ts";
import {
  countResourceRows,
  listResourceRows,
  listSeqAnchors,
  type SeqAnchors,
  type SqlCondition,
} from "../store/resource-list-store.ts";
import { compileFilter, compileSortBy } from "../store/scim-filter-sql.ts";
import type { UserReadBatcher } from "../store/user-read-batcher.ts";
import {
  findUserAppsExtension,
  userReadColumns,
  userTextColumns,
  type UserReadParts,
} from "../store/users-store.ts";
import type { FilterNode } from "../domain/scim-filter-ast.ts";
import {
  formatGroup,
  formatUserRow,
  createUserTextFormatter,
  type FormattableRow,
  type GroupNames,
  type UserReadRow,
  type UserTextRow,
} from "./format-resources.ts";
import {
  decodeCursor,
  encodeCursor,
  type ListRequest,
} from "./list-request.ts";
import { projectResource, selectionOf } from "./project-attributes.ts";
import { URN } from "./schemas.ts";
import { createShortLivedCache } from "../short-lived-cache.ts";

/** Which attributes to return (RFC 7644 §3.4.2.5). */
export interface Projection {
  attributes?: string;
  excludedAttributes?: string;
}

/** One page of a listing, each resource already as JSON text. */
export interface ListPage {
  totalResults: number;
  itemsPerPage: number;
  startIndex?: number;
  nextCursor?: string;
  /** The page's resources, each as JSON text. */
  resources: string[];
}

/** A page's ListResponse body (RFC 7644 §3.4.2) as JSON text. */
export function listResponseJson(page: ListPage): string {
  const head: Record<string, unknown> = {
    schemas: [URN.listResponse],
    totalResults: page.totalResults,
    itemsPerPage: page.itemsPerPage,
  };
  if (page.startIndex !== undefined) head.startIndex = page.startIndex;
  if (page.nextCursor !== undefined) head.nextCursor = page.nextCursor;
  return `${JSON.stringify(head).slice(0, -1)},"Resources":[${page.resources.join(",")}]}`;
}

type Kind = "User" | "Group";

const COUNT_CACHE_MS = 2_000;
const COUNT_CACHE_MAX_ENTRIES = 1_000;
/** Rows between two paging anchors: a deep page walks at most this many index entries. */
const ANCHOR_EVERY = 100;

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

const USER_NAME_PATHS = new Set([
  "username",
  `${URN.user}:username`.toLowerCase(),
]);

/** The userName of a filter that is exactly `userName eq "…"`, else undefined. */
function userNameLookup(filter: FilterNode | undefined): string | undefined {
  return filter?.kind === "compare" &&
    filter.op === "eq" &&
    typeof filter.value === "string" &&
    USER_NAME_PATHS.has(filter.path.toLowerCase())
    ? filter.value
    : undefined;
}

/** Read paths for Users and Groups: filter, sort and page in SQL, format without scimmy. */
export function createResourceReader(deps: {
  db: Db;
  schemas: { user: ResourceSchema; group: ResourceSchema };
  /** Single-user reads, shared with the write paths so concurrent reads batch together. */
  userReads: UserReadBatcher;
  /**
   * False when the tenant has never had a lifecycle policy: it then has no app states or actions,
   * and user reads skip those subqueries (their answer would be empty anyway).
   */
  hasLifecycle?: (tenantId: string) => Promise<boolean>;
}) {
  const { db, schemas, userReads: users } = deps;
  const hasLifecycle = deps.hasLifecycle ?? (() => Promise.resolve(true));
  /** The projection, marked with whether the tenant has lifecycle data at all. */
  async function forTenant<P extends Projection>(
    tenantId: string,
    projection: P,
  ): Promise<P & { lifecycle: boolean }> {
    return { ...projection, lifecycle: await hasLifecycle(tenantId) };
  }
  const targets = {
    User: { schema: schemas.user, table: "users" as const, alias: "u" },
    Group: { schema: schemas.group, table: "groups" as const, alias: "g" },
  };

  // totalResults of continuation pages (startIndex > 1, a cursor) may be up to COUNT_CACHE_MS
  // old, plus the time a refresh takes: counting 100k rows for every page of an import costs more
  // than the page itself, and pages are not held up while the count is refreshed. The first page of
  // a listing always counts afresh. Deep pages of the default order start from an anchor (the seq
  // at every ANCHOR_EVERY-th position) instead of an OFFSET over every row before them; one query
  // gives the anchors and the total, cached under the same rule.
  const counts = createShortLivedCache<number>({
    ttlMs: COUNT_CACHE_MS,
    staleMs: COUNT_CACHE_MS,
    maxEntries: COUNT_CACHE_MAX_ENTRIES,
  });
  const anchors = createShortLivedCache<SeqAnchors>({
    ttlMs: COUNT_CACHE_MS,
    staleMs: COUNT_CACHE_MS,
    maxEntries: COUNT_CACHE_MAX_ENTRIES,
  });
  const cacheKey = (
    table: string,
    tenantId: string,
    where: SqlCondition | undefined,
  ) =>
    `${table}|${tenantId}|${where?.sql ?? ""}|${JSON.stringify(where?.bindings ?? [])}`;

  function countRows(
    table: "users" | "groups",
    tenantId: string,
    where: SqlCondition | undefined,
    continuation: boolean,
  ): Promise<number> {
    return counts.get(
      cacheKey(table, tenantId, where),
      () => countResourceRows(db, table, tenantId, where),
      continuation,
    );
  }

  /** Where a default-order page at `offset` starts, and the listing's total, for deep pages. */
  async function deepPageStart(
    table: "users" | "groups",
    tenantId: string,
    where: SqlCondition | undefined,
    offset: number,
  ): Promise<{ offset: number; afterSeq?: string; total: number }> {
    const { seqs, total } = await anchors.get(
      cacheKey(table, tenantId, where),
      () => listSeqAnchors(db, table, tenantId, ANCHOR_EVERY, where),
      true,
    );
    const k = Math.min(Math.floor(offset / ANCHOR_EVERY), seqs.length);
    return k === 0
      ? { offset, total }
      : { afterSeq: seqs[k - 1]!, offset: offset - k * ANCHOR_EVERY, total };
  }

  function parseFilterOrThrow(filter: string | undefined) {
    if (filter === undefined) return undefined;
    try {
      return parseFilter(filter);
    } catch (error) {
      throw toAppError(error);
    }
  }

  function compileWhereOrThrow(kind: Kind, filter: FilterNode): SqlCondition {
    try {
      return compileFilter(filter, targets[kind]);
    } catch (error) {
      throw toAppError(error);
    }
  }

  function selections(kind: Kind, projection: Projection) {
    const schema = targets[kind].schema;
    return { schema, ...selectionOf(schema, projection) };
  }

  /** Which per-user subqueries a user read needs for this projection. */
  function userParts(
    projection: Projection & { lifecycle?: boolean },
  ): UserReadParts {
    const { wants } = selections("User", projection);
    const lifecycle = projection.lifecycle !== false;
    return {
      groups: wants("groups"),
      apps: lifecycle && wants("apps", URN.apps),
      pendingActions: lifecycle && wants("pendingActions", URN.apps),
    };
  }

  async function format(
    kind: Kind,
    tenantId: string,
    rows: FormattableRow[],
    baseUrl: string,
    projection: Projection,
  ): Promise<Record<string, unknown>[]> {
    const { schema, include, exclude, wants } = selections(kind, projection);
    if (kind === "User") {
      // Every user read folds the groups, app states and unfinished actions into the row
      // (groups_json, apps_json, pending_json), so no second query here.
      const parts = userParts(projection);
      return (rows as UserReadRow[]).map((row) =>
        projectResource(
          formatUserRow(row, baseUrl, parts),
          schema,
          include,
          exclude,
        ),
      );
    }
    // excludedAttributes=members never reads the member table (Entra's group lookups).
    const ids = rows.map((r) => r.id);
    const loadMembers = wants("members");
    const members = loadMembers
      ? await listMembersOfGroups(db, tenantId, ids)
      : [];
    const byGroup = groupBy(members, (m) => m.group_id);
    return rows.map((row) =>
      projectResource(
        formatGroup(
          row,
          baseUrl,
          loadMembers ? (byGroup.get(row.id) ?? []) : undefined,
        ),
        schema,
        include,
        exclude,
      ),
    );
  }

  /**
   * Users listed with neither `attributes` nor `excludedAttributes` are read as text and spliced
   * (formatUserText) instead of parsed, formatted and serialised again.
   */
  function listsAsText(kind: Kind, projection: Projection): boolean {
    return (
      kind === "User" &&
      projection.attributes === undefined &&
      projection.excludedAttributes === undefined
    );
  }

  /** A page's resources as JSON text: rows read with `columnsOf` of the same projection. */
  async function formatTexts(
    kind: Kind,
    tenantId: string,
    rows: (FormattableRow | UserTextRow)[],
    baseUrl: string,
    projection: Projection,
  ): Promise<string[]> {
    if (listsAsText(kind, projection)) {
      const parts = userParts(projection);
      const texts = rows as UserTextRow[];
      const names = parts.groups
        ? await groupNamesOf(tenantId, texts)
        : new Map();
      return texts.map(createUserTextFormatter(baseUrl, parts, names));
    }
    const bodies = await format(
      kind,
      tenantId,
      rows as FormattableRow[],
      baseUrl,
      projection,
    );
    return bodies.map((body) => JSON.stringify(body));
  }

  /** The names of the groups a page of users is in: one query for the page. */
  async function groupNamesOf(
    tenantId: string,
    rows: UserTextRow[],
  ): Promise<GroupNames> {
    const ids = new Set<string>();
    for (const row of rows) {
      if (row.group_ids) for (const id of row.group_ids.split(",")) ids.add(id);
    }
    const found = await findGroupNames(db, tenantId, [...ids]);
    return new Map(
      found.map((g, rank) => [g.id, { display_name: g.display_name, rank }]),
    );
  }

  /** The select list of a listing: text columns for spliced users, else whole rows. */
  function columnsOf(kind: Kind, projection: Projection) {
    return listsAsText(kind, projection)
      ? { columns: userTextColumns(userParts(projection)) }
      : extraColumns(kind, projection);
  }

  function extraColumns(kind: Kind, projection: Projection) {
    const columns =
      kind === "User" ? userReadColumns(userParts(projection)) : "";
    return columns !== "" ? { extraColumns: columns } : {};
  }

  async function get(
    kind: Kind,
    principal: Principal,
    id: string,
    baseUrl: string,
    projection: Projection,
  ): Promise<{ body: Record<string, unknown>; version: number }> {
    selections(kind, projection); // validate before touching the database
    const row =
      kind === "User"
        ? await users.byId(principal.tenantId, id, userParts(projection))
        : await findGroupById(db, principal.tenantId, id);
    if (!row) throw new AppError("scim.not_found", `${kind} ${id} not found`);
    const [body] = await format(
      kind,
      principal.tenantId,
      [row],
      baseUrl,
      projection,
    );
    return { body: body!, version: row.version };
  }

  async function list(
    kind: Kind,
    principal: Principal,
    request: ListRequest,
    baseUrl: string,
  ): Promise<ListPage> {
    const { table } = targets[kind];
    const tenantId = principal.tenantId;
    const parsed = parseFilterOrThrow(request.filter);
    const where = parsed && compileWhereOrThrow(kind, parsed);
    const sortSql = request.sortBy
      ? compileSortByOrThrow(kind, request.sortBy)
      : undefined;
    selections(kind, request);
    if (request.cursor !== undefined) {
      if (sortSql) {
        throw new AppError(
          "scim.invalid_value",
          "cursor paging returns resources in a fixed order; drop sortBy",
        );
      }
      const afterSeq = decodeCursor(request.cursor);
      const rows = await listResourceRows<{ seq: string } & FormattableRow>(
        db,
        table,
        tenantId,
        {
          where,
          offset: 0,
          limit: request.count + 1,
          ...(afterSeq !== undefined ? { afterSeq } : {}),
          ...columnsOf(kind, request),
        },
      );
      const page = rows.slice(0, request.count);
      const total = await countRows(
        table,
        tenantId,
        where,
        afterSeq !== undefined,
      );
      return {
        totalResults: total,
        itemsPerPage: page.length,
        ...(rows.length > request.count && page.length > 0
          ? { nextCursor: encodeCursor(page[page.length - 1]!.seq) }
          : {}),
        resources: await formatTexts(kind, tenantId, page, baseUrl, request),
      };
    }
    const userName =
      kind === "User" && request.startIndex === 1 && request.count > 0
        ? userNameLookup(parsed)
        : undefined;
    if (userName !== undefined) {
      // The IdPs' existence check: at most one user (userName is unique), read in a shared batch.
      const row = await users.byUserName(
        tenantId,
        userName,
        userParts(request),
      );
      const rows = row ? [row] : [];
      const bodies = await format(kind, tenantId, rows, baseUrl, request);
      return {
        totalResults: rows.length,
        itemsPerPage: rows.length,
        startIndex: 1,
        resources: bodies.map((body) => JSON.stringify(body)),
      };
    }
    const offset = request.startIndex - 1;
    const deep =
      !sortSql && offset >= ANCHOR_EVERY
        ? await deepPageStart(table, tenantId, where, offset)
        : undefined;
    const rows =
      request.count === 0
        ? []
        : await listResourceRows<FormattableRow>(db, table, tenantId, {
            where,
            ...(sortSql ? { sortSql } : {}),
            descending: request.descending,
            offset: deep ? deep.offset : offset,
            ...(deep?.afterSeq !== undefined
              ? { afterSeq: deep.afterSeq }
              : {}),
            limit: request.count,
            ...columnsOf(kind, request),
          });
    // A short first page already tells the total: saves a count on IdP lookups by userName.
    const total =
      deep?.total ??
      (request.startIndex === 1 && rows.length < request.count
        ? rows.length
        : await countRows(table, tenantId, where, request.startIndex > 1));
    return {
      totalResults: total,
      itemsPerPage: rows.length,
      startIndex: request.startIndex,
      resources: await formatTexts(kind, tenantId, rows, baseUrl, request),
    };
  }

  /**
   * A written user with its app states and unfinished actions: a rewrite read them with the row,
   * a create did not (it may have queued actions in the same statement), so read them here.
   */
  async function withAppsExtension(
    principal: Principal,
    row: FormattableRow,
    projection: Projection,
  ): Promise<FormattableRow> {
    const { apps, pendingActions } = userParts(projection);
    const read = row as UserReadRow;
    const missing = {
      apps: apps && read.apps_json === undefined,
      pendingActions: pendingActions && read.pending_json === undefined,
    };
    if (!missing.apps && !missing.pendingActions) return row;
    const found = await findUserAppsExtension(
      db,
      principal.tenantId,
      row.id,
      missing,
    );
    return { ...row, ...found };
  }

  function compileSortByOrThrow(kind: Kind, sortBy: string): string {
    try {
      return compileSortBy(sortBy, targets[kind]);
    } catch (error) {
      const mapped = toAppError(error);
      if (mapped instanceof AppError && mapped.code === "scim.invalid_filter") {
        throw new AppError("scim.invalid_value", `sortBy: ${mapped.message}`);
      }
      throw mapped;
    }
  }

  return {
    getUser: (
      p: Principal,
      id: string,
      baseUrl: string,
      projection: Projection,
    ) =>
      forTenant(p.tenantId, projection).then((marked) =>
        get("User", p, id, baseUrl, marked),
      ),
    getGroup: (
      p: Principal,
      id: string,
      baseUrl: string,
      projection: Projection,
    ) => get("Group", p, id, baseUrl, projection),
    listUsers: (p: Principal, request: ListRequest, baseUrl: string) =>
      forTenant(p.tenantId, request).then((marked) =>
        list("User", p, marked, baseUrl),
      ),
    listGroups: (p: Principal, request: ListRequest, baseUrl: string) =>
      list("Group", p, request, baseUrl),
    /** Formats rows a service just wrote, for the response body. */
    formatWritten: async (
      kind: Kind,
      p: Principal,
      row: FormattableRow,
      baseUrl: string,
      projection: Projection,
    ) => {
      const marked = await forTenant(p.tenantId, projection);
      return (
        await format(
          kind,
          p.tenantId,
          [kind === "User" ? await withAppsExtension(p, row, marked) : row],
          baseUrl,
          marked,
        )
      )[0]!;
    },
  };
}

/** The reader's interface. */
export type ResourceReader = ReturnType<typeof createResourceReader>;
