import type {
  CompareOperator,
  FilterNode,
  FilterValue,
  PatchPath,
} from "./scim-filter-ast.ts";

/** Bounds a filter must stay within; checked while parsing so hostile input fails fast. */
export interface FilterLimits {
  /** Longest filter text accepted, in characters. */
  maxLength: number;
  /** Deepest nesting of parentheses, `not (…)` and value paths. */
  maxDepth: number;
  /** Most comparison and `pr` terms in one filter. */
  maxTerms: number;
}

/** Limits applied when the caller passes none. */
export const DEFAULT_FILTER_LIMITS: Readonly<FilterLimits> = Object.freeze({
  maxLength: 4096,
  maxDepth: 16,
  maxTerms: 64,
});

/** A malformed filter or PATCH path; `position` is the 0-based character offset of the problem. */
export class FilterSyntaxError extends Error {
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.name = "FilterSyntaxError";
    this.position = position;
  }
}

const OPERATORS: ReadonlySet<string> = new Set([
  "eq",
  "ne",
  "co",
  "sw",
  "ew",
  "gt",
  "ge",
  "lt",
  "le",
]);
// RFC 7644 §3.4.2.2 ATTRNAME is ALPHA *(nameChar); `$ref` is a real sub-attribute name, so `$` is allowed.
const ATTR_NAME = /^[A-Za-z$][A-Za-z0-9_$-]*$/;
const WORD_CHAR = /[A-Za-z0-9_$:.-]/;
const BARE_VALUE = /[^\s()[\]"]+/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const DELIMITER = /[\s()[\]]/;
const SIMPLE_ESCAPES = new Map([
  ['"', '"'],
  ["\\", "\\"],
  ["/", "/"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
]);

/** Parses a SCIM filter (RFC 7644 §3.4.2.2) into an AST; throws FilterSyntaxError. */
export function parseFilter(
  text: string,
  limits: Partial<FilterLimits> = {},
): FilterNode {
  const parser = new Parser(text, { ...DEFAULT_FILTER_LIMITS, ...limits });
  parser.skipSpace();
  if (parser.atEnd()) throw new FilterSyntaxError("The filter is empty", 0);
  const node = parser.parseOr(false);
  parser.expectEnd("the end of the filter");
  return node;
}

/** Parses a PATCH path (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`. */
export function parsePatchPath(
  text: string,
  limits: Partial<FilterLimits> = {},
): PatchPath {
  const parser = new Parser(text, { ...DEFAULT_FILTER_LIMITS, ...limits });
  parser.skipSpace();
  if (parser.atEnd()) throw new FilterSyntaxError("The PATCH path is empty", 0);
  const attribute = parser.readAttributePath();
  if (parser.peek() !== "[") {
    parser.expectEnd("the end of the path");
    return { attribute };
  }
  const valueFilter = parser.parseBracket(attribute);
  if (parser.peek() !== ".") {
    parser.expectEnd("the end of the path");
    return { attribute, valueFilter };
  }
  parser.advance();
  const start = parser.pos;
  const subAttribute = parser.readWord();
  if (!ATTR_NAME.test(subAttribute)) {
    throw new FilterSyntaxError(
      `Expected a sub-attribute name after "]." at position ${start}, found ${parser.describe(start)}`,
      start,
    );
  }
  parser.expectEnd("the end of the path");
  return { attribute, valueFilter, subAttribute };
}

class Parser {
  pos = 0;
  private depth = 0;
  private terms = 0;

  constructor(
    private readonly text: string,
    private readonly limits: FilterLimits,
  ) {
    if (text.length > limits.maxLength) {
      throw new FilterSyntaxError(
        `The filter is ${text.length} characters long; at most ${limits.maxLength} are allowed`,
        limits.maxLength,
      );
    }
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  advance(): void {
    this.pos += 1;
  }

  skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.peek())) this.pos += 1;
  }

  /** A short description of what stands at `at`, for messages. */
  describe(at: number): string {
    if (at >= this.text.length) return "the end of the input";
    const rest = this.text.slice(at);
    const word = /^[A-Za-z0-9_$:.-]+/.exec(rest)?.[0];
    return JSON.stringify(word ? word.slice(0, 40) : rest.charAt(0));
  }

  expectEnd(what: string): void {
    this.skipSpace();
    if (!this.atEnd()) {
      throw new FilterSyntaxError(
        `Expected ${what} at position ${this.pos}, found ${this.describe(this.pos)}`,
        this.pos,
      );
    }
  }

  /** Reads a run of name characters without consuming what follows. */
  readWord(): string {
    const start = this.pos;
    while (!this.atEnd() && WORD_CHAR.test(this.peek())) this.pos += 1;
    return this.text.slice(start, this.pos);
  }

  /** The keyword at the cursor (lower-cased) if it is a whole word, without consuming it. */
  private peekWord(): string {
    const start = this.pos;
    const word = this.readWord();
    this.pos = start;
    return word.toLowerCase();
  }

  private enter(at: number): void {
    this.depth += 1;
    if (this.depth > this.limits.maxDepth) {
      throw new FilterSyntaxError(
        `The filter nests deeper than ${this.limits.maxDepth} levels (position ${at})`,
        at,
      );
    }
  }

  private leave(): void {
    this.depth -= 1;
  }

  private countTerm(at: number): void {
    this.terms += 1;
    if (this.terms > this.limits.maxTerms) {
      throw new FilterSyntaxError(
        `The filter has more than ${this.limits.maxTerms} comparisons (position ${at})`,
        at,
      );
    }
  }

  parseOr(inValuePath: boolean): FilterNode {
    const terms = [this.parseAnd(inValuePath)];
    while (this.consumeKeyword("or")) terms.push(this.parseAnd(inValuePath));
    return combine("or", terms);
  }

  private parseAnd(inValuePath: boolean): FilterNode {
    const terms = [this.parseUnary(inValuePath)];
    while (this.consumeKeyword("and")) terms.push(this.parseUnary(inValuePath));
    return combine("and", terms);
  }

  private consumeKeyword(keyword: "and" | "or"): boolean {
    this.skipSpace();
    if (this.peekWord() !== keyword) return false;
    this.pos += keyword.length;
    return true;
  }

  private parseUnary(inValuePath: boolean): FilterNode {
    this.skipSpace();
    const start = this.pos;
    if (this.peek() === "(") {
      this.enter(start);
      this.advance();
      const inner = this.parseOr(inValuePath);
      this.expectClose(")", start);
      this.leave();
      return inner;
    }
    if (this.peekWord() === "not") {
      this.pos += 3;
      this.skipSpace();
      if (this.peek() !== "(") {
        throw new FilterSyntaxError(
          `Expected "(" after "not" at position ${this.pos}, found ${this.describe(this.pos)}`,
          this.pos,
        );
      }
      const open = this.pos;
      this.enter(start);
      this.advance();
      const term = this.parseOr(inValuePath);
      this.expectClose(")", open);
      this.leave();
      return { kind: "not", term };
    }
    return this.parseAttributeExpression(inValuePath);
  }

  private expectClose(close: ")" | "]", openedAt: number): void {
    this.skipSpace();
    if (this.peek() === close) {
      this.advance();
      return;
    }
    const open = close === ")" ? "(" : "[";
    throw new FilterSyntaxError(
      `Expected "${close}" to close the "${open}" at position ${openedAt}, ` +
        `found ${this.describe(this.pos)} at position ${this.pos}`,
      this.pos,
    );
  }

  private parseAttributeExpression(inValuePath: boolean): FilterNode {
    const start = this.pos;
    const path = this.readAttributePath();
    this.skipSpace();
    if (this.peek() === "[") {
      if (inValuePath) {
        throw new FilterSyntaxError(
          `Value paths cannot be nested: "${path}[" at position ${start} is inside another "[…]"`,
          start,
        );
      }
      return { kind: "valuePath", path, filter: this.parseBracket(path) };
    }
    const opStart = this.pos;
    const op = this.readWord().toLowerCase();
    if (op === "") {
      throw new FilterSyntaxError(
        `Expected an operator after "${path}" at position ${opStart}, found ${this.describe(opStart)}`,
        opStart,
      );
    }
    if (op === "pr") {
      this.countTerm(start);
      return { kind: "present", path };
    }
    if (!OPERATORS.has(op)) {
      throw new FilterSyntaxError(
        `Unknown operator "${this.text.slice(opStart, this.pos)}" at position ${opStart}; ` +
          "expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr",
        opStart,
      );
    }
    this.countTerm(start);
    const value = this.readValue(op);
    return { kind: "compare", path, op: op as CompareOperator, value };
  }

  /** Parses `[valFilter]` at the cursor, paths inside relative to `path`. */
  parseBracket(path: string): FilterNode {
    const open = this.pos;
    this.enter(open);
    this.advance();
    this.skipSpace();
    if (this.peek() === "]") {
      throw new FilterSyntaxError(
        `Empty filter in "${path}[]" at position ${open}`,
        open,
      );
    }
    const filter = this.parseOr(true);
    this.expectClose("]", open);
    this.leave();
    return filter;
  }

  /** Reads `[urn:…:]name[.sub]` and checks its shape. */
  readAttributePath(): string {
    const start = this.pos;
    const path = this.readWord();
    if (path === "") {
      throw new FilterSyntaxError(
        `Expected an attribute name at position ${start}, found ${this.describe(start)}`,
        start,
      );
    }
    const colon = path.lastIndexOf(":");
    if (colon >= 0 && (!/^urn:/i.test(path) || /::/.test(path))) {
      throw new FilterSyntaxError(
        `"${path}" at position ${start} is not an attribute path: a schema prefix must be a URN`,
        start,
      );
    }
    const names = path.slice(colon + 1).split(".");
    if (names.length > 2 || !names.every((name) => ATTR_NAME.test(name))) {
      throw new FilterSyntaxError(
        `"${path}" at position ${start} is not an attribute path ` +
          "(expected name or name.subAttribute, optionally after a schema URN)",
        start,
      );
    }
    return path;
  }

  private readValue(op: string): FilterValue {
    this.skipSpace();
    const start = this.pos;
    if (this.atEnd()) {
      throw new FilterSyntaxError(
        `Expected a value after "${op}" at position ${start}`,
        start,
      );
    }
    let value: FilterValue;
    if (this.peek() === '"') {
      value = this.readString();
    } else {
      // Bare tokens: numbers and true/false/null per RFC 7644; anything else is read as a string.
      // RFC 7644 wants strings quoted, but Microsoft's SCIM validator sends `userName sw O` and
      // unquoted dates, so an unquoted token is accepted as the string it spells.
      BARE_VALUE.lastIndex = start;
      const bare = BARE_VALUE.exec(this.text)?.[0] ?? "";
      if (bare === "" || bare.startsWith("(") || bare.startsWith("[")) {
        throw new FilterSyntaxError(
          `Expected a value after "${op}" at position ${start} (a "quoted string", number, ` +
            `true, false or null), found ${this.describe(start)}`,
          start,
        );
      }
      this.pos += bare.length;
      const lower = bare.toLowerCase();
      NUMBER.lastIndex = 0;
      const number = NUMBER.exec(bare);
      if (number && number[0].length === bare.length) value = Number(bare);
      else if (lower === "true" || lower === "false") value = lower === "true";
      else if (lower === "null") value = null;
      else value = bare;
    }
    if (!this.atEnd() && !DELIMITER.test(this.peek())) {
      throw new FilterSyntaxError(
        `Unexpected ${this.describe(this.pos)} right after the value at position ${this.pos}`,
        this.pos,
      );
    }
    return value;
  }

  /** Reads a JSON string literal (RFC 8259 §7) at the cursor. */
  private readString(): string {
    const start = this.pos;
    this.advance();
    let out = "";
    while (!this.atEnd()) {
      const char = this.peek();
      if (char === '"') {
        this.advance();
        return out;
      }
      if (char === "\\") {
        out += this.readEscape();
        continue;
      }
      if (char < " ") {
        throw new FilterSyntaxError(
          `Control character in the string at position ${this.pos}; escape it`,
          this.pos,
        );
      }
      out += char;
      this.advance();
    }
    throw new FilterSyntaxError(
      `Unterminated string starting at position ${start}`,
      start,
    );
  }

  private readEscape(): string {
    const at = this.pos;
    const code = this.text.charAt(at + 1);
    const simple = SIMPLE_ESCAPES.get(code);
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    if (code === "u") {
      const hex = this.text.slice(at + 2, at + 6);
      if (/^[0-9a-fA-F]{4}$/.test(hex)) {
        this.pos += 6;
        return String.fromCharCode(parseInt(hex, 16));
      }
    }
    throw new FilterSyntaxError(
      `Invalid escape sequence in the string at position ${at}`,
      at,
    );
  }
}

/** Builds an n-ary node, flattening nested terms of the same kind (`(a or b) or c` → or[a,b,c]). */
function combine(kind: "and" | "or", terms: FilterNode[]): FilterNode {
  if (terms.length === 1) return terms[0]!;
  const flat: FilterNode[] = [];
  for (const term of terms) {
    if (term.kind === kind) flat.push(...term.terms);
    else flat.push(term);
  }
  return { kind, terms: flat };
}
