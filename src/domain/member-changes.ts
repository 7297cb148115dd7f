import type { FilterNode } from "./scim-filter-ast.ts";
import type { MemberChanges, MemberRef } from "./stored-resource.ts";
import type { PatchOperationName, PatchTarget } from "./patch-target.ts";
import { ScimDomainError } from "./scim-domain-error.ts";
import { coerceMemberRefs } from "./coerce-value.ts";

/*
 * Member operations compose in request order into one MemberChanges. The invariant that makes
 * it safe to apply in SQL: when replaceAll is set it already holds every later add and remove
 * (add and remove stay empty); otherwise add and remove are disjoint, so their order is free.
 */

/** An empty set of member changes. */
export function emptyMemberChanges(): MemberChanges {
  return { add: [], remove: [] };
}

/** True when the changes would touch membership at all. */
export function hasMemberChanges(changes: MemberChanges): boolean {
  return (
    changes.replaceAll !== undefined ||
    changes.add.length > 0 ||
    changes.remove.length > 0
  );
}

/**
 * Records a PATCH operation on a Group's `members` (RFC 7644 §3.5.2 and the Entra dialect)
 * without touching a member list: rows are added and deleted in SQL later.
 */
export function applyMembersOperation(
  changes: MemberChanges,
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

function addMembers(changes: MemberChanges, refs: MemberRef[]): void {
  for (const ref of refs) {
    changes.remove = changes.remove.filter((id) => id !== ref.value);
    const list = changes.replaceAll ?? changes.add;
    if (!list.some((m) => m.value === ref.value)) list.push(ref);
  }
}

function removeMembers(changes: MemberChanges, ids: string[]): void {
  for (const id of ids) {
    if (changes.replaceAll) {
      changes.replaceAll = changes.replaceAll.filter((m) => m.value !== id);
      continue;
    }
    changes.add = changes.add.filter((m) => m.value !== id);
    if (!changes.remove.includes(id)) changes.remove.push(id);
  }
}

function replaceMembers(changes: MemberChanges, refs: MemberRef[]): void {
  changes.replaceAll = [...refs];
  changes.add = [];
  changes.remove = [];
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
