/**
 * The middlewares of Traefik 1's frontends, from their own tags (`PREFIX.frontend.X`, or
 * `PREFIX.frontends.NAME.X`): basic auth, IP white list, redirect, headers, rate limits. Read
 * with the same parsers as the current form's, in the order Traefik 1 applied them: white
 * list, redirect, rate limits, headers, auth.
 */
import { parseBasicAuth } from "./basic-auth.js";
import { parseHeaders } from "./headers.js";
import { parseIpAllowList } from "./ip.js";
import { OptionError, Options } from "./options.js";
import { parseRateLimit } from "./rate-limit.js";
import { parseRedirectRegex, parseRedirectScheme } from "./redirect.js";
import type { Middleware, Resolved } from "./index.js";

/** The tags (after `frontend.` or `frontends.NAME.`, in lower case) read here. */
export const V1_TAGS =
  /^(auth\.basic(\.users|\.removeheader)?|auth\.headerfield|whitelist\.(sourcerange|usexforwardedfor)|whitelistsourcerange|redirect\.(entrypoint|regex|replacement|permanent)|headers\.(customrequestheaders|customresponseheaders|allowedhosts|hostsproxyheaders|stsseconds|stsincludesubdomains|stspreload|forcestsheader|framedeny|customframeoptionsvalue|contenttypenosniff|browserxssfilter|custombrowserxssvalue|contentsecuritypolicy|publickey|referrerpolicy|isdevelopment)|ratelimit\.(extractorfunc|rateset\.[^.]+\.(period|average|burst)))$/i;

/** An entrypoint as a v1 redirect names it. */
export interface RedirectTarget {
  name: string;
  tls: boolean;
  port: number;
}

type Values = Map<string, { key: string; value: string; tag: string }>;

/**
 * A frontend's middlewares: `labels` are an instance's tags after the prefix, `base` the
 * frontend's (`frontend`, `frontends.NAME`); `entryPoints` are the router's, for
 * `redirect.entryPoint`.
 */
export function v1Middlewares(labels: ReadonlyMap<string, string>, base: string, prefix: string, entryPoints: readonly RedirectTarget[]): Resolved {
  const mine = new Map<string, { key: string; value: string; tag: string }>();
  for (const [key, value] of labels) {
    if (!key.toLowerCase().startsWith(`${base.toLowerCase()}.`)) continue;
    const rest = key.slice(base.length + 1);
    if (V1_TAGS.test(rest)) mine.set(rest.toLowerCase(), { key: rest, value, tag: `${prefix}.${key}` });
  }
  const middlewares: Middleware[] = [];
  const problems: string[] = [];
  const read = (name: string, values: Values, parse: (o: Options) => Middleware["spec"]): void => {
    if (values.size === 0) return;
    try {
      middlewares.push({ name, spec: parse(new Options(`${prefix}.${base}`, values)) });
    } catch (err) {
      if (!(err instanceof OptionError)) throw err;
      problems.push(err.message);
    }
  };
  const pick = (pairs: [string, string][]): Values => {
    const out: Values = new Map();
    for (const [from, to] of pairs) {
      const v = mine.get(from);
      if (v !== undefined) out.set(to, v);
    }
    return out;
  };

  // White list.
  const xff = mine.get("whitelist.usexforwardedfor");
  if (xff !== undefined && xff.value.toLowerCase() === "true") problems.push(`${xff.tag}=true (a client's X-Forwarded-For is not trusted by this router: the list is checked against the connection's address only)`);
  const wl = pick([["whitelist.sourcerange", "sourcerange"], ["whitelistsourcerange", "sourcerange"]]);
  read(`${base}.whiteList`, wl, parseIpAllowList);

  // Redirect: to an entrypoint (its scheme and port), or by regex.
  const ep = mine.get("redirect.entrypoint");
  if (ep !== undefined) {
    const target = entryPoints.find((e) => e.name === ep.value);
    if (target === undefined) problems.push(`${ep.tag}=${ep.value}: no entrypoint of the router has that name (${entryPoints.map((e) => e.name).join(", ")})`);
    else {
      const scheme = target.tls ? "https" : "http";
      const values: Values = new Map([["scheme", { key: "scheme", value: scheme, tag: ep.tag }], ["port", { key: "port", value: String(target.port), tag: ep.tag }]]);
      const perm = mine.get("redirect.permanent");
      if (perm !== undefined) values.set("permanent", perm);
      read(`${base}.redirect`, values, parseRedirectScheme);
    }
    if (mine.has("redirect.regex")) problems.push(`${prefix}.${base}.redirect.regex: give redirect.entryPoint or redirect.regex, not both`);
  } else {
    read(`${base}.redirect`, pick([["redirect.regex", "regex"], ["redirect.replacement", "replacement"], ["redirect.permanent", "permanent"]]), parseRedirectRegex);
  }

  // Rate limits: one per rate set, all of them to pass.
  const extractor = mine.get("ratelimit.extractorfunc");
  const sets = new Set([...mine.keys()].flatMap((k) => /^ratelimit\.rateset\.([^.]+)\./.exec(k)?.[1] ?? []));
  if (extractor !== undefined && sets.size === 0) problems.push(`${extractor.tag}: no ${prefix}.${base}.rateLimit.rateSet.NAME.* tag gives a rate`);
  for (const set of [...sets].sort()) {
    const values = pick([[`ratelimit.rateset.${set}.average`, "average"], [`ratelimit.rateset.${set}.burst`, "burst"], [`ratelimit.rateset.${set}.period`, "period"]]);
    const ex = (extractor?.value ?? "client.ip").trim();
    if (ex.startsWith("request.header.")) values.set("sourcecriterion.requestheadername", { key: "", value: ex.slice("request.header.".length), tag: extractor?.tag ?? "" });
    else if (ex === "request.host") values.set("sourcecriterion.requesthost", { key: "", value: "true", tag: extractor?.tag ?? "" });
    else if (ex !== "client.ip") {
      problems.push(`${extractor?.tag ?? ""}=${ex}: must be client.ip, request.host or request.header.NAME`);
      continue;
    }
    if (!values.has("average") || !values.has("period")) {
      problems.push(`${prefix}.${base}.rateLimit.rateSet.${set}: average and period must both be given`);
      continue;
    }
    read(`${base}.rateLimit.rateSet.${set}`, values, parseRateLimit);
  }

  // Headers: lists `a,b`; custom headers `Name:value||Name:value`.
  const headers: Values = new Map();
  for (const [k, v] of mine) {
    if (!k.startsWith("headers.")) continue;
    const option = k.slice("headers.".length);
    if (option === "customrequestheaders" || option === "customresponseheaders") {
      for (const pair of v.value.split("||")) {
        const colon = pair.indexOf(":");
        if (colon <= 0) {
          problems.push(`${v.tag}: each header must be Name:value, separated by ||`);
          continue;
        }
        const name = pair.slice(0, colon).trim();
        headers.set(`${option}.${name.toLowerCase()}`, { key: `${option}.${name}`, value: pair.slice(colon + 1).trim(), tag: v.tag });
      }
    } else headers.set(option, { ...v, key: option });
  }
  read(`${base}.headers`, headers, parseHeaders);

  // Basic auth.
  const users = mine.get("auth.basic.users") ?? mine.get("auth.basic");
  const auth: Values = new Map();
  if (users !== undefined) auth.set("users", users);
  const rm = mine.get("auth.basic.removeheader");
  if (rm !== undefined) auth.set("removeheader", rm);
  const hf = mine.get("auth.headerfield");
  if (hf !== undefined) auth.set("headerfield", hf);
  if (users === undefined && auth.size > 0) problems.push(`${prefix}.${base}.auth.basic.users: not given, while other auth tags are`);
  else read(`${base}.auth.basic`, auth, parseBasicAuth);

  return { middlewares, problems };
}
