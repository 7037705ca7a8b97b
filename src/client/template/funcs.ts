import { createHash } from "node:crypto";
import { nodeVariable, type Node } from "../../structs/index.js";
import { depName, type Dep, type KeyPair, type NomadService } from "./deps.js";
import { isObject, ownString, printValue, type TemplateFunc } from "./exec.js";

/**
 * consul-template's functions (docs/templating-language.md), as Nomad's `template` blocks
 * offer them. Those that read the cluster ask the brain for a dependency: one it does not
 * hold yet is noted as missing and answered with an empty value, and the render is thrown
 * away until every dependency it needs is there (consul-template's own way). Pure: the
 * brain, the task's environment and the node are given.
 */

export interface RenderInputs {
  /** Dependency values by `depName`; absent: not fetched yet. */
  brain: ReadonlyMap<string, unknown>;
  /** The task's environment (`env`). */
  env: Readonly<Record<string, string>>;
  /** For `env "attr.…"`, `env "node.…"`, `env "meta.…"`, as Nomad's template environment has them. */
  node?: Node;
  /** Unix ms (`timestamp`). */
  now?: () => number;
}

/** What a render read: every dependency (to watch) and the ones not there yet (the render waits). */
export interface RenderTrace {
  deps: Map<string, Dep>;
  missing: Set<string>;
}

/** A function Ruche does not offer, with why. */
function refused(name: string, why: string): TemplateFunc {
  return () => {
    throw new Error(`${name}: ${why}`);
  };
}

const NO_VAULT = "Ruche does not run Vault: give the task its secrets with nomadVar or key";
const NO_CONNECT = "Ruche does not run Consul Connect";

/** The regex of a service query: `tag.name@dc`, as consul-template reads it. */
const SERVICE_RE = /^(?:([\w=:\-.]+)\.)?([\w-]+)(?:@([\w.-]+))?(?:~([\w.-]+))?$/;

function parseService(q: string): { tag: string; name: string; dc: string; filter: string } {
  const [query = "", filter = "passing"] = q.split("|");
  const m = SERVICE_RE.exec(query.trim());
  if (m === null) throw new Error(`invalid service query "${q}"`);
  return { tag: m[1] ?? "", name: m[2] ?? "", dc: m[3] ?? "", filter: filter.trim() === "" ? "passing" : filter.trim() };
}

function str(v: unknown, what: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === undefined || v === null) return "";
  const own = isObject(v) ? ownString(v) : undefined;
  if (own !== undefined) return own;
  throw new Error(`${what} must be a string, got ${printValue(v)}`);
}

function num(v: unknown, what: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  throw new Error(`${what} must be a number, got ${printValue(v)}`);
}

function list(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v === null || v === undefined) return [];
  throw new Error(`expected a list, got ${printValue(v)}`);
}

/** Go's `json.Marshal`: keys sorted, `<`, `>` and `&` escaped. */
export function goJson(v: unknown, indent = ""): string {
  const norm = (x: unknown): unknown => {
    if (x === undefined) return null;
    if (x instanceof Map) return norm(Object.fromEntries(x as Map<string, unknown>));
    if (Array.isArray(x)) return x.map(norm);
    if (isObject(x)) {
      const own = x.constructor === Object ? undefined : ownString(x);
      if (own !== undefined) return own;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) out[k] = norm(x[k]);
      return out;
    }
    return x;
  };
  return JSON.stringify(norm(v), null, indent).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Go's `strconv.ParseBool`. */
function parseBool(s: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

function parseIntStrict(s: string): number {
  if (!/^[+-]?\d+$/.test(s.trim())) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s.trim());
}

/** consul-template's math: `add b a` is a + b, so that `{{ 5 | subtract 2 }}` is 3. */
function math(op: (a: number, b: number) => number): TemplateFunc {
  return (b, a) => op(num(a, "value"), num(b, "value"));
}

/** The functions of one render, and what it read. */
export function templateFuncs(inputs: RenderInputs): { funcs: Record<string, TemplateFunc>; trace: RenderTrace } {
  const trace: RenderTrace = { deps: new Map(), missing: new Set() };
  /** A dependency's value, or undefined (noted missing) when not fetched yet. */
  const recall = (d: Dep): unknown => {
    const name = depName(d);
    trace.deps.set(name, d);
    if (!inputs.brain.has(name)) {
      trace.missing.add(name);
      return undefined;
    }
    return inputs.brain.get(name);
  };
  const kvList = (prefix: unknown): KeyPair[] => {
    const p = str(prefix, "prefix").replace(/^\/+/, "");
    return (recall({ kind: "kv.list", prefix: p }) as KeyPair[] | undefined) ?? [];
  };
  const envOf = (k: string): string | undefined => inputs.env[k] ?? (inputs.node === undefined ? undefined : nodeVariable(k, inputs.node));
  /** `nomadService "name"`, or `nomadService N KEY "name"`: N instances chosen by rendezvous hashing on KEY, by the servers (`?choose=N|KEY`), as Nomad's. */
  const nomadService = (...args: unknown[]): NomadService[] => {
    let choose = "";
    let q = args[0];
    if (args.length === 3) {
      choose = `${num(args[0], "count")}|${str(args[1], "key")}`;
      q = args[2];
    } else if (args.length !== 1) {
      throw new Error("nomadService takes a service name, or a count, a key and a name");
    }
    const { tag, name } = parseService(str(q, "service"));
    return (recall({ kind: "nomad.service", name, tag, choose }) as NomadService[] | undefined) ?? [];
  };

  const funcs: Record<string, TemplateFunc> = {
    // --- the cluster -------------------------------------------------------------------
    key: (k) => {
      const key = str(k, "key").replace(/^\/+/, "");
      const v = recall({ kind: "kv.block", key });
      return typeof v === "string" ? v : "";
    },
    keyOrDefault: (k, d) => {
      const v = recall({ kind: "kv.get", key: str(k, "key").replace(/^\/+/, "") });
      return typeof v === "string" ? v : str(d, "default");
    },
    keyExists: (k) => typeof recall({ kind: "kv.get", key: str(k, "key").replace(/^\/+/, "") }) === "string",
    ls: (prefix) => kvList(prefix).filter((p) => !p.Key.includes("/") && p.Key !== ""),
    tree: (prefix) => kvList(prefix).filter((p) => p.Key !== "" && !p.Key.endsWith("/")),
    safeLs: (prefix) => kvList(prefix).filter((p) => !p.Key.includes("/") && p.Key !== ""),
    safeTree: (prefix) => kvList(prefix).filter((p) => p.Key !== "" && !p.Key.endsWith("/")),
    service: (q, ...rest) => {
      const s = parseService(str(q, "service"));
      if (rest.length > 0) s.filter = rest.map((r) => str(r, "status")).join(",");
      return recall({ kind: "health.service", ...s }) ?? [];
    },
    services: (dc) => recall({ kind: "catalog.services", dc: dc === undefined ? "" : str(dc, "datacenter").replace(/^@/, "") }) ?? [],
    nomadService,
    nomadServices: () => recall({ kind: "nomad.service.list" }) ?? [],
    nomadVar: (p) => recall({ kind: "nomad.var.block", path: str(p, "path") }) ?? {},
    nomadVarList: (p) => recall({ kind: "nomad.var.list", prefix: p === undefined ? "" : str(p, "prefix") }) ?? [],
    nomadVarExists: (p) => {
      const metas = (recall({ kind: "nomad.var.list", prefix: str(p, "path") }) as { Path: string }[] | undefined) ?? [];
      return metas.some((m) => m.Path === str(p, "path"));
    },
    file: (p) => {
      const v = recall({ kind: "file", path: str(p, "path") });
      return typeof v === "string" ? v : "";
    },
    env: (k) => envOf(str(k, "name")) ?? "",
    envOrDefault: (k, d) => {
      const v = envOf(str(k, "name"));
      return v === undefined || v === "" ? str(d, "default") : v;
    },
    mustEnv: (k) => {
      const v = envOf(str(k, "name"));
      if (v === undefined) throw new Error(`environment variable ${str(k, "name")} is not set`);
      return v;
    },
    // --- what Ruche has no counterpart of ---------------------------------------------
    secret: refused("secret", NO_VAULT),
    secrets: refused("secrets", NO_VAULT),
    pkiCert: refused("pkiCert", NO_VAULT),
    caLeaf: refused("caLeaf", NO_CONNECT),
    caRoots: refused("caRoots", NO_CONNECT),
    connect: refused("connect", NO_CONNECT),
    plugin: refused("plugin", "Ruche does not run template plugins"),
    writeToFile: refused("writeToFile", "Ruche writes a template's output to its destination only"),
    // --- data --------------------------------------------------------------------------
    toJSON: (v) => goJson(v),
    toJSONPretty: (v) => goJson(v, "  "),
    toUnescapedJSON: (v) => JSON.stringify(v ?? null),
    toUnescapedJSONPretty: (v) => JSON.stringify(v ?? null, null, "  "),
    parseJSON: (s) => {
      const text = str(s, "JSON");
      return text.trim() === "" ? {} : (JSON.parse(text) as unknown);
    },
    parseInt: (s) => parseIntStrict(str(s, "value")),
    parseUint: (s) => {
      const n = parseIntStrict(str(s, "value"));
      if (n < 0) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
      return n;
    },
    parseFloat: (s) => {
      const n = Number(str(s, "value"));
      if (!Number.isFinite(n) || str(s, "value").trim() === "") throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
      return n;
    },
    parseBool: (s) => parseBool(str(s, "value")),
    byKey: (pairs) => {
      const out: Record<string, Record<string, KeyPair>> = {};
      for (const p of list(pairs) as KeyPair[]) {
        const [top, ...rest] = p.Key.split("/");
        if (rest.length === 0 || top === undefined) continue;
        (out[top] ??= {})[rest.join("/")] = { ...p, Key: rest.join("/") };
      }
      return out;
    },
    byTag: (services) => {
      const out: Record<string, unknown[]> = {};
      for (const s of list(services) as { Tags?: string[] }[]) for (const t of s.Tags ?? []) (out[t] ??= []).push(s);
      return out;
    },
    explode: (pairs) => {
      const out: Record<string, unknown> = {};
      for (const p of list(pairs) as KeyPair[]) {
        const parts = p.Key.split("/").filter((x) => x !== "");
        let cur = out;
        parts.forEach((part, i) => {
          if (i === parts.length - 1) cur[part] = p.Value;
          else {
            const next = cur[part];
            const obj: Record<string, unknown> = isObject(next) ? next : {};
            cur[part] = obj;
            cur = obj;
          }
        });
      }
      return out;
    },
    // --- strings -----------------------------------------------------------------------
    split: (sep, s) => {
      const text = str(s, "string");
      return text === "" ? [] : text.split(str(sep, "separator"));
    },
    join: (sep, l) => list(l).map((x) => printValue(x)).join(str(sep, "separator")),
    replaceAll: (from, to, s) => str(s, "string").split(str(from, "old")).join(str(to, "new")),
    regexReplaceAll: (re, repl, s) => str(s, "string").replace(new RegExp(str(re, "regexp"), "g"), str(repl, "replacement").replace(/\$\{?(\w+)\}?/g, "$$$1")),
    regexMatch: (re, s) => new RegExp(str(re, "regexp")).test(str(s, "string")),
    toLower: (s) => str(s, "string").toLowerCase(),
    toUpper: (s) => str(s, "string").toUpperCase(),
    toTitle: (s) => str(s, "string").replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_w, a: string, b: string) => `${a}${b.toUpperCase()}`),
    trimSpace: (s) => str(s, "string").trim(),
    trim: (s, cut) => {
      const set = str(cut, "cutset");
      const t = str(s, "string");
      let i = 0;
      let j = t.length;
      while (i < j && set.includes(t.charAt(i))) i++;
      while (j > i && set.includes(t.charAt(j - 1))) j--;
      return t.slice(i, j);
    },
    trimPrefix: (p, s) => {
      const t = str(s, "string");
      return t.startsWith(str(p, "prefix")) ? t.slice(str(p, "prefix").length) : t;
    },
    trimSuffix: (p, s) => {
      const t = str(s, "string");
      return p !== "" && t.endsWith(str(p, "suffix")) ? t.slice(0, t.length - str(p, "suffix").length) : t;
    },
    indent: (n, s) => {
      const pad = " ".repeat(num(n, "spaces"));
      return str(s, "string")
        .split("\n")
        .map((l) => pad + l)
        .join("\n");
    },
    base64Encode: (s) => Buffer.from(str(s, "string")).toString("base64"),
    base64Decode: (s) => {
      const t = str(s, "string");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t)) throw new Error("illegal base64 data");
      return Buffer.from(t, "base64").toString("utf8");
    },
    base64URLEncode: (s) => Buffer.from(str(s, "string")).toString("base64url").padEnd(Math.ceil(Buffer.byteLength(str(s, "string")) / 3) * 4, "="),
    base64URLDecode: (s) => Buffer.from(str(s, "string"), "base64url").toString("utf8"),
    sha256Hex: (s) => createHash("sha256").update(str(s, "string")).digest("hex"),
    md5sum: (s) => createHash("md5").update(str(s, "string")).digest("hex"),
    // --- lists -------------------------------------------------------------------------
    contains: (v, l) => (typeof l === "string" ? l.includes(str(v, "value")) : list(l).some((x) => x === v)),
    containsAll: (vs, l) => list(vs).every((v) => list(l).includes(v)),
    containsAny: (vs, l) => list(vs).some((v) => list(l).includes(v)),
    containsNone: (vs, l) => !list(vs).some((v) => list(l).includes(v)),
    containsNotAll: (vs, l) => !list(vs).every((v) => list(l).includes(v)),
    in: (l, v) => (typeof l === "string" ? l.includes(str(v, "value")) : list(l).includes(v)),
    loop: (a, b) => {
      const [from, to] = b === undefined ? [0, num(a, "end")] : [num(a, "start"), num(b, "end")];
      const out: number[] = [];
      for (let i = from; i < to; i++) out.push(i);
      return out;
    },
    sort: (l) => [...list(l)].sort((x, y) => (printValue(x) < printValue(y) ? -1 : printValue(x) > printValue(y) ? 1 : 0)),
    // --- numbers -----------------------------------------------------------------------
    add: math((a, b) => a + b),
    subtract: math((a, b) => a - b),
    multiply: math((a, b) => a * b),
    divide: math((a, b) => {
      if (b === 0) throw new Error("division by zero");
      const q = a / b;
      return Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(q) : q;
    }),
    modulo: math((a, b) => {
      if (b === 0) throw new Error("division by zero");
      return a % b;
    }),
    minimum: math((a, b) => Math.min(a, b)),
    maximum: math((a, b) => Math.max(a, b)),
    timestamp: (fmt) => {
      const d = new Date(inputs.now?.() ?? Date.now());
      return fmt === undefined ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : str(fmt, "format") === "unix" ? String(Math.floor(d.getTime() / 1000)) : d.toISOString();
    },
  };
  return { funcs, trace };
}
