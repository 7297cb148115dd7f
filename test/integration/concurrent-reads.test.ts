import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import request from "supertest";
import { createUserReadBatcher } from "../../src/store/user-read-batcher.ts";
import {
  createScimClient,
  URN,
  type ScimResource,
} from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

// Single-user reads (GET by id, lookup by userName) arriving together share one statement.
// These tests check that every caller still gets its own answer, from its own tenant.
describe("Concurrent single-user reads", () => {
  let ctx: TestContext;
  let server: Server;
  let a: TestTenant;
  let b: TestTenant;
  const usersOf = new Map<string, ScimResource[]>();

  before(async () => {
    ctx = await createTestContext();
    // One listening server, so the concurrent requests really overlap on one process.
    server = createServer(ctx.app);
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    a = await createTestTenant(ctx);
    b = await createTestTenant(ctx);
    for (const tenant of [a, b]) {
      const client = createScimClient(ctx, tenant);
      const users: ScimResource[] = [];
      for (let i = 0; i < 12; i++) {
        // The same userNames in both tenants: only the tenant tells them apart.
        users.push(
          await client.createUser({
            userName: `Person${i}@Example.com`,
            displayName: `${tenant.name} person ${i}`,
          }),
        );
      }
      usersOf.set(tenant.name, users);
    }
    const group = await createScimClient(ctx, a).createGroup("Readers", [
      usersOf.get(a.name)![3]!.id,
    ]);
    assert.ok(group.id);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await ctx.close();
  });

  const url = () =>
    `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  it("answers each of many simultaneous GETs and lookups with its own user and tenant", async () => {
    const checks: Promise<void>[] = [];
    for (const tenant of [a, b]) {
      const other = tenant === a ? b : a;
      for (const [i, user] of usersOf.get(tenant.name)!.entries()) {
        checks.push(
          request(url())
            .get(`/scim/v2/Users/${user.id}`)
            .set(tenant.auth)
            .then((res) => {
              assert.equal(res.status, 200);
              assert.equal(res.body.id, user.id);
              assert.equal(res.body.displayName, `${tenant.name} person ${i}`);
            }),
          // Another tenant's id is not found, even when asked in the same batch.
          request(url())
            .get(`/scim/v2/Users/${user.id}`)
            .set(other.auth)
            .then((res) => assert.equal(res.status, 404)),
          // userName is caseExact false: any case finds the user.
          request(url())
            .get("/scim/v2/Users")
            .query({ filter: `userName eq "PERSON${i}@example.COM"` })
            .set(tenant.auth)
            .then((res) => {
              assert.equal(res.status, 200);
              assert.equal(res.body.totalResults, 1);
              assert.equal(res.body.Resources[0].id, user.id);
            }),
        );
      }
      checks.push(
        request(url())
          .get("/scim/v2/Users")
          .query({ filter: 'userName eq "nobody@example.com"' })
          .set(tenant.auth)
          .then((res) => {
            assert.equal(res.status, 200);
            assert.deepEqual(
              [
                res.body.totalResults,
                res.body.itemsPerPage,
                res.body.Resources,
              ],
              [0, 0, []],
            );
          }),
      );
    }
    await Promise.all(checks);
  });

  it("keeps groups and projections on a batched read", async () => {
    const member = usersOf.get(a.name)![3]!;
    const [full, projected] = await Promise.all([
      request(url()).get(`/scim/v2/Users/${member.id}`).set(a.auth),
      request(url())
        .get("/scim/v2/Users")
        .query({
          filter: `${URN.user}:userName eq "person3@example.com"`,
          attributes: "userName",
        })
        .set(a.auth),
    ]);
    assert.deepEqual(
      full.body.groups.map((g: { display: string }) => g.display),
      ["Readers"],
    );
    assert.deepEqual(Object.keys(projected.body.Resources[0]).sort(), [
      "id",
      "schemas",
      "userName",
    ]);
  });

  it("reads the users asked for in the same turn with one statement", async () => {
    const batcher = createUserReadBatcher(ctx.knex);
    const statements: string[] = [];
    const count = (query: { sql: string }) => statements.push(query.sql);
    ctx.knex.on("query", count);
    try {
      const users = usersOf.get(b.name)!;
      const rows = await Promise.all([
        ...users.map((u) => batcher.byId(b.id, u.id.toUpperCase())),
        batcher.byId(b.id, "not-a-uuid"),
        batcher.byId(b.id, "00000000-0000-4000-8000-000000000000"),
      ]);
      assert.deepEqual(
        rows.map((r) => r?.id),
        [...users.map((u) => u.id), undefined, undefined],
      );
      assert.equal(statements.length, 1);
    } finally {
      ctx.knex.off("query", count);
    }
  });
});
