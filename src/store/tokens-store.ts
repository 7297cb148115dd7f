import type { Db } from "../db/open-database.ts";
import { isUuid } from "./users-store.ts";

/** A token row; the secret itself is never stored, only its SHA-256 digest. */
export interface TokenRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  digest: Buffer;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** A token joined with its tenant's name, for authentication. */
export interface TokenWithTenant extends TokenRow {
  tenant_name: string;
}

/** Finds a token by the digest of its secret. */
export async function findTokenByDigest(
  db: Db,
  digest: Buffer,
): Promise<TokenWithTenant | undefined> {
  return db("tokens as t")
    .join("tenants as n", "n.id", "t.tenant_id")
    .where("t.digest", digest)
    .first<TokenWithTenant | undefined>("t.*", "n.name as tenant_name");
}

/** Inserts a token. */
export async function insertToken(
  db: Db,
  row: Omit<TokenRow, "last_used_at">,
): Promise<void> {
  await db("tokens").insert(row);
}

/** Lists a tenant's tokens, newest first. */
export async function listTokensByTenant(
  db: Db,
  tenantId: string,
): Promise<TokenRow[]> {
  return db<TokenRow>("tokens")
    .where({ tenant_id: tenantId })
    .orderBy("created_at", "desc");
}

/** Marks a token revoked; returns false when no live token had that id. */
export async function updateTokenRevokedById(
  db: Db,
  id: string,
  at: Date,
): Promise<boolean> {
  const count = await db("tokens")
    .where({ id })
    .whereNull("revoked_at")
    .update({ revoked_at: at });
  return count > 0;
}

/** Records when a token was last used (best effort, throttled by the caller). */
export async function updateTokenLastUsedById(
  db: Db,
  id: string,
  at: Date,
): Promise<void> {
  await db("tokens").where({ id }).update({ last_used_at: at });
}

/** Finds a token by id, with its tenant's name; `forUpdate` locks the token row. */
export async function findTokenById(
  db: Db,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<TokenWithTenant | undefined> {
  if (!isUuid(id)) return undefined;
  const query = db("tokens as t")
    .join("tenants as n", "n.id", "t.tenant_id")
    .where("t.id", id)
    .first<TokenWithTenant | undefined>("t.*", "n.name as tenant_name");
  if (options.forUpdate) query.forUpdate("t");
  return query;
}

/** Sets when a live token expires; returns false when no live token had that id. */
export async function updateTokenExpiresAtById(
  db: Db,
  id: string,
  expiresAt: Date,
): Promise<boolean> {
  const count = await db("tokens")
    .where({ id })
    .whereNull("revoked_at")
    .update({ expires_at: expiresAt });
  return count > 0;
}
