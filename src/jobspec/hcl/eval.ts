import type { Pos } from "../diagnostic.js";
import type { Expr, TemplatePart } from "./ast.js";
import { FUNCTIONS } from "./functions.js";
import { isObject, show, typeName, type Value } from "./value.js";
import { assertNever, errorMessage } from "../../structs/index.js";

/**
 * Evaluates HCL expressions. `var.*` and `local.*` are resolved here; every other root
 * (`attr`, `node`, `meta`, `NOMAD_*`, ...) is a runtime value that the scheduler or the
 * client fills in, so inside a string it stays as written: `"${attr.kernel.name}"`.
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
      throw new EvalError(
        e.pos,
        `unknown variable "${e.name}"; runtime values such as attr.*, node.* and meta.* are written inside a string, as in "\${${e.name}.example}"`,
      );
    }
    case "getattr": {
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
    case "index":
      return index(evaluate(e.target, scope), evaluate(e.key, scope), e.pos);
    case "splat": {
      const t = evaluate(e.target, scope);
      const items = t === null ? [] : Array.isArray(t) ? t : [t];
      return items.map((item) =>
        e.each.reduce<Value>((acc, tr) => (tr.kind === "getattr" ? getAttr(acc, tr.name, e.pos) : index(acc, evaluate(tr.key, scope), e.pos)), item),
      );
    }
    case "call": {
      const fn = FUNCTIONS[e.name];
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

/** Names an expression reads that are not bound inside it. */
function freeRoots(e: Expr, bound: ReadonlySet<string>, out: Set<string>): void {
  switch (e.kind) {
    case "literal":
      return;
    case "template":
      for (const p of e.parts) if (p.kind === "interp") freeRoots(p.expr, bound, out);
      return;
    case "tuple":
      e.items.forEach((i) => {
        freeRoots(i, bound, out);
      });
      return;
    case "object":
      for (const { key, value } of e.items) {
        freeRoots(key, bound, out);
        freeRoots(value, bound, out);
      }
      return;
    case "variable":
      if (!bound.has(e.name)) out.add(e.name);
      return;
    case "getattr":
      freeRoots(e.target, bound, out);
      return;
    case "index":
      freeRoots(e.target, bound, out);
      freeRoots(e.key, bound, out);
      return;
    case "splat":
      freeRoots(e.target, bound, out);
      return;
    case "call":
      e.args.forEach((a) => {
        freeRoots(a, bound, out);
      });
      return;
    case "unary":
      freeRoots(e.operand, bound, out);
      return;
    case "binary":
      freeRoots(e.left, bound, out);
      freeRoots(e.right, bound, out);
      return;
    case "conditional":
      freeRoots(e.cond, bound, out);
      freeRoots(e.then, bound, out);
      freeRoots(e.else, bound, out);
      return;
    case "for": {
      freeRoots(e.collection, bound, out);
      const inner = new Set(bound);
      inner.add(e.valueVar);
      if (e.keyVar !== null) inner.add(e.keyVar);
      if (e.keyExpr !== null) freeRoots(e.keyExpr, inner, out);
      freeRoots(e.valueExpr, inner, out);
      if (e.cond !== null) freeRoots(e.cond, inner, out);
      return;
    }
    default:
      return assertNever(e, "expression");
  }
}

/**
 * Roots that are filled in at run time: node attributes and metadata for the scheduler, the
 * task's environment (`${NOMAD_PORT_http}`, `${HOME}`, `${env.X}`) for the client.
 */
const RUNTIME_ROOTS = new Set(["attr", "node", "meta", "env", "device"]);
const ENV_NAME = /^[A-Z_][A-Za-z0-9_]*$/;

/**
 * Whether an interpolation reads a runtime value, and so stays as written. A bare name
 * that is not ours (`${dur}` in a shell script, `${scheme}` in an nginx file a template
 * writes) stays as written too, as Nomad's parser keeps every variable it does not know.
 * A traversal from an unknown root (`${nope.tag}`) reads like a reference mistyped: it is
 * reported where it is written.
 */
function isRuntime(e: Expr, scope: Scope): boolean {
  const roots = new Set<string>();
  freeRoots(e, new Set(scope.iterators.keys()), roots);
  let runtime = false;
  for (const r of roots) {
    if (ROOTS.has(r)) continue;
    if (RUNTIME_ROOTS.has(r) || ENV_NAME.test(r) || (e.kind === "variable" && e.name === r)) runtime = true;
    else throw new EvalError(rootPos(e, r) ?? e.pos, `unknown variable "${r}"; use var.*, local.*, or a runtime value such as attr.*, node.*, meta.* or NOMAD_*`);
  }
  return runtime;
}

function rootPos(e: Expr, name: string): Pos | undefined {
  switch (e.kind) {
    case "variable":
      return e.name === name ? e.pos : undefined;
    case "getattr":
    case "index":
    case "splat":
      return rootPos(e.target, name);
    case "call":
      for (const a of e.args) {
        const p = rootPos(a, name);
        if (p !== undefined) return p;
      }
      return undefined;
    case "binary":
      return rootPos(e.left, name) ?? rootPos(e.right, name);
    case "unary":
      return rootPos(e.operand, name);
    case "conditional":
      return rootPos(e.cond, name) ?? rootPos(e.then, name) ?? rootPos(e.else, name);
    default:
      return undefined;
  }
}

function template(parts: TemplatePart[], scope: Scope): Value {
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only?.kind === "interp") return isRuntime(only.expr, scope) ? only.source : evaluate(only.expr, scope);
  let out = "";
  for (const p of parts) {
    if (p.kind === "text") {
      out += p.text;
      continue;
    }
    if (isRuntime(p.expr, scope)) {
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
