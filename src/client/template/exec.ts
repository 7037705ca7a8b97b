import { parseTemplate, TemplateError, type Command, type Node, type Operand, type Parsed, type Pipeline } from "./parse.js";

/**
 * Runs a parsed template as Go's text/template does: values printed as Go's `fmt` prints
 * them (`<no value>` for a key a map does not have), Go's truth (false, 0, "", nil and an
 * empty list or map are false), `range` over lists, maps (in key order) and numbers, and
 * Go's built-in functions (`and`, `or`, `not`, `len`, `index`, `slice`, `printf`, `print`,
 * `println`, `eq`…`ge`, `html`, `js`, `urlquery`, `call`). Pure: the functions it is given
 * are its only way out.
 */

/** A template function: its arguments as evaluated, the piped value last. */
export type TemplateFunc = (...args: unknown[]) => unknown;

export interface ExecOptions {
  funcs: Readonly<Record<string, TemplateFunc>>;
  /** `error_on_missing_key`: a key a map does not have is an error, not `<no value>`. */
  errMissingKey?: boolean;
}

/** What Go prints for a map key that is not there. */
const NO_VALUE = "<no value>";

/** `{{ break }}` and `{{ continue }}`, carried up to their `range`. */
class BreakSignal extends Error {
  constructor() {
    super("break outside range");
  }
}
class ContinueSignal extends Error {
  constructor() {
    super("continue outside range");
  }
}

/** Parses and runs a template on `data` (the value of `.`). */
export function execTemplate(src: string | Parsed, data: unknown, o: ExecOptions, delims: { left: string; right: string } = { left: "{{", right: "}}" }): string {
  const parsed = typeof src === "string" ? parseTemplate(src, delims.left, delims.right) : src;
  const st = new State(parsed, o);
  const out: string[] = [];
  st.walk(parsed.root, data, [{ name: "$", value: data }], out);
  return out.join("");
}

interface Var {
  name: string;
  value: unknown;
}

class State {
  private depth = 0;
  constructor(
    private readonly parsed: Parsed,
    private readonly o: ExecOptions,
  ) {}

  walk(nodes: readonly Node[], dot: unknown, vars: Var[], out: string[]): void {
    const mark = vars.length;
    for (const n of nodes) this.node(n, dot, vars, out);
    vars.length = mark;
  }

  private node(n: Node, dot: unknown, vars: Var[], out: string[]): void {
    switch (n.t) {
      case "text":
        out.push(n.text);
        return;
      case "action": {
        const v = this.pipe(n.pipe, dot, vars);
        if (n.pipe.decl.length === 0) out.push(printValue(v));
        return;
      }
      case "if":
      case "with": {
        const mark = vars.length;
        const v = this.pipe(n.pipe, dot, vars);
        if (truth(v)) this.walk(n.list, n.t === "with" ? v : dot, vars, out);
        else if (n.else !== null) this.walk(n.else, dot, vars, out);
        vars.length = mark;
        return;
      }
      case "range":
        this.range(n, dot, vars, out);
        return;
      case "template": {
        const body = this.parsed.defines.get(n.name);
        if (body === undefined) throw new TemplateError(`line ${n.line}: no template "${n.name}" defined`);
        if (++this.depth > 100) throw new TemplateError(`line ${n.line}: template "${n.name}" calls itself too deep`);
        const v = n.pipe === null ? undefined : this.pipe(n.pipe, dot, vars);
        this.walk(body, v, [{ name: "$", value: v }], out);
        this.depth--;
        return;
      }
      case "break":
        throw new BreakSignal();
      case "continue":
        throw new ContinueSignal();
      default: {
        const _: never = n;
        return _;
      }
    }
  }

  private range(n: Extract<Node, { t: "range" }>, dot: unknown, vars: Var[], out: string[]): void {
    const mark = vars.length;
    const decl = n.pipe.decl;
    const v = this.pipe({ ...n.pipe, decl: [] }, dot, vars);
    const items: [unknown, unknown][] = [];
    if (Array.isArray(v)) v.forEach((x, i) => items.push([i, x]));
    else if (v instanceof Map) for (const k of [...(v.keys() as Iterable<unknown>)].sort(compareKeys)) items.push([k, v.get(k)]);
    else if (typeof v === "number" && Number.isInteger(v)) for (let i = 0; i < v; i++) items.push([i, i]);
    else if (isObject(v)) for (const k of Object.keys(v).sort()) items.push([k, v[k]]);
    else if (v !== null && v !== undefined) throw new TemplateError(`line ${n.line}: range can't iterate over ${printValue(v)}`);
    if (items.length === 0) {
      if (n.else !== null) this.walk(n.else, dot, vars, out);
      vars.length = mark;
      return;
    }
    for (const [k, x] of items) {
      const inner = vars.length;
      if (decl.length === 1) vars.push({ name: decl[0] ?? "", value: x });
      else if (decl.length === 2) vars.push({ name: decl[0] ?? "", value: k }, { name: decl[1] ?? "", value: x });
      try {
        this.walk(n.list, x, vars, out);
      } catch (e) {
        vars.length = inner;
        if (e instanceof BreakSignal) break;
        if (e instanceof ContinueSignal) continue;
        throw e;
      }
      vars.length = inner;
    }
    vars.length = mark;
  }

  private pipe(p: Pipeline, dot: unknown, vars: Var[]): unknown {
    let v: unknown = undefined;
    let piped = false;
    for (const c of p.cmds) {
      v = this.command(c, dot, vars, piped ? { value: v } : null, p.line);
      piped = true;
    }
    if (p.decl.length > 0) {
      const name = p.decl[0] ?? "";
      if (p.assign) {
        const found = findVar(vars, name);
        if (found === undefined) throw new TemplateError(`line ${p.line}: undefined variable ${name}`);
        found.value = v;
      } else {
        vars.push({ name, value: v });
      }
    }
    return v;
  }

  private command(c: Command, dot: unknown, vars: Var[], piped: { value: unknown } | null, line: number): unknown {
    const first = c[0];
    if (first === undefined) throw new TemplateError(`line ${line}: empty command`);
    if (first.t === "ident") {
      const name = first.name;
      // `and` and `or` stop at the first value that decides, as Go's do.
      if (name === "and" || name === "or") {
        const ops = c.slice(1);
        if (ops.length + (piped === null ? 0 : 1) === 0) throw new TemplateError(`line ${line}: ${name} needs at least one argument`);
        let last: unknown = undefined;
        const values = (function* (self: State): Generator {
          for (const op of ops) yield self.operand(op, dot, vars, line);
          if (piped !== null) yield piped.value;
        })(this);
        for (const x of values) {
          last = x;
          if (name === "and" ? !truth(x) : truth(x)) return x;
        }
        return last;
      }
      const f = this.o.funcs[name] ?? BUILTINS[name];
      if (f === undefined) throw new TemplateError(`line ${line}: function "${name}" not defined`);
      const args = c.slice(1).map((op) => this.operand(op, dot, vars, line));
      if (piped !== null) args.push(piped.value);
      try {
        return f(...args);
      } catch (err) {
        if (err instanceof TemplateError || err instanceof BreakSignal || err instanceof ContinueSignal) throw err;
        throw new TemplateError(`line ${line}: ${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    if (c.length > 1 || piped !== null) throw new TemplateError(`line ${line}: can't give arguments to a non-function value`);
    return this.operand(first, dot, vars, line);
  }

  private operand(op: Operand, dot: unknown, vars: Var[], line: number): unknown {
    switch (op.t) {
      case "dot":
        return dot;
      case "string":
        return op.value;
      case "number":
        return op.value;
      case "bool":
        return op.value;
      case "nil":
        return null;
      case "field":
        return this.fields(op.base === null ? dot : this.operand(op.base, dot, vars, line), op.names, line);
      case "var": {
        const found = findVar(vars, op.name);
        if (found === undefined) throw new TemplateError(`line ${line}: undefined variable ${op.name}`);
        return this.fields(found.value, op.names, line);
      }
      case "pipe":
        return this.fields(this.pipe(op.pipe, dot, [...vars]), op.names, line);
      case "ident": {
        const f = this.o.funcs[op.name] ?? BUILTINS[op.name];
        if (f === undefined) throw new TemplateError(`line ${line}: function "${op.name}" not defined`);
        return f();
      }
      default: {
        const _: never = op;
        return _;
      }
    }
  }

  private fields(v: unknown, names: readonly string[], line: number): unknown {
    let cur = v;
    for (const name of names) {
      if (cur instanceof Map) {
        if (!cur.has(name)) {
          if (this.o.errMissingKey === true) throw new TemplateError(`line ${line}: map has no entry for key "${name}"`);
          return undefined;
        }
        cur = cur.get(name);
      } else if (isObject(cur)) {
        if (!(name in cur)) {
          if (this.o.errMissingKey === true) throw new TemplateError(`line ${line}: map has no entry for key "${name}"`);
          return undefined;
        }
        const f = cur[name];
        cur = typeof f === "function" ? (f as () => unknown).call(cur) : f;
      } else if (cur === null || cur === undefined) {
        if (this.o.errMissingKey === true) throw new TemplateError(`line ${line}: nil pointer evaluating .${name}`);
        return undefined;
      } else {
        throw new TemplateError(`line ${line}: can't evaluate field ${name} in ${typeof cur} ${printValue(cur)}`);
      }
    }
    return cur;
  }
}

function findVar(vars: Var[], name: string): Var | undefined {
  for (let i = vars.length - 1; i >= 0; i--) if (vars[i]?.name === name) return vars[i];
  return undefined;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array);
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** Go's truth of a value. */
export function truth(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isObject(v)) return Object.keys(v).length > 0 || v.constructor !== Object;
  return true;
}

/** A value as Go's `fmt` prints it with `%v`. */
export function printValue(v: unknown): string {
  if (v === undefined) return NO_VALUE;
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `[${v.map(inner).join(" ")}]`;
  if (v instanceof Map) return `map[${[...(v.entries() as Iterable<[unknown, unknown]>)].sort((a, b) => compareKeys(a[0], b[0])).map(([k, x]) => `${inner(k)}:${inner(x)}`).join(" ")}]`;
  if (isObject(v)) {
    const own = ownString(v);
    if (own !== undefined) return own;
    return `map[${Object.keys(v).sort().map((k) => `${k}:${inner(v[k])}`).join(" ")}]`;
  }
  if (v instanceof Uint8Array) return `[${[...v].join(" ")}]`;
  if (typeof v === "symbol") return v.toString();
  return "<func>";
}

/** What a value with its own `toString` (a variable's item) prints; undefined for a plain object. */
export function ownString(v: object): string | undefined {
  const f = (v as { toString?: unknown }).toString;
  return typeof f === "function" && f !== Object.prototype.toString ? String((f as () => unknown).call(v)) : undefined;
}

function inner(v: unknown): string {
  return v === undefined ? "<nil>" : printValue(v);
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  // Go prints a float64 with %v as strconv's shortest 'g' form; large exponents as e+XX.
  const s = String(n);
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

/** Go's `fmt.Sprintf` for the verbs templates use: %v %s %d %f %g %e %q %t %x %X %o %b %c %%, with flags, width and precision. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let ai = 0;
  return format.replace(/%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+))?([vsdfgeqtxXobcT%])/g, (_whole, flags: string, w?: string, p?: string, verb?: string) => {
    if (verb === "%") return "%";
    const width = w === "*" ? Number(args[ai++]) : w === undefined ? undefined : Number(w);
    const prec = p === "*" ? Number(args[ai++]) : p === undefined ? undefined : Number(p);
    if (ai >= args.length) return `%!${verb ?? ""}(MISSING)`;
    const a = args[ai++];
    let s: string;
    switch (verb) {
      case "v":
        s = flags.includes("+") && isObject(a) ? `{${Object.entries(a).map(([k, x]) => `${k}:${printValue(x)}`).join(" ")}}` : printValue(a);
        break;
      case "s":
        s = printValue(a);
        if (prec !== undefined) s = s.slice(0, prec);
        break;
      case "d":
        s = typeof a === "number" ? String(Math.trunc(a)) : `%!d(${typeName(a)}=${printValue(a)})`;
        if (flags.includes("+") && typeof a === "number" && a >= 0) s = `+${s}`;
        break;
      case "f":
        s = typeof a === "number" ? a.toFixed(prec ?? 6) : `%!f(${typeName(a)}=${printValue(a)})`;
        break;
      case "e":
        s = typeof a === "number" ? a.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, "e$10$2") : `%!e(${typeName(a)}=${printValue(a)})`;
        break;
      case "g":
        s = typeof a === "number" ? (prec === undefined ? formatNumber(a) : String(Number(a.toPrecision(prec)))) : `%!g(${typeName(a)}=${printValue(a)})`;
        break;
      case "q":
        s = typeof a === "number" ? `'${String.fromCodePoint(a)}'` : JSON.stringify(printValue(a));
        break;
      case "t":
        s = typeof a === "boolean" ? String(a) : `%!t(${typeName(a)}=${printValue(a)})`;
        break;
      case "x":
      case "X": {
        s = typeof a === "number" ? Math.trunc(a).toString(16) : Buffer.from(printValue(a)).toString("hex");
        if (verb === "X") s = s.toUpperCase();
        if (flags.includes("#")) s = `0${verb}${s}`;
        break;
      }
      case "o":
        s = typeof a === "number" ? Math.trunc(a).toString(8) : printValue(a);
        break;
      case "b":
        s = typeof a === "number" ? Math.trunc(a).toString(2) : printValue(a);
        break;
      case "c":
        s = typeof a === "number" ? String.fromCodePoint(a) : printValue(a);
        break;
      case "T":
        s = typeName(a);
        break;
      default:
        s = printValue(a);
    }
    if (width !== undefined && s.length < width) {
      if (flags.includes("-")) s = s.padEnd(width);
      else if (flags.includes("0") && /[dfegxXob]/.test(verb ?? "")) s = s.startsWith("-") ? `-${s.slice(1).padStart(width - 1, "0")}` : s.padStart(width, "0");
      else s = s.padStart(width);
    }
    return s;
  });
}

function typeName(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  if (v === null || v === undefined) return "<nil>";
  return "map[string]interface {}";
}

/** Go's `print`: spaces between operands when neither is a string. */
function goPrint(args: readonly unknown[]): string {
  let s = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") s += " ";
    s += printValue(a);
  });
  return s;
}

function basicKind(v: unknown): string {
  if (typeof v === "number") return "number";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (v === null || v === undefined) return "nil";
  return "other";
}

function eqOne(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === "other" || kb === "other") {
    if (ka === "nil" || kb === "nil") return (a ?? null) === (b ?? null);
    throw new Error("incompatible types for comparison");
  }
  if (ka !== kb && ka !== "nil" && kb !== "nil") throw new Error("incompatible types for comparison");
  return (a ?? null) === (b ?? null);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  throw new Error(`incompatible types for comparison (${typeName(a)} and ${typeName(b)})`);
}

/** The length Go's `len` gives: bytes of a string, items of a list or map. */
export function goLen(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  if (isObject(v)) return Object.keys(v).length;
  if (v === null || v === undefined) return 0;
  throw new Error(`len of type ${typeName(v)}`);
}

function indexOne(v: unknown, k: unknown): unknown {
  if (Array.isArray(v) || typeof v === "string") {
    if (typeof k !== "number" || !Number.isInteger(k)) throw new Error(`cannot index slice/array with ${typeName(k)}`);
    if (k < 0 || k >= v.length) throw new Error(`index out of range: ${k}`);
    return typeof v === "string" ? v.charCodeAt(k) : v[k];
  }
  if (v instanceof Map) return v.get(k);
  if (isObject(v)) return v[String(k)];
  if (v === null || v === undefined) throw new Error("index of untyped nil");
  throw new Error(`can't index item of type ${typeName(v)}`);
}

const BUILTINS: Readonly<Record<string, TemplateFunc>> = {
  not: (v) => !truth(v),
  len: (v) => goLen(v),
  index: (v, ...keys) => keys.reduce((cur, k) => indexOne(cur, k), v),
  slice: (v, ...idx) => {
    if (typeof v !== "string" && !Array.isArray(v)) throw new Error(`can't slice item of type ${typeName(v)}`);
    const [i = 0, j = v.length] = idx as number[];
    return v.slice(i, j);
  },
  printf: (format, ...args) => sprintf(String(format), args),
  print: (...args) => goPrint(args),
  println: (...args) => `${args.map(printValue).join(" ")}\n`,
  eq: (a, ...bs) => {
    if (bs.length === 0) throw new Error("missing argument for comparison");
    return bs.some((b) => eqOne(a, b));
  },
  ne: (a, b) => !eqOne(a, b),
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  html: (...args) =>
    goPrint(args).replace(/[&<>"'\0]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;", "\0": "\uFFFD" })[c] ?? c),
  js: (...args) => goPrint(args).replace(/[\\'"<>&=]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`),
  urlquery: (...args) => encodeURIComponent(goPrint(args)).replace(/%20/g, "+"),
  call: (f, ...args) => {
    if (typeof f !== "function") throw new Error("call of non-function");
    return (f as TemplateFunc)(...args);
  },
};
