import type { Options } from "./options.js";
import { goRegExp, goReplacement, regexOption } from "./regex.js";
import { pathOf, setHeader, withPath, type Wrap } from "./types.js";

/** `stripPrefix`: the first of `prefixes` the path starts with removed, and sent as X-Forwarded-Prefix. */
export interface StripPrefixConfig {
  type: "stripPrefix";
  prefixes: string[];
  /** A path left empty becomes `/` (Traefik's default; `forceSlash=false` leaves it empty). */
  forceSlash: boolean;
}

export function parseStripPrefix(o: Options): StripPrefixConfig {
  const prefixes = o.list("prefixes") ?? [];
  if (prefixes.length === 0) o.fail("prefixes", "no prefix is given");
  return { type: "stripPrefix", prefixes, forceSlash: o.bool("forceSlash", true) };
}

function leadingSlash(p: string, force: boolean): string {
  if (p === "") return force ? "/" : "";
  return p.startsWith("/") ? p : `/${p}`;
}

export function stripPrefix(c: StripPrefixConfig): Wrap {
  return (next) => (x) => {
    const path = pathOf(x.url);
    for (const prefix of c.prefixes) {
      if (!path.startsWith(prefix)) continue;
      x.url = withPath(x.url, leadingSlash(path.slice(prefix.length), c.forceSlash));
      setHeader(x, "x-forwarded-prefix", prefix);
      break;
    }
    return next(x);
  };
}

/** `stripPrefixRegex`: the part of the path the first matching regex (anchored at its start) matches removed. */
export interface StripPrefixRegexConfig {
  type: "stripPrefixRegex";
  regex: string[];
}

export function parseStripPrefixRegex(o: Options): StripPrefixRegexConfig {
  const regex = o.list("regex") ?? [];
  if (regex.length === 0) o.fail("regex", "no regular expression is given");
  for (const r of regex) {
    const re = goRegExp(r, true);
    if ("reason" in re) o.fail("regex", `"${r}": ${re.reason}`);
  }
  return { type: "stripPrefixRegex", regex };
}

export function stripPrefixRegex(c: StripPrefixRegexConfig): Wrap {
  const res = c.regex.map((r) => goRegExp(r, true) as RegExp);
  return (next) => (x) => {
    const path = pathOf(x.url);
    for (const re of res) {
      const m = re.exec(path);
      if (m === null) continue;
      x.url = withPath(x.url, leadingSlash(path.slice(m[0].length), true));
      setHeader(x, "x-forwarded-prefix", m[0]);
      break;
    }
    return next(x);
  };
}

/** `addPrefix`: `prefix` put before the path. */
export interface AddPrefixConfig {
  type: "addPrefix";
  prefix: string;
}

export function parseAddPrefix(o: Options): AddPrefixConfig {
  const prefix = o.str("prefix");
  if (prefix === undefined || prefix === "") o.fail("prefix", "no prefix is given");
  return { type: "addPrefix", prefix: leadingSlash(prefix, true) };
}

export function addPrefix(c: AddPrefixConfig): Wrap {
  return (next) => (x) => {
    x.url = withPath(x.url, c.prefix + pathOf(x.url));
    return next(x);
  };
}

/** `replacePath`: the path replaced whole, the former one sent as X-Replaced-Path. */
export interface ReplacePathConfig {
  type: "replacePath";
  path: string;
}

export function parseReplacePath(o: Options): ReplacePathConfig {
  const path = o.str("path");
  if (path === undefined) o.fail("path", "no path is given");
  return { type: "replacePath", path };
}

export function replacePath(c: ReplacePathConfig): Wrap {
  return (next) => (x) => {
    setHeader(x, "x-replaced-path", pathOf(x.url));
    x.url = withPath(x.url, c.path);
    return next(x);
  };
}

/** `replacePathRegex`: a path `regex` matches rewritten with `replacement` (`$1`, `${name}`), the former one sent as X-Replaced-Path. */
export interface ReplacePathRegexConfig {
  type: "replacePathRegex";
  regex: string;
  replacement: string;
}

export function parseReplacePathRegex(o: Options): ReplacePathRegexConfig {
  return { type: "replacePathRegex", regex: regexOption(o, "regex"), replacement: o.str("replacement") ?? "" };
}

export function replacePathRegex(c: ReplacePathRegexConfig): Wrap {
  const re = goRegExp(c.regex) as RegExp;
  const g = new RegExp(re.source, `${re.flags}g`);
  const replacement = goReplacement(c.replacement);
  return (next) => (x) => {
    const path = pathOf(x.url);
    if (re.test(path)) {
      setHeader(x, "x-replaced-path", path);
      x.url = withPath(x.url, path.replace(g, replacement));
    }
    return next(x);
  };
}
