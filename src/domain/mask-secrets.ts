const SECRET_KEY = /password|secret|token|credential/i;
const MASK = "[masked]";

/**
 * Copies a request body with secret values replaced, for the audit trail: keys that name secrets
 * (`password`, `…Token`) and PATCH operations whose `path` names one.
 */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (depth > 32) return MASK;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  const pathNamesSecret =
    typeof record.path === "string" && SECRET_KEY.test(record.path);
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(record)) {
    if (SECRET_KEY.test(key) || (pathNamesSecret && key === "value"))
      copy[key] = MASK;
    else copy[key] = maskSecrets(inner, depth + 1);
  }
  return copy;
}
