import { errorMessage } from "../structs/index.js";
import type { Diagnostic, Pos } from "./diagnostic.js";
import type { Block, Expr } from "./hcl/ast.js";
import { EvalError, evaluate, type Scope } from "./hcl/eval.js";
import { parseHcl } from "./hcl/parser.js";
import { isObject, show, typeName, type Value } from "./hcl/value.js";
import { didYouMean } from "./suggest.js";

/** Where variable values come from, weakest first: defaults, environment, files, `-var`. */
export interface VariableInputs {
  /** `-var name=value`, as typed. */
  vars?: Readonly<Record<string, string>>;
  /** `-var-file` contents: HCL (`name = value`) or JSON (`{"name": value}`). */
  varFiles?: readonly { file: string; text: string }[];
  /** `NOMAD_VAR_name` and `RUCHE_VAR_name`. */
  env?: Readonly<Record<string, string | undefined>>;
}

type VarType =
  | { t: "string" | "number" | "bool" | "any" }
  | { t: "list" | "set" | "map"; of: VarType }
  | { t: "object"; fields: Record<string, VarType> }
  | { t: "tuple"; items: VarType[] };

interface Declared {
  name: string;
  type: VarType;
  default: Value | undefined;
  defaultPos: Pos | undefined;
  validations: { condition: Expr; message: string; pos: Pos }[];
  pos: Pos;
}

const EMPTY: Scope = {
  vars: {},
  iterators: new Map(),
  local(_name: string, pos: Pos): Value {
    throw new EvalError(pos, "locals cannot be used here");
  },
};

export async function resolveVariables(
  blocks: Block[],
  file: string,
  inputs: VariableInputs,
): Promise<{ values: Record<string, Value>; failed: Set<string>; diagnostics: Diagnostic[] }> {
  const diags: Diagnostic[] = [];
  const err = (pos: Pos | undefined, path: string, message: string, where = file): void => {
    diags.push(pos === undefined ? { file: where, path, message } : { file: where, pos, path, message });
  };
  const declared = new Map<string, Declared>();

  for (const b of blocks) {
    if (b.type === "variable") {
      const label = b.labels[0];
      if (b.labels.length !== 1 || label === undefined) {
        err(b.pos, "variable", 'a variable block needs exactly one label, its name: variable "example" { ... }');
        continue;
      }
      const name = label.value;
      const path = `var.${name}`;
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) err(label.pos, path, `"${name}" is not a valid variable name`);
      const prev = declared.get(name);
      if (prev !== undefined) {
        err(b.pos, path, `variable "${name}" is declared twice (first at line ${prev.pos.line})`);
        continue;
      }
      const d: Declared = { name, type: { t: "any" }, default: undefined, defaultPos: undefined, validations: [], pos: b.pos };
      for (const a of b.body.attributes) {
        switch (a.name) {
          case "type": {
            const t = typeExpr(a.expr);
            if (typeof t === "string") err(a.pos, `${path}.type`, t);
            else d.type = t;
            break;
          }
          case "default":
            d.defaultPos = a.pos;
            try {
              d.default = evaluate(a.expr, EMPTY);
            } catch (e) {
              if (!(e instanceof EvalError)) throw e;
              err(e.pos, `${path}.default`, `${e.message} (a default cannot refer to other variables)`);
            }
            break;
          case "description":
          case "sensitive":
          case "nullable":
            break;
          default:
            err(a.pos, `${path}.${a.name}`, `unknown attribute "${a.name}" in variable${didYouMean(a.name, ["type", "default", "description", "sensitive"])}`);
        }
      }
      for (const v of b.body.blocks) {
        if (v.type !== "validation") {
          err(v.pos, `${path}.${v.type}`, `unknown block "${v.type}" in variable${didYouMean(v.type, ["validation"])}`);
          continue;
        }
        const cond = v.body.attributes.find((a) => a.name === "condition");
        const msg = v.body.attributes.find((a) => a.name === "error_message");
        if (cond === undefined || msg === undefined) {
          err(v.pos, `${path}.validation`, "a validation block needs condition and error_message");
          continue;
        }
        const text = msg.expr.kind === "literal" && typeof msg.expr.value === "string" ? msg.expr.value : "";
        d.validations.push({ condition: cond.expr, message: text === "" ? "invalid value" : text, pos: cond.pos });
      }
      declared.set(name, d);
    } else if (b.type === "variables") {
      for (const a of b.body.attributes) {
        if (declared.has(a.name)) {
          err(a.pos, `var.${a.name}`, `variable "${a.name}" is declared twice`);
          continue;
        }
        let def: Value | undefined;
        try {
          def = evaluate(a.expr, EMPTY);
        } catch (e) {
          if (!(e instanceof EvalError)) throw e;
          err(e.pos, `var.${a.name}`, e.message);
        }
        declared.set(a.name, { name: a.name, type: { t: "any" }, default: def, defaultPos: a.pos, validations: [], pos: a.pos });
      }
    }
  }

  const values: Record<string, Value> = {};
  const given = new Map<string, { value: Value; from: string }>();
  for (const [k, v] of Object.entries(inputs.env ?? {})) {
    const m = /^(?:NOMAD|RUCHE)_VAR_(.+)$/.exec(k);
    const name = m?.[1];
    if (name === undefined || v === undefined || !declared.has(name)) continue;
    given.set(name, { value: v, from: `environment variable ${k}` });
  }
  for (const vf of inputs.varFiles ?? []) {
    const read = await readVarFile(vf.file, vf.text);
    diags.push(...read.diagnostics);
    for (const [name, value] of Object.entries(read.values)) {
      if (!declared.has(name)) {
        err(undefined, `var.${name}`, `the var file sets "${name}", which the job file does not declare${didYouMean(name, [...declared.keys()])}`, vf.file);
        continue;
      }
      given.set(name, { value, from: vf.file });
    }
  }
  for (const [name, value] of Object.entries(inputs.vars ?? {})) {
    if (!declared.has(name)) {
      err(undefined, `var.${name}`, `-var sets "${name}", which the job file does not declare${didYouMean(name, [...declared.keys()])}`);
      continue;
    }
    given.set(name, { value, from: "-var" });
  }

  for (const d of declared.values()) {
    const g = given.get(d.name);
    const raw = g?.value ?? d.default;
    const path = `var.${d.name}`;
    if (raw === undefined) {
      // A default that could not be read was said already.
      if (d.defaultPos === undefined) err(d.pos, path, `variable "${d.name}" has no default and no value was given; set it with -var ${d.name}=... or a var file`);
      continue;
    }
    const fromText = g !== undefined && typeof g.value === "string" && g.from !== d.name && (g.from === "-var" || g.from.startsWith("environment"));
    const converted = await convert(raw, d.type, fromText);
    if (typeof converted === "string") {
      err(g === undefined ? (d.defaultPos ?? d.pos) : undefined, path, `${converted}${g === undefined ? " (the default)" : ` (from ${g.from})`}`);
      continue;
    }
    values[d.name] = converted.value;
  }

  for (const d of declared.values()) {
    if (!Object.hasOwn(values, d.name)) continue;
    for (const v of d.validations) {
      const scope: Scope = { ...EMPTY, vars: { [d.name]: values[d.name] ?? null } };
      try {
        const ok = evaluate(v.condition, scope);
        if (ok !== true) err(v.pos, `var.${d.name}`, v.message);
      } catch (e) {
        if (!(e instanceof EvalError)) throw e;
        err(e.pos, `var.${d.name}`, e.message);
      }
    }
  }
  const failed = new Set([...declared.keys()].filter((k) => !Object.hasOwn(values, k)));
  return { values, failed, diagnostics: diags };
}

async function readVarFile(file: string, text: string): Promise<{ values: Record<string, Value>; diagnostics: Diagnostic[] }> {
  if (file.endsWith(".json") || text.trimStart().startsWith("{")) {
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v !== "object" || v === null || Array.isArray(v)) return { values: {}, diagnostics: [{ file, path: "", message: "a JSON var file holds one object" }] };
      return { values: v as Record<string, Value>, diagnostics: [] };
    } catch (e) {
      return { values: {}, diagnostics: [{ file, path: "", message: `invalid JSON: ${errorMessage(e)}` }] };
    }
  }
  const parsed = await parseHcl(text, file, { newlines: true });
  if (!parsed.ok) return { values: {}, diagnostics: parsed.diagnostics };
  const values: Record<string, Value> = {};
  const diagnostics: Diagnostic[] = [];
  for (const b of parsed.body.blocks) diagnostics.push({ file, pos: b.pos, path: b.type, message: "a var file holds assignments (name = value), not blocks" });
  for (const a of parsed.body.attributes) {
    try {
      values[a.name] = evaluate(a.expr, EMPTY);
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      diagnostics.push({ file, pos: e.pos, path: `var.${a.name}`, message: e.message });
    }
  }
  return { values, diagnostics };
}

/** A type constraint: `string`, `list(string)`, `map(number)`, `object({a = string})`, ... */
function typeExpr(e: Expr): VarType | string {
  if (e.kind === "variable") {
    if (e.name === "string" || e.name === "number" || e.name === "bool" || e.name === "any") return { t: e.name };
    return `unknown type "${e.name}"; use string, number, bool, any, list(T), set(T), map(T), object({...}) or tuple([...])`;
  }
  if (e.kind === "call") {
    const arg = e.args[0];
    if (e.args.length !== 1 || arg === undefined) return `type ${e.name}(...) takes one argument`;
    if (e.name === "list" || e.name === "set" || e.name === "map") {
      const of = typeExpr(arg);
      return typeof of === "string" ? of : { t: e.name, of };
    }
    if (e.name === "object" && arg.kind === "object") {
      const fields: Record<string, VarType> = {};
      for (const item of arg.items) {
        const key = item.key.kind === "literal" ? String(item.key.value) : item.key.kind === "variable" ? item.key.name : "";
        const t = typeExpr(item.value);
        if (typeof t === "string") return t;
        fields[key] = t;
      }
      return { t: "object", fields };
    }
    if (e.name === "tuple" && arg.kind === "tuple") {
      const items: VarType[] = [];
      for (const i of arg.items) {
        const t = typeExpr(i);
        if (typeof t === "string") return t;
        items.push(t);
      }
      return { t: "tuple", items };
    }
  }
  return "not a type; use string, number, bool, any, list(T), set(T), map(T), object({...}) or tuple([...])";
}

function typeText(t: VarType): string {
  switch (t.t) {
    case "list":
    case "set":
    case "map":
      return `${t.t}(${typeText(t.of)})`;
    case "object":
      return "object";
    case "tuple":
      return "tuple";
    default:
      return t.t;
  }
}

/** Converts a value to its declared type; text from the command line is parsed first. */
async function convert(v: Value, t: VarType, fromText: boolean): Promise<{ value: Value } | string> {
  if (fromText && typeof v === "string" && t.t !== "string" && t.t !== "any" && t.t !== "number" && t.t !== "bool") {
    const parsed = await parseHcl(`v = ${v}`, "-var");
    const attr = parsed.ok ? parsed.body.attributes[0] : undefined;
    if (attr === undefined) return `${show(v)} is not a valid ${typeText(t)}`;
    try {
      v = evaluate(attr.expr, EMPTY);
    } catch {
      return `${show(v)} is not a valid ${typeText(t)}`;
    }
  }
  const out = conform(v, t);
  return typeof out === "string" ? out : { value: out.v };
}

function conform(v: Value, t: VarType): { v: Value } | string {
  switch (t.t) {
    case "any":
      return { v };
    case "string":
      if (typeof v === "string") return { v };
      if (typeof v === "number" || typeof v === "boolean") return { v: String(v) };
      return `a string is required, got ${typeName(v)}`;
    case "number": {
      const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
      return Number.isFinite(n) ? { v: n } : `a number is required, got ${typeName(v)} ${show(v)}`;
    }
    case "bool":
      if (typeof v === "boolean") return { v };
      if (v === "true" || v === "false") return { v: v === "true" };
      return `a bool is required, got ${typeName(v)} ${show(v)}`;
    case "list":
    case "set": {
      if (!Array.isArray(v)) return `a ${typeText(t)} is required, got ${typeName(v)}`;
      const out: Value[] = [];
      for (const item of v) {
        const c = conform(item, t.of);
        if (typeof c === "string") return `in the list: ${c}`;
        out.push(c.v);
      }
      return { v: out };
    }
    case "map": {
      if (!isObject(v)) return `a ${typeText(t)} is required, got ${typeName(v)}`;
      const out: Record<string, Value> = {};
      for (const [k, item] of Object.entries(v)) {
        const c = conform(item, t.of);
        if (typeof c === "string") return `key ${JSON.stringify(k)}: ${c}`;
        out[k] = c.v;
      }
      return { v: out };
    }
    case "object": {
      if (!isObject(v)) return `an object is required, got ${typeName(v)}`;
      const out: Record<string, Value> = {};
      for (const [k, ft] of Object.entries(t.fields)) {
        if (!Object.hasOwn(v, k)) return `attribute "${k}" is required`;
        const c = conform(v[k] ?? null, ft);
        if (typeof c === "string") return `attribute "${k}": ${c}`;
        out[k] = c.v;
      }
      return { v: out };
    }
    case "tuple": {
      if (!Array.isArray(v) || v.length !== t.items.length) return `a tuple of ${t.items.length} is required`;
      const out: Value[] = [];
      for (const [i, it] of t.items.entries()) {
        const c = conform(v[i] ?? null, it);
        if (typeof c === "string") return `element ${i}: ${c}`;
        out.push(c.v);
      }
      return { v: out };
    }
    default: {
      const _: never = t;
      return `unknown type ${JSON.stringify(_)}`;
    }
  }
}
