import { parseFilter, parsePatchPath } from "./src/domain/scim-filter.ts";
import { compileFilter, compileSortBy } from "./src/store/scim-filter-sql.ts";
import { buildResourceSchemas } from "./src/scim/schemas.ts";
const s = buildResourceSchemas();
const t = { schema: s.user, table: "users" as const, alias: "u" };
for (const f of [
  'userName eq "bjensen"',
  'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
  'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
  'groups.value eq "0b7a1c1e-1111-4111-8111-111111111111"',
  'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"',
  'meta.lastModified gt "2011-05-13T04:42:34Z"',
  'id eq "nope"', 'name pr', 'emails pr', 'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
  'emails.primary eq "True"',
]) { const c = compileFilter(parseFilter(f), t); console.log(f, "\n  ", c.sql, JSON.stringify(c.bindings)); }
console.log(JSON.stringify(parseFilter('a pr and (b pr and c pr) or not (d eq 1.5e3)')));
console.log(JSON.stringify(parsePatchPath('emails[type eq "work"].value')));
console.log(compileSortBy("emails", t), compileSortBy("userName", t), compileSortBy("meta.resourceType", t));
