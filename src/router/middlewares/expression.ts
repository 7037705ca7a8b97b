/**
 * The expressions of `circuitBreaker.expression` and `buffering.retryExpression`, as Traefik
 * (vulcand/predicate) reads them: calls with number arguments (`NetworkErrorRatio()`,
 * `ResponseCodeRatio(500, 600, 0, 600)`, `LatencyAtQuantileMS(50.0)`, `Attempts()`), numbers,
 * comparisons (`>`, `>=`, `<`, `<=`, `==`, `!=`), `&&`, `||`, `!` and parentheses.
 */
export type Expr =
  | { kind: "num"; value: number }
  | { kind: "call"; name: string; args: number[] }
  | { kind: "cmp"; op: ">" | ">=" | "<" | "<=" | "==" | "!="; left: Expr; right: Expr }
  | { kind: "and" | "or"; left: Expr; right: Expr }
  | { kind: "not"; inner: Expr };

/** A function of the expression: its number of arguments and whether it gives a boolean. */
export interface FunctionSpec {
  args: number;
  boolean: boolean;
}

/** Parses `text`, knowing only the functions of `known`; a reason when it cannot. */
export function parseExpression(text: string, known: Readonly<Record<string, FunctionSpec>>): Expr | { reason: string } {
  const tokens = text.match(/\s*(\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|&&|\|\||>=|<=|==|!=|[<>!(),])\s*/gy);
  if (tokens === null || tokens.join("").length !== text.length) return { reason: `cannot read "${text}"` };
  const t = tokens.map((s) => s.trim());
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(what);
  };
  const primary = (): Expr => {
    const tok = t[i++];
    if (tok === undefined) return fail("the expression ends too soon");
    if (tok === "(") {
      const e = or();
      if (t[i++] !== ")") fail("a parenthesis is not closed");
      return e;
    }
    if (tok === "!") return { kind: "not", inner: primary() };
    if (/^\d/.test(tok)) return { kind: "num", value: Number(tok) };
    if (/^[A-Za-z_]/.test(tok)) {
      const spec = known[tok];
      if (spec === undefined) fail(`unknown function ${tok} (known: ${Object.keys(known).join(", ")})`);
      if (t[i++] !== "(") fail(`${tok} must be called: ${tok}(...)`);
      const args: number[] = [];
      while (t[i] !== ")") {
        const a = t[i++];
        if (a === undefined || !/^\d/.test(a)) return fail(`the arguments of ${tok} must be numbers`);
        args.push(Number(a));
        if (t[i] === ",") i++;
      }
      i++;
      if (args.length !== spec?.args) fail(`${tok} takes ${spec?.args ?? 0} arguments`);
      return { kind: "call", name: tok, args };
    }
    return fail(`unexpected "${tok}"`);
  };
  const cmp = (): Expr => {
    const left = primary();
    const op = t[i];
    if (op === ">" || op === ">=" || op === "<" || op === "<=" || op === "==" || op === "!=") {
      i++;
      return { kind: "cmp", op, left, right: primary() };
    }
    return left;
  };
  const and = (): Expr => {
    let left = cmp();
    while (t[i] === "&&") {
      i++;
      left = { kind: "and", left, right: cmp() };
    }
    return left;
  };
  const or = (): Expr => {
    let left = and();
    while (t[i] === "||") {
      i++;
      left = { kind: "or", left, right: and() };
    }
    return left;
  };
  try {
    const e = or();
    if (i !== t.length) fail(`unexpected "${t[i] ?? ""}"`);
    if (!isBoolean(e, known)) fail("it must be a condition (a comparison, or a function giving true or false)");
    return e;
  } catch (err) {
    return { reason: `"${text}": ${(err as Error).message}` };
  }
}

function isBoolean(e: Expr, known: Readonly<Record<string, FunctionSpec>>): boolean {
  switch (e.kind) {
    case "num":
      return false;
    case "call":
      return known[e.name]?.boolean === true;
    case "cmp":
    case "and":
    case "or":
    case "not":
      return true;
    default: {
      const _: never = e;
      return _;
    }
  }
}

/** The expression's value, the functions' values given by `call`. */
export function evaluate(e: Expr, call: (name: string, args: number[]) => number | boolean): number | boolean {
  switch (e.kind) {
    case "num":
      return e.value;
    case "call":
      return call(e.name, e.args);
    case "not":
      return !evaluate(e.inner, call);
    case "and":
      return Boolean(evaluate(e.left, call)) && Boolean(evaluate(e.right, call));
    case "or":
      return Boolean(evaluate(e.left, call)) || Boolean(evaluate(e.right, call));
    case "cmp": {
      const l = Number(evaluate(e.left, call));
      const r = Number(evaluate(e.right, call));
      switch (e.op) {
        case ">":
          return l > r;
        case ">=":
          return l >= r;
        case "<":
          return l < r;
        case "<=":
          return l <= r;
        case "==":
          return l === r;
        case "!=":
          return l !== r;
        default: {
          const _: never = e.op;
          return _;
        }
      }
    }
    default: {
      const _: never = e;
      return _;
    }
  }
}
