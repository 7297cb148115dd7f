import type { Knex } from "knex";
import type { Clock } from "../clock.ts";
import { inTransaction } from "../db/transaction.ts";
import { hashAuditEntry } from "../domain/audit-hash.ts";
import type { Logger } from "../logger.ts";
import {
  ensureAuditChainHead,
  lockAuditChainHead,
  updateAuditChainHead,
} from "../store/audit-chain-heads-store.ts";
import {
  hashContentOfAuditEntry,
  listTenantsWithUnsealedAuditEntries,
  listUnsealedAuditEntries,
  updateAuditEntrySeals,
  type AuditEntrySeal,
} from "../store/audit-store.ts";

/** How often an idle sealer looks for new audit entries (the chain lags writes by about this). */
export const AUDIT_SEAL_POLL_MS = 1_000;
/** Entries chained per transaction: bounds how long a tenant's head row stays locked. */
export const AUDIT_SEAL_BATCH_SIZE = 1_000;
/** Tenants visited per pass; one batch each, so a tenant with a backlog does not starve the rest. */
const TENANTS_PER_PASS = 1_000;

/** Chains committed audit entries into their tenant's hash chain, in the background or on demand. */
export interface AuditSealer {
  /** Starts the loop (processes that run the action worker). */
  start(): void;
  /** Seals until a pass finds nothing this process may seal (tests, CLI); returns how many. */
  sealUntilIdle(): Promise<number>;
  /** Seals one tenant's backlog; stops early when another process is sealing it. */
  sealTenant(tenantId: string): Promise<number>;
  /** Stops the loop after the pass in flight. */
  stop(): Promise<void>;
}

/**
 * Creates a sealer. Writers insert entries unsealed and never read the chain, so sealing adds no
 * lock or round trip to a SCIM write. Each batch runs under the tenant's head row, taken
 * `FOR UPDATE SKIP LOCKED`: sealers in several processes split the tenants between them, and
 * within a tenant the chain grows in one place only. An entry that commits after entries with
 * larger ids is chained when it becomes visible: chain order is visibility order, not id order.
 */
export function createAuditSealer(deps: {
  db: Knex;
  clock: Clock;
  logger: Logger;
  pollMs?: number;
  batchSize?: number;
}): AuditSealer {
  const { db, clock, logger } = deps;
  const pollMs = deps.pollMs ?? AUDIT_SEAL_POLL_MS;
  const batchSize = deps.batchSize ?? AUDIT_SEAL_BATCH_SIZE;
  const knownHeads = new Set<string>();
  let running = false;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  /** Seals one batch of a tenant: how many entries, or undefined when another sealer holds it. */
  async function sealBatch(tenantId: string): Promise<number | undefined> {
    if (!knownHeads.has(tenantId)) {
      // Outside the sealing transaction, so that two sealers never wait on each other's insert.
      await ensureAuditChainHead(db, tenantId, clock.now());
      knownHeads.add(tenantId);
    }
    return inTransaction(db, async (trx) => {
      const head = await lockAuditChainHead(trx, tenantId);
      if (!head) return undefined;
      // Read after the lock: a sealer that held it before us has committed, and READ COMMITTED
      // gives this statement a snapshot that sees its work.
      const entries = await listUnsealedAuditEntries(trx, tenantId, batchSize);
      if (entries.length === 0) return 0;
      let chainIndex = Number(head.last_index);
      let prevHash = head.last_hash;
      const seals: AuditEntrySeal[] = entries.map((entry) => {
        chainIndex += 1;
        const hash = hashAuditEntry(hashContentOfAuditEntry(entry), {
          chainIndex,
          prevHash,
        });
        const seal = { id: entry.id, chainIndex, prevHash, hash };
        prevHash = hash;
        return seal;
      });
      const sealed = await updateAuditEntrySeals(trx, tenantId, seals);
      if (sealed !== seals.length) {
        // Only possible if something bypassed the head lock; roll back rather than fork the chain.
        throw new Error(
          `sealed ${sealed} of ${seals.length} audit entries of tenant ${tenantId}`,
        );
      }
      await updateAuditChainHead(trx, tenantId, {
        lastIndex: chainIndex,
        lastHash: prevHash,
        at: clock.now(),
      });
      return sealed;
    });
  }

  /** One batch for each tenant with unsealed entries; a tenant that fails does not stop the rest. */
  async function sealPass(): Promise<{ sealed: number; errors: unknown[] }> {
    const tenants = await listTenantsWithUnsealedAuditEntries(
      db,
      TENANTS_PER_PASS,
    );
    let sealed = 0;
    const errors: unknown[] = [];
    for (const tenantId of tenants) {
      // Shutting down: the batch in flight commits, the other tenants wait for the next process.
      if (stopping) break;
      try {
        sealed += (await sealBatch(tenantId)) ?? 0;
      } catch (error) {
        errors.push(error);
        logger.warn("audit sealing failed for a tenant", {
          tenantId,
          error: (error as Error).message,
        });
      }
    }
    return { sealed, errors };
  }

  async function cycle(): Promise<void> {
    while (running) {
      let sealed = 0;
      try {
        sealed = (await sealPass()).sealed;
      } catch (error) {
        // Database down: keep trying; entries wait unsealed, nothing is lost.
        logger.warn("audit sealing failed", {
          error: (error as Error).message,
        });
      }
      if (sealed > 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      stopping = false;
      loop = cycle();
    },
    async sealUntilIdle() {
      let total = 0;
      for (;;) {
        const { sealed, errors } = await sealPass();
        if (errors.length > 0) throw errors[0];
        total += sealed;
        if (sealed === 0) return total;
      }
    },
    async sealTenant(tenantId) {
      let total = 0;
      for (;;) {
        const sealed = await sealBatch(tenantId);
        total += sealed ?? 0;
        if (!sealed) return total;
      }
    },
    async stop() {
      running = false;
      stopping = true;
      wake?.();
      await loop;
    },
  };
}
