import assert from "node:assert/strict";
import request from "supertest";
import { createApp } from "../../src/app.ts";
import { createFakeClock } from "../../src/clock.ts";
import { migrateToLatest } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open-database.ts";
import { createLogger } from "../../src/logger.ts";
import { createTestContext, type TestContext } from "../support/test-app.ts";

describe("GET /readyz", () => {
  let ctx: TestContext;

  before(async () => {
    ctx = await createTestContext();
  });
  after(() => ctx.close());

  it("is ready in an API-only process, where no worker runs", async () => {
    const res = await request(ctx.app).get("/readyz");
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, "ready");
    assert.deepEqual(res.body.failed, []);
    assert.deepEqual(res.body.checks.database, { ok: true });
    assert.deepEqual(res.body.checks.migrations, { ok: true });
    assert.deepEqual(res.body.checks.worker, {
      ok: true,
      status: "not run in this process",
    });
  });

  it("is ready while the worker loop runs, and not once it stopped", async () => {
    const built = createApp({
      knex: ctx.knex,
      clock: ctx.clock,
      logger: createLogger({ silent: true }),
    });
    try {
      built.services.worker.start();
      const running = await request(built.app).get("/readyz");
      assert.equal(running.status, 200, JSON.stringify(running.body));
      assert.deepEqual(running.body.checks.worker, {
        ok: true,
        status: "running",
      });
      await built.services.worker.stop();
      const stopped = await request(built.app).get("/readyz");
      assert.equal(stopped.status, 503);
      assert.equal(stopped.body.status, "not ready");
      assert.deepEqual(stopped.body.failed, ["worker"]);
      assert.deepEqual(stopped.body.checks.worker, {
        ok: false,
        status: "stopped",
      });
    } finally {
      await built.services.close();
    }
  });

  it("names the pending migrations", async () => {
    // A database of its own (PGlite even with DATABASE_URL): this one is put out of date.
    const database = await openDatabase({ memory: true });
    const built = createApp({
      knex: database.knex,
      clock: createFakeClock(),
      logger: createLogger({ silent: true }),
    });
    try {
      await migrateToLatest(database.knex);
      const last = await database
        .knex("knex_migrations")
        .orderBy("name", "desc")
        .first<{ name: string }>("name");
      await database.knex("knex_migrations").where({ name: last.name }).del();
      const res = await request(built.app).get("/readyz");
      assert.equal(res.status, 503);
      assert.deepEqual(res.body.failed, ["migrations"]);
      assert.deepEqual(res.body.checks.migrations, {
        ok: false,
        pending: [last.name],
      });
    } finally {
      await built.services.close();
      await database.close();
    }
  });

  it("answers 503 naming the database when it is unreachable, and stays alive", async () => {
    const down = await createTestContext();
    await down.database.close();
    try {
      const res = await request(down.app).get("/readyz");
      assert.equal(res.status, 503);
      assert.deepEqual(res.body.failed, ["database", "migrations"]);
      assert.deepEqual(res.body.checks.database, {
        ok: false,
        error: "unreachable",
      });
      // Unauthenticated: the driver's message (hosts, users) stays in the log.
      assert.doesNotMatch(JSON.stringify(res.body), /pool|knex|acquire|ECONN/i);
      assert.equal((await request(down.app).get("/healthz")).status, 200);
    } finally {
      await down.services.close();
    }
  });
});
