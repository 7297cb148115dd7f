import type { UserRow } from "../store/users-store.ts";
import type { ImportRow, RowFailure } from "./import-row.ts";

/** A row with the existing user it updates (undefined: it creates one). */
export interface MatchedRow {
  row: ImportRow;
  target: UserRow | undefined;
}

/**
 * Matches rows with the existing users found for them: by userName ignoring case, else by
 * externalId. Refuses rows that match two different users, an ambiguous externalId, a user
 * another row of the run already matched (`targeted`, updated here), and new users named as
 * their own manager.
 */
export function matchRows(
  rows: ImportRow[],
  existing: UserRow[],
  targeted: Map<string, number>,
): { matched: MatchedRow[]; failures: RowFailure[] } {
  const byName = new Map(existing.map((u) => [u.user_name.toLowerCase(), u]));
  const byExternalId = new Map<string, UserRow[]>();
  for (const user of existing) {
    if (user.external_id === null) continue;
    byExternalId.set(user.external_id, [
      ...(byExternalId.get(user.external_id) ?? []),
      user,
    ]);
  }
  const matched: MatchedRow[] = [];
  const failures: RowFailure[] = [];
  for (const row of rows) {
    const reject = (reason: string) =>
      failures.push({ line: row.line, userName: row.userName, reason });
    const named = byName.get(row.userName.toLowerCase());
    const externalId = row.values.externalId;
    const linked = externalId ? (byExternalId.get(externalId) ?? []) : [];
    if (!named && linked.length > 1) {
      reject(`externalId "${externalId}" matches ${linked.length} users`);
      continue;
    }
    if (named && linked.length > 0 && !linked.some((u) => u.id === named.id)) {
      const other = linked[0]!;
      reject(
        `userName matches user ${named.id} (${named.user_name}) but externalId "${externalId}" matches user ${other.id} (${other.user_name})`,
      );
      continue;
    }
    const target = named ?? linked[0];
    if (
      !target &&
      row.values.manager?.toLowerCase() === row.userName.toLowerCase()
    ) {
      // A new user's id does not exist before the write that would have to name it.
      reject("a new user cannot be their own manager");
      continue;
    }
    // Two rows about one user (one by userName, one renaming it by externalId) would overwrite
    // each other.
    const earlier = target ? targeted.get(target.id) : undefined;
    if (earlier !== undefined) {
      reject(`matches the same user as line ${earlier}`);
      continue;
    }
    if (target) targeted.set(target.id, row.line);
    matched.push({ row, target });
  }
  return { matched, failures };
}
