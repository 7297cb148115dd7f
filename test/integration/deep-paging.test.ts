import assert from "node:assert/strict";
import request from "supertest";
import { URN } from "../support/scim-client.ts";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

const USERS = 2_600;

// Pages past the first thousand rows start from paging anchors instead of an OFFSET walk.
// They must still be exactly the rows an OFFSET would give, also with gaps left by deletes.
describe("deep startIndex pages", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  /** Ids of the remaining users in creation order. */
  let order: string[] = [];
  /** Ids of the remaining users with title "even", in creation order. */
  let evens: string[] = [];

  before(async () => {
    ctx = await createTestContext();
    tenant = await createTestTenant(ctx);
    const created: { id: string; even: boolean }[] = [];
    for (let from = 0; from < USERS; from += 1_000) {
      const operations = [];
      for (let i = from; i < Math.min(USERS, from + 1_000); i++) {
        operations.push({
          method: "POST",
          path: "/Users",
          bulkId: `u${i}`,
          data: {
            schemas: [URN.user],
            userName: `deep${i}@example.com`,
            title: i % 2 === 0 ? "even" : "odd",
          },
        });
      }
      const res = await request(ctx.app)
        .post("/scim/v2/Bulk")
        .set(tenant.auth)
        .send({ schemas: [URN.bulkRequest], Operations: operations });
      assert.equal(res.status, 200);
      for (const op of res.body.Operations as {
        status: string;
        location: string;
        bulkId: string;
      }[]) {
        assert.equal(op.status, "201");
        created.push({
          id: op.location.split("/").pop()!,
          even: Number(op.bulkId.slice(1)) % 2 === 0,
        });
      }
    }
    // Gaps in insertion order, before and around the anchor positions.
    const deleted = new Set([5, 998, 999, 1000, 1500, 2001, 2002]);
    for (const i of deleted) {
      const res = await request(ctx.app)
        .delete(`/scim/v2/Users/${created[i]!.id}`)
        .set(tenant.auth);
      assert.equal(res.status, 204);
    }
    const kept = created.filter((_, i) => !deleted.has(i));
    order = kept.map((u) => u.id);
    evens = kept.filter((u) => u.even).map((u) => u.id);
  });
  after(async () => {
    await ctx.close();
  });

  async function page(query: Record<string, unknown>) {
    const res = await request(ctx.app)
      .get("/scim/v2/Users")
      .query({ attributes: "id", ...query })
      .set(tenant.auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return {
      totalResults: res.body.totalResults as number,
      ids: (res.body.Resources as { id: string }[]).map((r) => r.id),
    };
  }

  for (const [startIndex, count] of [
    [999, 5],
    [1000, 3],
    [1001, 100],
    [1994, 20],
    [2001, 1000],
    [2590, 50],
    [2593, 10],
    [2594, 10],
    [5000, 10],
  ] as const) {
    it(`gives the OFFSET slice for startIndex=${startIndex}&count=${count}`, async () => {
      const got = await page({ startIndex, count });
      assert.equal(got.totalResults, order.length);
      assert.deepEqual(
        got.ids,
        order.slice(startIndex - 1, startIndex - 1 + count),
      );
    });
  }

  it("gives the OFFSET slice of a filtered listing past its first thousand", async () => {
    const filter = 'title eq "even"';
    for (const startIndex of [1001, 1290]) {
      const got = await page({ filter, startIndex, count: 20 });
      assert.equal(got.totalResults, evens.length);
      assert.deepEqual(
        got.ids,
        evens.slice(startIndex - 1, startIndex - 1 + 20),
      );
    }
  });

  it("gives the OFFSET slice with sortBy too (no anchors there)", async () => {
    const got = await page({
      sortBy: "userName",
      sortOrder: "descending",
      startIndex: 1201,
      count: 3,
    });
    const byName = await page({ sortBy: "userName", count: 1000 });
    assert.equal(got.totalResults, order.length);
    // Descending from the end: position 1201 counted from the last name.
    const all = [
      ...byName.ids,
      ...(await page({ sortBy: "userName", startIndex: 1001, count: 1000 }))
        .ids,
      ...(await page({ sortBy: "userName", startIndex: 2001, count: 1000 }))
        .ids,
    ].reverse();
    assert.deepEqual(got.ids, all.slice(1200, 1203));
  });
});
