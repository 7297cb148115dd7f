import SCIMMY from "scimmy";
import { APP_STATES } from "../domain/app-state.ts";
import {
  APPS_EXTENSION_URN,
  MAX_PENDING_ACTIONS_SHOWN,
  PENDING_ACTION_STATES,
} from "../domain/apps-extension.ts";
import type {
  AttributeDefinition,
  ResourceSchema,
  SchemaDefinition,
} from "../domain/scim-schema.ts";
import { ENTERPRISE_USER_URN } from "../domain/scim-urns.ts";

/** URNs used across the SCIM layer. */
export const URN = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterpriseUser: ENTERPRISE_USER_URN,
  /** Read-only: the user's state in each downstream app and its queued actions. */
  apps: APPS_EXTENSION_URN,
  listResponse: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  searchRequest: "urn:ietf:params:scim:api:messages:2.0:SearchRequest",
  patchOp: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
  bulkRequest: "urn:ietf:params:scim:api:messages:2.0:BulkRequest",
  bulkResponse: "urn:ietf:params:scim:api:messages:2.0:BulkResponse",
  error: "urn:ietf:params:scim:api:messages:2.0:Error",
} as const;

interface DescribedAttribute {
  name: string;
  type: AttributeDefinition["type"];
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: AttributeDefinition["mutability"];
  returned?: AttributeDefinition["returned"];
  uniqueness?: AttributeDefinition["uniqueness"];
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: DescribedAttribute[];
}

function toDefinition(described: DescribedAttribute): AttributeDefinition {
  const definition: AttributeDefinition = {
    name: described.name,
    type: described.type,
    multiValued: described.multiValued ?? false,
    required: described.required ?? false,
    caseExact: described.caseExact ?? false,
    mutability: described.mutability ?? "readWrite",
    returned: described.returned ?? "default",
    uniqueness: described.uniqueness ?? "none",
  };
  if (described.canonicalValues)
    definition.canonicalValues = described.canonicalValues;
  if (described.referenceTypes)
    definition.referenceTypes = described.referenceTypes;
  if (described.subAttributes)
    definition.subAttributes = described.subAttributes.map(toDefinition);
  return definition;
}

function describe(schema: {
  definition: { describe(): unknown };
}): SchemaDefinition {
  // describe() returns Attribute instances whose settings live in `config`; their toJSON() gives the
  // RFC 7643 shape (multiValued, caseExact, returned…) that toDefinition reads.
  const described = JSON.parse(
    JSON.stringify(schema.definition.describe()),
  ) as {
    id: string;
    name: string;
    attributes: DescribedAttribute[];
  };
  return {
    id: described.id,
    name: described.name,
    attributes: described.attributes.map(toDefinition),
  };
}

/**
 * The apps extension, read-only: filled from `app_states` and `actions` when a user is read, ignored
 * in POST and PUT bodies (RFC 7643 §2.2), refused as a PATCH target.
 */
const appsExtension = (() => {
  const { Attribute, SchemaDefinition } = SCIMMY.Types;
  const readOnly = { mutable: false, returned: "default" } as const;
  const text = (
    name: string,
    description: string,
    canonicalValues?: readonly string[],
  ) =>
    new Attribute("string", name, {
      ...readOnly,
      caseExact: true,
      description,
      ...(canonicalValues ? { canonicalValues: [...canonicalValues] } : {}),
    });
  const attributes = [
    new Attribute(
      "complex",
      "apps",
      {
        ...readOnly,
        multiValued: true,
        description:
          "The user's state in each downstream app an action of ours has touched.",
      },
      [
        text("app", "The app's id in the tenant's policy."),
        // caseExact: the states are a closed set of lower-case tokens; exact comparison also lets
        // the (tenant_id, app_id, state) index serve `apps[app eq "x" and state eq "archived"]`.
        text("state", "The user's state in the app.", APP_STATES),
        new Attribute("dateTime", "since", {
          ...readOnly,
          description: "When the user entered this state.",
        }),
      ],
    ),
    new Attribute(
      "complex",
      "pendingActions",
      {
        ...readOnly,
        multiValued: true,
        description: `Actions queued for the user and not finished yet, the soonest first (at most ${MAX_PENDING_ACTIONS_SHOWN}).`,
      },
      [
        text("app", "The app's id in the tenant's policy."),
        text("action", "The action kind, such as suspend or archive."),
        new Attribute("dateTime", "runAt", {
          ...readOnly,
          description: "When the action is due.",
        }),
        text(
          "state",
          "Where the action is in the queue.",
          PENDING_ACTION_STATES,
        ),
      ],
    ),
  ];
  // scimmy 1.3.5 refuses schema ids outside urn:ietf:params:scim:schemas: (RFC 7643 §3.3 allows
  // any URN for an extension): construct under a placeholder, then set the real id.
  const definition = new SchemaDefinition(
    "Apps",
    "urn:ietf:params:scim:schemas:extension:scim-lifecycle:apps",
    "Downstream app states and pending lifecycle actions of a user (read-only).",
    attributes,
  );
  definition.id = APPS_EXTENSION_URN;
  return definition;
})();

let declared = false;

/**
 * Declares User (with the Enterprise and apps extensions) and Group on scimmy, so /Schemas and
 * /ResourceTypes publish them. scimmy's resources are process-global; declaring twice is a no-op.
 */
export function declareScimResources(): void {
  if (declared) return;
  const user = SCIMMY.Resources.User.extend(
    SCIMMY.Schemas.EnterpriseUser,
    false,
  );
  // Resource.extend is typed for Schema classes only; the definition's extend takes ours.
  user.schema.definition.extend(appsExtension, false);
  SCIMMY.Resources.declare(user);
  SCIMMY.Resources.declare(SCIMMY.Resources.Group);
  declared = true;
}

/**
 * The schemas our storage, filters and PATCH engine work from, read from the same scimmy
 * definitions that /Schemas publishes, so what we advertise and what we do cannot drift apart.
 */
export function buildResourceSchemas(): {
  user: ResourceSchema;
  group: ResourceSchema;
} {
  const user = describe(SCIMMY.Schemas.User);
  const enterprise = describe(SCIMMY.Schemas.EnterpriseUser);
  const apps = describe({ definition: appsExtension });
  const group = describe(SCIMMY.Schemas.Group);
  return {
    user: {
      resourceType: "User",
      core: user,
      extensions: [enterprise, apps],
    },
    group: { resourceType: "Group", core: group, extensions: [] },
  };
}
