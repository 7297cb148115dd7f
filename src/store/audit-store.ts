import type { Db } from "../db/open-database.ts";
import type { AuditHashContent } from "../domain/audit-hash.ts";

/** An audit entry to append. */
export interface NewAuditEntry {
  tenant_id: string;
  occurred_at: Date;
  actor_token_id: string | null;
  key: string;
  resource_type: string | null;
  resource_id: string | null;
  request_id: string | null;
  detail: Record<string, unknown>;
}

/** A stored audit entry. */
export interface AuditEntryRow extends NewAuditEntry {
  id: string;
}

/** Lists a tenant's audit entries in order, optionally for one resource. */
export async function listAuditEntries(
  db: Db,
  tenantId: string,
  options: { resourceId?: string; afterId?: string; limit?: number } = {},
): Promise<AuditEntryRow[]> {
  const query = db<AuditEntryRow>("audit_entries").where({
    tenant_id: tenantId,
  });
  if (options.resourceId) query.andWhere({ resource_id: options.resourceId });
  if (options.afterId) query.andWhere("id", ">", options.afterId);
  return query.orderBy("id").limit(options.limit ?? 1000);
}

/** Appends one audit entry (actions' outcomes; SCIM writes go through the change log). */
export async function insertAuditEntry(
  db: Db,
  entry: NewAuditEntry,
): Promise<void> {
  await db("audit_entries").insert({
    ...entry,
    detail: JSON.stringify(entry.detail),
  });
}

// occurred_at as text, UTC with microseconds: a Date would drop the microseconds PostgreSQL keeps,
// and the chain must hash exactly what is stored. Hashes travel as hex (drivers differ on bytea).
const CHAINED_COLUMNS = `id, tenant_id,
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
  actor_token_id, key, resource_type, resource_id, request_id, detail, chain_index,
  encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash`;

/** A stored audit entry with its chain fields (null until sealed), as auditors read it. */
export interface ChainedAuditEntryRow {
  id: string;
  tenant_id: string;
  /** UTC text with microseconds, e.g. `2026-03-01T09:00:00.123456Z`. */
  occurred_at: string;
  actor_token_id: string | null;
  key: string;
  resource_type: string | null;
  resource_id: string | null;
  request_id: string | null;
  detail: unknown;
  chain_index: string | null;
  prev_hash: string | null;
  hash: string | null;
}

/** What an auditor may filter audit entries by (all optional, combined with AND). */
export interface AuditEntryFilter {
  resourceId?: string;
  /** `detail.app`: the app of action entries. */
  app?: string;
  key?: string;
  /** Keys starting with this text (compared byte-wise). */
  keyPrefix?: string;
  /** Inclusive lower bound, an ISO 8601 timestamp. */
  since?: string;
  /** Exclusive upper bound, an ISO 8601 timestamp. */
  until?: string;
}

/** The smallest string greater than every string starting with `prefix`, in byte (C) order. */
function prefixUpperBound(prefix: string): string {
  const last = prefix.codePointAt(prefix.length - 1)!;
  return prefix.slice(0, -1) + String.fromCodePoint(last + 1);
}

/**
 * One page of a tenant's audit entries after a keyset position: by id (every entry), or by chain
 * index (sealed entries only; the order in which they became visible, so a reader following the
 * chain never skips an entry that committed late).
 */
export async function listAuditEntriesPage(
  db: Db,
  tenantId: string,
  filter: AuditEntryFilter,
  page: { order: "id" | "chain"; after?: string; limit: number },
): Promise<ChainedAuditEntryRow[]> {
  const query = db("audit_entries")
    .select(db.raw(CHAINED_COLUMNS))
    .where("tenant_id", tenantId);
  if (filter.resourceId) query.andWhere("resource_id", filter.resourceId);
  if (filter.app) query.andWhereRaw(`detail->>'app' = ?`, [filter.app]);
  if (filter.key) query.andWhereRaw(`key COLLATE "C" = ?`, [filter.key]);
  if (filter.keyPrefix) {
    query.andWhereRaw(`key COLLATE "C" >= ? AND key COLLATE "C" < ?`, [
      filter.keyPrefix,
      prefixUpperBound(filter.keyPrefix),
    ]);
  }
  if (filter.since) {
    query.andWhereRaw(`occurred_at >= ?::timestamptz`, [filter.since]);
  }
  if (filter.until) {
    query.andWhereRaw(`occurred_at < ?::timestamptz`, [filter.until]);
  }
  const column = page.order === "chain" ? "chain_index" : "id";
  if (page.order === "chain") query.whereNotNull("chain_index");
  if (page.after !== undefined) query.andWhere(column, ">", page.after);
  return query.orderBy(column).limit(page.limit);
}

/** A tenant's sealed entries with chain index in (afterIndex, throughIndex], in chain order. */
export async function listChainedAuditEntries(
  db: Db,
  tenantId: string,
  range: { afterIndex: number; throughIndex: number; limit: number },
): Promise<ChainedAuditEntryRow[]> {
  const result = await db.raw<{ rows: ChainedAuditEntryRow[] }>(
    `SELECT ${CHAINED_COLUMNS} FROM audit_entries
     WHERE tenant_id = ? AND chain_index > ? AND chain_index <= ?
     ORDER BY chain_index LIMIT ?`,
    [tenantId, range.afterIndex, range.throughIndex, range.limit],
  );
  return result.rows;
}

/** A tenant's oldest unsealed entries, in id order. */
export async function listUnsealedAuditEntries(
  db: Db,
  tenantId: string,
  limit: number,
): Promise<ChainedAuditEntryRow[]> {
  const result = await db.raw<{ rows: ChainedAuditEntryRow[] }>(
    `SELECT ${CHAINED_COLUMNS} FROM audit_entries
     WHERE tenant_id = ? AND chain_index IS NULL
     ORDER BY id LIMIT ?`,
    [tenantId, limit],
  );
  return result.rows;
}

/** Tenants that have unsealed entries. */
export async function listTenantsWithUnsealedAuditEntries(
  db: Db,
  limit: number,
): Promise<string[]> {
  const result = await db.raw<{ rows: { tenant_id: string }[] }>(
    `SELECT DISTINCT tenant_id FROM audit_entries WHERE chain_index IS NULL LIMIT ?`,
    [limit],
  );
  return result.rows.map((row) => row.tenant_id);
}

/** How many of a tenant's entries are not sealed yet. */
export async function countUnsealedAuditEntries(
  db: Db,
  tenantId: string,
): Promise<number> {
  const result = await db.raw<{ rows: { count: string }[] }>(
    `SELECT count(*) AS count FROM audit_entries WHERE tenant_id = ? AND chain_index IS NULL`,
    [tenantId],
  );
  return Number(result.rows[0]?.count ?? 0);
}

/** A sealed entry's chain fields (hashes in hex). */
export interface AuditEntrySeal {
  id: string;
  chainIndex: number;
  prevHash: string;
  hash: string;
}

/** Writes the chain fields of still-unsealed entries; returns how many rows it sealed. */
export async function updateAuditEntrySeals(
  db: Db,
  tenantId: string,
  seals: AuditEntrySeal[],
): Promise<number> {
  if (seals.length === 0) return 0;
  const result = await db.raw<{ rows: { id: string }[] }>(
    `UPDATE audit_entries e
     SET chain_index = s.chain_index, prev_hash = decode(s.prev_hash, 'hex'),
         hash = decode(s.hash, 'hex')
     FROM jsonb_to_recordset(?::jsonb) AS s(id bigint, chain_index bigint, prev_hash text, hash text)
     WHERE e.tenant_id = ? AND e.id = s.id AND e.chain_index IS NULL
     RETURNING e.id`,
    [
      JSON.stringify(
        seals.map((s) => ({
          id: s.id,
          chain_index: s.chainIndex,
          prev_hash: s.prevHash,
          hash: s.hash,
        })),
      ),
      tenantId,
    ],
  );
  return result.rows.length;
}

/**
 * The `action.*` entries of some actions (their plan, attempts and outcome), in id order. Action
 * entries name the user as their resource, so the user index narrows the search.
 */
export async function listActionAuditEntries(
  db: Db,
  tenantId: string,
  actions: { id: string; userId: string }[],
): Promise<ChainedAuditEntryRow[]> {
  if (actions.length === 0) return [];
  const result = await db.raw<{ rows: ChainedAuditEntryRow[] }>(
    `SELECT ${CHAINED_COLUMNS} FROM audit_entries
     WHERE tenant_id = ?
       AND resource_id IN (SELECT (jsonb_array_elements_text(?::jsonb))::uuid)
       AND key COLLATE "C" >= 'action.' AND key COLLATE "C" < 'action/'
       AND detail->>'actionId' IN (SELECT jsonb_array_elements_text(?::jsonb))
     ORDER BY id`,
    [
      tenantId,
      JSON.stringify([...new Set(actions.map((a) => a.userId))]),
      JSON.stringify(actions.map((a) => a.id)),
    ],
  );
  return result.rows;
}

/** The content an entry's hash covers, from the row as read back. */
export function hashContentOfAuditEntry(
  row: ChainedAuditEntryRow,
): AuditHashContent {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    occurredAt: row.occurred_at,
    actorTokenId: row.actor_token_id,
    key: row.key,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    requestId: row.request_id,
    detail: row.detail,
  };
}

/** The highest chain index sealed for a tenant (0 when none). */
export async function findLastAuditChainIndex(
  db: Db,
  tenantId: string,
): Promise<number> {
  const result = await db.raw<{ rows: { last: string | null }[] }>(
    `SELECT max(chain_index) AS last FROM audit_entries
     WHERE tenant_id = ? AND chain_index IS NOT NULL`,
    [tenantId],
  );
  return Number(result.rows[0]?.last ?? 0);
}
