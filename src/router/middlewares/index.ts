/**
 * Traefik's HTTP middlewares, from tags: definitions (`PREFIX.http.middlewares.NAME.TYPE.OPTION`)
 * put on routers (`PREFIX.http.routers.R.middlewares=a,b@consulcatalog`), and the older
 * frontends' own (`PREFIX.frontend.auth.basic.users`, `...whiteList.sourceRange`, ...). Each
 * middleware is read into a plain configuration (the routing table holds them: it stays a pure
 * function), and put to work by `compose`.
 */
import { basicAuth, parseBasicAuth, type BasicAuthConfig } from "./basic-auth.js";
import { compress, parseCompress, type CompressConfig } from "./compress.js";
import { headers, parseHeaders, type HeadersConfig } from "./headers.js";
import { ipAllowList, parseIpAllowList, type IpAllowListConfig } from "./ip.js";
import { OptionError, Options } from "./options.js";
import { addPrefix, parseAddPrefix, parseReplacePath, parseReplacePathRegex, parseStripPrefix, parseStripPrefixRegex, replacePath, replacePathRegex, stripPrefix, stripPrefixRegex, type AddPrefixConfig, type ReplacePathConfig, type ReplacePathRegexConfig, type StripPrefixConfig, type StripPrefixRegexConfig } from "./path.js";
import { inFlightReq, parseInFlightReq, parseRateLimit, rateLimit, type InFlightReqConfig, type RateLimitConfig } from "./rate-limit.js";
import { parseRedirectRegex, parseRedirectScheme, redirectRegex, redirectScheme, type RedirectRegexConfig, type RedirectSchemeConfig } from "./redirect.js";
import { buffering, circuitBreaker, parseBuffering, parseCircuitBreaker, parseRetry, retry, type BufferingConfig, type CircuitBreakerConfig, type RetryConfig } from "./resilience.js";
import type { Handler, Wrap } from "./types.js";

export type { Exchange, Handler, Reply, Wrap } from "./types.js";
export { answer } from "./types.js";
export { v1Middlewares, V1_TAGS } from "./v1.js";

/** What one middleware does, with its options. */
export type MiddlewareSpec =
  | BasicAuthConfig
  | IpAllowListConfig
  | RateLimitConfig
  | InFlightReqConfig
  | RedirectSchemeConfig
  | RedirectRegexConfig
  | StripPrefixConfig
  | StripPrefixRegexConfig
  | AddPrefixConfig
  | ReplacePathConfig
  | ReplacePathRegexConfig
  | HeadersConfig
  | CompressConfig
  | RetryConfig
  | CircuitBreakerConfig
  | BufferingConfig;

/** A middleware of a route: its name as the tags give it, and what it does. */
export interface Middleware {
  name: string;
  spec: MiddlewareSpec;
}

/** The types read, by their name in lower case (tags are read in any case). */
const PARSERS: Record<string, (o: Options) => MiddlewareSpec> = {
  basicauth: parseBasicAuth,
  ipallowlist: parseIpAllowList,
  ipwhitelist: parseIpAllowList,
  ratelimit: parseRateLimit,
  inflightreq: parseInFlightReq,
  redirectscheme: parseRedirectScheme,
  redirectregex: parseRedirectRegex,
  stripprefix: parseStripPrefix,
  stripprefixregex: parseStripPrefixRegex,
  addprefix: parseAddPrefix,
  replacepath: parseReplacePath,
  replacepathregex: parseReplacePathRegex,
  headers: parseHeaders,
  compress: parseCompress,
  retry: parseRetry,
  circuitbreaker: parseCircuitBreaker,
  buffering: parseBuffering,
};

/** Traefik's types that are not implemented, by their name in lower case. */
const NOT_IMPLEMENTED = new Set(["digestauth", "forwardauth", "errors", "passtlsclientcert", "contenttype", "grpcweb", "plugin", "inflightconn"]);

/** One middleware's definition as tags give it: its type (lower case) and options (lower case → as written, value). */
export interface Definition {
  /** The tag prefix of its options: `traefik.http.middlewares.NAME.TYPE`. */
  tagBase: string;
  type: string;
  /** The type as written. */
  typeAsWritten: string;
  options: Map<string, { key: string; value: string; tag?: string }>;
  /** Why it cannot be read (two types under one name). */
  problem: string | null;
}

/** The definitions among tags (`http.middlewares.NAME.TYPE[.OPTION]=value`, keys after the prefix). */
export function definitions(labels: ReadonlyMap<string, string>, prefix: string): Map<string, Definition> {
  const out = new Map<string, Definition>();
  for (const [key, value] of labels) {
    const m = /^http\.middlewares\.([^.]+)\.([^.]+)(?:\.(.+))?$/i.exec(key);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const name = m[1];
    const type = m[2].toLowerCase();
    const tagBase = `${prefix}.http.middlewares.${name}.${m[2]}`;
    let d = out.get(name);
    if (d === undefined) {
      d = { tagBase, type, typeAsWritten: m[2], options: new Map(), problem: null };
      out.set(name, d);
    } else if (d.type !== type) d.problem = `${prefix}.http.middlewares.${name}: defines more than one type (${d.typeAsWritten}, ${m[2]})`;
    d.options.set((m[3] ?? "").toLowerCase(), { key: m[3] ?? "", value });
  }
  return out;
}

/** A router's middlewares, with what keeps them from working: each problem names its tag. */
export interface Resolved {
  middlewares: Middleware[];
  problems: string[];
}

/**
 * The middlewares a router's `middlewares` tag lists (`a,b`, `a@consulcatalog`), in order, a
 * chain's expanded in place. `defs` are the definitions this provider's tags give; a name of
 * another provider (`@file`, `@kv`) is looked up in `others` (`name@provider` → definition).
 * A type or option not implemented, a malformed option, a name defined nowhere: a problem
 * (the route is answered 503 naming it, never served without it).
 */
export function resolveMiddlewares(list: string, listTag: string, defs: ReadonlyMap<string, Definition>, others: ReadonlyMap<string, Definition> = new Map()): Resolved {
  const middlewares: Middleware[] = [];
  const problems: string[] = [];
  const visit = (names: string[], from: string, path: string[]): void => {
    for (const raw of names) {
      const at = raw.indexOf("@");
      const name = at < 0 ? raw : raw.slice(0, at);
      const provider = at < 0 ? null : raw.slice(at + 1);
      const own = provider === null || provider === "consulcatalog" || provider === "consul" || provider === "consul-catalog";
      const d = own ? (defs.get(name) ?? others.get(`${name}@consulcatalog`)) : others.get(raw);
      if (d === undefined) {
        problems.push(`${from}: middleware ${raw} is defined by no tag${own ? " of the service" : ` (middlewares of provider ${provider} are not read here)`}`);
        continue;
      }
      if (d.problem !== null) {
        problems.push(d.problem);
        continue;
      }
      if (path.includes(raw)) {
        problems.push(`${d.tagBase}: chain ${path.join(" → ")} → ${raw} loops`);
        continue;
      }
      if (d.type === "chain") {
        const o = new Options(d.tagBase, d.options);
        const inner = o.list("middlewares") ?? [];
        for (const u of o.unread()) problems.push(`${u} (not implemented)`);
        if (inner.length === 0) problems.push(`${d.tagBase}.middlewares: a chain lists no middleware`);
        visit(inner, `${d.tagBase}.middlewares`, [...path, raw]);
        continue;
      }
      const parse = PARSERS[d.type];
      if (parse === undefined) {
        problems.push(`${d.tagBase} (${NOT_IMPLEMENTED.has(d.type) ? `the ${d.typeAsWritten} middleware is not implemented` : `${d.typeAsWritten} is not a middleware type`})`);
        continue;
      }
      const o = new Options(d.tagBase, d.options);
      try {
        middlewares.push({ name: raw, spec: parse(o) });
        for (const u of o.unread()) problems.push(`${u} (this option of ${d.typeAsWritten} is not implemented)`);
      } catch (err) {
        if (!(err instanceof OptionError)) throw err;
        problems.push(err.message);
      }
    }
  };
  visit(list.split(",").map((s) => s.trim()).filter((s) => s !== ""), listTag, []);
  return { middlewares, problems };
}

/** A middleware put to work: its state (rate limits' buckets, a breaker's window) lives as long as what it returns. */
export function instantiate(m: MiddlewareSpec): Wrap {
  switch (m.type) {
    case "basicAuth":
      return basicAuth(m);
    case "ipAllowList":
      return ipAllowList(m);
    case "rateLimit":
      return rateLimit(m);
    case "inFlightReq":
      return inFlightReq(m);
    case "redirectScheme":
      return redirectScheme(m);
    case "redirectRegex":
      return redirectRegex(m);
    case "stripPrefix":
      return stripPrefix(m);
    case "stripPrefixRegex":
      return stripPrefixRegex(m);
    case "addPrefix":
      return addPrefix(m);
    case "replacePath":
      return replacePath(m);
    case "replacePathRegex":
      return replacePathRegex(m);
    case "headers":
      return headers(m);
    case "compress":
      return compress(m);
    case "retry":
      return retry(m);
    case "circuitBreaker":
      return circuitBreaker(m);
    case "buffering":
      return buffering(m);
    default: {
      const _: never = m;
      return _;
    }
  }
}

/** A route's middlewares put to work, in order (the first sees the request first): given the handler that forwards, the route's handler. */
export function compose(ms: readonly Middleware[]): (terminal: Handler) => Handler {
  const wraps = ms.map((m) => instantiate(m.spec));
  return (terminal) => wraps.reduceRight<Handler>((h, w) => w(h), terminal);
}

export { OptionError, Options };

/**
 * The middlewares every routed instance's tags define, as the provider's (`name@consulcatalog`):
 * a router may use one another service defines. An instance turned off (`enable=false`, or not
 * exposed by default) defines none; one name defined two ways is unusable, and says so.
 */
export function providerDefinitions(tagLists: readonly (readonly string[] | undefined)[], prefix: string, exposedByDefault: boolean): Map<string, Definition> {
  const out = new Map<string, Definition>();
  const seen = new Map<string, string>();
  const p = `${prefix}.`;
  for (const tags of tagLists) {
    if (!Array.isArray(tags)) continue;
    const labels = new Map<string, string>();
    for (const t of tags as unknown[]) {
      if (typeof t !== "string" || !t.startsWith(p)) continue;
      const eq = t.indexOf("=");
      if (eq < 0) continue;
      labels.set(t.slice(p.length, eq).trim(), t.slice(eq + 1).trim());
    }
    const enable = labels.get("enable");
    if (enable === "false" || (enable !== "true" && !exposedByDefault)) continue;
    for (const [name, d] of definitions(labels, prefix)) {
      const key = `${name}@consulcatalog`;
      const text = JSON.stringify([d.type, [...d.options].sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => [k, v.value])]);
      const before = seen.get(key);
      if (before === undefined) {
        seen.set(key, text);
        out.set(key, d);
      } else if (before !== text) out.set(key, { ...d, problem: `${d.tagBase}: middleware ${name} is defined differently by several services` });
    }
  }
  return out;
}
