/** Token scopes. */
export const SCOPES = [
  "scim:read",
  "scim:write",
  "audit:read",
  "admin",
] as const;

/** One token scope. */
export type Scope = (typeof SCOPES)[number];

/** True when the text names a scope. */
export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}

/** Who is calling: the tenant and token behind a request. */
export interface Principal {
  tenantId: string;
  tenantName: string;
  tokenId: string;
  scopes: Scope[];
  /**
   * Who acted when no bearer token did (the operator CLI: `cli:<os user>@<host>`); recorded in
   * the audit entry's detail. Absent for API calls, whose token says who acted.
   */
  actor?: string;
}
