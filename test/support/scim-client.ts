import assert from "node:assert/strict";
import request from "supertest";
import {
  createTestContext,
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "./test-app.ts";

/** SCIM URNs the HTTP tests send and expect. */
export const URN = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterprise: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
  apps: "urn:scim-lifecycle:schemas:extension:apps:2.0:User",
  patchOp: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
  listResponse: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  searchRequest: "urn:ietf:params:scim:api:messages:2.0:SearchRequest",
  bulkRequest: "urn:ietf:params:scim:api:messages:2.0:BulkRequest",
  bulkResponse: "urn:ietf:params:scim:api:messages:2.0:BulkResponse",
  error: "urn:ietf:params:scim:api:messages:2.0:Error",
} as const;

/** A SCIM resource as a response body carries it. */
export type ScimResource = Record<string, unknown> & { id: string };

/** How many rows of each table belong to a tenant. */
export interface TenantRowCounts {
  users: number;
  groups: number;
  members: number;
  audit: number;
  events: number;
}

/** Small helpers for one tenant: create resources, send PatchOps, read events and row counts. */
export function createScimClient(ctx: TestContext, tenant: TestTenant) {
  const app = ctx.app;
  return {
    async createUser(body: Record<string, unknown>): Promise<ScimResource> {
      const res = await request(app)
        .post("/scim/v2/Users")
        .set(tenant.auth)
        .send({ schemas: [URN.user], ...body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as ScimResource;
    },

    async createGroup(
      displayName: string,
      memberIds: string[] = [],
    ): Promise<ScimResource> {
      const res = await request(app)
        .post("/scim/v2/Groups")
        .set(tenant.auth)
        .send({
          schemas: [URN.group],
          displayName,
          members: memberIds.map((value) => ({ value })),
        });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as ScimResource;
    },

    patch(type: "Users" | "Groups", id: string, operations: unknown[]) {
      return request(app)
        .patch(`/scim/v2/${type}/${id}`)
        .set(tenant.auth)
        .send({ schemas: [URN.patchOp], Operations: operations });
    },

    async get(type: "Users" | "Groups", id: string): Promise<ScimResource> {
      const res = await request(app)
        .get(`/scim/v2/${type}/${id}`)
        .set(tenant.auth);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as ScimResource;
    },

    async memberIds(groupId: string): Promise<string[]> {
      const group = await this.get("Groups", groupId);
      const members = (group.members ?? []) as { value: string }[];
      return members.map((m) => m.value).sort();
    },

    /** Lifecycle event types of the tenant in order, optionally of one resource. */
    async eventTypes(resourceId?: string): Promise<string[]> {
      const query = ctx
        .knex("lifecycle_events")
        .where({ tenant_id: tenant.id });
      if (resourceId) query.andWhere({ resource_id: resourceId });
      const rows = await query.orderBy("id");
      return rows.map((r: { type: string }) => r.type);
    },

    async rowCounts(): Promise<TenantRowCounts> {
      const count = async (table: string) => {
        const [row] = await ctx
          .knex(table)
          .where({ tenant_id: tenant.id })
          .count<{ count: string }[]>({ count: "*" });
        return Number(row!.count);
      };
      return {
        users: await count("users"),
        groups: await count("groups"),
        members: await count("group_members"),
        audit: await count("audit_entries"),
        events: await count("lifecycle_events"),
      };
    },
  };
}

/** The helpers' interface. */
export type ScimClient = ReturnType<typeof createScimClient>;

/**
 * Registers the hooks every HTTP test file repeats: one app per file (`onContext`), a fresh tenant
 * and SCIM client per test (`onTenant`), and closing the database afterwards.
 */
export function useTestTenantPerTest(
  onContext: (ctx: TestContext) => void,
  onTenant: (tenant: TestTenant, scim: ScimClient) => void,
): void {
  let ctx: TestContext | undefined;
  before(async () => {
    ctx = await createTestContext();
    onContext(ctx);
  });
  after(async () => {
    await ctx?.close();
  });
  beforeEach(async () => {
    const tenant = await createTestTenant(ctx!);
    onTenant(tenant, createScimClient(ctx!, tenant));
  });
}
