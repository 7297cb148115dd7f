import type { FilterNode } from "./scim-filter-ast.ts";
import type { MemberChanges, MemberRef } from "./stored-resource.ts";
import type { PatchOperationName, PatchTarget } from "./patch-target.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import { coerceMemberRefs } from "./coerce-value.ts";

/**
 * Member operations of one request, composed in order. Keyed by member id so that a PATCH
 * naming thousands of members stays linear. When `replaceAll` is set it already holds every
 * later add and remove; otherwise `add` and `remove` are disjoint, so SQL may apply them in
 * any order.
 */
export interface MemberChangeLog {
  replaceAll: Map<string, MemberRef> | undefined;
  add: Map<string, MemberRef>;
  remove: Set<string>;
}

/** A log with no member changes yet. */
export function createMemberChangeLog(): MemberChangeLog {
  return { replaceAll: undefined, add: new Map(), remove: new Set() };
}

/** The log as MemberChanges, or undefined when it would not touch membership. */
export function toMemberChanges(
  log: MemberChangeLog,
): MemberChanges | undefined {
  if (!log.replaceAll && log.add.size === 0 && log.remove.size === 0)
    return undefined;
  const changes: MemberChanges = {
    add: [...log.add.values()],
    remove: [...log.remove],
  };
  if (log.replaceAll) changes.replaceAll = [...log.replaceAll.values()];
  return changes;
}

/**
 * Records a PATCH operation on a Group's `members` (RFC 7644 §3.5.2 and the Entra dialect)
 * without touching a member list: rows are added and deleted in SQL later.
 */
export function applyMembersOperation(
  changes: MemberChangeLog,
  target: PatchTarget,
  op: PatchOperationName,
  value: unknown,
): void {
  if (target.subAttribute) {
    throw new ScimDomainError(
      "invalid_path",
      `"${target.path}": members are added or removed whole; their sub-attributes cannot be set`,
    );
  }
  if (target.valueFilter) {
    if (op !== "remove") {
      throw new ScimDomainError(
        "invalid_path",
        `"${target.path}": a members filter can only select members to remove`,
      );
    }
    removeMembers(changes, memberIdsOf(target.valueFilter, target.path));
    return;
  }
  const refs = coerceMemberRefs(value, "members");
  switch (op) {
    case "add":
      if (refs) addMembers(changes, refs);
      return;
    case "replace":
      replaceMembers(changes, refs ?? []);
      return;
    case "remove":
      // RFC 7644 §3.5.2.2: remove without a filter removes every member. Microsoft Entra
      // instead names the members to remove in `value`; an empty list removes nobody.
      if (refs)
        removeMembers(
          changes,
          refs.map((r) => r.value),
        );
      else replaceMembers(changes, []);
      return;
  }
}

function addMembers(log: MemberChangeLog, refs: MemberRef[]): void {
  for (const ref of refs) {
    log.remove.delete(ref.value);
    const target = log.replaceAll ?? log.add;
    if (!target.has(ref.value)) target.set(ref.value, ref);
  }
}

function removeMembers(log: MemberChangeLog, ids: string[]): void {
  for (const id of ids) {
    if (log.replaceAll) {
      log.replaceAll.delete(id);
    } else {
      log.add.delete(id);
      log.remove.add(id);
    }
  }
}

function replaceMembers(log: MemberChangeLog, refs: MemberRef[]): void {
  log.replaceAll = new Map(refs.map((ref) => [ref.value, ref]));
  log.add.clear();
  log.remove.clear();
}

/** The ids a `members[value eq "a" or value eq "b"]` filter names; other filters are refused. */
function memberIdsOf(filter: FilterNode, path: string): string[] {
  if (filter.kind === "or")
    return filter.terms.flatMap((term) => memberIdsOf(term, path));
  if (
    filter.kind === "compare" &&
    filter.op === "eq" &&
    filter.path.toLowerCase() === "value" &&
    typeof filter.value === "string"
  ) {
    return [filter.value];
  }
  // Membership is rows in SQL, not JSON to match against: only exact ids can be selected.
  throw new ScimDomainError(
    "invalid_filter",
    `"${path}": members can only be selected by id, as members[value eq "id"], ` +
      `optionally joined with "or"`,
  );
}
