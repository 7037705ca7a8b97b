/**
 * Consul's `?filter=` expressions (go-bexpr's grammar), parsed once and evaluated against
 * the JSON shape of each element an endpoint answers with (a `ServiceNode`, a
 * `CheckServiceNode`, a `HealthCheck`, ...): pure, no I/O.
 *
 *   Expr     := Or
 *   Or       := And ("or" Or)?
 *   And      := Not ("and" And)?
 *   Not      := "not" Not | "(" Or ")" | Match
 *   Match    := Selector ("==" | "!=" | "contains" | "not contains" | "matches" | "not matches") Value
 *             | Selector "is" ["not"] "empty"
 *             | Value ["not"] "in" Selector
 *   Selector := Ident ("." Ident | "." Digits | "[" String "]")*  |  "\"/json/pointer\""
 *   Value    := Selector (its text) | Number | "string" | `raw string`
 *
 * Evaluation follows go-bexpr: `==` compares with the field's type (a number, a bool, a
 * string), `in`/`contains` look for a key of a map, an element of a list or a substring of a
 * string, `is empty` is a length of 0, `matches` is a regular expression. A selector naming a
 * missing key of a map is "not present": `==`, `in`, `matches` and `is not empty` are false
 * there, their negations true, as go-bexpr's `NotPresentDisposition`.
 */

export type MatchOp = "==" | "!=" | "in" | "not in" | "is empty" | "is not empty" | "matches" | "not matches";

export type FilterExpr =
  | { kind: "and" | "or"; left: FilterExpr; right: FilterExpr }
  | { kind: "not"; operand: FilterExpr }
  | { kind: "match"; selector: readonly string[]; op: MatchOp; value?: string; regexp?: RegExp };

/** A parse failure: what is wrong and where (1-based column, as go-bexpr's `1:COL (OFFSET)`). */
export interface FilterSyntaxError {
  message: string;
  column: number;
}

type Token =
  | { t: "ident"; v: string; at: number; end: number }
  | { t: "string"; v: string; at: number; end: number }
  | { t: "number"; v: string; at: number; end: number }
  | { t: "punct"; v: "(" | ")" | "[" | "]" | "." | "==" | "!="; at: number; end: number }
  | { t: "eof"; at: number; end: number };

class SyntaxFailure extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? "";
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
      continue;
    }
    const at = i;
    if (/[a-zA-Z]/.test(c)) {
      while (i < src.length && /[a-zA-Z0-9_]/.test(src[i] ?? "")) i++;
      out.push({ t: "ident", v: src.slice(at, i), at, end: i });
      continue;
    }
    if (/[0-9-]/.test(c)) {
      const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?/.exec(src.slice(i));
      // Digits right after a "." are a selector's index (`Tags.0`), read as they are.
      if (m === null) throw new SyntaxFailure("Invalid number literal", at);
      i += m[0].length;
      const next = src[i];
      const prev = out.at(-1);
      if (next !== undefined && !/[\s)]/.test(next) && !(prev?.t === "punct" && prev.v === ".")) throw new SyntaxFailure("Invalid number literal", at);
      out.push({ t: "number", v: m[0], at, end: i });
      continue;
    }
    if (c === '"' || c === "`") {
      i++;
      let v = "";
      for (;;) {
        const d = src[i];
        if (d === undefined) throw new SyntaxFailure("Unterminated string literal", at);
        if (d === c) {
          i++;
          break;
        }
        if (d === "\\" && c === '"') {
          const e = unescape(src, i);
          if (e === null) throw new SyntaxFailure("Invalid escape sequence in string literal", i);
          v += e.text;
          i = e.next;
          continue;
        }
        v += d;
        i++;
      }
      out.push({ t: "string", v, at, end: i });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "==" || two === "!=") {
      out.push({ t: "punct", v: two, at, end: i + 2 });
      i += 2;
      continue;
    }
    if (c === "(" || c === ")" || c === "[" || c === "]" || c === ".") {
      out.push({ t: "punct", v: c, at, end: i + 1 });
      i++;
      continue;
    }
    throw new SyntaxFailure(`Unexpected character ${JSON.stringify(c)}`, at);
  }
  out.push({ t: "eof", at: src.length, end: src.length });
  return out;
}

/** One escape of a double-quoted string, as Go's strconv.Unquote reads it. */
function unescape(src: string, i: number): { text: string; next: number } | null {
  const e = src[i + 1];
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", "'": "'", a: "\x07", b: "\b", f: "\f", v: "\v" };
  if (e !== undefined && simple[e] !== undefined) return { text: simple[e], next: i + 2 };
  const hex = (n: number): { text: string; next: number } | null => {
    const h = src.slice(i + 2, i + 2 + n);
    return new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h) ? { text: String.fromCodePoint(parseInt(h, 16)), next: i + 2 + n } : null;
  };
  if (e === "x") return hex(2);
  if (e === "u") return hex(4);
  if (e === "U") return hex(8);
  return null;
}

const KEYWORDS = new Set(["and", "or", "not", "in", "is", "empty", "contains", "matches"]);

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(n = 0): Token {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)] as Token;
  }
  private next(): Token {
    const t = this.peek();
    if (t.t !== "eof") this.i++;
    return t;
  }
  private isWord(w: string, n = 0): boolean {
    const t = this.peek(n);
    return t.t === "ident" && t.v === w;
  }
  private isPunct(p: string, n = 0): boolean {
    const t = this.peek(n);
    return t.t === "punct" && t.v === p;
  }
  private fail(message: string, t: Token = this.peek()): never {
    throw new SyntaxFailure(message, t.at);
  }
  private describe(t: Token): string {
    return t.t === "eof" ? "the end of the expression" : t.t === "string" ? `the string ${JSON.stringify(t.v)}` : JSON.stringify(t.v);
  }

  parse(): FilterExpr {
    const e = this.or();
    const t = this.peek();
    if (t.t !== "eof") this.fail(`unexpected ${this.describe(t)}: expected "and", "or" or the end of the expression`);
    return e;
  }

  private or(): FilterExpr {
    const left = this.and();
    if (!this.isWord("or")) return left;
    this.next();
    return { kind: "or", left, right: this.or() };
  }

  private and(): FilterExpr {
    const left = this.not();
    if (!this.isWord("and")) return left;
    this.next();
    return { kind: "and", left, right: this.and() };
  }

  private not(): FilterExpr {
    // `not` starts a negation unless it is a value being matched (`not in`, ... come after a term).
    if (this.isWord("not")) {
      this.next();
      const operand = this.not();
      return operand.kind === "not" ? operand.operand : { kind: "not", operand };
    }
    if (this.isPunct("(")) {
      const open = this.next();
      const e = this.or();
      if (!this.isPunct(")")) this.fail(this.peek().t === "eof" ? `Unmatched parentheses: this "(" is not closed` : `unexpected ${this.describe(this.peek())}: expected ")"`, this.peek().t === "eof" ? open : this.peek());
      this.next();
      return e;
    }
    return this.match();
  }

  private match(): FilterExpr {
    const start = this.peek();
    if (start.t === "eof") this.fail("expected a match expression (a selector such as Service.Tags, an operator and a value) but the expression ends here");
    const term = this.term();
    const op = this.peek();
    const word = (w: string): boolean => this.isWord(w);
    if (this.isPunct("==") || this.isPunct("!=")) {
      this.next();
      return this.selectorOpValue(term, op.t === "punct" && op.v === "==" ? "==" : "!=", start);
    }
    if (word("contains") || word("matches")) {
      this.next();
      return this.selectorOpValue(term, op.t === "ident" && op.v === "contains" ? "in" : "matches", start);
    }
    if (word("is")) {
      this.next();
      const negated = this.isWord("not");
      if (negated) this.next();
      if (!this.isWord("empty")) this.fail(`expected "empty" after "is${negated ? " not" : ""}"`);
      this.next();
      return { kind: "match", selector: this.asSelector(term, start), op: negated ? "is not empty" : "is empty" };
    }
    if (word("in")) {
      this.next();
      return { kind: "match", selector: this.selectorAfterIn(), op: "in", value: term.text };
    }
    if (word("not")) {
      const after = this.peek(1);
      const w = after.t === "ident" ? after.v : "";
      this.next();
      this.next();
      if (w === "in") return { kind: "match", selector: this.selectorAfterIn(), op: "not in", value: term.text };
      if (w === "contains" || w === "matches") return this.selectorOpValue(term, w === "contains" ? "not in" : "not matches", start);
      this.fail(`expected "in", "contains" or "matches" after "not"`, after);
    }
    return this.fail(`unexpected ${this.describe(op)}: expected an operator (==, !=, contains, not contains, in, not in, matches, not matches, is empty, is not empty) after ${JSON.stringify(start.t === "string" ? start.v : term.text)}`, op);
  }

  private selectorOpValue(term: { selector?: string[]; text: string }, op: MatchOp, start: Token): FilterExpr {
    const selector = this.asSelector(term, start);
    const v = this.peek();
    if (v.t === "eof" || v.t === "punct") this.fail(`expected a value after the operator, found ${this.describe(v)}`, v);
    const value = this.term().text;
    if (op === "matches" || op === "not matches") {
      const regexp = compileRegexp(value);
      if (typeof regexp === "string") this.fail(`Failed to compile regular expression ${JSON.stringify(value)}: ${regexp}`, v);
      return { kind: "match", selector, op, value, regexp };
    }
    return { kind: "match", selector, op, value };
  }

  private asSelector(term: { selector?: string[]; text: string }, start: Token): string[] {
    if (term.selector === undefined) this.fail(`${this.describe(start)} is not a selector: the left of this operator names a field, such as Service.Tags or Meta.env`, start);
    return term.selector;
  }

  private selectorAfterIn(): string[] {
    const t = this.peek();
    if (t.t === "eof" || t.t === "number" || t.t === "punct" || (t.t === "string" && !t.v.startsWith("/"))) this.fail(`Invalid selector: expected a field such as Service.Tags after "in", found ${this.describe(t)}`, t);
    const term = this.term();
    return this.asSelector(term, t);
  }

  /** A selector (with its text, which is also its value as a bare word), a number or a string. */
  private term(): { selector?: string[]; text: string } {
    const t = this.next();
    if (t.t === "number") return { text: t.v };
    if (t.t === "string") {
      if (t.v.startsWith("/")) return { selector: t.v.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~")), text: t.v };
      return { text: t.v };
    }
    if (t.t !== "ident") return this.fail(`unexpected ${this.describe(t)}: expected a selector or a value`, t);
    if (KEYWORDS.has(t.v)) this.fail(`unexpected keyword ${JSON.stringify(t.v)}: expected a selector or a value`, t);
    const path = [t.v];
    let end = t.end;
    for (;;) {
      const p = this.peek();
      if (p.t === "punct" && p.v === "." && p.at === end) {
        const n = this.peek(1);
        if ((n.t === "ident" || n.t === "number") && n.at === p.end && /^[A-Za-z0-9_]+$/.test(n.v)) {
          this.next();
          this.next();
          path.push(n.v);
          end = n.end;
          continue;
        }
        this.fail("expected a field name after \".\"", n);
      }
      if (p.t === "punct" && p.v === "[" && p.at === end) {
        this.next();
        const s = this.next();
        if (s.t !== "string") this.fail("Invalid index: expected a quoted key such as [\"env\"]", s);
        const close = this.next();
        if (close.t !== "punct" || close.v !== "]") this.fail("Unclosed index expression: expected \"]\"", close);
        path.push(s.v);
        end = close.end;
        continue;
      }
      break;
    }
    return { selector: path, text: path.join(".") };
  }
}

/** Go's RE2 syntax read as JavaScript's: a leading `(?i)`/`(?s)`/`(?m)` becomes a flag. */
function compileRegexp(src: string): RegExp | string {
  let flags = "";
  let body = src;
  const m = /^\(\?([imsU]+)\)/.exec(body);
  if (m !== null) {
    if ((m[1] ?? "").includes("U")) return "the (?U) flag is not supported";
    flags = [...new Set(m[1] ?? "")].join("");
    body = body.slice(m[0].length);
  }
  try {
    return new RegExp(body, flags);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Parses a filter expression: the expression, or what is wrong with it and at which column. */
export function parseFilter(text: string): { ok: true; expr: FilterExpr } | { ok: false; error: FilterSyntaxError } {
  try {
    const toks = tokenize(text);
    return { ok: true, expr: new Parser(toks).parse() };
  } catch (err) {
    if (err instanceof SyntaxFailure) return { ok: false, error: { message: err.message, column: err.offset + 1 } };
    throw err;
  }
}

/** A parse failure as go-bexpr words its position (`1:COL (OFFSET): message`). */
export function filterErrorText(e: FilterSyntaxError): string {
  return `1:${e.column} (${e.column - 1}): ${e.message}`;
}

/** Thrown by `evaluateFilter` when a match cannot be made on the field's type (go-bexpr's evaluation errors). */
export class FilterEvalError extends Error {}

const NOT_PRESENT: Record<MatchOp, boolean> = { "==": false, "!=": true, in: false, "not in": true, "is empty": true, "is not empty": false, matches: false, "not matches": true };

/** Whether `datum` (an element of an answer, as JSON) passes the filter; throws `FilterEvalError` on a match go-bexpr cannot make. */
export function evaluateFilter(expr: FilterExpr, datum: unknown): boolean {
  switch (expr.kind) {
    case "and":
      return evaluateFilter(expr.left, datum) && evaluateFilter(expr.right, datum);
    case "or":
      return evaluateFilter(expr.left, datum) || evaluateFilter(expr.right, datum);
    case "not":
      return !evaluateFilter(expr.operand, datum);
    case "match":
      return evaluateMatch(expr, datum);
    default: {
      const _: never = expr;
      return _;
    }
  }
}

function evaluateMatch(expr: Extract<FilterExpr, { kind: "match" }>, datum: unknown): boolean {
  let cur: unknown = datum;
  const path = expr.selector;
  for (const [i, part] of path.entries()) {
    if (Array.isArray(cur) && /^\d+$/.test(part)) {
      if (Number(part) >= cur.length) throw new FilterEvalError(`error finding value in datum: index ${part} of ${path.slice(0, i).join(".")} is out of range`);
      cur = cur[Number(part)];
      continue;
    }
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) {
      if (cur === null || cur === undefined) {
        cur = undefined;
        break;
      }
      throw new FilterEvalError(`error finding value in datum: ${path.slice(0, i).join(".")} has no field ${JSON.stringify(part)}`);
    }
    const obj = cur as Record<string, unknown>;
    if (!Object.hasOwn(obj, part)) {
      // A missing key of a map (below the top level) is "not present"; a top-level field that does not exist is an error.
      if (i === 0) throw new FilterEvalError(`Selector ${JSON.stringify(path.join("."))} is not valid: there is no field ${JSON.stringify(part)}`);
      return NOT_PRESENT[expr.op];
    }
    cur = obj[part];
  }
  const v = cur;
  switch (expr.op) {
    case "==":
      return equal(v, expr.value ?? "", path);
    case "!=":
      return !equal(v, expr.value ?? "", path);
    case "in":
      return contains(v, expr.value ?? "", path);
    case "not in":
      return !contains(v, expr.value ?? "", path);
    case "is empty":
      return length(v, path) === 0;
    case "is not empty":
      return length(v, path) !== 0;
    case "matches":
      return matches(v, expr, path);
    case "not matches":
      return !matches(v, expr, path);
    default: {
      const _: never = expr.op;
      return _;
    }
  }
}

function equal(v: unknown, raw: string, path: readonly string[]): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === "string") return v === raw;
  if (typeof v === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || Number.isNaN(n)) throw new FilterEvalError(`error getting match value in expression: ${JSON.stringify(raw)} is not a number (the field ${path.join(".")} is one)`);
    return v === n;
  }
  if (typeof v === "boolean") return v === coerceBool(raw, path);
  throw new FilterEvalError(`unable to find suitable primitive comparison function for matching: ${path.join(".")} is a ${Array.isArray(v) ? "list" : "map"} (use "contains" or "in")`);
}

function coerceBool(raw: string, path: readonly string[]): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(raw)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(raw)) return false;
  throw new FilterEvalError(`error getting match value in expression: ${JSON.stringify(raw)} is not a boolean (the field ${path.join(".")} is one)`);
}

function contains(v: unknown, raw: string, path: readonly string[]): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === "string") return v.includes(raw);
  if (Array.isArray(v)) {
    return v.some((x) => {
      if (typeof x === "string") return x === raw;
      if (typeof x === "number") return x === Number(raw);
      if (typeof x === "boolean") return ["1", "t", "T", "TRUE", "true", "True"].includes(raw) === x;
      return false;
    });
  }
  if (typeof v === "object") return Object.hasOwn(v, raw);
  throw new FilterEvalError(`Cannot perform in/contains operations on type ${typeof v} for selector: ${JSON.stringify(path.join("."))}`);
}

function length(v: unknown, path: readonly string[]): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "string" || Array.isArray(v)) return v.length;
  if (typeof v === "object") return Object.keys(v).length;
  throw new FilterEvalError(`Cannot perform emptiness checks on type ${typeof v} for selector: ${JSON.stringify(path.join("."))}`);
}

function matches(v: unknown, expr: Extract<FilterExpr, { kind: "match" }>, path: readonly string[]): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "string") throw new FilterEvalError(`Value of type ${Array.isArray(v) ? "list" : typeof v} is not convertible to []byte: ${path.join(".")} is not a string`);
  return (expr.regexp ?? new RegExp(expr.value ?? "")).test(v);
}

/**
 * Keeps the items whose view passes the filter; `text` undefined or "" keeps them all.
 * Throws `FilterEvalError` (a 400 at the edge) when the expression does not parse or cannot be evaluated.
 */
export function filterItems<T>(text: string | null | undefined, items: readonly T[], view: (t: T) => unknown = (t) => t): T[] {
  if (text === undefined || text === null || text.trim() === "") return [...items];
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new FilterEvalError(`Failed to create result filter: ${filterErrorText(parsed.error)}`);
  return items.filter((x) => evaluateFilter(parsed.expr, view(x)));
}
