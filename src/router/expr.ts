/**
 * The boolean expressions of rules and constraints: calls such as ``Host(`a`, `b`)``
 * joined by `&&`, `||`, `!` and parentheses. Arguments are strings in backquotes or
 * double quotes. `&&` binds tighter than `||`, as in the rules users already write.
 */
export type Expr = { op: "and" | "or"; of: Expr[] } | { op: "not"; of: Expr } | { op: "call"; name: string; args: string[] };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

type Token = { t: "name"; v: string; at: number } | { t: "str"; v: string; at: number } | { t: "sym"; v: "(" | ")" | "," | "&&" | "||" | "!"; at: number };

function tokenize(text: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\n") {
      i++;
    } else if (c === "`" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return `unterminated string at column ${i + 1}`;
      out.push({ t: "str", v: text.slice(i + 1, end), at: i });
      i = end + 1;
    } else if (text.startsWith("&&", i) || text.startsWith("||", i)) {
      out.push({ t: "sym", v: text.slice(i, i + 2) as "&&" | "||", at: i });
      i += 2;
    } else if (c === "(" || c === ")" || c === "," || c === "!") {
      out.push({ t: "sym", v: c, at: i });
      i++;
    } else if (/[A-Za-z]/.test(c)) {
      const m = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(i));
      const v = m?.[0] ?? c;
      out.push({ t: "name", v, at: i });
      i += v.length;
    } else {
      return `unexpected "${c}" at column ${i + 1}`;
    }
  }
  return out;
}

/** Parses an expression; the reason names the column of the first mistake. */
export function parseExpr(text: string): Parsed<Expr> {
  const tokens = tokenize(text);
  if (typeof tokens === "string") return { ok: false, reason: tokens };
  let pos = 0;
  const where = (): string => {
    const tok = tokens[pos];
    return tok === undefined ? "at the end" : `at column ${tok.at + 1}`;
  };
  const isSym = (v: string): boolean => {
    const tok = tokens[pos];
    return tok?.t === "sym" && tok.v === v;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} ${where()}`);
  };
  const or = (): Expr => {
    const of = [and()];
    while (isSym("||")) {
      pos++;
      of.push(and());
    }
    return of.length === 1 ? (of[0] as Expr) : { op: "or", of };
  };
  const and = (): Expr => {
    const of = [unary()];
    while (isSym("&&")) {
      pos++;
      of.push(unary());
    }
    return of.length === 1 ? (of[0] as Expr) : { op: "and", of };
  };
  const unary = (): Expr => {
    if (isSym("!")) {
      pos++;
      return { op: "not", of: unary() };
    }
    if (isSym("(")) {
      pos++;
      const e = or();
      if (!isSym(")")) fail('expected ")"');
      pos++;
      return e;
    }
    const tok = tokens[pos];
    if (tok?.t !== "name") return fail("expected a matcher such as Host(`example.com`)");
    pos++;
    if (!isSym("(")) fail(`expected "(" after ${tok.v}`);
    pos++;
    const args: string[] = [];
    while (!isSym(")")) {
      const a = tokens[pos];
      if (a?.t !== "str") return fail(`expected a quoted argument of ${tok.v}`);
      args.push(a.v);
      pos++;
      if (isSym(",")) pos++;
      else if (!isSym(")")) fail(`expected "," or ")" in ${tok.v}(...)`);
    }
    pos++;
    return { op: "call", name: tok.v, args };
  };
  try {
    if (tokens.length === 0) return { ok: false, reason: "empty expression" };
    const e = or();
    if (pos < tokens.length) fail("unexpected text");
    return { ok: true, value: e };
  } catch (err) {
    if (err instanceof SyntaxError) return { ok: false, reason: err.message };
    throw err;
  }
}
