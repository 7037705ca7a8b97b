import { BlockList, isIP } from "node:net";
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
  | { kind: "headerRegexp"; name: string; re: RegExp }
  /** A query parameter `key` with a value equal to `value` (a string) or matching it (a pattern). */
  | { kind: "query"; key: string; value: string | RegExp }
  /** The client's address (the connection's, not X-Forwarded-For) in one of `ranges` (addresses and CIDR blocks). */
  | { kind: "clientIp"; ranges: string[]; list: BlockList }
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
  /** The query string, without its `?` (absent: none). */
  query?: string;
  /** The address the connection comes from (absent: unknown, which no ClientIP matches). */
  clientIp?: string;
}

/**
 * How a ``Name(`arg`)`` rule's matchers read their arguments where Traefik v2 and v3 differ
 * (HostRegexp, Query, templates in paths): as a router's `ruleSyntax` tag says, else as the
 * arguments tell (`auto`: a `{name:re}` variable or several hosts is v2's HostRegexp, a `=` v2's Query).
 */
export type RuleSyntax = "auto" | "v2" | "v3";

/**
 * Parses a routing rule in either syntax users have: `Host:a.com,b.com;PathPrefix:/api`
 * (matchers joined by `;`, values by `,`) or ``Host(`a.com`) && PathPrefix(`/api`)``
 * (with `||`, `!` and parentheses).
 */
export function parseRule(text: string, syntax: RuleSyntax = "auto"): Parsed<Rule> {
  const t = text.trim();
  if (t === "") return { ok: false, reason: "empty rule" };
  return /^[A-Za-z]+\s*\(/.test(t) || t.startsWith("!") || t.startsWith("(") ? parseV2(t, syntax) : parseV1(t);
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

const V1_KNOWN = "Host, HostRegexp, Path, PathStrip, PathPrefix, PathPrefixStrip, Method, Headers, HeadersRegexp, Query";

function v1Matcher(name: string, values: string[], strip: string[]): Matcher | string {
  switch (name) {
    case "Host":
      return { kind: "host", hosts: values.map(hostName) };
    case "HostRegexp":
      return regexOr("hostRegexp", values.map((v) => muxPattern(v, "[^.]+")), name, true);
    case "Path":
      return pathsOk(values, name) ?? pathMatcher("path", values, name);
    case "PathStrip":
      strip.push(...values);
      return pathsOk(values, name) ?? pathMatcher("path", values, name);
    case "PathPrefix":
      return pathsOk(values, name) ?? pathMatcher("pathPrefix", values, name);
    case "PathPrefixStrip":
      strip.push(...values);
      return pathsOk(values, name) ?? pathMatcher("pathPrefix", values, name);
    case "Method":
      return { kind: "method", methods: values.map((m) => m.toUpperCase()) };
    case "Headers":
      if (values.length !== 2) return "Headers: takes a name and a value, as Headers:X-Name,value";
      return { kind: "header", name: (values[0] as string).toLowerCase(), value: values[1] as string };
    case "HeadersRegexp":
      if (values.length !== 2) return "HeadersRegexp: takes a name and a pattern, as HeadersRegexp:Content-Type,application/(text|json)";
      return headerRegexp(values[0] as string, values[1] as string, name);
    case "Query":
      return queryPairs(values, name);
    default:
      return `unknown matcher "${name}" (known: ${V1_KNOWN})`;
  }
}

function parseV2(text: string, syntax: RuleSyntax): Parsed<Rule> {
  const e = parseExpr(text);
  if (!e.ok) return e;
  const m = v2Matcher(e.value, syntax);
  return typeof m === "string" ? { ok: false, reason: m } : { ok: true, value: { matcher: m, strip: [] } };
}

const V2_KNOWN = "Host, HostHeader, HostRegexp, Path, PathPrefix, PathRegexp, Method, Header, Headers, HeaderRegexp, HeadersRegexp, Query, QueryRegexp, ClientIP";

/** Whether a pattern has the older `{name}` / `{name:re}` variables (a quantifier such as `{2,3}` is not one). */
const MUX_VAR = /\{[A-Za-z_][A-Za-z0-9_]*(:|\})/;

function v2Matcher(e: Expr, syntax: RuleSyntax): Matcher | string {
  switch (e.op) {
    case "and":
    case "or": {
      const of: Matcher[] = [];
      for (const x of e.of) {
        const m = v2Matcher(x, syntax);
        if (typeof m === "string") return m;
        of.push(m);
      }
      return { kind: e.op, of };
    }
    case "not": {
      const m = v2Matcher(e.of, syntax);
      return typeof m === "string" ? m : { kind: "not", of: m };
    }
    case "call": {
      const { name, args } = e;
      if (args.length === 0) return `${name}() needs an argument`;
      switch (name) {
        case "Host":
        case "HostHeader":
          return { kind: "host", hosts: args.map(hostName) };
        case "HostRegexp":
          // Traefik v2: host templates (`{sub:[a-z]+}.example.com`, several), whole names; v3: one regular expression, found anywhere in the host.
          if (syntax === "v2" || (syntax === "auto" && (args.length > 1 || args.some((a) => MUX_VAR.test(a))))) return regexOr("hostRegexp", args.map((a) => muxPattern(a, "[^.]+")), name, true);
          if (args.length > 1) return `${name}() takes one regular expression (ruleSyntax v3)`;
          return regexOr("hostRegexp", args, name, false);
        case "Path":
          // v3 paths are literal; v2's may be templates.
          return pathsOk(args, name) ?? (syntax === "v3" ? { kind: "path", paths: args } : pathMatcher("path", args, name));
        case "PathPrefix":
          return pathsOk(args, name) ?? (syntax === "v3" ? { kind: "pathPrefix", prefixes: args } : pathMatcher("pathPrefix", args, name));
        case "PathRegexp":
          // Traefik v3: found anywhere in the path (anchor it with ^ and $).
          return regexOr("pathRegexp", args, name, false);
        case "Method":
          return { kind: "method", methods: args.map((m) => m.toUpperCase()) };
        case "Header":
        case "Headers":
          if (args.length !== 2) return `${name}() takes a name and a value`;
          return { kind: "header", name: (args[0] as string).toLowerCase(), value: args[1] as string };
        case "HeaderRegexp":
        case "HeadersRegexp":
          if (args.length !== 2) return `${name}() takes a name and a regular expression`;
          return headerRegexp(args[0] as string, args[1] as string, name);
        case "Query":
          // Traefik v2: ``Query(`k=v`, ...)``, every pair; v3: ``Query(`k`, `v`)``, or ``Query(`k`)`` for a key with an empty value.
          if (syntax === "v2" || (syntax === "auto" && args.some((a) => a.includes("=")))) return queryPairs(args, name);
          if (args.length > 2) return `${name}() takes a key and a value (or pairs key=value)`;
          return { kind: "query", key: args[0] as string, value: args[1] ?? "" };
        case "QueryRegexp": {
          if (args.length > 2) return `${name}() takes a key and a regular expression`;
          if (args.length === 1) return { kind: "query", key: args[0] as string, value: "" };
          const re = compile(args[1] as string, "", name);
          return typeof re === "string" ? re : { kind: "query", key: args[0] as string, value: re };
        }
        case "ClientIP":
          return clientIp(args, name);
        default:
          return `unknown matcher "${name}" (known: ${V2_KNOWN})`;
      }
    }
  }
}

/** A Host matcher's name as requests' hosts are compared with it: lower case, without a final dot. */
function hostName(h: string): string {
  const l = h.toLowerCase();
  return l.endsWith(".") ? l.slice(0, -1) : l;
}

function pathsOk(paths: string[], name: string): string | undefined {
  const bad = paths.find((p) => !p.startsWith("/"));
  return bad === undefined ? undefined : `${name}: "${bad}" must start with "/"`;
}

function compile(pattern: string, flags: string, name: string): RegExp | string {
  try {
    return new RegExp(pattern, flags);
  } catch (err) {
    return `${name}: ${errorMessage(err)}`;
  }
}

/** Paths as written, or, when one has the older `{name:re}` variables (`/products/{id:[0-9]+}`), the pattern they make. */
function pathMatcher(kind: "path" | "pathPrefix", paths: string[], name: string): Matcher | string {
  if (!paths.some((p) => MUX_VAR.test(p))) return kind === "path" ? { kind, paths } : { kind, prefixes: paths };
  const joined = paths.map((p) => `(?:${muxPattern(p, "[^/]+")})`).join("|");
  const re = compile(kind === "path" ? `^(?:${joined})$` : `^(?:${joined})`, "", name);
  return typeof re === "string" ? re : { kind: "pathRegexp", re };
}

/** Patterns, any of which matches: whole (`anchored`: a template's) or found anywhere (a regular expression's, as Traefik v3 reads them). */
function regexOr(kind: "hostRegexp" | "pathRegexp", patterns: string[], name: string, anchored: boolean): Matcher | string {
  const joined = patterns.map((p) => `(?:${p})`).join("|");
  const re = compile(anchored ? `^(?:${joined})$` : joined, kind === "hostRegexp" ? "i" : "", name);
  return typeof re === "string" ? re : { kind, re };
}

function headerRegexp(header: string, pattern: string, name: string): Matcher | string {
  const re = compile(pattern, "", name);
  return typeof re === "string" ? re : { kind: "headerRegexp", name: header.toLowerCase(), re };
}

/** `k=v` pairs (Traefik v1 and v2), all of which must hold; a value may be a template (`{id:[0-9]+}`), an empty one takes any value. */
function queryPairs(pairs: string[], name: string): Matcher | string {
  const of: Matcher[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    if (key === "") return `${name}: "${pair}" has no key (key=value)`;
    if (value === "" || MUX_VAR.test(value)) {
      const re = compile(value === "" ? "" : `^(?:${muxPattern(value, ".*")})$`, "", name);
      if (typeof re === "string") return re;
      of.push({ kind: "query", key, value: re });
    } else of.push({ kind: "query", key, value });
  }
  return of.length === 1 ? (of[0] as Matcher) : { kind: "and", of };
}

/** The connection's address as compared: an IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`) as IPv4. */
function plainIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

function clientIp(ranges: string[], name: string): Matcher | string {
  const list = new BlockList();
  for (const r of ranges) {
    const slash = r.indexOf("/");
    const ip = plainIp(slash < 0 ? r : r.slice(0, slash));
    const family = isIP(ip);
    if (family === 0) return `${name}: "${r}" is not an IP address or a CIDR block`;
    const type = family === 4 ? "ipv4" : "ipv6";
    if (slash < 0) {
      list.addAddress(ip, type);
      continue;
    }
    const bits = r.slice(slash + 1);
    const prefix = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) return `${name}: "${r}" has no valid prefix length`;
    list.addSubnet(ip, prefix, type);
  }
  return { kind: "clientIp", ranges, list };
}

/** `{sub:[a-z]+}.example.com` or `/users/{id:[0-9]+}` (the older templates) → a regular expression; the rest is literal, a variable without a pattern is `dflt`. */
function muxPattern(p: string, dflt: string): string {
  let out = "";
  let i = 0;
  while (i < p.length) {
    const open = p.indexOf("{", i);
    if (open < 0) {
      out += escape(p.slice(i));
      break;
    }
    out += escape(p.slice(i, open));
    // The variable ends at its brace, patterns' own braces counted (`{id:[0-9]{3}}`).
    let depth = 0;
    let close = -1;
    for (let k = open; k < p.length; k++) {
      if (p[k] === "{") depth++;
      else if (p[k] === "}" && --depth === 0) {
        close = k;
        break;
      }
    }
    if (close < 0) {
      out += escape(p.slice(open));
      break;
    }
    const inner = p.slice(open + 1, close);
    const colon = inner.indexOf(":");
    out += colon < 0 ? dflt : `(?:${inner.slice(colon + 1)})`;
    i = close + 1;
  }
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The values of `key` in a query string (`+` and percent-escapes decoded), or null when it has none. */
function queryValues(query: string | undefined, key: string): string[] | null {
  if (query === undefined || query === "") return null;
  const all = new URLSearchParams(query).getAll(key);
  return all.length === 0 ? null : all;
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
    case "headerRegexp": {
      const v = r.headers[m.name];
      if (v === undefined) return false;
      return Array.isArray(v) ? v.some((x) => m.re.test(x)) : m.re.test(v);
    }
    case "query": {
      const values = queryValues(r.query, m.key);
      if (values === null) return false;
      const want = m.value;
      return typeof want === "string" ? values.includes(want) : values.some((v) => want.test(v));
    }
    case "clientIp": {
      if (r.clientIp === undefined || r.clientIp === "") return false;
      const ip = plainIp(r.clientIp);
      const family = isIP(ip);
      return family !== 0 && m.list.check(ip, family === 4 ? "ipv4" : "ipv6");
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
