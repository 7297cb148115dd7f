import SCIMMY from "scimmy";
import type {
  AttributeDefinition,
  ResourceSchema,
  SchemaDefinition,
} from "../domain/scim-schema.ts";

/** URNs used across the SCIM layer. */
export const URN = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterpriseUser: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
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

let declared = false;

/**
 * Declares User (with the Enterprise extension) and Group on scimmy, so /Schemas and /ResourceTypes
 * publish them. scimmy's resources are process-global; declaring twice is a no-op.
 */
export function declareScimResources(): void {
  if (declared) return;
  SCIMMY.Resources.declare(
    SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false),
  );
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
  const group = describe(SCIMMY.Schemas.Group);
  return {
    user: { resourceType: "User", core: user, extensions: [enterprise] },
    group: { resourceType: "Group", core: group, extensions: [] },
  };
}
