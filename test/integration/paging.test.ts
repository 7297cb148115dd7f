import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import request from "supertest";
import { userColumnsOf } from "../../src/store/users-store.ts";
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

const USERS = 57;
const HOST = "scim.test";

interface Page {
  status: number;
  totalResults: number;
  itemsPerPage: number;
  startIndex?: number;
  nextCursor?: string;
  ids: string[];
  body: Record<string, unknown>;
}

// RFC 7644 §3.4.2.4 (index paging), §3.4.2.3 (sorting), §3.4.2.5 (attributes), §3.4.3 (.search)
// and RFC 9865 (cursors). The tests only read, so they share one tenant seeded once.
describe("paging, sorting and projection of lists", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  /** Ids in creation order: the stable order of an unsorted list. */
  const order: string[] = [];
  /** Ids of the users whose title is "third" (every third user), in creation order. */
  const thirds: string[] = [];
  const userNames = new Map<string, string>();

  before(async () => {
    ctx = await createTestContext();
    tenant = await createTestTenant(ctx);
    const scim = createScimClient(ctx, tenant);
    for (let i = 0; i < USERS; i++) {
      // userName order is a permutation of creation order, with mixed case.
      const n = String((i * 23) % USERS).padStart(2, "0");
      const userName =
        i % 2 === 0 ? `USER-${n}@example.com` : `user-${n}@example.com`;
      const user = await scim.createUser({
        userName,
        title: i % 3 === 0 ? "third" : "other",
        emails: [{ type: "work", value: userName.toLowerCase() }],
      });
      order.push(user.id);
      userNames.set(user.id, userName);
      if (i % 3 === 0) thirds.push(user.id);
    }
  });
  after(async () => {
    await ctx.close();
  });

  async function list(
    query: Record<string, unknown>,
    auth: { Authorization: string } = tenant.auth,
  ): Promise<Page> {
    const res = await request(ctx.app)
      .get("/scim/v2/Users")
      .set("Host", HOST)
      .query(query)
      .set(auth);
    return pageOf(res);
  }

  function pageOf(res: request.Response): Page {
    const resources = (res.body.Resources ?? []) as ScimResource[];
    return {
      status: res.status,
      totalResults: res.body.totalResults,
      itemsPerPage: res.body.itemsPerPage,
      startIndex: res.body.startIndex,
      nextCursor: res.body.nextCursor,
      ids: resources.map((r) => r.id),
      body: res.body,
    };
  }

  const clamp = (startIndex: number, count: number) => ({
    start: Math.max(1, startIndex),
    take: Math.min(1000, Math.max(0, count)),
  });

  const table: [startIndex: number, count: number][] = [
    [1, 10],
    [0, 10],
    [-5, 10],
    [2, 10],
    [20, 10],
    [56, 10],
    [57, 10],
    [58, 10],
    [100, 10],
    [1, 0],
    [20, 0],
    [1, 1],
    [57, 1],
    [1, 100],
    [2, 100],
    [1, 5000],
    [30, 5000],
    [1, -1],
    [-3, -3],
  ];
  for (const [startIndex, count] of table) {
    it(`returns the right slice for startIndex=${startIndex}&count=${count}`, async () => {
      const { start, take } = clamp(startIndex, count);
      const expected = order.slice(start - 1, start - 1 + take);
      const page = await list({ startIndex, count });
      assert.equal(page.status, 200);
      assert.deepEqual(
        [page.totalResults, page.itemsPerPage, page.startIndex],
        [USERS, expected.length, start],
      );
      assert.deepEqual(page.ids, expected);
    });
  }

  const filtered: [startIndex: number, count: number][] = [
    [1, 5],
    [5, 10],
    [19, 10],
    [20, 10],
    [0, 100],
    [1, 0],
  ];
  for (const [startIndex, count] of filtered) {
    it(`pages a filtered subset for startIndex=${startIndex}&count=${count}`, async () => {
      const { start, take } = clamp(startIndex, count);
      const expected = thirds.slice(start - 1, start - 1 + take);
      const page = await list({
        filter: 'title eq "third"',
        startIndex,
        count,
      });
      assert.equal(page.status, 200);
      assert.deepEqual(
        [page.totalResults, page.itemsPerPage, page.startIndex],
        [thirds.length, expected.length, start],
      );
      assert.deepEqual(page.ids, expected);
    });
  }

  it("answers itemsPerPage 0 and no resources when nothing matches", async () => {
    const page = await list({ filter: 'userName eq "nobody@example.com"' });
    assert.deepEqual(
      [page.status, page.totalResults, page.itemsPerPage, page.startIndex],
      [200, 0, 0, 1],
    );
    assert.deepEqual(page.ids, []);
  });

  it("defaults to 100 per page and caps count at 1000", async () => {
    const big = await createTestTenant(ctx);
    const at = ctx.clock.now();
    const rows = Array.from({ length: 1005 }, (_, i) => {
      const resource = { userName: `bulk-${i}@example.com`, active: true };
      return {
        tenant_id: big.id,
        id: randomUUID(),
        ...userColumnsOf(resource),
        resource,
        version: 1,
        created_at: at,
        updated_at: at,
      };
    });
    await ctx.knex.batchInsert("users", rows, 500);
    const first = await list({}, big.auth);
    assert.deepEqual(
      [first.totalResults, first.itemsPerPage, first.startIndex],
      [1005, 100, 1],
    );
    const capped = await list({ count: 5000 }, big.auth);
    assert.deepEqual([capped.totalResults, capped.itemsPerPage], [1005, 1000]);
    assert.deepEqual(
      capped.ids,
      rows.slice(0, 1000).map((r) => r.id),
    );
    const rest = await list({ startIndex: 1001, count: 5000 }, big.auth);
    assert.deepEqual(
      rest.ids,
      rows.slice(1000).map((r) => r.id),
    );
  });

  it("answers 400 for a startIndex or count that is not an integer", async () => {
    for (const query of [
      { startIndex: "abc" },
      { startIndex: "1.5" },
      { startIndex: "1e2" },
      { count: "ten" },
    ]) {
      const page = await list(query);
      assert.equal(page.status, 400, JSON.stringify(query));
      assert.deepEqual(page.body.schemas, [URN.error]);
      assert.equal(page.body.status, "400");
      assert.equal(page.body.scimType, "invalidValue");
    }
  });

  it("sorts by userName descending, case-insensitively, in SQL before paging", async () => {
    const byName = [...order].sort((a, b) =>
      userNames.get(a)!.toLowerCase() < userNames.get(b)!.toLowerCase()
        ? 1
        : -1,
    );
    const first = await list({
      sortBy: "userName",
      sortOrder: "descending",
      count: 30,
    });
    const second = await list({
      sortBy: "userName",
      sortOrder: "descending",
      startIndex: 31,
      count: 30,
    });
    assert.equal(first.totalResults, USERS);
    assert.deepEqual([...first.ids, ...second.ids], byName);
    const ascending = await list({ sortBy: "userName", count: 100 });
    assert.deepEqual(ascending.ids, [...byName].reverse());
    const bad = await list({ sortBy: "nope" });
    assert.equal(bad.status, 400);
  });

  for (const count of [10, 19]) {
    it(`walks every user exactly once with cursors of ${count}`, async () => {
      const seen: string[] = [];
      let cursor = "";
      for (let guard = 0; guard < 20; guard++) {
        const page = await list({ cursor, count });
        assert.equal(page.status, 200);
        assert.equal(page.totalResults, USERS);
        assert.equal(page.itemsPerPage, page.ids.length);
        seen.push(...page.ids);
        if (page.nextCursor === undefined) break;
        cursor = page.nextCursor;
      }
      assert.deepEqual(seen, order);
    });
  }

  it("walks a filtered subset with cursors", async () => {
    const seen: string[] = [];
    let cursor = "";
    for (let guard = 0; guard < 20; guard++) {
      const page = await list({ cursor, count: 4, filter: 'title eq "third"' });
      assert.equal(page.totalResults, thirds.length);
      seen.push(...page.ids);
      if (page.nextCursor === undefined) break;
      cursor = page.nextCursor;
    }
    assert.deepEqual(seen, thirds);
  });

  it("answers 400 invalidCursor for a cursor it did not issue", async () => {
    const forged = Buffer.from(JSON.stringify({ s: "x" })).toString(
      "base64url",
    );
    for (const cursor of ["not-a-cursor!", forged, "e30"]) {
      const page = await list({ cursor });
      assert.equal(page.status, 400, cursor);
      assert.deepEqual(page.body.schemas, [URN.error]);
      assert.equal(page.body.scimType, "invalidCursor", cursor);
    }
  });

  it("gives the same answer to POST /Users/.search as to GET with the same parameters", async () => {
    const params = {
      filter: 'title eq "third" or userName sw "user-1"',
      sortBy: "userName",
      sortOrder: "descending",
      startIndex: 3,
      count: 7,
    };
    const get = await list({ ...params, attributes: "userName,title" });
    const search = await request(ctx.app)
      .post("/scim/v2/Users/.search")
      .set("Host", HOST)
      .set(tenant.auth)
      .set("Content-Type", "application/scim+json")
      .send(
        JSON.stringify({
          schemas: [URN.searchRequest],
          ...params,
          attributes: ["userName", "title"],
        }),
      );
    assert.equal(search.status, 200, JSON.stringify(search.body));
    assert.match(
      String(search.headers["content-type"]),
      /application\/scim\+json/,
    );
    assert.equal(get.itemsPerPage, 7);
    assert.deepEqual(search.body, get.body);
  });

  it("returns only id, schemas and userName for attributes=userName", async () => {
    const page = await list({ attributes: "userName", count: 3 });
    assert.equal(page.status, 200);
    for (const resource of page.body.Resources as ScimResource[]) {
      // RFC 7643 §2.4: only "returned: always" attributes (id) come with the ones asked for.
      assert.deepEqual(Object.keys(resource).sort(), [
        "id",
        "schemas",
        "userName",
      ]);
      assert.equal(resource.userName, userNames.get(resource.id));
    }
  });

  it("drops emails for excludedAttributes=emails and keeps the rest", async () => {
    const page = await list({ excludedAttributes: "emails", count: 3 });
    assert.equal(page.status, 200);
    for (const resource of page.body.Resources as ScimResource[]) {
      assert.equal("emails" in resource, false);
      assert.equal(resource.userName, userNames.get(resource.id));
      assert.ok(resource.title);
      assert.ok(resource.meta);
    }
    const one = await request(ctx.app)
      .get(`/scim/v2/Users/${order[0]}`)
      .query({ excludedAttributes: "emails" })
      .set(tenant.auth);
    assert.equal("emails" in one.body, false);
    assert.equal(one.body.id, order[0]);
  });
});
