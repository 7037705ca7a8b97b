import { parseExpr, type Expr, type Parsed } from "./expr.js";
import { errorMessage } from "../structs/index.js";

/** What a rule tests of a request. Hosts are lower case; paths as sent, without the query. */
export type Matcher =
  | { kind: "host"; hosts: string[] }
  | { kind: "hostRegexp"; re: RegExp }
  | { kind: "path"; paths: string[] }
  | { kind: "pathPrefix"; prefixes: string[] }
  | { kind: "pathRegexp"; re: RegExp }
  | { kind: "method"; methods: string[] }
  | { kind: "header"; name: string; value: string }
  | { kind: "and" | "or"; of: Matcher[] }
  | { kind: "not"; of: Matcher };

/** A parsed rule: the matcher, and the path prefixes to strip before forwarding (`PathPrefixStrip:`). */
export interface Rule {
  matcher: Matcher;
  strip: string[];
}

/** The parts of a request a matcher reads. */
export interface RequestFacts {
  /** Lower case, without the port. */
  host: string;
  path: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Parses a routing rule in either syntax users have: `Host:a.com,b.com;PathPrefix:/api`
 * (matchers joined by `;`, values by `,`) or ``Host(`a.com`) && PathPrefix(`/api`)``
 * (with `||`, `!` and parentheses).
 */
export function parseRule(text: string): Parsed<Rule> {
  const t = text.trim();
  if (t === "") return { ok: false, reason: "empty rule" };
  return /^[A-Za-z]+\s*\(/.test(t) || t.startsWith("!") || t.startsWith("(") ? parseV2(t) : parseV1(t);
}

function parseV1(text: string): Parsed<Rule> {
  const all: Matcher[] = [];
  const strip: string[] = [];
  for (const part of text.split(";")) {
    const colon = part.indexOf(":");
    if (colon <= 0) return { ok: false, reason: `"${part.trim()}" is not a matcher such as Host:example.com` };
    const name = part.slice(0, colon).trim();
    const values = part
      .slice(colon + 1)
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
    if (values.length === 0) return { ok: false, reason: `${name}: needs a value` };
    const m = v1Matcher(name, values, strip);
    if (typeof m === "string") return { ok: false, reason: m };
    all.push(m);
  }
  return { ok: true, value: { matcher: all.length === 1 ? (all[0] as Matcher) : { kind: "and", of: all }, strip } };
}

function v1Matcher(name: string, values: string[], strip: string[]): Matcher | string {
  switch (name) {
    case "Host":
      return { kind: "host", hosts: values.map((h) => h.toLowerCase()) };
    case "HostRegexp":
      return regexOr("hostRegexp", values.map(muxPattern), name);
    case "Path":
      return pathsOk(values, name) ?? { kind: "path", paths: values };
    case "PathStrip":
      strip.push(...values);
      return pathsOk(values, name) ?? { kind: "path", paths: values };
    case "PathPrefix":
      return pathsOk(values, name) ?? { kind: "pathPrefix", prefixes: values };
    case "PathPrefixStrip":
      strip.push(...values);
      return pathsOk(values, name) ?? { kind: "pathPrefix", prefixes: values };
    case "Method":
      return { kind: "method", methods: values.map((m) => m.toUpperCase()) };
    case "Headers":
      if (values.length !== 2) return "Headers: takes a name and a value, as Headers:X-Name,value";
      return { kind: "header", name: (values[0] as string).toLowerCase(), value: values[1] as string };
    default:
      return `unknown matcher "${name}" (known: Host, HostRegexp, Path, PathStrip, PathPrefix, PathPrefixStrip, Method, Headers)`;
  }
}

function parseV2(text: string): Parsed<Rule> {
  const e = parseExpr(text);
  if (!e.ok) return e;
  const m = v2Matcher(e.value);
  return typeof m === "string" ? { ok: false, reason: m } : { ok: true, value: { matcher: m, strip: [] } };
}

function v2Matcher(e: Expr): Matcher | string {
  switch (e.op) {
    case "and":
    case "or": {
      const of: Matcher[] = [];
      for (const x of e.of) {
        const m = v2Matcher(x);
        if (typeof m === "string") return m;
        of.push(m);
      }
      return { kind: e.op, of };
    }
    case "not": {
      const m = v2Matcher(e.of);
      return typeof m === "string" ? m : { kind: "not", of: m };
    }
    case "call": {
      const { name, args } = e;
      if (args.length === 0) return `${name}() needs an argument`;
      switch (name) {
        case "Host":
          return { kind: "host", hosts: args.map((h) => h.toLowerCase()) };
        case "HostRegexp":
          return regexOr("hostRegexp", args.map((a) => (a.includes("{") ? muxPattern(a) : a)), name);
        case "Path":
          return pathsOk(args, name) ?? { kind: "path", paths: args };
        case "PathPrefix":
          return pathsOk(args, name) ?? { kind: "pathPrefix", prefixes: args };
        case "PathRegexp":
          return regexOr("pathRegexp", args, name);
        case "Method":
          return { kind: "method", methods: args.map((m) => m.toUpperCase()) };
        case "Header":
        case "Headers":
          if (args.length !== 2) return `${name}() takes a name and a value`;
          return { kind: "header", name: (args[0] as string).toLowerCase(), value: args[1] as string };
        default:
          return `unknown matcher "${name}" (known: Host, HostRegexp, Path, PathPrefix, PathRegexp, Method, Header)`;
      }
    }
  }
}

function pathsOk(paths: string[], name: string): string | undefined {
  const bad = paths.find((p) => !p.startsWith("/"));
  return bad === undefined ? undefined : `${name}: "${bad}" must start with "/"`;
}

function regexOr(kind: "hostRegexp" | "pathRegexp", patterns: string[], name: string): Matcher | string {
  const joined = patterns.map((p) => `(?:${p})`).join("|");
  try {
    return { kind, re: new RegExp(kind === "hostRegexp" ? `^(?:${joined})$` : `^(?:${joined})`, kind === "hostRegexp" ? "i" : "") };
  } catch (err) {
    return `${name}: ${errorMessage(err)}`;
  }
}

/** `{sub:[a-z]+}.example.com` (the older host pattern) → a regular expression; dots are literal. */
function muxPattern(p: string): string {
  let out = "";
  let i = 0;
  while (i < p.length) {
    const open = p.indexOf("{", i);
    if (open < 0) {
      out += escape(p.slice(i));
      break;
    }
    out += escape(p.slice(i, open));
    const close = p.indexOf("}", open);
    if (close < 0) {
      out += escape(p.slice(open));
      break;
    }
    const inner = p.slice(open + 1, close);
    const colon = inner.indexOf(":");
    out += colon < 0 ? "[^.]+" : `(?:${inner.slice(colon + 1)})`;
    i = close + 1;
  }
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether the request matches. */
export function matches(m: Matcher, r: RequestFacts): boolean {
  switch (m.kind) {
    case "host":
      return m.hosts.includes(r.host);
    case "hostRegexp":
      return m.re.test(r.host);
    case "path":
      return m.paths.includes(r.path);
    case "pathPrefix":
      return m.prefixes.some((p) => r.path.startsWith(p));
    case "pathRegexp":
      return m.re.test(r.path);
    case "method":
      return m.methods.includes(r.method) || (r.method === "HEAD" && m.methods.includes("GET"));
    case "header": {
      const v = r.headers[m.name];
      return Array.isArray(v) ? v.includes(m.value) : v === m.value;
    }
    case "and":
      return m.of.every((x) => matches(x, r));
    case "or":
      return m.of.some((x) => matches(x, r));
    case "not":
      return !matches(m.of, r);
  }
}

/**
 * The hosts a request must have for the matcher to match, or null when it may match any
 * host: lets the router look routes up by host first.
 */
export function requiredHosts(m: Matcher): string[] | null {
  if (m.kind === "host") return m.hosts;
  if (m.kind === "and") {
    for (const x of m.of) {
      const h = requiredHosts(x);
      if (h !== null) return h;
    }
  }
  if (m.kind === "or") {
    const all: string[] = [];
    for (const x of m.of) {
      const h = requiredHosts(x);
      if (h === null) return null;
      all.push(...h);
    }
    return all;
  }
  return null;
}

/** The request path with the longest matching prefix removed (always starting with "/"). */
export function stripPath(path: string, prefixes: readonly string[]): string {
  let best = "";
  for (const p of prefixes) if (p.length > best.length && path.startsWith(p)) best = p;
  if (best === "") return path;
  const rest = path.slice(best.endsWith("/") ? best.length - 1 : best.length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}
