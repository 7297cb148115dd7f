import type { Db } from "../db/open-database.ts";
import { GENESIS_HASH } from "../domain/audit-hash.ts";

/** The end of a tenant's audit chain (hash in hex; index 0 and the genesis hash when empty). */
export interface AuditChainHeadRow {
  tenant_id: string;
  last_index: string;
  last_hash: string;
  updated_at: Date;
}

const HEAD_COLUMNS = `tenant_id, last_index, encode(last_hash, 'hex') AS last_hash, updated_at`;

/** Creates the tenant's head row (an empty chain) unless it exists. */
export async function ensureAuditChainHead(
  db: Db,
  tenantId: string,
  at: Date,
): Promise<void> {
  await db.raw(
    `INSERT INTO audit_chain_heads (tenant_id, last_index, last_hash, updated_at)
     VALUES (?, 0, decode(?, 'hex'), ?::timestamptz)
     ON CONFLICT (tenant_id) DO NOTHING`,
    [tenantId, GENESIS_HASH, at.toISOString()],
  );
}

/**
 * Locks the tenant's head row for the transaction, or returns undefined at once when another
 * sealer holds it (SKIP LOCKED): that one is sealing the tenant already.
 */
export async function lockAuditChainHead(
  db: Db,
  tenantId: string,
): Promise<AuditChainHeadRow | undefined> {
  const result = await db.raw<{ rows: AuditChainHeadRow[] }>(
    `SELECT ${HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id = ?
     FOR UPDATE SKIP LOCKED`,
    [tenantId],
  );
  return result.rows[0];
}

/** Reads the tenant's head without locking it. */
export async function findAuditChainHead(
  db: Db,
  tenantId: string,
): Promise<AuditChainHeadRow | undefined> {
  const result = await db.raw<{ rows: AuditChainHeadRow[] }>(
    `SELECT ${HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id = ?`,
    [tenantId],
  );
  return result.rows[0];
}

/** Moves the tenant's head to the last entry just sealed. */
export async function updateAuditChainHead(
  db: Db,
  tenantId: string,
  head: { lastIndex: number; lastHash: string; at: Date },
): Promise<void> {
  await db.raw(
    `UPDATE audit_chain_heads
     SET last_index = ?, last_hash = decode(?, 'hex'), updated_at = ?::timestamptz
     WHERE tenant_id = ?`,
    [head.lastIndex, head.lastHash, head.at.toISOString(), tenantId],
  );
}
