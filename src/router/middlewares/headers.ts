import type { Options } from "./options.js";
import { goRegExp } from "./regex.js";
import { answer, header, setHeader, type Reply, type Wrap } from "./types.js";

/** `headers`: custom request and response headers (an empty value removes one), CORS, and security headers. */
export interface HeadersConfig {
  type: "headers";
  customRequestHeaders: [string, string][];
  customResponseHeaders: [string, string][];
  cors: {
    allowCredentials: boolean;
    allowHeaders: string[];
    allowMethods: string[];
    allowOriginList: string[];
    allowOriginListRegex: string[];
    exposeHeaders: string[];
    /** Seconds; -1: not said. */
    maxAge: number;
    addVaryHeader: boolean;
  };
  /** Hosts requests may be for (else 500 "Bad Host"); empty: any. */
  allowedHosts: string[];
  /** Headers read for the host in place of Host (X-Forwarded-Host, ...). */
  hostsProxyHeaders: string[];
  stsSeconds: number;
  stsIncludeSubdomains: boolean;
  stsPreload: boolean;
  forceSTSHeader: boolean;
  frameOptions: string;
  contentTypeNosniff: boolean;
  xssProtection: string;
  contentSecurityPolicy: string;
  contentSecurityPolicyReportOnly: string;
  publicKey: string;
  referrerPolicy: string;
  permissionsPolicy: string;
  featurePolicy: string;
  isDevelopment: boolean;
}

export function parseHeaders(o: Options): HeadersConfig {
  const pairs = (m: Map<string, string>): [string, string][] => [...m].sort((a, b) => a[0].localeCompare(b[0]));
  const maxAge = o.int("accessControlMaxAge", -1, 0);
  const frameDeny = o.bool("frameDeny", false);
  const custom = o.str("customFrameOptionsValue") ?? "";
  const xss = o.bool("browserXssFilter", false);
  const customXss = o.str("customBrowserXSSValue") ?? "";
  const originRegex = o.list("accessControlAllowOriginListRegex") ?? [];
  for (const r of originRegex) {
    const re = goRegExp(r);
    if ("reason" in re) o.fail("accessControlAllowOriginListRegex", `"${r}": ${re.reason}`);
  }
  for (const deprecated of ["sslRedirect", "sslTemporaryRedirect", "sslHost", "sslForceHost", "sslProxyHeaders"]) {
    if (o.str(deprecated) !== undefined) o.fail(deprecated, "the SSL redirect options of headers are not implemented: use a redirectScheme middleware");
  }
  return {
    type: "headers",
    customRequestHeaders: pairs(o.map("customRequestHeaders")),
    customResponseHeaders: pairs(o.map("customResponseHeaders")),
    cors: {
      allowCredentials: o.bool("accessControlAllowCredentials", false),
      allowHeaders: o.list("accessControlAllowHeaders") ?? [],
      allowMethods: o.list("accessControlAllowMethods") ?? [],
      allowOriginList: o.list("accessControlAllowOriginList") ?? [],
      allowOriginListRegex: originRegex,
      exposeHeaders: o.list("accessControlExposeHeaders") ?? [],
      maxAge,
      addVaryHeader: o.bool("addVaryHeader", false),
    },
    allowedHosts: (o.list("allowedHosts") ?? []).map((h) => h.toLowerCase()),
    hostsProxyHeaders: o.list("hostsProxyHeaders") ?? [],
    stsSeconds: o.int("stsSeconds", 0, 0),
    stsIncludeSubdomains: o.bool("stsIncludeSubdomains", false),
    stsPreload: o.bool("stsPreload", false),
    forceSTSHeader: o.bool("forceSTSHeader", false),
    frameOptions: custom !== "" ? custom : frameDeny ? "DENY" : "",
    contentTypeNosniff: o.bool("contentTypeNosniff", false),
    xssProtection: customXss !== "" ? customXss : xss ? "1; mode=block" : "",
    contentSecurityPolicy: o.str("contentSecurityPolicy") ?? "",
    contentSecurityPolicyReportOnly: o.str("contentSecurityPolicyReportOnly") ?? "",
    publicKey: o.str("publicKey") ?? "",
    referrerPolicy: o.str("referrerPolicy") ?? "",
    permissionsPolicy: o.str("permissionsPolicy") ?? "",
    featurePolicy: o.str("featurePolicy") ?? "",
    isDevelopment: o.bool("isDevelopment", false),
  };
}

function setReply(r: Reply, name: string, value: string | null): void {
  const lower = name.toLowerCase();
  if (value === null) r.headers = Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== lower));
  else r.headers[lower] = value;
}

function addVary(r: Reply, value: string): void {
  const v = r.headers.vary;
  const list = (Array.isArray(v) ? v.join(",") : (v ?? "")).split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (!list.some((s) => s.toLowerCase() === value.toLowerCase())) list.push(value);
  r.headers.vary = list.join(", ");
}

/**
 * Request headers set (or removed) before forwarding; a CORS preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) answered by the router itself; the response's CORS, security
 * and custom headers set. A request for a host not in `allowedHosts`: 500 "Bad Host".
 */
export function headers(c: HeadersConfig): Wrap {
  const originRes = c.cors.allowOriginListRegex.map((r) => goRegExp(r) as RegExp);
  const corsOn = c.cors.allowOriginList.length > 0 || originRes.length > 0 || c.cors.allowHeaders.length > 0 || c.cors.allowMethods.length > 0 || c.cors.exposeHeaders.length > 0 || c.cors.allowCredentials || c.cors.maxAge >= 0;
  const allowedOrigin = (origin: string | undefined): string | null => {
    if (origin === undefined) return null;
    if (c.cors.allowOriginList.includes("*")) return "*";
    if (c.cors.allowOriginList.includes(origin) || originRes.some((re) => re.test(origin))) return origin;
    return null;
  };
  return (next) => async (x) => {
    if (c.allowedHosts.length > 0 && !c.isDevelopment) {
      let host = x.host;
      for (const h of c.hostsProxyHeaders) {
        const v = header(x, h);
        if (v !== undefined && v !== "") {
          host = v;
          break;
        }
      }
      const bare = host.replace(/:\d+$/, "").toLowerCase();
      if (!c.allowedHosts.includes(bare) && !c.allowedHosts.includes(host.toLowerCase())) return answer(500, "Bad Host\n");
    }
    const origin = header(x, "origin");
    if (corsOn && x.method === "OPTIONS" && origin !== undefined && header(x, "access-control-request-method") !== undefined) {
      const r = answer(200, "");
      r.headers = {};
      if (c.cors.allowCredentials) r.headers["access-control-allow-credentials"] = "true";
      if (c.cors.allowHeaders.length > 0) r.headers["access-control-allow-headers"] = c.cors.allowHeaders.join(",");
      if (c.cors.allowMethods.length > 0) r.headers["access-control-allow-methods"] = c.cors.allowMethods.join(",");
      const allowed = allowedOrigin(origin);
      if (allowed !== null) r.headers["access-control-allow-origin"] = allowed;
      if (c.cors.maxAge >= 0) r.headers["access-control-max-age"] = String(c.cors.maxAge);
      r.headers["content-length"] = "0";
      return r;
    }
    for (const [name, value] of c.customRequestHeaders) setHeader(x, name, value === "" ? null : value);
    const r = await next(x);
    for (const [name, value] of c.customResponseHeaders) setReply(r, name, value === "" ? null : value);
    if (corsOn) {
      const allowed = allowedOrigin(origin);
      if (allowed !== null) {
        r.headers["access-control-allow-origin"] = allowed;
        if (c.cors.allowCredentials) r.headers["access-control-allow-credentials"] = "true";
        if (c.cors.exposeHeaders.length > 0) r.headers["access-control-expose-headers"] = c.cors.exposeHeaders.join(",");
      }
      if (c.cors.addVaryHeader && !c.cors.allowOriginList.includes("*")) addVary(r, "Origin");
    }
    if (c.stsSeconds > 0 && !c.isDevelopment && (x.proto === "https" || c.forceSTSHeader)) {
      r.headers["strict-transport-security"] = `max-age=${c.stsSeconds}${c.stsIncludeSubdomains ? "; includeSubDomains" : ""}${c.stsPreload ? "; preload" : ""}`;
    }
    if (c.frameOptions !== "") r.headers["x-frame-options"] = c.frameOptions;
    if (c.contentTypeNosniff) r.headers["x-content-type-options"] = "nosniff";
    if (c.xssProtection !== "") r.headers["x-xss-protection"] = c.xssProtection;
    if (c.contentSecurityPolicy !== "") r.headers["content-security-policy"] = c.contentSecurityPolicy;
    if (c.contentSecurityPolicyReportOnly !== "") r.headers["content-security-policy-report-only"] = c.contentSecurityPolicyReportOnly;
    if (c.publicKey !== "") r.headers["public-key-pins"] = c.publicKey;
    if (c.referrerPolicy !== "") r.headers["referrer-policy"] = c.referrerPolicy;
    if (c.permissionsPolicy !== "") r.headers["permissions-policy"] = c.permissionsPolicy;
    if (c.featurePolicy !== "") r.headers["feature-policy"] = c.featurePolicy;
    return r;
  };
}
