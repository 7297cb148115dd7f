/**
 * A SCIM resource as we store it: canonical attribute names, no `id`, `meta`, `schemas`,
 * `groups`, `members` or `password`; extension attributes under their schema URN key.
 */
export type StoredResource = Record<string, unknown>;

/** A reference to a group member as given by a client. */
export interface MemberRef {
  value: string;
  type?: "User" | "Group";
}

/** Membership changes a Group write asks for, applied in SQL rather than as a list rewrite. */
export interface MemberChanges {
  /** Replace every member with this list (PUT, `replace members`, `remove members` with no filter). */
  replaceAll?: MemberRef[];
  /** Members to add (duplicates of existing members are ignored). */
  add: MemberRef[];
  /** Member ids to remove. */
  remove: string[];
}
