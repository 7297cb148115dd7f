import type { Db } from "../db/open-database.ts";
import { GENESIS_HASH, hashAuditEntry } from "../domain/audit-hash.ts";
import { findAuditChainHead } from "../store/audit-chain-heads-store.ts";
import {
  countUnsealedAuditEntries,
  findLastAuditChainIndex,
  hashContentOfAuditEntry,
  listChainedAuditEntries,
} from "../store/audit-store.ts";

/** Entries read per query while walking a chain. */
const VERIFY_PAGE_SIZE = 1_000;

/** Why a link of the chain does not hold. */
export type ChainBreakReason =
  | "missing"
  | "prev_hash_mismatch"
  | "hash_mismatch"
  | "head_mismatch"
  | "anchor_mismatch";

/** The first link of a chain that does not hold. */
export interface ChainBreak {
  /** Chain index of the first entry that fails (or is missing). */
  index: number;
  /** Its id; null when the entry is missing. */
  id: string | null;
  reason: ChainBreakReason;
  message: string;
  storedHash?: string;
  computedHash?: string;
  storedPrevHash?: string;
  expectedPrevHash?: string;
  /** For a missing entry: the id of the next entry still chained. */
  nextId?: string;
}

/** What a verification found. */
export interface ChainReport {
  ok: boolean;
  /** Entries whose links were checked before the first break (all of them when ok). */
  checked: number;
  /** The head as the database records it; an auditor keeps it to compare later (`anchor`). */
  head: { index: number; hash: string };
  firstBroken?: ChainBreak;
  /** Entries not chained yet (written in the last moments, or the sealer is not running). */
  unsealed: number;
  /** The result of comparing a head recorded earlier outside the database, when one was given. */
  anchor?: { index: number; hash: string; ok: boolean };
}

/** A head recorded earlier: the chain must still hold `hash` at `index`. */
export interface ChainAnchor {
  index: number;
  hash: string;
}

/**
 * Walks a tenant's chain from its first entry to the head read at the start, recomputing every
 * hash, and reports the first link that does not hold: an entry edited in place (its hash no longer
 * matches its content), removed (a gap in the indexes), or rewritten with a fresh hash (the next
 * entry's previous hash no longer matches). Entries chained while it runs are left for next time.
 */
export async function verifyAuditChain(
  db: Db,
  tenantId: string,
  options: { anchor?: ChainAnchor; pageSize?: number } = {},
): Promise<ChainReport> {
  const pageSize = options.pageSize ?? VERIFY_PAGE_SIZE;
  const anchor = options.anchor;
  const headRow = await findAuditChainHead(db, tenantId);
  const head = {
    index: Number(headRow?.last_index ?? 0),
    hash: headRow?.last_hash ?? GENESIS_HASH,
  };
  const unsealed = await countUnsealedAuditEntries(db, tenantId);
  const report = (checked: number, firstBroken?: ChainBreak): ChainReport => ({
    ok: !firstBroken,
    checked,
    head,
    ...(firstBroken ? { firstBroken } : {}),
    unsealed,
    ...(anchor
      ? {
          anchor: {
            ...anchor,
            ok: !firstBroken || firstBroken.reason !== "anchor_mismatch",
          },
        }
      : {}),
  });

  let expectedIndex = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  while (expectedIndex <= head.index) {
    const rows = await listChainedAuditEntries(db, tenantId, {
      afterIndex: expectedIndex - 1,
      throughIndex: head.index,
      limit: pageSize,
    });
    if (rows.length === 0) {
      return report(checked, {
        index: expectedIndex,
        id: null,
        reason: "missing",
        message: `entries ${expectedIndex} to ${head.index} are missing: the chain ends before its head`,
      });
    }
    for (const row of rows) {
      const index = Number(row.chain_index);
      if (index !== expectedIndex) {
        return report(checked, {
          index: expectedIndex,
          id: null,
          reason: "missing",
          message:
            index === expectedIndex + 1
              ? `entry ${expectedIndex} of the chain is missing (deleted, or its chain fields cleared)`
              : `entries ${expectedIndex} to ${index - 1} of the chain are missing`,
          nextId: row.id,
        });
      }
      if (row.prev_hash !== prevHash) {
        return report(checked, {
          index,
          id: row.id,
          reason: "prev_hash_mismatch",
          message: `entry ${index} (id ${row.id}) does not follow the entry before it: that entry was rewritten`,
          storedPrevHash: row.prev_hash ?? "",
          expectedPrevHash: prevHash,
        });
      }
      const computed = hashAuditEntry(hashContentOfAuditEntry(row), {
        chainIndex: index,
        prevHash,
      });
      if (computed !== row.hash) {
        return report(checked, {
          index,
          id: row.id,
          reason: "hash_mismatch",
          message: `entry ${index} (id ${row.id}) was changed after it was sealed: its content no longer matches its hash`,
          storedHash: row.hash ?? "",
          computedHash: computed,
        });
      }
      if (anchor && index === anchor.index && row.hash !== anchor.hash) {
        return report(checked, {
          index,
          id: row.id,
          reason: "anchor_mismatch",
          message: `entry ${index} (id ${row.id}) has hash ${row.hash}, not the recorded ${anchor.hash}: the chain was rewritten at or before it`,
          storedHash: row.hash ?? "",
        });
      }
      prevHash = computed;
      expectedIndex += 1;
      checked += 1;
    }
  }
  if (prevHash !== head.hash) {
    return report(checked, {
      index: head.index,
      id: null,
      reason: "head_mismatch",
      message: `the head records hash ${head.hash} for entry ${head.index}, but the chain computes ${prevHash}`,
      storedHash: head.hash,
      computedHash: prevHash,
    });
  }
  if (anchor && anchor.index > head.index) {
    return report(checked, {
      index: anchor.index,
      id: null,
      reason: "anchor_mismatch",
      message: `the chain ends at entry ${head.index}, before the recorded anchor ${anchor.index}: entries were removed from its end`,
    });
  }
  // Read the last index before the head again: a sealer commits both together, so in an intact
  // database the index never passes the head; when it does, the head was moved back or deleted.
  const lastIndex = await findLastAuditChainIndex(db, tenantId);
  const headNow = Number(
    (await findAuditChainHead(db, tenantId))?.last_index ?? 0,
  );
  if (lastIndex > headNow) {
    return report(checked, {
      index: headNow + 1,
      id: null,
      reason: "head_mismatch",
      message: `entries are chained up to ${lastIndex}, past the head at ${headNow}: the head was moved back or removed`,
    });
  }
  return report(checked);
}
