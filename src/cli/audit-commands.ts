import { createWriteStream } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Option, type Command } from "commander";
import { stringify } from "csv-stringify";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { migrateToLatest } from "../db/migrate.ts";
import type { Database } from "../db/open-database.ts";
import { AppError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { createAuditSealer } from "../services/audit-sealer.ts";
import {
  createAuditService,
  parseAuditEventQuery,
  type AuditEvent,
} from "../services/audit-service.ts";
import type { ChainReport } from "../services/verify-audit-chain.ts";
import { findTenantByName, type TenantRow } from "../store/tenants-store.ts";
import { openConfiguredDatabase } from "./open-from-config.ts";

/** Exit code of `audit verify` when the chain is broken (1 is an unexpected error, 2 a bad request). */
export const AUDIT_CHAIN_BROKEN_EXIT_CODE = 3;

const CSV_COLUMNS = [
  "id",
  "occurredAt",
  "key",
  "resourceType",
  "resourceId",
  "actorTokenId",
  "requestId",
  "tenantId",
  "detail",
  "chainIndex",
  "prevHash",
  "hash",
] as const;

async function withTenant<T>(
  config: Config,
  name: string,
  work: (database: Database, tenant: TenantRow) => Promise<T>,
): Promise<T> {
  const database = await openConfiguredDatabase(config);
  try {
    await migrateToLatest(database.knex);
    const tenant = await findTenantByName(database.knex, name);
    if (!tenant) {
      throw new AppError("tenant.not_found", `no tenant named "${name}"`);
    }
    return await work(database, tenant);
  } finally {
    await database.close();
  }
}

async function* csvRecords(
  events: AsyncIterable<AuditEvent>,
): AsyncGenerator<Record<(typeof CSV_COLUMNS)[number], string>> {
  for await (const event of events) {
    yield {
      id: event.id,
      occurredAt: event.occurredAt,
      key: event.key,
      resourceType: event.resourceType ?? "",
      resourceId: event.resourceId ?? "",
      actorTokenId: event.actorTokenId ?? "",
      requestId: event.requestId ?? "",
      tenantId: event.tenantId,
      detail: JSON.stringify(event.detail),
      chainIndex: event.chain ? String(event.chain.index) : "",
      prevHash: event.chain?.prevHash ?? "",
      hash: event.chain?.hash ?? "",
    };
  }
}

async function* jsonLines(
  events: AsyncIterable<AuditEvent>,
): AsyncGenerator<string> {
  for await (const event of events) yield JSON.stringify(event) + "\n";
}

async function* counted<T>(
  items: AsyncIterable<T>,
  count: { n: number },
): AsyncGenerator<T> {
  for await (const item of items) {
    count.n += 1;
    yield item;
  }
}

function describeReport(tenant: string, report: ChainReport): string {
  const head = `${report.head.index}:${report.head.hash}`;
  const lines = report.ok
    ? [
        `audit chain of tenant ${tenant} is intact: ${report.checked} entries checked`,
      ]
    : [
        `audit chain of tenant ${tenant} is BROKEN at entry ${report.firstBroken!.index}` +
          `${report.firstBroken!.id ? ` (id ${report.firstBroken!.id})` : ""}: ${report.firstBroken!.reason}`,
        `  ${report.firstBroken!.message}`,
        `  ${report.checked} entries before it are intact`,
      ];
  lines.push(
    `head: ${head}`,
    report.ok
      ? "  record this head outside the database; pass it later as --anchor to detect a rewrite"
      : "  (the head as the database records it)",
  );
  if (report.anchor) {
    lines.push(
      `anchor ${report.anchor.index}:${report.anchor.hash} ${report.anchor.ok ? "matches" : "does NOT match"}`,
    );
  }
  if (report.unsealed > 0) {
    lines.push(`${report.unsealed} entries are not chained yet`);
  }
  return lines.join("\n") + "\n";
}

/** Adds `audit export` and `audit verify` to the command line. */
export function registerAuditCommands(
  program: Command,
  config: () => Config,
): void {
  const audit = program
    .command("audit")
    .description("export and verify a tenant's audit trail");

  audit
    .command("export")
    .description(
      "stream a tenant's audit entries in id order, with their chain fields",
    )
    .requiredOption("--tenant <name>", "tenant")
    .option("--since <iso>", "entries at or after this time (ISO 8601)")
    .option("--until <iso>", "entries before this time (ISO 8601)")
    .addOption(
      new Option("--format <format>", "output format")
        .choices(["csv", "jsonl"])
        .default("jsonl"),
    )
    .option("--output <file>", "write to this file instead of stdout")
    .action(
      async (options: {
        tenant: string;
        since?: string;
        until?: string;
        format: "csv" | "jsonl";
        output?: string;
      }) => {
        await withTenant(config(), options.tenant, async (database, tenant) => {
          const service = createAuditService({ knex: database.knex });
          const query = {
            ...(options.since !== undefined ? { since: options.since } : {}),
            ...(options.until !== undefined ? { until: options.until } : {}),
          };
          // Refuse bad filters before an output file is created.
          parseAuditEventQuery(query);
          const count = { n: 0 };
          const events = counted(service.exportEvents(tenant.id, query), count);
          const toFile = options.output !== undefined;
          const output: Writable = toFile
            ? createWriteStream(options.output!)
            : process.stdout;
          // Readable.from pulls one entry at a time: a page of entries is in memory, never the trail.
          if (options.format === "csv") {
            await pipeline(
              Readable.from(csvRecords(events)),
              stringify({ header: true, columns: [...CSV_COLUMNS] }),
              output,
              { end: toFile },
            );
          } else {
            await pipeline(Readable.from(jsonLines(events)), output, {
              end: toFile,
            });
          }
          if (toFile) {
            process.stdout.write(
              `exported ${count.n} entries of tenant ${tenant.name} to ${options.output}\n`,
            );
          }
        });
      },
    );

  audit
    .command("verify")
    .description(
      `check a tenant's hash chain; exits ${AUDIT_CHAIN_BROKEN_EXIT_CODE} and names the first broken link when it does not hold`,
    )
    .requiredOption("--tenant <name>", "tenant")
    .option(
      "--anchor <index:hash>",
      "a head recorded earlier (as verify prints it): the chain must still hold it",
    )
    .option(
      "--no-seal",
      "do not chain pending entries first (read-only, e.g. on a replica)",
    )
    .option("--json", "print JSON")
    .action(
      async (options: {
        tenant: string;
        anchor?: string;
        seal: boolean;
        json?: boolean;
      }) => {
        const report = await withTenant(
          config(),
          options.tenant,
          async (database, tenant) => {
            if (options.seal) {
              // Entries of a server that stopped before its sealer ran, or written since.
              await createAuditSealer({
                db: database.knex,
                clock: systemClock,
                logger: createLogger({ level: "warn" }),
              }).sealTenant(tenant.id);
            }
            return createAuditService({ knex: database.knex }).verify(
              tenant.id,
              options.anchor,
            );
          },
        );
        process.stdout.write(
          options.json
            ? JSON.stringify(report, null, 2) + "\n"
            : describeReport(options.tenant, report),
        );
        if (!report.ok) process.exitCode = AUDIT_CHAIN_BROKEN_EXIT_CODE;
      },
    );
}
