import type { AttributeDefinition } from "../domain/scim-schema.ts";
import { AppError } from "../errors.ts";
import type {
  ElementScope,
  FilterTarget,
  OperandStorage,
} from "./scim-filter-attributes.ts";
import { PENDING_ACTION_STATES_SQL } from "./users-store.ts";

// Multi-valued attributes kept in tables of their own rather than in `resource`: each element is a
// row, and "some element satisfies the condition" is an EXISTS over the owner's rows, so the
// conditions inside `attr[…]` apply to the same row (same-element semantics, RFC 7644 §3.4.2.2).

/** A user's `groups`, read from group_members (RFC 7643 §4.1.2: direct memberships). */
export function userGroupsScope(
  target: FilterTarget,
  definition: AttributeDefinition,
  nextAlias: () => string,
): ElementScope {
  const gm = nextAlias();
  const gg = nextAlias();
  const columns: Record<string, OperandStorage> = {
    value: { kind: "uuid", sql: `${gm}.group_id` },
    display: { kind: "text", sql: `${gg}.display_name` },
    type: { kind: "constant", value: "direct" },
  };
  return tableScope(
    "groups",
    definition,
    columns,
    (where) =>
      `EXISTS (SELECT 1 FROM group_members ${gm} JOIN groups ${gg} ` +
      `ON ${gg}.tenant_id = ${gm}.tenant_id AND ${gg}.id = ${gm}.group_id ` +
      `WHERE ${gm}.tenant_id = ${target.alias}.tenant_id AND ${gm}.member_id = ${target.alias}.id${where})`,
  );
}

/** A group's `members`, read from group_members; `display` is not stored, so not filterable. */
export function groupMembersScope(
  target: FilterTarget,
  definition: AttributeDefinition,
  nextAlias: () => string,
): ElementScope {
  const gm = nextAlias();
  const columns: Record<string, OperandStorage> = {
    value: { kind: "uuid", sql: `${gm}.member_id` },
    type: { kind: "text", sql: `${gm}.member_type` },
  };
  return tableScope(
    "members",
    definition,
    columns,
    (where) =>
      `EXISTS (SELECT 1 FROM group_members ${gm} ` +
      `WHERE ${gm}.tenant_id = ${target.alias}.tenant_id AND ${gm}.group_id = ${target.alias}.id${where})`,
  );
}

/**
 * The apps extension's `apps`: a user's rows in app_states. `app eq` and `state eq` compare the
 * columns as stored, so the (tenant_id, app_id, state) index can serve them.
 */
export function appStatesScope(
  target: FilterTarget,
  label: string,
  definition: AttributeDefinition,
  nextAlias: () => string,
): ElementScope {
  const s = nextAlias();
  const columns: Record<string, OperandStorage> = {
    app: { kind: "text", sql: `${s}.app_id` },
    state: { kind: "text", sql: `${s}.state` },
    since: { kind: "timestamptz", sql: `${s}.since` },
  };
  return tableScope(
    label,
    definition,
    columns,
    (where) =>
      `EXISTS (SELECT 1 FROM app_states ${s} ` +
      `WHERE ${s}.tenant_id = ${target.alias}.tenant_id AND ${s}.user_id = ${target.alias}.id${where})`,
  );
}

/**
 * The apps extension's `pendingActions`: a user's unfinished rows in actions. A filter sees all of
 * them, not only the ones a read shows (MAX_PENDING_ACTIONS_SHOWN).
 */
export function pendingActionsScope(
  target: FilterTarget,
  label: string,
  definition: AttributeDefinition,
  nextAlias: () => string,
): ElementScope {
  const a = nextAlias();
  const columns: Record<string, OperandStorage> = {
    app: { kind: "text", sql: `${a}.app_id` },
    action: { kind: "text", sql: `${a}.kind` },
    runAt: { kind: "timestamptz", sql: `${a}.run_at` },
    state: { kind: "text", sql: `${a}.state` },
  };
  return tableScope(
    label,
    definition,
    columns,
    (where) =>
      `EXISTS (SELECT 1 FROM actions ${a} ` +
      `WHERE ${a}.tenant_id = ${target.alias}.tenant_id AND ${a}.user_id = ${target.alias}.id ` +
      `AND ${a}.state IN (${PENDING_ACTION_STATES_SQL})${where})`,
  );
}

function tableScope(
  label: string,
  definition: AttributeDefinition,
  columns: Record<string, OperandStorage>,
  exists: (where: string) => string,
): ElementScope {
  return {
    label,
    definition,
    operandOf: (sub) => {
      if (!sub)
        invalidFilter(`"${label}" is complex; name one of its sub-attributes`);
      const storage = columns[sub.name];
      if (!storage)
        invalidFilter(`"${label}.${sub.name}" cannot be used in filters`);
      return { label: `${label}.${sub.name}`, definition: sub, storage };
    },
    wrap: (condition) => ({
      sql: exists(condition ? ` AND (${condition.sql})` : ""),
      bindings: condition?.bindings ?? [],
    }),
  };
}

// Thrown directly rather than through scim-filter-attributes' helper, which imports this file.
function invalidFilter(detail: string): never {
  throw new AppError("scim.invalid_filter", detail);
}
