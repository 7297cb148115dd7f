import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { parse } from "csv-parse";
import type { Knex } from "knex";
import { coerceStoredResource } from "../domain/coerce-resource.ts";
import type { ResourceSchema } from "../domain/scim-schema.ts";
import type { Principal } from "../domain/scopes.ts";
import { isAppError } from "../errors.ts";
import { etagOf, fromDomain } from "../services/domain-errors.ts";
import type { UsersService } from "../services/users-service.ts";
import type { WriteContext } from "../services/write-context.ts";
import {
  findExistingUserIds,
  findUserById,
  findUsersByUserNamesOrExternalIds,
  isUuid,
  type UserRow,
} from "../store/users-store.ts";
import {
  applyRow,
  parseHeader,
  readRow,
  sameResource,
  type ImportHeader,
  type ImportRow,
  type RowFailure,
} from "./import-row.ts";
import { UsageError } from "./exit-codes.ts";
import { matchRows, type MatchedRow } from "./import-match.ts";

/** Rows matched against the database in one query, then written. */
const CHUNK_ROWS = 500;
/** Times a row is re-read and written again when someone else changed the user meanwhile. */
const MAX_WRITE_ATTEMPTS = 3;

/** How an import is going, or how it went. */
export interface ImportCounts {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
}

/** What `importUsers` reports as it goes. */
export interface ImportProgress extends ImportCounts {
  /** Rows finished (created, updated, unchanged or failed); `rows` counts rows read. */
  done: number;
  /** About how far into the file the finished rows reach, in bytes. */
  bytesDone: number;
}

/** The outcome of an import. */
export interface ImportSummary extends ImportCounts {
  elapsedMs: number;
  rowsPerSecond: number;
  /** The request id every audit entry of this import carries. */
  requestId: string;
  dryRun: boolean;
  /** Set when the import stopped early (the database went away): rows after it were not read. */
  aborted?: string;
}

/** What an import needs from the services. */
export interface ImportDeps {
  knex: Knex;
  users: UsersService;
  schema: ResourceSchema;
}

/** How to run an import. */
export interface ImportOptions {
  file: string;
  tenantId: string;
  principal: Principal;
  /** Writes in flight at once (1 on the embedded database, which has a single connection). */
  concurrency: number;
  /** Match and compare, but write nothing. */
  dryRun?: boolean;
  ignoreUnknownColumns?: boolean;
  onProgress?: (progress: ImportProgress) => void;
  onFailure?: (failure: RowFailure) => void;
}

type Prepared = MatchedRow;

class ImportAborted extends Error {}

/**
 * Creates or updates users from a CSV file through the users service, the same write path as
 * SCIM (events, audit entries and planned actions alike). Streams the file in chunks; each chunk
 * is matched with one query (userName ignoring case, else externalId), then written with a few
 * writes in flight. Rows that already match are not written at all, so a re-run changes nothing.
 * A row whose manager comes later in the file waits until that manager has been written.
 */
export async function importUsers(
  deps: ImportDeps,
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const requestId = `cli-import-${randomUUID()}`;
  const source = basename(options.file);
  const counts: ImportCounts = {
    rows: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    failed: 0,
  };
  // First line of each userName and externalId in the file: later ones are duplicates.
  const namesSeen = new Map<string, number>();
  const externalIdsSeen = new Map<string, number>();
  // Users this run wrote or found up to date, by lower-case userName: managers of later rows.
  const written = new Map<string, string>();
  // Existing users a row of this run is about, with that row's line.
  const targeted = new Map<string, number>();
  let waiting: Prepared[] = [];
  let bytesRead = 0;
  let aborted: string | undefined;

  const parser = createReadStream(options.file).pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      info: true,
      on_skip: (error) => {
        counts.rows++;
        fail({
          line: (error as { lines?: number } | undefined)?.lines ?? 0,
          userName: null,
          reason: error?.message ?? "not valid CSV",
        });
        return undefined;
      },
    }),
  );

  function report(): void {
    const done =
      counts.created + counts.updated + counts.unchanged + counts.failed;
    // Rows are read ahead of the writes; estimate the finished share from the average row size.
    const bytesPerRow = counts.rows > 0 ? bytesRead / counts.rows : 0;
    options.onProgress?.({
      ...counts,
      done,
      bytesDone: Math.round(Math.min(done * bytesPerRow, bytesRead)),
    });
  }

  function fail(failure: RowFailure): void {
    counts.failed++;
    options.onFailure?.(failure);
    report();
  }

  function contextOf(row: ImportRow, body: unknown): WriteContext {
    return {
      principal: options.principal,
      requestId,
      method: "CLI",
      path: `import ${source} line ${row.line}`,
      body,
    };
  }

  /** The manager's id, null when the row sets none, or undefined when not known yet. */
  function managerOf(
    row: ImportRow,
    found: { byName: Map<string, UserRow>; ids: Set<string> },
  ): string | null | undefined {
    const ref = row.values.manager;
    if (!ref) return null;
    if (isUuid(ref) && found.ids.has(ref.toLowerCase()))
      return ref.toLowerCase();
    const key = ref.toLowerCase();
    return written.get(key) ?? found.byName.get(key)?.id;
  }

  async function write(item: Prepared, managerId: string | null) {
    const { row } = item;
    let target = item.target;
    for (let attempt = 1; ; attempt++) {
      const body = applyRow(
        target?.resource,
        row,
        header!.present,
        managerId ?? undefined,
      );
      if (!target) {
        let id: string;
        if (options.dryRun) {
          fromDomain(() => coerceStoredResource(deps.schema, body));
          id = randomUUID();
        } else {
          id = (await deps.users.createUser(contextOf(row, body), body)).id;
        }
        written.set(row.userName.toLowerCase(), id);
        counts.created++;
        return;
      }
      const wanted = fromDomain(() => coerceStoredResource(deps.schema, body));
      if (sameResource(wanted, target.resource)) {
        written.set(row.userName.toLowerCase(), target.id);
        counts.unchanged++;
        return;
      }
      try {
        if (!options.dryRun) {
          // If-Match: an IdP's write between our read and this one is re-read, not overwritten.
          await deps.users.replaceUser(
            contextOf(row, body),
            target.id,
            body,
            etagOf(target.version),
          );
        }
        written.set(row.userName.toLowerCase(), target.id);
        counts.updated++;
        return;
      } catch (error) {
        if (
          !isAppError(error, "scim.version_mismatch") ||
          attempt >= MAX_WRITE_ATTEMPTS
        )
          throw error;
        target = await findUserById(deps.knex, options.tenantId, target.id);
        if (!target) throw error;
      }
    }
  }

  async function writeOne(item: Prepared, managerId: string | null) {
    try {
      await write(item, managerId);
      report();
    } catch (error) {
      // A refused row is the row's problem; anything else (the database went away) stops the run.
      if (isAppError(error) && error.status < 500) {
        fail({
          line: item.row.line,
          userName: item.row.userName,
          reason: error.message,
        });
      } else {
        aborted ??= `line ${item.row.line}: ${(error as Error).message}`;
      }
    }
  }

  /** Writes with `concurrency` lanes; returns once every write in flight has ended. */
  async function writeAll(items: [Prepared, string | null][]): Promise<void> {
    let next = 0;
    const lanes = Array.from(
      { length: Math.min(options.concurrency, items.length) },
      async () => {
        while (next < items.length && aborted === undefined) {
          const [item, managerId] = items[next++]!;
          await writeOne(item, managerId);
        }
      },
    );
    await Promise.all(lanes);
    if (aborted !== undefined) throw new ImportAborted(aborted);
  }

  /** Matches rows with existing users in one query, then writes those whose manager is known. */
  async function processChunk(rows: ImportRow[], final: boolean) {
    const managerRefs = [...rows, ...waiting.map((w) => w.row)]
      .map((r) => r.values.manager)
      .filter((m): m is string => !!m);
    const externalIds = rows
      .map((r) => r.values.externalId)
      .filter((e): e is string => !!e);
    const [existing, managerIds] = await Promise.all([
      findUsersByUserNamesOrExternalIds(
        deps.knex,
        options.tenantId,
        [...rows.map((r) => r.userName), ...managerRefs],
        externalIds,
      ),
      findExistingUserIds(
        deps.knex,
        options.tenantId,
        managerRefs.filter(isUuid).map((id) => id.toLowerCase()),
      ),
    ]);
    const { matched, failures } = matchRows(rows, existing, targeted);
    for (const failure of failures) fail(failure);
    const byName = new Map(existing.map((u) => [u.user_name.toLowerCase(), u]));
    let pool: Prepared[] = [...waiting, ...matched];
    // Waves: rows whose manager is known are written; their writes may make more managers known.
    const found = { byName, ids: managerIds };
    for (;;) {
      const ready: [Prepared, string | null][] = [];
      const blocked: Prepared[] = [];
      for (const item of pool) {
        const manager = managerOf(item.row, found);
        if (manager === undefined) blocked.push(item);
        else ready.push([item, manager]);
      }
      pool = blocked;
      if (ready.length === 0) break;
      await writeAll(ready);
    }
    waiting = pool;
    if (final) {
      for (const item of waiting) {
        fail({
          line: item.row.line,
          userName: item.row.userName,
          reason: `manager "${item.row.values.manager}" not found: no such user, and no row of the file that could be imported (or rows waiting for each other)`,
        });
      }
      waiting = [];
    }
  }

  let header: ImportHeader | undefined;
  let chunk: ImportRow[] = [];
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number; bytes: number };
    }>) {
      bytesRead = info.bytes;
      if (!header) {
        header = parseHeader(record, {
          ignoreUnknown: !!options.ignoreUnknownColumns,
        });
        continue;
      }
      counts.rows++;
      const row = readRow(record, info.lines, header);
      if (!("values" in row)) {
        fail(row);
        continue;
      }
      const duplicate = duplicateOf(row);
      if (duplicate) {
        fail({ line: row.line, userName: row.userName, reason: duplicate });
        continue;
      }
      chunk.push(row);
      if (chunk.length >= CHUNK_ROWS) {
        await processChunk(chunk, false);
        chunk = [];
      }
    }
    if (!header)
      throw new UsageError("the file is empty: expected a header row");
    await processChunk(chunk, true);
  } catch (error) {
    if (!(error instanceof ImportAborted)) {
      parser.destroy();
      throw error;
    }
    parser.destroy();
  }
  report();
  const elapsedMs = Math.round(performance.now() - started);
  return {
    ...counts,
    elapsedMs,
    rowsPerSecond:
      elapsedMs > 0 ? Math.round((counts.rows * 1000) / elapsedMs) : 0,
    requestId,
    dryRun: !!options.dryRun,
    ...(aborted !== undefined ? { aborted } : {}),
  };

  function duplicateOf(row: ImportRow): string | undefined {
    const name = row.userName.toLowerCase();
    const firstName = namesSeen.get(name);
    if (firstName !== undefined)
      return `duplicate userName "${row.userName}" (first on line ${firstName})`;
    const externalId = row.values.externalId;
    const firstExternal = externalId
      ? externalIdsSeen.get(externalId)
      : undefined;
    if (firstExternal !== undefined)
      return `duplicate externalId "${externalId}" (first on line ${firstExternal})`;
    namesSeen.set(name, row.line);
    if (externalId) externalIdsSeen.set(externalId, row.line);
    return undefined;
  }
}
