import { createHash } from "node:crypto";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import {
  compilePolicy,
  tenantPolicySchema,
  type CompiledPolicy,
  type PolicyProblem,
} from "../domain/policy.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import { AppError } from "../errors.ts";
import { createShortLivedCache } from "../short-lived-cache.ts";
import type { Logger } from "../logger.ts";
import {
  findLatestPolicyVersion,
  insertPolicyVersion,
} from "../store/policy-versions-store.ts";
import type { AppConnectors } from "./app-connectors.ts";

/** How long a process may plan with a policy before checking for a newer version. */
const POLICY_REFRESH_MS = 2_000;

/** Tenants' policies: validate, apply (a new version), and the current compiled one. */
export function createPolicyService(deps: {
  knex: Knex;
  clock: Clock;
  logger: Logger;
  appConnectors: AppConnectors;
  schemas: { user: ResourceSchema; group: ResourceSchema };
}) {
  const { knex, clock, appConnectors, schemas } = deps;
  const policies = createShortLivedCache<CompiledPolicy | undefined>({
    ttlMs: POLICY_REFRESH_MS,
    maxEntries: 10_000,
  });
  const hasAny = createShortLivedCache<boolean>({
    ttlMs: POLICY_REFRESH_MS,
    maxEntries: 10_000,
  });

  function compile(
    document: unknown,
    version: number,
    pathPrefix?: string,
  ): CompiledPolicy | PolicyProblem[] {
    const result = compilePolicy(document, {
      version,
      catalog: (app) => appConnectors.catalogEntry(app),
      schemas,
      ...(pathPrefix ? { pathPrefix } : {}),
    });
    return "policy" in result ? result.policy : result.problems;
  }

  async function load(
    tenantId: string,
    db: Knex | Knex.Transaction,
  ): Promise<CompiledPolicy | undefined> {
    const row = await findLatestPolicyVersion(db, tenantId);
    if (!row) return undefined;
    const compiled = compile(row.document, row.version);
    if (Array.isArray(compiled)) {
      // A stored version went bad (an environment variable disappeared): plan nothing rather
      // than guess, and say so loudly. `policy validate` shows the problems.
      deps.logger.error("stored policy does not compile; no actions planned", {
        tenantId,
        version: row.version,
        problems: compiled,
      });
      return undefined;
    }
    return compiled;
  }

  return {
    /** Every problem of a policy document, without storing anything ([] when valid). */
    validate(document: unknown, pathPrefix?: string): PolicyProblem[] {
      const compiled = compile(document, 0, pathPrefix);
      return Array.isArray(compiled) ? compiled : [];
    },

    /** Compiles a draft document for a dry run (version 0), or throws policy.invalid. */
    compileDraft(document: unknown): CompiledPolicy {
      const compiled = compile(document, 0);
      if (Array.isArray(compiled)) throw invalid(compiled);
      return compiled;
    },

    /**
     * Stores the document as the tenant's next policy version, unless it equals the current one.
     * Invalid documents are refused with every problem listed.
     */
    async apply(
      tenantId: string,
      document: unknown,
      origin: { source: "file" | "api" | "cli"; tokenId?: string | null },
    ): Promise<{ version: number; changed: boolean }> {
      const parsed = tenantPolicySchema.safeParse(document);
      const compiled = compile(document, 0);
      if (Array.isArray(compiled) || !parsed.success) {
        throw invalid(Array.isArray(compiled) ? compiled : []);
      }
      const digest = createHash("sha256")
        .update(canonicalJson(parsed.data))
        .digest("hex");
      const latest = await findLatestPolicyVersion(knex, tenantId);
      if (latest?.digest === digest) {
        return { version: latest.version, changed: false };
      }
      const version = await insertPolicyVersion(knex, {
        tenant_id: tenantId,
        document: parsed.data as unknown as Record<string, unknown>,
        digest,
        source: origin.source,
        created_at: clock.now(),
        created_by_token_id: origin.tokenId ?? null,
      });
      policies.forget(tenantId);
      hasAny.forget(tenantId);
      return { version, changed: true };
    },

    /**
     * The tenant's current policy, compiled; undefined when it has none. Inside a transaction,
     * pass it: the embedded database has a single connection.
     */
    current(
      tenantId: string,
      db: Knex | Knex.Transaction = knex,
    ): Promise<CompiledPolicy | undefined> {
      return policies.get(tenantId, () => load(tenantId, db), true);
    },

    /**
     * True once the tenant has had any policy version (then it may have app states and actions);
     * cached like `current`. Policy versions are never deleted.
     */
    hasLifecycle(tenantId: string): Promise<boolean> {
      return hasAny.get(
        tenantId,
        async () =>
          (await findLatestPolicyVersion(knex, tenantId)) !== undefined,
        true,
      );
    },

    /** The stored document of the tenant's current version. */
    async currentDocument(
      tenantId: string,
    ): Promise<{ version: number; document: unknown } | undefined> {
      const row = await findLatestPolicyVersion(knex, tenantId);
      return row ? { version: row.version, document: row.document } : undefined;
    },

    /** The apps of the tenant's current policy version, without their config (it names secrets). */
    async listApps(
      tenantId: string,
    ): Promise<{ version: number; apps: AppSummary[] }> {
      const row = await findLatestPolicyVersion(knex, tenantId);
      if (!row) return { version: 0, apps: [] };
      const parsed = tenantPolicySchema.safeParse(row.document);
      const apps = parsed.success ? parsed.data.apps : [];
      return {
        version: row.version,
        apps: apps.map((app) => ({
          id: app.id,
          connector: app.connector,
          rateLimit: app.rateLimit ?? null,
          maxAttempts: app.maxAttempts,
          jobTimeout: app.jobTimeout,
        })),
      };
    },
  };
}

/** An app of a tenant's policy as operators list it: never its config. */
export interface AppSummary {
  id: string;
  connector: string;
  rateLimit: { perMinute: number; burst?: number } | null;
  maxAttempts: number;
  jobTimeout: string;
}

/** The policy service's interface. */
export type PolicyService = ReturnType<typeof createPolicyService>;

function invalid(problems: PolicyProblem[]): AppError {
  return new AppError(
    "policy.invalid",
    `The policy has ${problems.length} problem(s): ${problems
      .map((p) => `${p.path}: ${p.message}`)
      .join("; ")}`,
    { problems },
  );
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map(
        (k) =>
          `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`,
      )
      .join(",")}}`;
  }
  return JSON.stringify(value);
}
