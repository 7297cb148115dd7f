import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";

/** The previous hash of a tenant's first chained entry: 32 zero bytes, in hex. */
export const GENESIS_HASH = "0".repeat(64);

/** An audit entry's content as the chain hashes it (and as the auditor API and exports show it). */
export interface AuditHashContent {
  /** bigint id, as a decimal string (ids may outgrow JavaScript numbers). */
  id: string;
  tenantId: string;
  /** UTC, microseconds: `2026-03-01T09:00:00.123456Z` (PostgreSQL keeps microseconds). */
  occurredAt: string;
  actorTokenId: string | null;
  key: string;
  resourceType: string | null;
  resourceId: string | null;
  requestId: string | null;
  detail: unknown;
}

/** A sealed entry's place in its tenant's chain. */
export interface AuditChainLink {
  chainIndex: number;
  /** Lower-case hex SHA-256. */
  prevHash: string;
}

/** The exact text hashed for one chained entry (canonical JSON, see canonicalJson). */
export function auditHashInput(
  content: AuditHashContent,
  link: AuditChainLink,
): string {
  return canonicalJson({
    actorTokenId: content.actorTokenId,
    chainIndex: link.chainIndex,
    detail: content.detail,
    id: content.id,
    key: content.key,
    occurredAt: content.occurredAt,
    prevHash: link.prevHash,
    requestId: content.requestId,
    resourceId: content.resourceId,
    resourceType: content.resourceType,
    tenantId: content.tenantId,
  });
}

/**
 * SHA-256 (hex) of an entry chained after `prevHash` at `chainIndex`. The index and the previous
 * hash are inside the hashed text, so an entry cannot be moved, dropped or replaced without
 * breaking the link of every entry after it.
 */
export function hashAuditEntry(
  content: AuditHashContent,
  link: AuditChainLink,
): string {
  return createHash("sha256")
    .update(auditHashInput(content, link), "utf8")
    .digest("hex");
}
