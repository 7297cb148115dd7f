/** SCIM attribute data types (RFC 7643 §2.3). */
export type AttributeType =
  | "string"
  | "boolean"
  | "decimal"
  | "integer"
  | "dateTime"
  | "reference"
  | "complex"
  | "binary";

/** One attribute of a schema, as published at /Schemas (RFC 7643 §7). */
export interface AttributeDefinition {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  required: boolean;
  caseExact: boolean;
  mutability: "readOnly" | "readWrite" | "immutable" | "writeOnly";
  returned: "always" | "never" | "default" | "request";
  uniqueness: "none" | "server" | "global";
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDefinition[];
}

/** A schema: its URN and attributes. */
export interface SchemaDefinition {
  id: string;
  name: string;
  attributes: AttributeDefinition[];
}

/** A resource type with its core schema and extensions. */
export interface ResourceSchema {
  resourceType: "User" | "Group";
  core: SchemaDefinition;
  extensions: SchemaDefinition[];
}

/** Common attributes every resource has (RFC 7643 §3.1), not listed in the core schemas. */
export const COMMON_ATTRIBUTES: AttributeDefinition[] = [
  attr("id", "string", {
    caseExact: true,
    mutability: "readOnly",
    returned: "always",
  }),
  attr("externalId", "string", { caseExact: true }),
  attr("meta", "complex", {
    mutability: "readOnly",
    subAttributes: [
      attr("resourceType", "string", {
        caseExact: true,
        mutability: "readOnly",
      }),
      attr("created", "dateTime", { mutability: "readOnly" }),
      attr("lastModified", "dateTime", { mutability: "readOnly" }),
      attr("location", "reference", {
        caseExact: true,
        mutability: "readOnly",
      }),
      attr("version", "string", { caseExact: true, mutability: "readOnly" }),
    ],
  }),
];

function attr(
  name: string,
  type: AttributeType,
  options: Partial<AttributeDefinition> = {},
): AttributeDefinition {
  return {
    name,
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    ...options,
  };
}

/** An attribute path resolved against a resource schema. */
export interface ResolvedAttribute {
  /** URN of the schema holding the attribute (core or extension). */
  schemaId: string;
  /** True when the attribute belongs to an extension schema. */
  inExtension: boolean;
  attribute: AttributeDefinition;
  subAttribute: AttributeDefinition | undefined;
  /** Canonical dotted path inside its schema, e.g. `name.givenName`. */
  canonicalPath: string;
}

function findByName(
  list: AttributeDefinition[] | undefined,
  name: string,
): AttributeDefinition | undefined {
  const lower = name.toLowerCase();
  return list?.find((a) => a.name.toLowerCase() === lower);
}

/** Attributes of a schema plus the common ones when it is the core schema. */
export function attributesOf(
  schema: ResourceSchema,
  schemaId: string,
): AttributeDefinition[] {
  if (schemaId.toLowerCase() === schema.core.id.toLowerCase()) {
    return [...COMMON_ATTRIBUTES, ...schema.core.attributes];
  }
  return (
    schema.extensions.find((e) => e.id.toLowerCase() === schemaId.toLowerCase())
      ?.attributes ?? []
  );
}

/** Finds the extension schema a URN names (case-insensitive). */
export function findExtension(
  schema: ResourceSchema,
  urn: string,
): SchemaDefinition | undefined {
  const lower = urn.toLowerCase();
  return schema.extensions.find((e) => e.id.toLowerCase() === lower);
}

/**
 * True for an extension whose every attribute is readOnly (the apps one): its values are the
 * server's, so clients' values are ignored in bodies and refused as PATCH targets.
 */
export function isReadOnlyExtension(extension: SchemaDefinition): boolean {
  return extension.attributes.every((a) => a.mutability === "readOnly");
}

/**
 * Resolves `attr`, `attr.sub`, `urn:…:attr` or `urn:…:attr.sub` (case-insensitive, RFC 7643 §2.1).
 * Returns undefined for unknown attributes.
 */
export function resolveAttributePath(
  schema: ResourceSchema,
  path: string,
): ResolvedAttribute | undefined {
  let schemaId = schema.core.id;
  let rest = path;
  const lowerPath = path.toLowerCase();
  for (const candidate of [schema.core, ...schema.extensions]) {
    const prefix = candidate.id.toLowerCase() + ":";
    if (lowerPath.startsWith(prefix)) {
      schemaId = candidate.id;
      rest = path.slice(prefix.length);
      break;
    }
  }
  if (rest.startsWith("urn:")) return undefined;
  const parts = rest.split(".");
  if (parts.length > 2 || parts.some((p) => p.length === 0)) return undefined;
  const attribute = findByName(attributesOf(schema, schemaId), parts[0]!);
  if (!attribute) return undefined;
  let subAttribute: AttributeDefinition | undefined;
  if (parts.length === 2) {
    subAttribute = findByName(attribute.subAttributes, parts[1]!);
    if (!subAttribute) return undefined;
  }
  return {
    schemaId,
    inExtension: schemaId !== schema.core.id,
    attribute,
    subAttribute,
    canonicalPath: subAttribute
      ? `${attribute.name}.${subAttribute.name}`
      : attribute.name,
  };
}

/** The definition that decides type and case rules for a resolved path. */
export function leafOf(resolved: ResolvedAttribute): AttributeDefinition {
  return resolved.subAttribute ?? resolved.attribute;
}
