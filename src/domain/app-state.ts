/** A user's state in one downstream app, as far as our actions know. */
export const APP_STATES = [
  "provisioned",
  "suspended",
  "archived",
  "removed",
  "unknown",
] as const;

/** One of the per-user downstream states. */
export type AppState = (typeof APP_STATES)[number];

/** The action kinds policies may name (commands); each connector offers some of them. */
export const ACTION_KINDS = [
  "provision",
  "update",
  "suspend",
  "unsuspend",
  "archive",
  "restore",
  "remove",
  "recover",
  "transfer",
  "wipe",
  "export",
  "push_group",
] as const;
