/** The Enterprise User extension's schema URN (RFC 7643 §4.3): its attributes sit under this key. */
export const ENTERPRISE_USER_URN =
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
