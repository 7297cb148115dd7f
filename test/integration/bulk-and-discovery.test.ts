import assert from "node:assert/strict";
import request from "supertest";
import {
  useTestTenantPerTest,
  URN,
  type ScimClient,
} from "../support/scim-client.ts";
import { type TestContext, type TestTenant } from "../support/test-app.ts";

const SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

interface BulkResult {
  method: string;
  bulkId?: string;
  location?: string;
  version?: string;
  status: string;
  response?: { status: string; scimType?: string; detail: string };
}

// RFC 7644 §3.7 (Bulk) and §4 (discovery endpoints).
describe("SCIM Bulk and discovery", () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  let scim: ScimClient;

  useTestTenantPerTest(
    (c) => (ctx = c),
    (t, s) => {
      tenant = t;
      scim = s;
    },
  );

  function bulk(Operations: unknown[], failOnErrors?: number) {
    return request(ctx.app)
      .post("/scim/v2/Bulk")
      .set(tenant.auth)
      .set("Content-Type", "application/scim+json")
      .send(
        JSON.stringify({
          schemas: [URN.bulkRequest],
          ...(failOnErrors === undefined ? {} : { failOnErrors }),
          Operations,
        }),
      );
  }

  const postUser = (bulkId: string, userName: string) => ({
    method: "POST",
    path: "/Users",
    bulkId,
    data: { schemas: [URN.user], userName },
  });

  describe("/Bulk", () => {
    it("creates a user and a group that references it by bulkId, patches and deletes", async () => {
      const existing = await scim.createUser({ userName: "existing" });
      const oldGroup = await scim.createGroup("Old team");
      // The group comes first and names a user created later in the request.
      const res = await bulk([
        {
          method: "POST",
          path: "/Groups",
          bulkId: "g1",
          data: {
            schemas: [URN.group],
            displayName: "Bulk team",
            members: [
              { type: "User", value: "bulkId:u1" },
              { value: existing.id },
            ],
          },
        },
        postUser("u1", "bulk-user"),
        {
          method: "PATCH",
          path: `/Users/${existing.id}`,
          data: {
            schemas: [URN.patchOp],
            Operations: [{ op: "replace", path: "active", value: false }],
          },
        },
        { method: "DELETE", path: `/Groups/${oldGroup.id}` },
      ]);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(
        String(res.headers["content-type"]),
        /application\/scim\+json/,
      );
      assert.deepEqual(res.body.schemas, [URN.bulkResponse]);
      const results = res.body.Operations as BulkResult[];
      assert.deepEqual(
        results.map((r) => [r.method, r.bulkId, r.status]),
        [
          ["POST", "g1", "201"],
          ["POST", "u1", "201"],
          ["PATCH", undefined, "200"],
          ["DELETE", undefined, "204"],
        ],
      );
      const [group, user, patch, del] = results as [
        BulkResult,
        BulkResult,
        BulkResult,
        BulkResult,
      ];
      const userId = /\/scim\/v2\/Users\/([0-9a-f-]{36})$/.exec(
        user.location!,
      )![1]!;
      const groupId = /\/scim\/v2\/Groups\/([0-9a-f-]{36})$/.exec(
        group.location!,
      )![1]!;
      assert.equal(user.version, 'W/"1"');
      assert.match(
        patch.location!,
        new RegExp(`/scim/v2/Users/${existing.id}$`),
      );
      assert.equal(patch.version, 'W/"2"');
      assert.match(
        del.location!,
        new RegExp(`/scim/v2/Groups/${oldGroup.id}$`),
      );

      assert.equal((await scim.get("Users", userId)).userName, "bulk-user");
      assert.deepEqual(
        await scim.memberIds(groupId),
        [userId, existing.id].sort(),
      );
      assert.equal((await scim.get("Users", existing.id)).active, false);
      const gone = await request(ctx.app)
        .get(`/scim/v2/Groups/${oldGroup.id}`)
        .set(tenant.auth);
      assert.equal(gone.status, 404);
      assert.deepEqual(await scim.eventTypes(groupId), [
        "group.created",
        "group.member_added",
        "group.member_added",
      ]);
      assert.deepEqual(await scim.eventTypes(existing.id), [
        "user.created",
        "user.deactivated",
      ]);
      const audit = await ctx
        .knex("audit_entries")
        .where({ tenant_id: tenant.id, resource_id: userId });
      assert.deepEqual(
        audit.map((a) => [a.key, a.detail.method, a.detail.path]),
        [["scim.user.created", "POST", "/Users"]],
      );
    });

    it("reports each failure in its result and carries on without failOnErrors", async () => {
      await scim.createUser({ userName: "taken" });
      const res = await bulk([
        postUser("a", "taken"),
        postUser("b", "fresh"),
        {
          method: "DELETE",
          path: "/Users/00000000-0000-4000-8000-000000000000",
        },
      ]);
      assert.equal(res.status, 200);
      const results = res.body.Operations as BulkResult[];
      assert.deepEqual(
        results.map((r) => [r.bulkId, r.status, r.response?.scimType]),
        [
          ["a", "409", "uniqueness"],
          ["b", "201", undefined],
          [undefined, "404", undefined],
        ],
      );
      assert.deepEqual(results[0]!.response!.status, "409");
      assert.equal(results[0]!.location, undefined);
    });

    it("stops after failOnErrors errors and runs nothing after them", async () => {
      await scim.createUser({ userName: "taken" });
      const before = await scim.rowCounts();
      const res = await bulk(
        [
          postUser("a", "taken"),
          postUser("b", "never"),
          postUser("c", "never2"),
        ],
        1,
      );
      assert.equal(res.status, 200);
      assert.deepEqual(
        (res.body.Operations as BulkResult[]).map((r) => [r.bulkId, r.status]),
        [["a", "409"]],
      );
      assert.deepEqual(await scim.rowCounts(), before);
    });

    it("answers 409 for a bulkId that no operation creates", async () => {
      const res = await bulk([
        {
          method: "POST",
          path: "/Groups",
          bulkId: "g",
          data: {
            schemas: [URN.group],
            displayName: "x",
            members: [{ value: "bulkId:nope" }],
          },
        },
      ]);
      assert.equal(res.status, 200);
      const [result] = res.body.Operations as BulkResult[];
      assert.equal(result!.status, "409");
      assert.equal((await scim.rowCounts()).groups, 0);
    });

    it("answers 413 for more than 1000 operations and runs none of them", async () => {
      const operations = Array.from({ length: 1001 }, (_, i) =>
        postUser(`b${i}`, `user-${i}`),
      );
      const res = await bulk(operations);
      assert.equal(res.status, 413);
      assert.deepEqual(res.body.schemas, [URN.error]);
      assert.equal(res.body.status, "413");
      assert.match(res.body.detail, /1000/);
      assert.equal((await scim.rowCounts()).users, 0);
    });

    it("answers 400 invalidSyntax for a request without Operations", async () => {
      const res = await request(ctx.app)
        .post("/scim/v2/Bulk")
        .set(tenant.auth)
        .send({ schemas: [URN.bulkRequest] });
      assert.equal(res.status, 400);
      assert.equal(res.body.scimType, "invalidSyntax");
    });
  });

  describe("discovery", () => {
    it("advertises exactly the capabilities the server implements", async () => {
      const res = await request(ctx.app)
        .get("/scim/v2/ServiceProviderConfig")
        .set(tenant.auth);
      assert.equal(res.status, 200);
      assert.match(
        String(res.headers["content-type"]),
        /application\/scim\+json/,
      );
      assert.deepEqual(res.body.schemas, [SPC]);
      assert.deepEqual(res.body.patch, { supported: true });
      assert.equal(res.body.bulk.supported, true);
      assert.equal(res.body.bulk.maxOperations, 1000);
      assert.ok(res.body.bulk.maxPayloadSize >= 1_048_576);
      assert.deepEqual(res.body.filter, { supported: true, maxResults: 1000 });
      assert.deepEqual(res.body.sort, { supported: true });
      assert.deepEqual(res.body.etag, { supported: true });
      assert.deepEqual(res.body.changePassword, { supported: false });
      assert.ok(
        res.body.authenticationSchemes.some(
          (s: { type: string }) => s.type === "oauthbearertoken",
        ),
      );
      assert.match(
        res.body.meta.location,
        /\/scim\/v2\/ServiceProviderConfig$/,
      );
    });

    it("lists User with the enterprise extension and Group as resource types", async () => {
      const res = await request(ctx.app)
        .get("/scim/v2/ResourceTypes")
        .set(tenant.auth);
      assert.equal(res.status, 200);
      assert.match(
        String(res.headers["content-type"]),
        /application\/scim\+json/,
      );
      assert.equal(res.body.totalResults, 2);
      const byId = new Map(
        (res.body.Resources as Record<string, unknown>[]).map((r) => [r.id, r]),
      );
      const user = byId.get("User")!;
      assert.equal(user.endpoint, "/Users");
      assert.equal(user.schema, URN.user);
      assert.deepEqual(user.schemaExtensions, [
        { schema: URN.enterprise, required: false },
        { schema: URN.apps, required: false },
      ]);
      assert.equal(byId.get("Group")!.endpoint, "/Groups");
      assert.equal(byId.get("Group")!.schema, URN.group);
      const one = await request(ctx.app)
        .get("/scim/v2/ResourceTypes/User")
        .set(tenant.auth);
      assert.equal(one.status, 200);
      assert.equal(one.body.id, "User");
    });

    it("publishes the User, Group, enterprise and apps schemas, each also by its URN", async () => {
      const res = await request(ctx.app)
        .get("/scim/v2/Schemas")
        .set(tenant.auth);
      assert.equal(res.status, 200);
      assert.deepEqual(
        (res.body.Resources as { id: string }[]).map((s) => s.id).sort(),
        [URN.user, URN.group, URN.enterprise, URN.apps].sort(),
      );
      const user = await request(ctx.app)
        .get(`/scim/v2/Schemas/${URN.user}`)
        .set(tenant.auth);
      assert.equal(user.status, 200);
      assert.equal(user.body.id, URN.user);
      const userName = (user.body.attributes as Record<string, unknown>[]).find(
        (a) => a.name === "userName",
      );
      assert.deepEqual(
        [userName?.required, userName?.caseExact, userName?.uniqueness],
        [true, false, "server"],
      );
      const unknown = await request(ctx.app)
        .get("/scim/v2/Schemas/urn:example:nope")
        .set(tenant.auth);
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body.schemas, [URN.error]);
    });
    it("answers itemsPerPage equal to the resources returned on /ResourceTypes and /Schemas", async () => {
      for (const path of ["/scim/v2/ResourceTypes", "/scim/v2/Schemas"]) {
        const res = await request(ctx.app).get(path).set(tenant.auth);
        assert.equal(res.body.itemsPerPage, res.body.Resources.length, path);
        assert.equal(res.body.totalResults, res.body.Resources.length, path);
      }
    });

    it("needs a token for discovery too", async () => {
      const res = await request(ctx.app).get("/scim/v2/ServiceProviderConfig");
      assert.equal(res.status, 401);
      assert.deepEqual(res.body.schemas, [URN.error]);
    });
  });

  describe("unknown endpoints and methods", () => {
    it("answers 404 with a SCIM error body for an unknown endpoint", async () => {
      const res = await request(ctx.app)
        .get("/scim/v2/Devices")
        .set(tenant.auth);
      assert.equal(res.status, 404);
      assert.match(
        String(res.headers["content-type"]),
        /application\/scim\+json/,
      );
      assert.deepEqual(res.body.schemas, [URN.error]);
      assert.equal(res.body.status, "404");
    });

    it("answers 405 with a SCIM error body for a method the endpoint lacks", async () => {
      const user = await scim.createUser({ userName: "m" });
      for (const [method, path] of [
        ["put", "/scim/v2/Users"],
        ["delete", "/scim/v2/Users"],
        ["patch", "/scim/v2/Groups"],
        ["post", `/scim/v2/Users/${user.id}`],
      ] as const) {
        const agent = request(ctx.app);
        const res = await agent[method](path).set(tenant.auth).send({});
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.deepEqual(res.body.schemas, [URN.error]);
        assert.equal(res.body.status, "405");
      }
      assert.equal((await scim.rowCounts()).users, 1);
    });
    it("answers 405 with an Allow header for every endpoint's wrong methods", async () => {
      const cases: [
        method: "get" | "post" | "put",
        path: string,
        allow: RegExp,
      ][] = [
        ["put", "/scim/v2/Users", /GET.*POST|POST.*GET/],
        ["get", "/scim/v2/Bulk", /^POST$/],
        ["post", "/scim/v2/ServiceProviderConfig", /^GET$/],
        ["get", "/scim/v2/Users/.search", /^POST$/],
      ];
      for (const [method, path, allow] of cases) {
        const agent = request(ctx.app);
        const res = await agent[method](path).set(tenant.auth).send({});
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.match(String(res.headers.allow), allow, `${method} ${path}`);
      }
    });
  });
});
