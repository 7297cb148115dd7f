import { randomUUID } from "node:crypto";
import type { Express } from "express";
import type { Knex } from "knex";
import { createApp, type LifecycleDeps, type Services } from "../../src/app.ts";
import { createFakeClock, type FakeClock } from "../../src/clock.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openDatabase, type Database } from "../../src/db/open-database.ts";
import { SCOPES, type Scope } from "../../src/domain/scopes.ts";
import { createLogger } from "../../src/logger.ts";

/** An app on a migrated database: PGlite in memory, or PostgreSQL when DATABASE_URL is set. */
export interface TestContext {
  database: Database;
  knex: Knex;
  clock: FakeClock;
  app: Express;
  services: Services;
  close(): Promise<void>;
}

/** A tenant made for one test, with a token. */
export interface TestTenant {
  name: string;
  id: string;
  token: string;
  auth: { Authorization: string };
}

/** Opens the database and builds the app; call `close` in `after`. */
export async function createTestContext(
  lifecycle: LifecycleDeps = {},
): Promise<TestContext> {
  const url = process.env.DATABASE_URL;
  const database = url
    ? await openDatabase({ databaseUrl: url, poolMax: 10 })
    : await openDatabase({ memory: true });
  await migrateToLatest(database.knex);
  const clock = createFakeClock(new Date("2026-03-01T09:00:00.000Z"));
  const logger = createLogger({ silent: true });
  const { app, services } = createApp({
    knex: database.knex,
    clock,
    logger,
    ...lifecycle,
  });
  return {
    database,
    knex: database.knex,
    clock,
    app,
    services,
    close: async () => {
      await services.close();
      await database.close();
    },
  };
}

/** Creates a fresh tenant and a token with the given scopes (all by default). */
export async function createTestTenant(
  ctx: TestContext,
  scopes: Scope[] = [...SCOPES],
): Promise<TestTenant> {
  const name = `t-${randomUUID().slice(0, 12)}`;
  const tenant = await ctx.services.tokens.createTenant(name);
  const issued = await ctx.services.tokens.createToken({
    tenant: name,
    scopes,
  });
  return {
    name,
    id: tenant.id,
    token: issued.secret,
    auth: { Authorization: `Bearer ${issued.secret}` },
  };
}

/** Issues another token for an existing tenant. */
export async function createTestToken(
  ctx: TestContext,
  tenant: TestTenant,
  scopes: Scope[],
): Promise<{ Authorization: string }> {
  const issued = await ctx.services.tokens.createToken({
    tenant: tenant.name,
    scopes,
  });
  return { Authorization: `Bearer ${issued.secret}` };
}
