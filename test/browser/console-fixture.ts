import assert from "node:assert/strict";
import type { FakeDropbox } from "../support/fake-dropbox.ts";
import { createScimClient, type ScimResource } from "../support/scim-client.ts";
import {
  createTestTenant,
  type TestContext,
  type TestTenant,
} from "../support/test-app.ts";

/** Dropbox on the fake: provision on create; suspend on deactivation and remove 30 days later. */
export function consolePolicy(dropboxUrl: string) {
  return {
    apps: [
      {
        id: "dropbox",
        connector: "dropbox",
        config: {
          baseUrl: dropboxUrl,
          token: { env: "DROPBOX_TEAM_TOKEN" },
          adminMemberId: "dbmid:admin",
        },
      },
    ],
    rules: [
      {
        id: "dropbox-join",
        on: "user.created",
        do: [
          {
            app: "dropbox",
            action: "provision",
            params: { sendWelcomeEmail: false },
          },
        ],
      },
      {
        id: "dropbox-leave",
        on: "user.deactivated",
        do: [
          { app: "dropbox", action: "suspend", params: { wipeData: true } },
          { app: "dropbox", action: "remove", after: "30d" },
        ],
      },
    ],
  };
}

/** A tenant for the console tests: one user deactivated cleanly, one whose suspend failed. */
export interface ConsoleScenario {
  tenant: TestTenant;
  /** Deactivated; suspended in Dropbox, removal pending in 30 days. */
  ada: ScimResource;
  /** Deactivated; Dropbox refused the suspend (403), so it is on the Failed page. */
  bob: ScimResource;
  failedActionId: string;
}

/** Creates a user through SCIM with a work e-mail and lets the worker provision it. */
export async function hire(
  ctx: TestContext,
  tenant: TestTenant,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<ScimResource> {
  const email = `${name}-${tenant.name}@example.com`;
  const user = await createScimClient(ctx, tenant).createUser({
    userName: email,
    emails: [{ type: "work", value: email, primary: true }],
    ...extra,
  });
  await ctx.services.worker.runUntilIdle();
  return user;
}

/** Deactivates a user through SCIM (as Okta does), then runs the worker after `delayMs`. */
export async function deactivate(
  ctx: TestContext,
  tenant: TestTenant,
  user: ScimResource,
  delayMs = 0,
): Promise<void> {
  const res = await createScimClient(ctx, tenant).patch("Users", user.id, [
    { op: "replace", path: "active", value: false },
  ]);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  if (delayMs) ctx.clock.advance(delayMs);
  await ctx.services.worker.runUntilIdle();
}

/** Seeds the scenario on a fresh tenant of `ctx` against the fake Dropbox. */
export async function seedConsoleScenario(
  ctx: TestContext,
  dropbox: FakeDropbox,
): Promise<ConsoleScenario> {
  const tenant = await createTestTenant(ctx);
  await ctx.services.policies.apply(tenant.id, consolePolicy(dropbox.url), {
    source: "api",
  });
  const ada = await hire(ctx, tenant, "ada", {
    displayName: "Ada Lovelace",
    name: { givenName: "Ada", familyName: "Lovelace" },
  });
  const bob = await hire(ctx, tenant, "bob", {
    displayName: "Bob Failing",
    name: { givenName: "Bob", familyName: "Failing" },
  });
  await deactivate(ctx, tenant, ada, 1_200);
  // Dropbox answers the suspend with 403 (a bad team token): misconfigured, so dead-lettered.
  dropbox.failNext(403);
  await deactivate(ctx, tenant, bob);
  const failed = await ctx
    .knex("actions")
    .where({ tenant_id: tenant.id, user_id: bob.id, state: "failed" })
    .select<{ id: string }[]>("id");
  assert.equal(failed.length, 1, "bob's suspend failed");
  return { tenant, ada, bob, failedActionId: failed[0]!.id };
}
