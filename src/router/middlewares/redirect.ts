import type { Options } from "./options.js";
import { goRegExp, goReplacement, regexOption } from "./regex.js";
import { answer, type Exchange, type Reply, type Wrap } from "./types.js";

/** The status of a redirect, as Traefik picks it: 301/302 for GET, 308/307 for other methods (which must keep their body). */
export function redirectStatus(permanent: boolean, method: string): number {
  if (permanent) return method === "GET" ? 301 : 308;
  return method === "GET" ? 302 : 307;
}

function redirect(to: string, permanent: boolean, method: string): Reply {
  const status = redirectStatus(permanent, method);
  const text = { 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect" }[status] ?? "";
  return answer(status, `${text}\n`, { location: to });
}

/** The request's whole URL: `scheme://host/path?query`. */
export function requestUrl(x: Exchange): string {
  return `${x.proto}://${x.host}${x.url}`;
}

/** `redirectScheme`: to `scheme` (and `port`), unless the request is already there. */
export interface RedirectSchemeConfig {
  type: "redirectScheme";
  scheme: string;
  /** "" keeps no port in the new URL. */
  port: string;
  permanent: boolean;
}

export function parseRedirectScheme(o: Options): RedirectSchemeConfig {
  const scheme = o.str("scheme");
  if (scheme === undefined || !/^[a-z][a-z0-9+.-]*$/i.test(scheme)) o.fail("scheme", "a scheme (https, http) must be given");
  const port = o.str("port") ?? "";
  if (port !== "" && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) o.fail("port", "must be a port number");
  return { type: "redirectScheme", scheme: scheme.toLowerCase(), port, permanent: o.bool("permanent", false) };
}

/** The host of a Host header without its port. */
function bareHost(h: string): string {
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const c = h.lastIndexOf(":");
  return c < 0 ? h : h.slice(0, c);
}

export function redirectScheme(c: RedirectSchemeConfig): Wrap {
  return (next) => (x) => {
    const hostPort = x.host.startsWith("[") ? x.host.slice(x.host.indexOf("]") + 2) : x.host.includes(":") ? x.host.slice(x.host.lastIndexOf(":") + 1) : "";
    const samePort = c.port === "" ? hostPort === "" || hostPort === String(x.port) : (hostPort === "" ? String(x.port) : hostPort) === c.port;
    if (x.proto === c.scheme && samePort) return next(x);
    const defaultPort = (c.scheme === "https" && c.port === "443") || (c.scheme === "http" && c.port === "80");
    const port = c.port === "" || defaultPort ? "" : `:${c.port}`;
    return Promise.resolve(redirect(`${c.scheme}://${bareHost(x.host)}${port}${x.url}`, c.permanent, x.method));
  };
}

/** `redirectRegex`: a request whose URL `regex` matches sent to `replacement` (`$1`, `${1}`, `${name}`). */
export interface RedirectRegexConfig {
  type: "redirectRegex";
  regex: string;
  replacement: string;
  permanent: boolean;
}

export function parseRedirectRegex(o: Options): RedirectRegexConfig {
  const regex = regexOption(o, "regex");
  const replacement = o.str("replacement");
  if (replacement === undefined) o.fail("replacement", "no replacement is given");
  return { type: "redirectRegex", regex, replacement, permanent: o.bool("permanent", false) };
}

export function redirectRegex(c: RedirectRegexConfig): Wrap {
  const re = goRegExp(c.regex) as RegExp;
  const replacement = goReplacement(c.replacement);
  return (next) => (x) => {
    const from = requestUrl(x);
    const m = re.exec(from);
    if (m === null) return next(x);
    // Only the match is rewritten, as Go's ReplaceAllString does with an unanchored regex.
    const to = from.replace(new RegExp(re.source, `${re.flags}g`), replacement);
    if (to === from) return next(x);
    return Promise.resolve(redirect(to, c.permanent, x.method));
  };
}
