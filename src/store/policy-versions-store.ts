import type { Db } from "../db/open-database.ts";

/** A stored version of a tenant's policy document. */
export interface PolicyVersionRow {
  tenant_id: string;
  version: number;
  document: Record<string, unknown>;
  digest: string;
  source: string;
  created_at: Date;
  created_by_token_id: string | null;
}

/** The newest policy version of a tenant. */
export async function findLatestPolicyVersion(
  db: Db,
  tenantId: string,
): Promise<PolicyVersionRow | undefined> {
  return db<PolicyVersionRow>("policy_versions")
    .where({ tenant_id: tenantId })
    .orderBy("version", "desc")
    .first();
}

/**
 * Appends a version after the tenant's newest one. Two concurrent applies cannot both take the
 * same number: the primary key rejects the second (the caller retries).
 */
export async function insertPolicyVersion(
  db: Db,
  row: Omit<PolicyVersionRow, "version">,
): Promise<number> {
  const result = await db.raw<{ rows: { version: number }[] }>(
    `INSERT INTO policy_versions
       (tenant_id, version, document, digest, source, created_at, created_by_token_id)
     SELECT ?::uuid, coalesce(max(version), 0) + 1, ?::jsonb, ?, ?, ?::timestamptz, ?::uuid
     FROM policy_versions WHERE tenant_id = ?::uuid
     RETURNING version`,
    [
      row.tenant_id,
      JSON.stringify(row.document),
      row.digest,
      row.source,
      row.created_at.toISOString(),
      row.created_by_token_id,
      row.tenant_id,
    ] as never[],
  );
  return result.rows[0]!.version;
}
