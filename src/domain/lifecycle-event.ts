import { canonicalJson } from "./canonical-json.ts";

/** Lifecycle facts recorded with each SCIM write (past tense). */
export const LIFECYCLE_EVENT_TYPES = [
  "user.created",
  "user.updated",
  "user.deactivated",
  "user.reactivated",
  "user.deleted",
  "group.created",
  "group.updated",
  "group.deleted",
  "group.member_added",
  "group.member_removed",
] as const;

/** One of the lifecycle event types. */
export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

/**
 * Top-level attributes whose values differ between two stored resources. Compared as canonical
 * JSON: a stored resource comes back from jsonb with its keys reordered, and an IdP that GETs a
 * user and PUTs it back unchanged (Okta does) must not look like a change.
 */
export function changedAttributes(
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): string[] {
  const keys = new Set([
    ...Object.keys(before ?? {}),
    ...Object.keys(after ?? {}),
  ]);
  return [...keys].filter((k) => !sameJson(before?.[k], after?.[k])).sort();
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The events a user write means: `user.updated` for attribute changes, plus `user.deactivated`
 * or `user.reactivated` when `active` flips. A create or delete is one event of its own.
 */
export function userChangeEvents(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): LifecycleEventType[] {
  const changed = changedAttributes(before, after);
  if (changed.length === 0) return [];
  const events: LifecycleEventType[] = [];
  const otherChanges = changed.filter((k) => k !== "active");
  if (otherChanges.length > 0) events.push("user.updated");
  const wasActive = before.active !== false;
  const isActive = after.active !== false;
  if (wasActive && !isActive) events.push("user.deactivated");
  if (!wasActive && isActive) events.push("user.reactivated");
  return events;
}
