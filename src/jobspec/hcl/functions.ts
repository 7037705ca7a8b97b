import { errorMessage } from "../../structs/index.js";
import { arity, list, num, obj, str, type Fn } from "./function-args.js";
import { MORE_FUNCTIONS } from "./functions-more.js";
import { isObject, typeName, type Value } from "./value.js";

/**
 * The functions a job file may call, a subset of HCL's standard library as Nomad
 * offers it. Each throws a plain Error with a message the evaluator places.
 */

function equal(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function format(args: Value[]): Value {
  arity(args, "format", 1, Infinity);
  const spec = str(args[0], "format", 1);
  let next = 1;
  return spec.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([sdfvtqx%])/g, (_m, _flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === "%") return "%";
    const v = args[next++];
    if (v === undefined) throw new Error(`format: not enough arguments for ${JSON.stringify(spec)}`);
    let out: string;
    switch (verb) {
      case "d":
        out = String(Math.trunc(num(v, "format", next)));
        break;
      case "f":
        out = num(v, "format", next).toFixed(prec === undefined ? 6 : Number(prec));
        break;
      case "q":
        out = JSON.stringify(str(v, "format", next));
        break;
      case "x":
        out = Math.trunc(num(v, "format", next)).toString(16);
        break;
      case "t":
        out = String(v === true);
        break;
      default:
        out = typeof v === "string" ? v : JSON.stringify(v);
    }
    return width === "" ? out : out.padStart(Number(width));
  });
}

/** `format` over lists taken element by element; a value that is no list is used for every line. */
function formatlist(args: Value[]): Value {
  arity(args, "formatlist", 1, Infinity);
  const lists = args.slice(1).filter((v): v is Value[] => Array.isArray(v));
  const n = lists[0]?.length ?? 1;
  if (lists.some((l) => l.length !== n)) throw new Error("formatlist: the lists given must all have the same length");
  return Array.from({ length: n }, (_, i) => format([args[0] ?? null, ...args.slice(1).map((v) => (Array.isArray(v) ? (v[i] ?? null) : v))]));
}

/** Nomad's filesystem functions: a job file is read alone, by the CLI or over the API. */
export const FILESYSTEM_FUNCTIONS = new Set(["abspath", "basename", "dirname", "file", "filebase64", "fileexists", "fileset", "pathexpand"]);

export const FUNCTIONS: Readonly<Record<string, Fn>> = {
  ...MORE_FUNCTIONS,
  formatlist,
  upper: (a) => (arity(a, "upper", 1), str(a[0], "upper", 1).toUpperCase()),
  lower: (a) => (arity(a, "lower", 1), str(a[0], "lower", 1).toLowerCase()),
  title: (a) => (arity(a, "title", 1), str(a[0], "title", 1).replace(/\b\w/g, (c) => c.toUpperCase())),
  trimspace: (a) => (arity(a, "trimspace", 1), str(a[0], "trimspace", 1).trim()),
  chomp: (a) => (arity(a, "chomp", 1), str(a[0], "chomp", 1).replace(/(\r?\n)+$/, "")),
  trimprefix: (a) => {
    arity(a, "trimprefix", 2);
    const s = str(a[0], "trimprefix", 1);
    const p = str(a[1], "trimprefix", 2);
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  trimsuffix: (a) => {
    arity(a, "trimsuffix", 2);
    const s = str(a[0], "trimsuffix", 1);
    const p = str(a[1], "trimsuffix", 2);
    return p !== "" && s.endsWith(p) ? s.slice(0, -p.length) : s;
  },
  replace: (a) => (arity(a, "replace", 3), str(a[0], "replace", 1).split(str(a[1], "replace", 2)).join(str(a[2], "replace", 3))),
  substr: (a) => {
    arity(a, "substr", 3);
    const s = Array.from(str(a[0], "substr", 1));
    const off = num(a[1], "substr", 2);
    const len = num(a[2], "substr", 3);
    const start = off < 0 ? s.length + off : off;
    return s.slice(start, len < 0 ? undefined : start + len).join("");
  },
  format,
  join: (a) => (arity(a, "join", 2), list(a[1], "join", 2).map((v, i) => str(v, "join", i + 2)).join(str(a[0], "join", 1))),
  split: (a) => (arity(a, "split", 2), str(a[1], "split", 2).split(str(a[0], "split", 1))),
  concat: (a) => a.flatMap((v, i) => list(v, "concat", i + 1)),
  length: (a) => {
    arity(a, "length", 1);
    const v = a[0] ?? null;
    if (typeof v === "string") return Array.from(v).length;
    if (Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    throw new Error(`length: argument 1 must be a string, list or map, got ${typeName(v)}`);
  },
  lookup: (a) => {
    arity(a, "lookup", 2, 3);
    const m = obj(a[0], "lookup", 1);
    const k = str(a[1], "lookup", 2);
    if (Object.hasOwn(m, k)) return m[k] ?? null;
    if (a.length === 3) return a[2] ?? null;
    throw new Error(`lookup: the map has no key ${JSON.stringify(k)} and no default was given`);
  },
  merge: (a) => Object.assign({}, ...a.map((v, i) => obj(v, "merge", i + 1))) as { [k: string]: Value },
  keys: (a) => (arity(a, "keys", 1), Object.keys(obj(a[0], "keys", 1)).sort()),
  values: (a) => {
    arity(a, "values", 1);
    const m = obj(a[0], "values", 1);
    return Object.keys(m)
      .sort()
      .map((k) => m[k] ?? null);
  },
  contains: (a) => (arity(a, "contains", 2), list(a[0], "contains", 1).some((v) => equal(v, a[1] ?? null))),
  element: (a) => {
    arity(a, "element", 2);
    const l = list(a[0], "element", 1);
    if (l.length === 0) throw new Error("element: the list is empty");
    const i = Math.trunc(num(a[1], "element", 2));
    return l[((i % l.length) + l.length) % l.length] ?? null;
  },
  index: (a) => {
    arity(a, "index", 2);
    const i = list(a[0], "index", 1).findIndex((v) => equal(v, a[1] ?? null));
    if (i < 0) throw new Error("index: the value is not in the list");
    return i;
  },
  distinct: (a) => {
    arity(a, "distinct", 1);
    const out: Value[] = [];
    for (const v of list(a[0], "distinct", 1)) if (!out.some((o) => equal(o, v))) out.push(v);
    return out;
  },
  flatten: (a) => {
    arity(a, "flatten", 1);
    const out: Value[] = [];
    const walk = (l: Value[]): void => {
      for (const v of l) if (Array.isArray(v)) walk(v);
      else out.push(v);
    };
    walk(list(a[0], "flatten", 1));
    return out;
  },
  // Nomad's `reverse` is cty's string reverse; a list is reversed as HCL's reverse does.
  reverse: (a) => (arity(a, "reverse", 1), typeof a[0] === "string" ? Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(a[0]), (x) => x.segment).reverse().join("") : [...list(a[0], "reverse", 1)].reverse()),
  sort: (a) => (arity(a, "sort", 1), list(a[0], "sort", 1).map((v, i) => str(v, "sort", i + 1)).sort()),
  slice: (a) => (arity(a, "slice", 3), list(a[0], "slice", 1).slice(num(a[1], "slice", 2), num(a[2], "slice", 3))),
  range: (a) => {
    arity(a, "range", 1, 3);
    const [start, end, step] = a.length === 1 ? [0, num(a[0], "range", 1), 1] : [num(a[0], "range", 1), num(a[1], "range", 2), a.length === 3 ? num(a[2], "range", 3) : 1];
    if (step === 0) throw new Error("range: step must not be zero");
    const out: number[] = [];
    for (let v = start; step > 0 ? v < end : v > end; v += step) {
      out.push(v);
      if (out.length > 10_000) throw new Error("range: more than 10000 elements");
    }
    return out;
  },
  min: (a) => (arity(a, "min", 1, Infinity), Math.min(...a.map((v, i) => num(v, "min", i + 1)))),
  max: (a) => (arity(a, "max", 1, Infinity), Math.max(...a.map((v, i) => num(v, "max", i + 1)))),
  abs: (a) => (arity(a, "abs", 1), Math.abs(num(a[0], "abs", 1))),
  ceil: (a) => (arity(a, "ceil", 1), Math.ceil(num(a[0], "ceil", 1))),
  floor: (a) => (arity(a, "floor", 1), Math.floor(num(a[0], "floor", 1))),
  coalesce: (a) => {
    const v = a.find((x) => x !== null && x !== "");
    if (v === undefined) throw new Error("coalesce: every argument is null or empty");
    return v;
  },
  tostring: (a) => (arity(a, "tostring", 1), a[0] === null ? null : str(a[0], "tostring", 1)),
  tonumber: (a) => (arity(a, "tonumber", 1), a[0] === null ? null : num(a[0], "tonumber", 1)),
  tobool: (a) => {
    arity(a, "tobool", 1);
    const v = a[0] ?? null;
    if (v === null || typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    throw new Error(`tobool: cannot turn ${typeName(v)} into a bool`);
  },
  tolist: (a) => (arity(a, "tolist", 1), list(a[0], "tolist", 1)),
  toset: (a) => (arity(a, "toset", 1), [...new Set(list(a[0], "toset", 1).map((v, i) => str(v, "toset", i + 1)))].sort()),
  tomap: (a) => (arity(a, "tomap", 1), obj(a[0], "tomap", 1)),
  jsonencode: (a) => (arity(a, "jsonencode", 1), JSON.stringify(a[0] ?? null)),
  base64encode: (a) => (arity(a, "base64encode", 1), Buffer.from(str(a[0], "base64encode", 1), "utf8").toString("base64")),
  base64decode: (a) => {
    arity(a, "base64decode", 1);
    const text = str(a[0], "base64decode", 1);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error("base64decode: the argument is not valid base64");
    return Buffer.from(text, "base64").toString("utf8");
  },
  jsondecode: (a) => {
    arity(a, "jsondecode", 1);
    try {
      return JSON.parse(str(a[0], "jsondecode", 1)) as Value;
    } catch (err) {
      throw new Error(`jsondecode: ${errorMessage(err)}`, { cause: err });
    }
  },
};
