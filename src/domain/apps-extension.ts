/**
 * URN of the read-only User extension that shows each user's state in the downstream apps and the
 * actions still queued for them. Its values live in `app_states` and `actions`, never in the
 * stored resource.
 */
export const APPS_EXTENSION_URN =
  "urn:scim-lifecycle:schemas:extension:apps:2.0:User";

/** Action states the extension lists as `pendingActions` (queued, claimed, or polled downstream). */
export const PENDING_ACTION_STATES = [
  "pending",
  "running",
  "in_progress",
] as const;

/** Most pending actions shown per user (the soonest first); filters still see all of them. */
export const MAX_PENDING_ACTIONS_SHOWN = 20;
