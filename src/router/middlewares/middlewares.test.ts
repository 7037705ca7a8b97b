/**
 * Each middleware read from Traefik's documented tags (and mistakes in them named by their tag),
 * then at work between a request and a handler standing for the backends.
 */
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { md5Crypt, verifyPassword } from "./htpasswd.js";
import { readLabels } from "../labels.js";
import { compose, definitions, providerDefinitions, resolveMiddlewares, v1Middlewares, type Exchange, type Handler, type Reply } from "./index.js";
import { parseExpression } from "./expression.js";
import { circuitBreaker, type CircuitBreakerConfig } from "./resilience.js";
import { rateLimit, take, type RateLimitConfig } from "./rate-limit.js";

const P = "traefik";

function labelsOf(tags: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const t of tags) {
    const eq = t.indexOf("=");
    m.set(t.slice(P.length + 1, eq), t.slice(eq + 1));
  }
  return m;
}

/** The middlewares `list` names among `tags` (a router's `middlewares` tag and the definitions). */
function resolve(list: string, tags: string[]): ReturnType<typeof resolveMiddlewares> {
  return resolveMiddlewares(list, "traefik.http.routers.r.middlewares", definitions(labelsOf(tags), P));
}

function ok(list: string, tags: string[]): ReturnType<typeof resolveMiddlewares>["middlewares"] {
  const r = resolve(list, tags);
  expect(r.problems).toEqual([]);
  return r.middlewares;
}

function exchange(o: Partial<Exchange> = {}): Exchange {
  return { method: "GET", proto: "http", host: "app.example.com", port: 80, url: "/", clientIp: "192.0.2.10", headers: ["host", "app.example.com", "x-forwarded-for", o.clientIp ?? "192.0.2.10"], body: null, ...o };
}

/** A backend: answers 200 with what it received as JSON. */
const echo: Handler = (x) => Promise.resolve({ status: 200, headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify({ url: x.url, headers: x.headers })), failure: null, backend: null, retries: 0 });

async function text(r: Reply): Promise<string> {
  if (Buffer.isBuffer(r.body)) return r.body.toString();
  const parts: Buffer[] = [];
  for await (const c of r.body) parts.push(c);
  return Buffer.concat(parts).toString();
}

async function run(list: string, tags: string[], x: Exchange = exchange(), terminal: Handler = echo): Promise<Reply> {
  return compose(ok(list, tags))(terminal)(x);
}

const sent = async (r: Reply): Promise<{ url: string; headers: Record<string, string> }> => {
  const j = JSON.parse(await text(r)) as { url: string; headers: string[] };
  const h: Record<string, string> = {};
  for (let i = 0; i < j.headers.length; i += 2) h[(j.headers[i] as string).toLowerCase()] = j.headers[i + 1] as string;
  return { url: j.url, headers: h };
};

/** A body as a stream, as a backend's or a client's comes. */
const streamOf = (text: string): AsyncIterable<Buffer> => Readable.from([Buffer.from(text)]) as AsyncIterable<Buffer>;

const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;

describe("htpasswd hashes", () => {
  it("checks Apache MD5 (Traefik's documented test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/), MD5-crypt, bcrypt $2y$ and {SHA}", async () => {
    expect(md5Crypt("test", "$apr1$", "H6uskkkW")).toBe("$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/");
    // As `openssl passwd -1 -salt abcdefgh 'p@ss wörd'` makes it.
    expect(md5Crypt("p@ss wörd", "$1$", "abcdefgh")).toBe("$1$abcdefgh$Ps6mtBcCj4TZHets6p0KA1");
    expect(await verifyPassword("test", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/")).toBe(true);
    expect(await verifyPassword("test2", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/")).toBe(false);
    // PHP's password_hash documentation example.
    expect(await verifyPassword("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")).toBe(true);
    expect(await verifyPassword("rasmus", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")).toBe(false);
    expect(await verifyPassword("password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")).toBe(true);
    expect(await verifyPassword("password", "plaintext")).toBe(false);
  });
});

describe("reading middlewares from tags", () => {
  it("names the tag of each mistake, never a password hash", () => {
    expect(resolve("a", ["traefik.http.middlewares.a.basicauth.users=test"]).problems).toEqual(["traefik.http.middlewares.a.basicauth.users: each user must be name:hash (as htpasswd writes it)"]);
    const bad = resolve("a", ["traefik.http.middlewares.a.basicauth.users=test:secret"]).problems.join();
    expect(bad).toContain("traefik.http.middlewares.a.basicauth.users: the hash of user test is not one basicAuth takes");
    expect(bad).not.toContain("secret");
    expect(resolve("a", ["traefik.http.middlewares.a.ipallowlist.sourcerange=10.0.0.0/33"]).problems).toEqual(['traefik.http.middlewares.a.ipallowlist.sourcerange: "10.0.0.0/33" is not an address or CIDR block']);
    expect(resolve("a", ["traefik.http.middlewares.a.ratelimit.period=soon"]).problems).toEqual(["traefik.http.middlewares.a.ratelimit.period: must be a duration (10s, 1m, 250ms) or a number of seconds"]);
    expect(resolve("a", ["traefik.http.middlewares.a.circuitbreaker.expression=NetworkErrors() > 0.5"]).problems[0]).toContain("traefik.http.middlewares.a.circuitbreaker.expression: \"NetworkErrors() > 0.5\": unknown function NetworkErrors");
    expect(resolve("a", ["traefik.http.middlewares.a.redirectregex.regex=^http://(.*"]).problems[0]).toContain("traefik.http.middlewares.a.redirectregex.regex: not a regular expression");
  });

  it("refuses what it does not implement, naming the tag: a type, an option, another provider's middleware", () => {
    expect(resolve("d", ["traefik.http.middlewares.d.digestauth.users=u:r:h"]).problems).toEqual(["traefik.http.middlewares.d.digestauth (the digestauth middleware is not implemented)"]);
    expect(resolve("fa", ["traefik.http.middlewares.fa.forwardauth.address=http://auth/check"]).problems).toEqual(["traefik.http.middlewares.fa.forwardauth (the forwardauth middleware is not implemented)"]);
    expect(resolve("h", ["traefik.http.middlewares.h.headers.sslredirect=true"]).problems[0]).toContain("traefik.http.middlewares.h.headers.sslredirect: the SSL redirect options of headers are not implemented");
    expect(resolve("a", ["traefik.http.middlewares.a.stripprefix.prefixes=/x", "traefik.http.middlewares.a.stripprefix.someday=1"]).problems).toEqual(["traefik.http.middlewares.a.stripprefix.someday (this option of stripprefix is not implemented)"]);
    expect(resolve("other@file", []).problems).toEqual(["traefik.http.routers.r.middlewares: middleware other@file is defined by no tag (middlewares of provider file are not read here)"]);
    expect(resolve("nowhere", []).problems).toEqual(["traefik.http.routers.r.middlewares: middleware nowhere is defined by no tag of the service"]);
    expect(resolve("c", ["traefik.http.middlewares.c.compress.encodings=zstd"]).problems[0]).toContain("zstd is not implemented");
  });

  it("expands a chain in place, keeps the router's order, and finds a loop", () => {
    const tags = [
      "traefik.http.middlewares.secured.chain.middlewares=https-only,known-ips,auth-users",
      "traefik.http.middlewares.auth-users.basicauth.users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/",
      "traefik.http.middlewares.https-only.redirectscheme.scheme=https",
      "traefik.http.middlewares.known-ips.ipallowlist.sourceRange=192.168.1.7,127.0.0.1/32",
      "traefik.http.middlewares.gz.compress=true",
    ];
    expect(ok("gz@consulcatalog,secured", tags).map((m) => `${m.name}:${m.spec.type}`)).toEqual(["gz@consulcatalog:compress", "https-only:redirectScheme", "known-ips:ipAllowList", "auth-users:basicAuth"]);
    expect(resolve("a", ["traefik.http.middlewares.a.chain.middlewares=b", "traefik.http.middlewares.b.chain.middlewares=a"]).problems[0]).toContain("loops");
  });

  it("takes another service's definition (name@consulcatalog), not one defined two ways", () => {
    const shared = providerDefinitions([["traefik.http.middlewares.auth.basicauth.users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"], ["traefik.enable=false", "traefik.http.middlewares.off.compress=true"]], P, true);
    const r = resolveMiddlewares("auth@consulcatalog,off", "t", new Map(), shared);
    expect(r.middlewares.map((m) => m.spec.type)).toEqual(["basicAuth"]);
    expect(r.problems).toEqual(["t: middleware off is defined by no tag of the service"]);
    const twice = providerDefinitions([["traefik.http.middlewares.x.compress=true"], ["traefik.http.middlewares.x.compress.minresponsebodybytes=10"]], P, true);
    expect(resolveMiddlewares("x", "t", new Map(), twice).problems[0]).toContain("defined differently by several services");
  });

  it("never drops a Traefik 1 frontend's middleware that no frontend route takes", () => {
    const l = readLabels(["traefik.http.routers.r.rule=Host(`a`)", "traefik.frontend.auth.basic.users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"], P);
    expect("reason" in l ? l.reason : l.routers[0]?.unimplemented).toEqual(["traefik.frontend.auth.basic.users (a Traefik 1 frontend's middleware, with no frontend rule: it applies to none of the routers)"]);
  });

  it("reads Traefik 1's frontend tags in Traefik 1's order", () => {
    const labels = labelsOf([
      "traefik.frontend.auth.basic.users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/",
      "traefik.frontend.whiteList.sourceRange=10.0.0.0/8",
      "traefik.frontend.redirect.entryPoint=https",
      "traefik.frontend.headers.customResponseHeaders=X-Served-By:ruche||X-Powered-By:",
      "traefik.frontend.headers.STSSeconds=315360000",
      "traefik.frontend.rateLimit.extractorFunc=client.ip",
      "traefik.frontend.rateLimit.rateSet.api.period=10s",
      "traefik.frontend.rateLimit.rateSet.api.average=100",
      "traefik.frontend.rateLimit.rateSet.api.burst=200",
    ]);
    const r = v1Middlewares(labels, "frontend", P, [{ name: "http", tls: false, port: 80 }, { name: "https", tls: true, port: 443 }]);
    expect(r.problems).toEqual([]);
    expect(r.middlewares.map((m) => m.spec.type)).toEqual(["ipAllowList", "redirectScheme", "rateLimit", "headers", "basicAuth"]);
    expect(r.middlewares[1]?.spec).toEqual({ type: "redirectScheme", scheme: "https", port: "443", permanent: false });
    expect(r.middlewares[2]?.spec).toMatchObject({ average: 100, periodMs: 10_000, burst: 200 });
    expect(r.middlewares[3]?.spec).toMatchObject({ customResponseHeaders: [["X-Powered-By", ""], ["X-Served-By", "ruche"]], stsSeconds: 315360000 });
    const bad = v1Middlewares(labelsOf(["traefik.frontend.redirect.entryPoint=secure", "traefik.frontend.whiteList.useXForwardedFor=true", "traefik.frontend.whiteList.sourceRange=10.0.0.0/8"]), "frontend", P, [{ name: "http", tls: false, port: 80 }]);
    expect(bad.problems).toEqual([
      "traefik.frontend.whiteList.useXForwardedFor=true (a client's X-Forwarded-For is not trusted by this router: the list is checked against the connection's address only)",
      "traefik.frontend.redirect.entryPoint=secure: no entrypoint of the router has that name (http)",
    ]);
  });
});

describe("middlewares at work", () => {
  const auth = ["traefik.http.middlewares.a.basicauth.users=test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"];

  it("basicAuth: 401 with the realm unless a user's password is given; headerField and removeHeader", async () => {
    const none = await run("a", auth);
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Basic realm="traefik"');
    expect((await run("a", auth, exchange({ headers: ["authorization", basic("test", "nope")] }))).status).toBe(401);
    const yes = await run("a", [...auth, "traefik.http.middlewares.a.basicauth.headerField=X-WebAuth-User", "traefik.http.middlewares.a.basicauth.removeheader=true", "traefik.http.middlewares.a.basicauth.realm=MyRealm"], exchange({ headers: ["authorization", basic("test2", "test2")] }));
    expect(yes.status).toBe(200);
    const s = await sent(yes);
    expect(s.headers["x-webauth-user"]).toBe("test2");
    expect(s.headers.authorization).toBeUndefined();
    expect((await run("a", [...auth, "traefik.http.middlewares.a.basicauth.realm=MyRealm"])).headers["www-authenticate"]).toBe('Basic realm="MyRealm"');
  });

  it("ipAllowList: the connection's address against the ranges (IPv4, IPv6, mapped IPv4); depth over X-Forwarded-For; 403", async () => {
    const tags = ["traefik.http.middlewares.ip.ipallowlist.sourcerange=127.0.0.1/32, 192.168.1.7, 2001:db8::/32"];
    expect((await run("ip", tags, exchange({ clientIp: "192.0.2.10" }))).status).toBe(403);
    expect(await text(await run("ip", tags, exchange({ clientIp: "192.0.2.10" })))).toBe("Forbidden\n");
    expect((await run("ip", tags, exchange({ clientIp: "::ffff:127.0.0.1" }))).status).toBe(200);
    expect((await run("ip", tags, exchange({ clientIp: "192.168.1.7" }))).status).toBe(200);
    expect((await run("ip", tags, exchange({ clientIp: "2001:db8::42" }))).status).toBe(200);
    const depth = [...tags, "traefik.http.middlewares.ip.ipallowlist.ipstrategy.depth=2"];
    expect((await run("ip", depth, exchange({ clientIp: "10.0.0.1", headers: ["x-forwarded-for", "192.168.1.7, 10.0.0.1"] }))).status).toBe(200);
    expect((await run("ip", depth, exchange({ clientIp: "10.0.0.1", headers: ["x-forwarded-for", "10.0.0.1"] }))).status).toBe(403);
    // The former name, ipWhiteList; excludedIPs skipped from the right of X-Forwarded-For.
    const excluded = ["traefik.http.middlewares.ip.ipwhitelist.sourcerange=192.168.1.7", "traefik.http.middlewares.ip.ipwhitelist.ipstrategy.excludedips=10.0.0.0/8"];
    expect((await run("ip", excluded, exchange({ clientIp: "10.0.0.1", headers: ["x-forwarded-for", "192.168.1.7, 10.0.0.2, 10.0.0.1"] }))).status).toBe(200);
    expect(resolve("ip", [...tags, "traefik.http.middlewares.ip.ipwhitelist.sourcerange=10.0.0.0/8"]).problems[0]).toContain("defines more than one type");
  });

  it("rateLimit: a token bucket of `burst` filled at average/period; over it, 429 with Retry-After", async () => {
    const b = { tokens: 2, at: 0 };
    expect([take(b, 0, 1 / 1000, 2), take(b, 0, 1 / 1000, 2), take(b, 0, 1 / 1000, 2)]).toEqual([0, 0, 1000]);
    let now = 0;
    const c: RateLimitConfig = { type: "rateLimit", average: 6, periodMs: 60_000, burst: 2, sourceCriterion: { kind: "ip", ipStrategy: { depth: 0, excludedIPs: [] } } };
    const h = rateLimit(c, () => now)(echo);
    expect((await h(exchange())).status).toBe(200);
    expect((await h(exchange())).status).toBe(200);
    const over = await h(exchange());
    expect(over.status).toBe(429);
    expect(over.headers["retry-after"]).toBe("10");
    // Another client has its own bucket; ten seconds later, one more token.
    expect((await h(exchange({ clientIp: "192.0.2.11" }))).status).toBe(200);
    now = 10_000;
    expect((await h(exchange())).status).toBe(200);
    expect(ok("r", ["traefik.http.middlewares.r.ratelimit.average=100", "traefik.http.middlewares.r.ratelimit.burst=50", "traefik.http.middlewares.r.ratelimit.sourcecriterion.requestheadername=username"])[0]?.spec).toMatchObject({ average: 100, burst: 50, periodMs: 1000, sourceCriterion: { kind: "header", name: "username" } });
  });

  it("redirectScheme and redirectRegex: 301/302 for GET, 308/307 otherwise; nothing when already there", async () => {
    const https = ["traefik.http.middlewares.r.redirectscheme.scheme=https", "traefik.http.middlewares.r.redirectscheme.permanent=true"];
    const r = await run("r", https, exchange({ url: "/a?b=1" }));
    expect([r.status, r.headers.location]).toEqual([301, "https://app.example.com/a?b=1"]);
    expect((await run("r", https, exchange({ method: "POST" }))).status).toBe(308);
    expect((await run("r", https, exchange({ proto: "https", port: 443 }))).status).toBe(200);
    const port = await run("r", ["traefik.http.middlewares.r.redirectscheme.scheme=https", "traefik.http.middlewares.r.redirectscheme.port=8443"], exchange({ host: "app.example.com:8080" }));
    expect([r.status === 301, port.status, port.headers.location]).toEqual([true, 302, "https://app.example.com:8443/"]);
    const re = ["traefik.http.middlewares.r.redirectregex.regex=^http://localhost/(.*)", "traefik.http.middlewares.r.redirectregex.replacement=http://mydomain/${1}"];
    const moved = await run("r", re, exchange({ host: "localhost", url: "/x/y?z" }));
    expect([moved.status, moved.headers.location]).toEqual([302, "http://mydomain/x/y?z"]);
    expect((await run("r", re, exchange())).status).toBe(200);
  });

  it("stripPrefix, stripPrefixRegex, addPrefix, replacePath, replacePathRegex rewrite the path; X-Forwarded-Prefix, X-Replaced-Path", async () => {
    const s = await sent(await run("s", ["traefik.http.middlewares.s.stripprefix.prefixes=/foobar,/fiibar"], exchange({ url: "/fiibar/a?q=1" })));
    expect([s.url, s.headers["x-forwarded-prefix"]]).toEqual(["/a?q=1", "/fiibar"]);
    expect((await sent(await run("s", ["traefik.http.middlewares.s.stripprefix.prefixes=/foobar"], exchange({ url: "/foobar" })))).url).toBe("/");
    const r = await sent(await run("s", ["traefik.http.middlewares.s.stripprefixregex.regex=/foo/[a-z0-9]+/[0-9]+/"], exchange({ url: "/foo/abc/12/bar" })));
    expect([r.url, r.headers["x-forwarded-prefix"]]).toEqual(["/bar", "/foo/abc/12/"]);
    expect((await sent(await run("a", ["traefik.http.middlewares.a.addprefix.prefix=/foo"], exchange({ url: "/bar?x" })))).url).toBe("/foo/bar?x");
    const rp = await sent(await run("p", ["traefik.http.middlewares.p.replacepath.path=/foo"], exchange({ url: "/bar?x" })));
    expect([rp.url, rp.headers["x-replaced-path"]]).toEqual(["/foo?x", "/bar"]);
    expect((await sent(await run("p", ["traefik.http.middlewares.p.replacepathregex.regex=^/foo/(.*)", "traefik.http.middlewares.p.replacepathregex.replacement=/bar/$1"], exchange({ url: "/foo/x" })))).url).toBe("/bar/x");
  });

  it("headers: custom request and response headers (empty removes), CORS preflight and answers, security headers", async () => {
    const tags = [
      "traefik.http.middlewares.h.headers.customrequestheaders.X-Script-Name=test",
      "traefik.http.middlewares.h.headers.customrequestheaders.X-Custom-Request-Header=",
      "traefik.http.middlewares.h.headers.customresponseheaders.X-Custom-Response-Header=",
      "traefik.http.middlewares.h.headers.customresponseheaders.X-Served=ruche",
      "traefik.http.middlewares.h.headers.accesscontrolallowmethods=GET,OPTIONS,PUT",
      "traefik.http.middlewares.h.headers.accesscontrolallowheaders=*",
      "traefik.http.middlewares.h.headers.accesscontrolalloworiginlist=https://foo.bar.org,https://example.org",
      "traefik.http.middlewares.h.headers.accesscontrolmaxage=100",
      "traefik.http.middlewares.h.headers.addvaryheader=true",
      "traefik.http.middlewares.h.headers.framedeny=true",
      "traefik.http.middlewares.h.headers.browserxssfilter=true",
      "traefik.http.middlewares.h.headers.contenttypenosniff=true",
      "traefik.http.middlewares.h.headers.stsseconds=31536000",
      "traefik.http.middlewares.h.headers.stsincludesubdomains=true",
    ];
    const backend: Handler = async (x) => ({ ...(await echo(x)), headers: { "x-custom-response-header": "gone" } });
    const r = await run("h", tags, exchange({ proto: "https", headers: ["X-Custom-Request-Header", "x", "origin", "https://example.org"] }), backend);
    const s = await sent(r);
    expect(s.headers["x-script-name"]).toBe("test");
    expect(s.headers["x-custom-request-header"]).toBeUndefined();
    expect(r.headers).toMatchObject({ "x-served": "ruche", "access-control-allow-origin": "https://example.org", vary: "Origin", "x-frame-options": "DENY", "x-xss-protection": "1; mode=block", "x-content-type-options": "nosniff", "strict-transport-security": "max-age=31536000; includeSubDomains" });
    expect(r.headers["x-custom-response-header"]).toBeUndefined();
    // No STS on plain HTTP unless forced.
    expect((await run("h", tags)).headers["strict-transport-security"]).toBeUndefined();
    const pre = await run("h", tags, exchange({ method: "OPTIONS", headers: ["origin", "https://foo.bar.org", "access-control-request-method", "PUT"] }));
    expect(pre.status).toBe(200);
    expect(pre.headers).toMatchObject({ "access-control-allow-methods": "GET,OPTIONS,PUT", "access-control-allow-headers": "*", "access-control-allow-origin": "https://foo.bar.org", "access-control-max-age": "100" });
    expect((await run("h", ["traefik.http.middlewares.h.headers.allowedhosts=ok.example.com"])).status).toBe(500);
  });

  it("compress: gzip when accepted and at least minResponseBodyBytes, not twice, not excluded types", async () => {
    const big = "x".repeat(2000);
    const backend = (type: string, body: string): Handler => () => Promise.resolve({ status: 200, headers: { "content-type": type }, body: streamOf(body), failure: null, backend: null, retries: 0 });
    const r = await run("c", ["traefik.http.middlewares.c.compress=true"], exchange({ headers: ["accept-encoding", "gzip, deflate"] }), backend("text/html", big));
    expect([r.headers["content-encoding"], r.headers.vary]).toEqual(["gzip", "Accept-Encoding"]);
    const parts: Buffer[] = [];
    for await (const c of r.body as AsyncIterable<Buffer>) parts.push(c);
    expect(gunzipSync(Buffer.concat(parts)).toString()).toBe(big);
    expect((await run("c", ["traefik.http.middlewares.c.compress=true"], exchange({ headers: ["accept-encoding", "gzip"] }), backend("text/html", "short"))).headers["content-encoding"]).toBeUndefined();
    expect((await run("c", ["traefik.http.middlewares.c.compress=true"], exchange(), backend("text/html", big))).headers["content-encoding"]).toBeUndefined();
    expect((await run("c", ["traefik.http.middlewares.c.compress.excludedcontenttypes=text/event-stream"], exchange({ headers: ["accept-encoding", "gzip"] }), backend("text/event-stream", big))).headers["content-encoding"]).toBeUndefined();
    expect((await run("c", ["traefik.http.middlewares.c.compress=true"], exchange({ headers: ["accept-encoding", "br;q=1, gzip;q=0.5"] }), backend("text/html", big))).headers["content-encoding"]).toBe("br");
  });

  it("retry: a request whose backend cannot be reached sent again, up to attempts in all", async () => {
    let calls = 0;
    const down: Handler = () => {
      calls++;
      return Promise.resolve({ status: 502, headers: {}, body: Buffer.from("502 Bad Gateway\n"), failure: "network", backend: null, retries: 0 });
    };
    const r = await run("r", ["traefik.http.middlewares.r.retry.attempts=4", "traefik.http.middlewares.r.retry.initialinterval=1ms"], exchange(), down);
    expect([r.status, calls]).toEqual([502, 4]);
    expect(resolve("r", ["traefik.http.middlewares.r.retry.initialinterval=100ms"]).problems).toEqual(["traefik.http.middlewares.r.retry.attempts: must be given"]);
  });

  it("circuitBreaker: trips when its expression holds, answers 503 for fallbackDuration, then recovers", async () => {
    expect("reason" in parseExpression("ResponseCodeRatio(500, 600, 0, 600) > 0.25 || LatencyAtQuantileMS(50.0) > 100", { ResponseCodeRatio: { args: 4, boolean: false }, LatencyAtQuantileMS: { args: 1, boolean: false } })).toBe(false);
    let now = 1_000_000;
    let status = 500;
    let calls = 0;
    const backend: Handler = () => {
      calls++;
      return Promise.resolve({ status, headers: {}, body: Buffer.alloc(0), failure: null, backend: null, retries: 0 });
    };
    const c: CircuitBreakerConfig = { type: "circuitBreaker", expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.25", checkPeriodMs: 100, fallbackDurationMs: 10_000, recoveryDurationMs: 10_000, responseCode: 503 };
    const h = circuitBreaker(c, () => now, () => 0.5)(backend);
    expect((await h(exchange())).status).toBe(500);
    now += 200;
    expect((await h(exchange())).status).toBe(503);
    expect(calls).toBe(1);
    status = 200;
    // Ten seconds of fallback, then recovering: past half of recoveryDuration, the draw (0.5) lets a request through.
    now += 10_000 + 4_000;
    expect((await h(exchange())).status).toBe(503);
    now += 2_000;
    expect((await h(exchange())).status).toBe(200);
    now += 5_000;
    expect((await h(exchange())).status).toBe(200);
  });

  it("buffering: the request body read whole (413 over the limit), the answer too (500 over its limit); retryExpression", async () => {
    const body = streamOf("0123456789");
    const r = await run("b", ["traefik.http.middlewares.b.buffering.maxrequestbodybytes=5"], exchange({ method: "POST", body }));
    expect(r.status).toBe(413);
    const through = await run("b", ["traefik.http.middlewares.b.buffering.maxrequestbodybytes=50"], exchange({ method: "POST", body: streamOf("0123456789") }), (x) => Promise.resolve({ status: 200, headers: {}, body: Buffer.isBuffer(x.body) ? x.body : Buffer.from("stream"), failure: null, backend: null, retries: 0 }));
    expect(await text(through)).toBe("0123456789");
    expect((await run("b", ["traefik.http.middlewares.b.buffering.maxresponsebodybytes=4"])).status).toBe(500);
    let calls = 0;
    const flaky: Handler = (x) => (++calls < 3 ? Promise.resolve({ status: 502, headers: {}, body: Buffer.alloc(0), failure: "network", backend: null, retries: 0 }) : echo(x));
    const again = await run("b", ["traefik.http.middlewares.b.buffering.retryexpression=IsNetworkError() && Attempts() < 3"], exchange(), flaky);
    expect([again.status, calls]).toEqual([200, 3]);
  });

  it("inFlightReq: over `amount` requests at a time from one source, 429", async () => {
    let release: () => void = () => undefined;
    const slow: Handler = (x) => new Promise((r) => { release = () => { void echo(x).then(r); }; });
    const h = compose(ok("f", ["traefik.http.middlewares.f.inflightreq.amount=1"]))(slow);
    const first = h(exchange());
    expect((await h(exchange())).status).toBe(429);
    release();
    expect((await first).status).toBe(200);
    expect((await compose(ok("f", ["traefik.http.middlewares.f.inflightreq.amount=1"]))(echo)(exchange())).status).toBe(200);
  });
});
