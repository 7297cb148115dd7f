import type { Db } from "../db/open-database.ts";

/** A tenant row. */
export interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
}

/** Finds a tenant by its unique name. */
export async function findTenantByName(
  db: Db,
  name: string,
): Promise<TenantRow | undefined> {
  return db<TenantRow>("tenants").where({ name }).first();
}

/** Inserts a tenant. */
export async function insertTenant(db: Db, row: TenantRow): Promise<void> {
  await db("tenants").insert(row);
}

/** Lists tenants by name. */
export async function listTenants(db: Db): Promise<TenantRow[]> {
  return db<TenantRow>("tenants").orderBy("name");
}

/** Counts tenants. */
export async function countTenants(db: Db): Promise<number> {
  const row = await db("tenants")
    .count<{ count: string }[]>({ count: "*" })
    .first();
  return Number(row?.count ?? 0);
}
