import type { Db } from "../db/open-database.ts";

/** A compiled SQL condition with `?` placeholders. */
export interface SqlCondition {
  sql: string;
  bindings: unknown[];
}

/** How to select a page of users or groups. */
export interface ListQuery {
  where?: SqlCondition;
  /** SQL expression to sort by (from compileSortBy); rows tie-break on insertion order. */
  sortSql?: string;
  descending?: boolean;
  offset: number;
  limit: number;
  /** Keyset cursor: only rows inserted after this sequence number (RFC 9865 cursors). */
  afterSeq?: string;
  /** Extra select-list SQL, e.g. a user's groups as JSON (saves a round trip). */
  extraColumns?: string;
}

const ALIAS = { users: "u", groups: "g" } as const;

/** Lists one page of rows in a stable order: sort key, then insertion sequence. */
export async function listResourceRows<Row>(
  db: Db,
  table: "users" | "groups",
  tenantId: string,
  query: ListQuery,
): Promise<Row[]> {
  const alias = ALIAS[table];
  const direction = query.descending ? "DESC" : "ASC";
  const builder = db(`${table} as ${alias}`).where(
    `${alias}.tenant_id`,
    tenantId,
  );
  if (query.where)
    builder.andWhereRaw(
      `(${query.where.sql})`,
      query.where.bindings as never[],
    );
  if (query.afterSeq !== undefined)
    builder.andWhere(`${alias}.seq`, ">", query.afterSeq);
  if (query.sortSql) {
    builder.orderByRaw(
      `${query.sortSql} ${direction} NULLS LAST, ${alias}.seq ${direction}`,
    );
  } else {
    builder.orderBy(`${alias}.seq`, "asc");
  }
  const columns = query.extraColumns
    ? [`${alias}.*`, db.raw(query.extraColumns)]
    : [`${alias}.*`];
  return (await builder
    .offset(query.offset)
    .limit(query.limit)
    .select(columns)) as Row[];
}

/** Counts the rows a filter matches. */
export async function countResourceRows(
  db: Db,
  table: "users" | "groups",
  tenantId: string,
  where?: SqlCondition,
): Promise<number> {
  const alias = ALIAS[table];
  const builder = db(`${table} as ${alias}`).where(
    `${alias}.tenant_id`,
    tenantId,
  );
  if (where) builder.andWhereRaw(`(${where.sql})`, where.bindings as never[]);
  const row = await builder.count<{ count: string }[]>({ count: "*" }).first();
  return Number(row?.count ?? 0);
}
