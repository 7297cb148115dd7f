import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  auditHashInput,
  GENESIS_HASH,
  hashAuditEntry,
  type AuditHashContent,
} from "../../src/domain/audit-hash.ts";
import { canonicalJson } from "../../src/domain/canonical-json.ts";

const ENTRY: AuditHashContent = {
  id: "42",
  tenantId: "6f1c1b1e-2f57-4c4b-9a57-0d4f1f0c9a10",
  occurredAt: "2026-03-01T09:00:00.123456Z",
  actorTokenId: null,
  key: "scim.user.created",
  resourceType: "User",
  resourceId: "0b6a3c55-83a1-4b43-9a53-3b8f8a2f3e11",
  requestId: "req-1",
  detail: { method: "POST", body: { userName: "ada@example.com" } },
};
const LINK = { chainIndex: 7, prevHash: "ab".repeat(32) };

describe("canonical JSON", () => {
  it("sorts object keys at every depth and keeps array order", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, 1, { z: 0, y: null }], c: true } }),
      '{"a":{"c":true,"d":[3,1,{"y":null,"z":0}]},"b":1}',
    );
  });

  it("orders keys by UTF-16 code units, as RFC 8785 does", () => {
    // "é" (U+00E9) sorts after "z"; the astral "😀" (surrogate D83D) after U+E000.
    assert.equal(
      canonicalJson({ é: 1, z: 2, "\ue000": 3, "😀": 4, Z: 5, aa: 6, a: 7 }),
      '{"Z":5,"a":7,"aa":6,"z":2,"é":1,"😀":4,"\ue000":3}',
    );
  });

  it("gives the same text whatever order and spacing jsonb read the value back in", () => {
    // jsonb stores keys shorter-first and drops insignificant zeros: hash the value, not the text.
    const written = JSON.parse('{"zeta": 1.50, "a": [1.0, 2e3], "mid": "x"}');
    const readBack = JSON.parse('{"a": [1, 2000], "mid": "x", "zeta": 1.5}');
    assert.equal(canonicalJson(written), canonicalJson(readBack));
    assert.equal(
      canonicalJson(readBack),
      '{"a":[1,2000],"mid":"x","zeta":1.5}',
    );
  });

  it("prints numbers as ECMAScript does: shortest round trip, exponents from 1e21, no -0", () => {
    assert.equal(
      canonicalJson([0.1, 1e21, 1e-7, 123456789012, -0, 2 ** 53 + 2]),
      "[0.1,1e+21,1e-7,123456789012,0,9007199254740994]",
    );
  });

  it("writes numbers beyond the double range as ±1e999, which no finite number prints as", () => {
    assert.equal(
      canonicalJson(JSON.parse("[1e400, -1e400]")),
      "[1e999,-1e999]",
    );
    assert.throws(() => canonicalJson(NaN), TypeError);
  });

  it("escapes strings as JSON.stringify does, lone surrogates included", () => {
    assert.equal(
      canonicalJson(['a"b\\c\n\u0001', "\ud800"]),
      '["a\\"b\\\\c\\n\\u0001","\\ud800"]',
    );
  });

  it("leaves out undefined properties and refuses values JSON cannot hold", () => {
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.throws(() => canonicalJson(10n), TypeError);
    assert.throws(() => canonicalJson([undefined]), TypeError);
  });
});

describe("audit entry hash", () => {
  it("hashes the canonical text of the content, its chain index and the previous hash", () => {
    const input = auditHashInput(ENTRY, LINK);
    assert.equal(
      input,
      '{"actorTokenId":null,"chainIndex":7,' +
        '"detail":{"body":{"userName":"ada@example.com"},"method":"POST"},' +
        '"id":"42","key":"scim.user.created","occurredAt":"2026-03-01T09:00:00.123456Z",' +
        `"prevHash":"${"ab".repeat(32)}","requestId":"req-1",` +
        '"resourceId":"0b6a3c55-83a1-4b43-9a53-3b8f8a2f3e11","resourceType":"User",' +
        '"tenantId":"6f1c1b1e-2f57-4c4b-9a57-0d4f1f0c9a10"}',
    );
    assert.equal(
      hashAuditEntry(ENTRY, LINK),
      createHash("sha256").update(input).digest("hex"),
    );
    assert.match(hashAuditEntry(ENTRY, LINK), /^[0-9a-f]{64}$/);
  });

  it("does not depend on the order of the detail's keys", () => {
    const reordered = {
      ...ENTRY,
      detail: { body: { userName: "ada@example.com" }, method: "POST" },
    };
    assert.equal(hashAuditEntry(reordered, LINK), hashAuditEntry(ENTRY, LINK));
  });

  it("changes when any hashed field, the index or the previous hash changes", () => {
    const base = hashAuditEntry(ENTRY, LINK);
    const variants: [string, AuditHashContent, typeof LINK][] = [
      ["id", { ...ENTRY, id: "43" }, LINK],
      ["tenant", { ...ENTRY, tenantId: ENTRY.resourceId! }, LINK],
      ["time", { ...ENTRY, occurredAt: "2026-03-01T09:00:00.123457Z" }, LINK],
      ["actor", { ...ENTRY, actorTokenId: ENTRY.tenantId }, LINK],
      ["key", { ...ENTRY, key: "scim.user.deleted" }, LINK],
      ["type", { ...ENTRY, resourceType: "Group" }, LINK],
      ["resource", { ...ENTRY, resourceId: null }, LINK],
      ["request", { ...ENTRY, requestId: "req-2" }, LINK],
      ["detail", { ...ENTRY, detail: { method: "PUT" } }, LINK],
      ["index", ENTRY, { ...LINK, chainIndex: 8 }],
      ["prev", ENTRY, { ...LINK, prevHash: GENESIS_HASH }],
    ];
    for (const [name, content, link] of variants) {
      assert.notEqual(hashAuditEntry(content, link), base, name);
    }
  });
});
