import {
  createHash,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from "node:crypto";
import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction, withDbErrors } from "../db/transaction.ts";
import {
  isScope,
  SCOPES,
  type Principal,
  type Scope,
} from "../domain/scopes.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import {
  countTenants,
  findTenantByName,
  insertTenant,
  listTenants,
  type TenantRow,
} from "../store/tenants-store.ts";
import {
  findTokenByDigest,
  findTokenById,
  insertToken,
  listTokensByTenant,
  updateTokenExpiresAtById,
  updateTokenLastUsedById,
  updateTokenRevokedById,
  type TokenRow,
} from "../store/tokens-store.ts";
import { insertAuditEntry } from "../store/audit-store.ts";

/** Recognisable prefix so leaked tokens can be found by secret scanners. */
export const TOKEN_PREFIX = "scl_";
const TOKEN_BYTES = 32; // 256 bits of entropy
const AUTH_CACHE_TTL_MS = 5_000;
const AUTH_CACHE_MAX_ENTRIES = 10_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;
export const DEFAULT_TENANT = "default";

/** SHA-256 of a token secret: the only form we store. */
export function digestToken(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** A freshly minted token: the secret is shown once and never stored. */
export interface IssuedToken {
  secret: string;
  token: TokenRow;
}

/** Parses `scim:read,scim:write` into scopes, rejecting unknown ones. */
export function parseScopes(text: string): Scope[] {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = parts.filter((p) => !isScope(p));
  if (unknown.length > 0 || parts.length === 0) {
    throw new AppError(
      "request.invalid",
      `unknown scope(s) ${unknown.join(", ") || "(none given)"}; use ${SCOPES.join(", ")}`,
    );
  }
  return [...new Set(parts)] as Scope[];
}

/** Tenants and bearer tokens: issue, list, revoke, authenticate. */
export function createTokensService(deps: {
  knex: Knex;
  clock: Clock;
  logger: Logger;
}) {
  const { knex, clock, logger } = deps;
  const cache = new Map<
    string,
    { principal: Principal; expiresAt: Date | null; until: number }
  >();
  const lastUsedWritten = new Map<string, number>();

  async function ensureTenant(
    trx: Knex.Transaction,
    name: string,
  ): Promise<TenantRow> {
    const existing = await findTenantByName(trx, name);
    if (existing) return existing;
    const row = { id: randomUUID(), name, created_at: clock.now() };
    await insertTenant(trx, row);
    return row;
  }

  async function issue(
    trx: Knex.Transaction,
    tenant: TenantRow,
    input: {
      name: string;
      scopes: Scope[];
      expiresAt?: Date | null;
      secret?: string;
    },
  ): Promise<IssuedToken> {
    const secret =
      input.secret ??
      TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString("base64url");
    const token = {
      id: randomUUID(),
      tenant_id: tenant.id,
      name: input.name,
      prefix: secret.slice(0, TOKEN_PREFIX.length + 6),
      digest: digestToken(secret),
      scopes: input.scopes,
      created_at: clock.now(),
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
    };
    await insertToken(trx, token);
    return { secret, token: { ...token, last_used_at: null } };
  }

  return {
    /** Creates a tenant; fails when the name is taken. */
    async createTenant(name: string): Promise<TenantRow> {
      if (!/^[a-z0-9][a-z0-9-_.]{0,62}$/i.test(name)) {
        throw new AppError(
          "request.invalid",
          "tenant names are 1-63 letters, digits, - _ or .",
        );
      }
      return inTransaction(knex, async (trx) => {
        if (await findTenantByName(trx, name)) {
          throw new AppError(
            "tenant.already_exists",
            `tenant "${name}" already exists`,
          );
        }
        const row = { id: randomUUID(), name, created_at: clock.now() };
        await insertTenant(trx, row);
        return row;
      });
    },

    /** Lists tenants. */
    listTenants: () => withDbErrors(() => listTenants(knex)),

    /** Issues a token for a tenant; the secret is returned once. */
    async createToken(input: {
      tenant: string;
      name?: string;
      scopes: Scope[];
      expiresAt?: Date | null;
      /** Who asked (the CLI's actor); recorded in the `token.created` audit entry. */
      actor?: Pick<Principal, "tokenId" | "actor">;
    }): Promise<IssuedToken> {
      return inTransaction(knex, async (trx) => {
        const tenant = await findTenantByName(trx, input.tenant);
        if (!tenant)
          throw new AppError(
            "tenant.not_found",
            `tenant "${input.tenant}" not found`,
          );
        const issued = await issue(trx, tenant, {
          name: input.name ?? "token",
          ...input,
        });
        await insertAuditEntry(trx, {
          tenant_id: tenant.id,
          occurred_at: clock.now(),
          actor_token_id: input.actor?.tokenId ?? null,
          key: "token.created",
          resource_type: "Token",
          resource_id: issued.token.id,
          request_id: null,
          detail: {
            name: issued.token.name,
            prefix: issued.token.prefix,
            scopes: issued.token.scopes,
            expiresAt: issued.token.expires_at,
            ...(input.actor?.actor ? { actor: input.actor.actor } : {}),
          },
        });
        return issued;
      });
    },

    /** Lists a tenant's tokens (never their secrets). */
    async listTokens(tenantName: string): Promise<TokenRow[]> {
      const tenant = await withDbErrors(() =>
        findTenantByName(knex, tenantName),
      );
      if (!tenant)
        throw new AppError(
          "tenant.not_found",
          `tenant "${tenantName}" not found`,
        );
      return withDbErrors(() => listTokensByTenant(knex, tenant.id));
    },

    /** Revokes a token by id; it stops working at once in this process, within seconds in others. */
    async revokeToken(
      id: string,
      options: { actor?: Pick<Principal, "tokenId" | "actor"> } = {},
    ): Promise<void> {
      const revoked = await inTransaction(knex, async (trx) => {
        const token = await findTokenById(trx, id);
        const now = clock.now();
        if (!token || !(await updateTokenRevokedById(trx, id, now)))
          return false;
        await insertAuditEntry(trx, {
          tenant_id: token.tenant_id,
          occurred_at: now,
          actor_token_id: options.actor?.tokenId ?? null,
          key: "token.revoked",
          resource_type: "Token",
          resource_id: token.id,
          request_id: null,
          detail: {
            name: token.name,
            prefix: token.prefix,
            ...(options.actor?.actor ? { actor: options.actor.actor } : {}),
          },
        });
        return true;
      });
      if (!revoked)
        throw new AppError("token.not_found", `no live token with id ${id}`);
      for (const [key, entry] of cache) {
        if (entry.principal.tokenId === id) cache.delete(key);
      }
    },

    /**
     * Issues a successor of a live token (same tenant, name and scopes) and lets the old one work
     * for `graceMs` more, or until its own expiry if that comes sooner. The successor keeps the old
     * token's lifetime unless `expiresAt` is given. Audited as `token.rotated`.
     */
    async rotateToken(
      id: string,
      options: {
        graceMs: number;
        expiresAt?: Date | null;
        actor?: Pick<Principal, "tokenId" | "actor">;
      },
    ): Promise<{ issued: IssuedToken; previous: TokenRow }> {
      const rotated = await inTransaction(knex, async (trx) => {
        // Locked so that two rotations of one token cannot both issue a successor.
        const old = await findTokenById(trx, id, { forUpdate: true });
        const now = clock.now();
        if (!old || old.revoked_at || (old.expires_at && old.expires_at <= now))
          throw new AppError("token.not_found", `no live token with id ${id}`);
        const tenant = (await findTenantByName(trx, old.tenant_name))!;
        const graceEnd = new Date(now.getTime() + options.graceMs);
        const oldExpiresAt =
          old.expires_at && old.expires_at < graceEnd
            ? old.expires_at
            : graceEnd;
        const expiresAt =
          options.expiresAt !== undefined
            ? options.expiresAt
            : old.expires_at
              ? new Date(
                  now.getTime() +
                    (old.expires_at.getTime() - old.created_at.getTime()),
                )
              : null;
        await updateTokenExpiresAtById(trx, id, oldExpiresAt);
        const issued = await issue(trx, tenant, {
          name: old.name,
          scopes: old.scopes.filter(isScope),
          expiresAt,
        });
        await insertAuditEntry(trx, {
          tenant_id: tenant.id,
          occurred_at: now,
          actor_token_id: options.actor?.tokenId ?? null,
          key: "token.rotated",
          resource_type: "Token",
          resource_id: old.id,
          request_id: null,
          detail: {
            name: old.name,
            scopes: old.scopes,
            graceMs: options.graceMs,
            previousExpiresAt: old.expires_at,
            expiresAt: oldExpiresAt,
            successorId: issued.token.id,
            successorPrefix: issued.token.prefix,
            successorExpiresAt: expiresAt,
            ...(options.actor?.actor ? { actor: options.actor.actor } : {}),
          },
        });
        const previous: TokenRow = {
          id: old.id,
          tenant_id: old.tenant_id,
          name: old.name,
          prefix: old.prefix,
          digest: old.digest,
          scopes: old.scopes,
          created_at: old.created_at,
          expires_at: oldExpiresAt,
          revoked_at: old.revoked_at,
          last_used_at: old.last_used_at,
        };
        return { issued, previous };
      });
      // This process sees the new expiry at once; others within the cache's few seconds.
      for (const [key, entry] of cache) {
        if (entry.principal.tokenId === id) cache.delete(key);
      }
      return rotated;
    },

    /**
     * Makes sure a working endpoint exists at start: the bootstrap token (when configured) on the
     * `default` tenant with every scope, or, on an empty database, a fresh token to print once.
     */
    async ensureBootstrap(
      bootstrapSecret?: string,
    ): Promise<IssuedToken | undefined> {
      return inTransaction(knex, async (trx) => {
        if (bootstrapSecret) {
          const tenant = await ensureTenant(trx, DEFAULT_TENANT);
          const existing = await findTokenByDigest(
            trx,
            digestToken(bootstrapSecret),
          );
          if (existing) return undefined;
          await issue(trx, tenant, {
            name: "bootstrap",
            scopes: [...SCOPES],
            secret: bootstrapSecret,
          });
          return undefined;
        }
        if ((await countTenants(trx)) > 0) return undefined;
        const tenant = await ensureTenant(trx, DEFAULT_TENANT);
        return issue(trx, tenant, { name: "initial", scopes: [...SCOPES] });
      });
    },

    /** Resolves a bearer secret to its principal, or undefined when unknown, revoked or expired. */
    async authenticate(secret: string): Promise<Principal | undefined> {
      const digest = digestToken(secret);
      const key = digest.toString("base64");
      const now = clock.now();
      const cached = cache.get(key);
      if (cached && cached.until > Date.now()) {
        if (cached.expiresAt && cached.expiresAt <= now) return undefined;
        return cached.principal;
      }
      const row = await withDbErrors(() => findTokenByDigest(knex, digest));
      if (!row || row.revoked_at || !timingSafeEqual(row.digest, digest)) {
        cache.delete(key);
        return undefined;
      }
      if (row.expires_at && row.expires_at <= now) return undefined;
      const principal: Principal = {
        tenantId: row.tenant_id,
        tenantName: row.tenant_name,
        tokenId: row.id,
        scopes: row.scopes.filter(isScope),
      };
      if (cache.size >= AUTH_CACHE_MAX_ENTRIES) cache.clear();
      cache.set(key, {
        principal,
        expiresAt: row.expires_at,
        until: Date.now() + AUTH_CACHE_TTL_MS,
      });
      const last = lastUsedWritten.get(row.id) ?? 0;
      if (Date.now() - last > LAST_USED_WRITE_INTERVAL_MS) {
        lastUsedWritten.set(row.id, Date.now());
        updateTokenLastUsedById(knex, row.id, now).catch((error: unknown) =>
          logger.warn("could not record token use", {
            tokenId: row.id,
            error: String(error),
          }),
        );
      }
      return principal;
    },
  };
}

/** The tokens service's interface. */
export type TokensService = ReturnType<typeof createTokensService>;
