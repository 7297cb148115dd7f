/**
 * The one JSON text of a value that is independent of how it was written: object keys sorted by
 * UTF-16 code units, no whitespace, numbers as ECMAScript prints them (shortest round trip),
 * strings escaped as JSON.stringify does. This is the JSON Canonicalization Scheme (RFC 8785), so
 * an auditor can recompute audit hashes with any JCS library.
 *
 * jsonb stores a value, not its text (it reorders keys and normalises numbers), so canonical
 * text must be computed from the value as read back, never from the text that was inserted.
 * One extension to JCS: a number outside the double range (jsonb allows 1e400; JSON.parse turns it
 * into Infinity) is written `1e999` / `-1e999`, which no finite number prints as, so the function is
 * total over everything JSON.parse returns.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (Number.isNaN(value)) {
        throw new TypeError("NaN has no JSON form");
      }
      if (!Number.isFinite(value)) return value > 0 ? "1e999" : "-1e999";
      // String(-0) is "0", as JCS requires.
      return String(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const object = value as Record<string, unknown>;
      // Array.prototype.sort without a comparator orders by UTF-16 code units, as RFC 8785 §3.2.3.
      const keys = Object.keys(object)
        .filter((key) => object[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`a ${typeof value} has no JSON form`);
  }
}
