import type { Pos } from "../diagnostic.js";
import type { Expr, TemplatePart } from "./ast.js";
import { FILESYSTEM_FUNCTIONS, FUNCTIONS } from "./functions.js";
import { fsFunction } from "./functions-fs.js";
import { isObject, show, typeName, type Value } from "./value.js";
import { assertNever, errorMessage } from "../../structs/index.js";

/**
 * Evaluates HCL expressions. `var.*` and `local.*` are resolved here; a reference from any
 * other root (`attr`, `node`, `meta`, `NOMAD_*`, a shell's `${dur}`, ...) is a runtime value
 * that the scheduler or the client fills in, so it becomes the string `"${...}"` of the
 * reference as written, inside a string or not (`attribute = attr.cpu.arch` is
 * `"${attr.cpu.arch}"`), as Nomad's `UndefinedVariable` hook makes it.
 */
export class EvalError extends Error {
  constructor(
    readonly pos: Pos,
    message: string,
    /** Set when the cause was reported already (a variable that could not be resolved). */
    readonly reported = false,
  ) {
    super(message);
  }
}

export interface Scope {
  vars: Readonly<Record<string, Value>>;
  /** Variables that are declared but whose value was refused; using one is not a new mistake. */
  failed?: ReadonlySet<string>;
  /** Resolves `local.NAME`, evaluating it on first use. */
  local: (name: string, pos: Pos) => Value;
  iterators: ReadonlyMap<string, Value>;
  /**
   * Whether a reference from another root, written outside a string, is a runtime value (a
   * job's body and locals, as in Nomad) or a mistake (a variable's default, a var file, an
   * agent config: Nomad evaluates those without variables). Inside a string it is kept as
   * written either way.
   */
  runtimeReferences?: boolean;
  /** The job file's directory, from which `file()` and the other filesystem functions read (the CLI's); none over the API. */
  fileBase?: string;
}

const ROOTS = new Set(["var", "local"]);

export function evaluate(e: Expr, scope: Scope): Value {
  switch (e.kind) {
    case "literal":
      return e.value;
    case "template":
      return template(e.parts, scope);
    case "tuple":
      return e.items.map((i) => evaluate(i, scope));
    case "object": {
      const out: Record<string, Value> = {};
      for (const { key, value } of e.items) {
        const k = evaluate(key, scope);
        if (typeof k !== "string" && typeof k !== "number" && typeof k !== "boolean") {
          throw new EvalError(key.pos, `an object key must be a string, got ${typeName(k)}`);
        }
        out[String(k)] = evaluate(value, scope);
      }
      return out;
    }
    case "variable": {
      const it = scope.iterators.get(e.name);
      if (it !== undefined) return it;
      if (ROOTS.has(e.name)) throw new EvalError(e.pos, `"${e.name}" must be followed by a name, as in ${e.name}.example`);
      if (scope.runtimeReferences !== true) throw new EvalError(e.pos, `unknown variable "${e.name}"; only values are allowed here, not references`);
      return `\${${e.name}}`;
    }
    case "getattr": {
      const runtime = runtimeReference(e, scope);
      if (runtime !== undefined) return `\${${runtime}}`;
      if (e.target.kind === "variable" && !scope.iterators.has(e.target.name)) {
        if (e.target.name === "var") {
          if (scope.failed?.has(e.name) === true) throw new EvalError(e.target.pos, `variable "${e.name}" has no valid value`, true);
          if (!Object.hasOwn(scope.vars, e.name)) throw new EvalError(e.target.pos, `there is no variable named "${e.name}"; declare it in a variable block`);
          return scope.vars[e.name] ?? null;
        }
        if (e.target.name === "local") return scope.local(e.name, e.target.pos);
      }
      return getAttr(evaluate(e.target, scope), e.name, e.pos);
    }
    case "index": {
      const runtime = runtimeReference(e, scope);
      if (runtime !== undefined) return `\${${runtime}}`;
      return index(evaluate(e.target, scope), evaluate(e.key, scope), e.pos);
    }
    case "splat": {
      const t = evaluate(e.target, scope);
      const items = t === null ? [] : Array.isArray(t) ? t : [t];
      return items.map((item) =>
        e.each.reduce<Value>((acc, tr) => (tr.kind === "getattr" ? getAttr(acc, tr.name, e.pos) : index(acc, evaluate(tr.key, scope), e.pos)), item),
      );
    }
    case "call": {
      if (e.name === "try" || e.name === "can") return tryCan(e.name, e.args, scope, e.pos);
      const fn = FUNCTIONS[e.name];
      if (fn === undefined && FILESYSTEM_FUNCTIONS.has(e.name)) {
        if (scope.fileBase === undefined) {
          throw new EvalError(e.pos, `${e.name}(): filesystem functions are disabled here (Nomad's "filesystem function disabled"): a job sent to the API is read without files; run it with the CLI, which reads them beside the job file`);
        }
        const args = e.args.map((a) => evaluate(a, scope));
        try {
          return fsFunction(e.name, args, scope.fileBase);
        } catch (err) {
          throw new EvalError(e.pos, errorMessage(err));
        }
      }
      if (fn === undefined) throw new EvalError(e.pos, `there is no function named "${e.name}"`);
      let args = e.args.map((a) => evaluate(a, scope));
      if (e.expandLast) {
        const last = args[args.length - 1];
        if (!Array.isArray(last)) throw new EvalError(e.pos, `${e.name}: the argument before "..." must be a list`);
        args = [...args.slice(0, -1), ...last];
      }
      try {
        return fn(args);
      } catch (err) {
        throw new EvalError(e.pos, errorMessage(err));
      }
    }
    case "unary": {
      const v = evaluate(e.operand, scope);
      if (e.op === "!") return !bool(v, e.pos, "!");
      return -number(v, e.pos, "-");
    }
    case "binary":
      return binary(e.op, e.left, e.right, scope, e.pos);
    case "conditional":
      return bool(evaluate(e.cond, scope), e.cond.pos, "a condition") ? evaluate(e.then, scope) : evaluate(e.else, scope);
    case "for":
      return forExpr(e, scope);
    default:
      return assertNever(e, "expression");
  }
}

/**
 * The text of a reference from a root that is neither `var`, `local` nor an iterator in
 * scope — `attr.cpu.arch`, `meta["rack"]`, `NOMAD_PORT_http`: HCL's traversal, a name then
 * attributes and literal indexes — or undefined when `e` is not one. Nomad's jobspec
 * evaluates such a reference to the string `"${...}"` of what is written.
 */
function runtimeReference(e: Expr, scope: Scope): string | undefined {
  return scope.runtimeReferences === true ? reference(e, scope) : undefined;
}

/** The text of a reference from an unbound root, whatever the scope allows. */
function reference(e: Expr, scope: Scope): string | undefined {
  switch (e.kind) {
    case "variable":
      return ROOTS.has(e.name) || scope.iterators.has(e.name) ? undefined : e.name;
    case "getattr": {
      const t = reference(e.target, scope);
      return t === undefined ? undefined : `${t}.${e.name}`;
    }
    case "index": {
      if (e.key.kind !== "literal") return undefined;
      const t = reference(e.target, scope);
      return t === undefined ? undefined : `${t}[${JSON.stringify(e.key.value)}]`;
    }
    default:
      return undefined;
  }
}

/**
 * HCL's `try(a, b, ...)`, the first argument that evaluates without error, and `can(a)`,
 * whether it does: their arguments are evaluated here, one at a time.
 */
function tryCan(name: "try" | "can", args: Expr[], scope: Scope, pos: Pos): Value {
  if (name === "can" && args.length !== 1) throw new EvalError(pos, `can: takes 1 argument, got ${args.length}`);
  if (args.length === 0) throw new EvalError(pos, "try: takes at least 1 argument, got 0");
  for (const a of args) {
    try {
      const v = evaluate(a, scope);
      return name === "can" ? true : v;
    } catch (err) {
      if (!(err instanceof EvalError) || err.reported) throw err;
    }
  }
  if (name === "can") return false;
  throw new EvalError(pos, "try: no argument could be evaluated without an error");
}

function template(parts: TemplatePart[], scope: Scope): Value {
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only?.kind === "interp") return reference(only.expr, scope) !== undefined ? only.source : evaluate(only.expr, scope);
  let out = "";
  for (const p of parts) {
    if (p.kind === "text") {
      out += p.text;
      continue;
    }
    // A runtime reference stays exactly as written, spaces inside the braces included.
    if (reference(p.expr, scope) !== undefined) {
      out += p.source;
      continue;
    }
    const v = evaluate(p.expr, scope);
    if (v === null) throw new EvalError(p.expr.pos, "a null value cannot be placed in a string");
    if (typeof v === "object") throw new EvalError(p.expr.pos, `a ${typeName(v)} cannot be placed in a string`);
    out += String(v);
  }
  return out;
}

function getAttr(v: Value, name: string, pos: Pos): Value {
  if (isObject(v)) {
    if (!Object.hasOwn(v, name)) throw new EvalError(pos, `the object has no attribute "${name}"`);
    return v[name] ?? null;
  }
  throw new EvalError(pos, `cannot read .${name} of a ${typeName(v)}`);
}

function index(v: Value, key: Value, pos: Pos): Value {
  if (Array.isArray(v)) {
    const i = typeof key === "number" ? key : typeof key === "string" ? Number(key) : NaN;
    if (!Number.isInteger(i)) throw new EvalError(pos, `a list index must be a whole number, got ${show(key)}`);
    if (i < 0 || i >= v.length) throw new EvalError(pos, `index ${i} is out of range for a list of ${v.length}`);
    return v[i] ?? null;
  }
  if (isObject(v)) {
    if (typeof key !== "string" && typeof key !== "number") throw new EvalError(pos, `a map key must be a string, got ${typeName(key)}`);
    const k = String(key);
    if (!Object.hasOwn(v, k)) throw new EvalError(pos, `the map has no key ${JSON.stringify(k)}`);
    return v[k] ?? null;
  }
  throw new EvalError(pos, `cannot index a ${typeName(v)}`);
}

function number(v: Value, pos: Pos, op: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  throw new EvalError(pos, `${op} needs a number, got ${typeName(v)} ${show(v)}`);
}

function bool(v: Value, pos: Pos, op: string): boolean {
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  throw new EvalError(pos, `${op} needs a bool, got ${typeName(v)} ${show(v)}`);
}

function binary(op: string, l: Expr, r: Expr, scope: Scope, pos: Pos): Value {
  if (op === "&&") return bool(evaluate(l, scope), l.pos, "&&") && bool(evaluate(r, scope), r.pos, "&&");
  if (op === "||") return bool(evaluate(l, scope), l.pos, "||") || bool(evaluate(r, scope), r.pos, "||");
  const a = evaluate(l, scope);
  const b = evaluate(r, scope);
  if (op === "==") return JSON.stringify(a) === JSON.stringify(b);
  if (op === "!=") return JSON.stringify(a) !== JSON.stringify(b);
  const x = number(a, l.pos, op);
  const y = number(b, r.pos, op);
  switch (op) {
    case "+":
      return x + y;
    case "-":
      return x - y;
    case "*":
      return x * y;
    case "/":
      if (y === 0) throw new EvalError(pos, "division by zero");
      return x / y;
    case "%":
      if (y === 0) throw new EvalError(pos, "modulo by zero");
      return x % y;
    case ">":
      return x > y;
    case ">=":
      return x >= y;
    case "<":
      return x < y;
    case "<=":
      return x <= y;
    default:
      throw new EvalError(pos, `unknown operator ${op}`);
  }
}

function forExpr(e: Extract<Expr, { kind: "for" }>, scope: Scope): Value {
  const coll = evaluate(e.collection, scope);
  const entries: [Value, Value][] = Array.isArray(coll)
    ? coll.map((v, i) => [i, v])
    : isObject(coll)
      ? Object.keys(coll)
          .sort()
          .map((k) => [k, coll[k] ?? null])
      : [];
  if (!Array.isArray(coll) && !isObject(coll)) throw new EvalError(e.collection.pos, `a for expression needs a list or a map, got ${typeName(coll)}`);
  const tuple: Value[] = [];
  const object: Record<string, Value> = {};
  for (const [k, v] of entries) {
    const iterators = new Map(scope.iterators);
    iterators.set(e.valueVar, v);
    if (e.keyVar !== null) iterators.set(e.keyVar, k);
    const inner: Scope = { ...scope, iterators };
    if (e.cond !== null && !bool(evaluate(e.cond, inner), e.cond.pos, "a for condition")) continue;
    const value = evaluate(e.valueExpr, inner);
    if (e.keyExpr === null) {
      tuple.push(value);
      continue;
    }
    const key = evaluate(e.keyExpr, inner);
    if (typeof key !== "string" && typeof key !== "number") throw new EvalError(e.keyExpr.pos, `a key must be a string, got ${typeName(key)}`);
    const ks = String(key);
    if (e.grouped) {
      const prev = object[ks];
      object[ks] = Array.isArray(prev) ? [...prev, value] : [value];
    } else {
      if (Object.hasOwn(object, ks)) throw new EvalError(e.keyExpr.pos, `duplicate key ${JSON.stringify(ks)} in a for expression; add "..." to group values`);
      object[ks] = value;
    }
  }
  return e.keyExpr === null ? tuple : object;
}
