import { describe, expect, it } from "vitest";
import { readLabels } from "./labels.js";
import { hostOf } from "./lookup.js";
import { matches, parseRule, type RequestFacts, type RuleSyntax } from "./rule.js";

/** A request: GET h/ from 10.1.2.3 unless said otherwise. */
function req(o: { [K in keyof RequestFacts]?: RequestFacts[K] | undefined } = {}): RequestFacts {
  // An absent query or address is given as undefined, as a request without them has.
  return Object.assign({ host: "h", path: "/", method: "GET", headers: {}, query: "", clientIp: "10.1.2.3" }, o);
}

function match(rule: string, r: RequestFacts, syntax: RuleSyntax = "auto"): boolean {
  const p = parseRule(rule, syntax);
  if (!p.ok) throw new Error(`${rule}: ${p.reason}`);
  return matches(p.value.matcher, r);
}

describe("matchers, as Traefik's documentation writes them", () => {
  it.each([
    // Query: v2 pairs (all of them), v3 key and value, key alone (an empty value), v1.
    ["Query(`mobile=true`)", req({ query: "mobile=true" }), true],
    ["Query(`mobile=true`)", req({ query: "mobile=false" }), false],
    ["Query(`mobile=true`, `id=12`)", req({ query: "id=12&mobile=true" }), true],
    ["Query(`mobile=true`, `id=12`)", req({ query: "mobile=true" }), false],
    ["Query(`id={id:[0-9]+}`)", req({ query: "id=42" }), true],
    ["Query(`id={id:[0-9]+}`)", req({ query: "id=4x" }), false],
    ["Query(`debug=`)", req({ query: "debug=anything" }), true],
    ["Query(`mobile`, `true`)", req({ query: "a=b&mobile=true" }), true],
    ["Query(`mobile`, `true`)", req({ query: "mobile=yes" }), false],
    ["Query(`mobile`)", req({ query: "mobile" }), true],
    ["Query(`mobile`)", req({ query: "mobile=1" }), false],
    ["Query(`q`, `a b`)", req({ query: "q=a+b" }), true],
    ["Query(`q`, `a/b`)", req({ query: "q=a%2Fb" }), true],
    ["Query(`mobile`, `true`)", req({ query: undefined }), false],
    ["QueryRegexp(`mobile`, `^(true|yes)$`)", req({ query: "mobile=yes" }), true],
    ["QueryRegexp(`mobile`, `^(true|yes)$`)", req({ query: "mobile=no" }), false],
    ["Query:mobile=true,id=12", req({ query: "mobile=true&id=12" }), true],
    ["Query:mobile=true,id=12", req({ query: "mobile=true" }), false],
    // ClientIP: the connection's address, in an address or a CIDR block (IPv4, IPv6, IPv4 mapped into IPv6).
    ["ClientIP(`10.0.0.0/8`)", req(), true],
    ["ClientIP(`10.0.0.0/8`)", req({ clientIp: "192.168.1.1" }), false],
    ["ClientIP(`10.0.0.0/8`)", req({ clientIp: "::ffff:10.9.9.9" }), true],
    ["ClientIP(`192.168.0.0/24`, `10.1.2.3`)", req(), true],
    ["ClientIP(`::1`)", req({ clientIp: "::1" }), true],
    ["ClientIP(`fe80::/10`)", req({ clientIp: "fe80::1" }), true],
    ["ClientIP(`fe80::/10`)", req({ clientIp: "2001:db8::1" }), false],
    ["ClientIP(`10.0.0.0/8`)", req({ clientIp: undefined }), false],
    ["!ClientIP(`10.0.0.0/8`)", req({ clientIp: "8.8.8.8" }), true],
    // HostRegexp: v2 templates (whole name), v3 regular expressions (found anywhere: anchor them).
    ["HostRegexp(`{subdomain:[a-z]+}.example.com`)", req({ host: "api.example.com" }), true],
    ["HostRegexp(`{subdomain:[a-z]+}.example.com`)", req({ host: "api.example.com.evil" }), false],
    ["HostRegexp(`{subdomain:[a-z]+}.example.com`)", req({ host: "apixexample.com" }), false],
    ["HostRegexp(`example.com`, `{sub}.example.com`)", req({ host: "x.example.com" }), true],
    ["HostRegexp(`{sub:[a-z]{3}}.example.com`)", req({ host: "abc.example.com" }), true],
    ["HostRegexp(`{sub:[a-z]{3}}.example.com`)", req({ host: "abcd.example.com" }), false],
    ["HostRegexp(`^[a-z]+\\.example\\.com$`)", req({ host: "api.example.com" }), true],
    ["HostRegexp(`^[a-z]{3}\\.example\\.com$`)", req({ host: "abcd.example.com" }), false],
    ["HostRegexp(`\\.example\\.com$`)", req({ host: "a.b.example.com" }), true],
    ["HostRegexp:{sub:[a-z]+}.example.com", req({ host: "api.example.com" }), true],
    // Method, Header(s), HeaderRegexp/HeadersRegexp, v1 forms.
    ["Method(`POST`, `PUT`)", req({ method: "PUT" }), true],
    ["Method(`POST`)", req({ method: "GET" }), false],
    ["Method:POST,PUT", req({ method: "POST" }), true],
    ["Headers(`X-Env`, `prod`)", req({ headers: { "x-env": "prod" } }), true],
    ["Header(`X-Env`, `prod`)", req({ headers: { "x-env": "production" } }), false],
    ["Headers:X-Env,prod", req({ headers: { "x-env": "prod" } }), true],
    ["HeadersRegexp(`Content-Type`, `application/(text|json)`)", req({ headers: { "content-type": "application/json; charset=utf-8" } }), true],
    ["HeaderRegexp(`Content-Type`, `^application/(text|json)$`)", req({ headers: { "content-type": "application/xml" } }), false],
    ["HeaderRegexp(`X-A`, `^b`)", req({ headers: {} }), false],
    ["HeadersRegexp:Content-Type,application/(text|json)", req({ headers: { "content-type": "application/text" } }), true],
    // Paths: v3 PathRegexp found anywhere; v2 templates in Path and PathPrefix (also v1).
    ["PathRegexp(`\\.(jpeg|jpg|png)$`)", req({ path: "/img/a.png" }), true],
    ["PathRegexp(`\\.(jpeg|jpg|png)$`)", req({ path: "/img/a.png/x" }), false],
    ["PathRegexp(`^/products/(shoes|socks)/[0-9]+$`)", req({ path: "/products/socks/12" }), true],
    ["Path(`/products/{id:[0-9]+}`)", req({ path: "/products/12" }), true],
    ["Path(`/products/{id:[0-9]+}`)", req({ path: "/products/12/x" }), false],
    ["Path(`/products/{id}`)", req({ path: "/products/a/b" }), false],
    ["PathPrefix(`/users/{id:[0-9]+}`)", req({ path: "/users/7/profile" }), true],
    ["Path:/articles/{category}/{id:[0-9]+}", req({ path: "/articles/news/3" }), true],
    // Host: any case, a final dot on either side.
    ["Host(`Example.com.`)", req({ host: "example.com" }), true],
    // Together.
    ["Host(`a.com`) && Query(`v`, `2`) && ClientIP(`10.0.0.0/8`)", req({ host: "a.com", query: "v=2" }), true],
    ["Host(`a.com`) && (Method(`POST`) || Query(`force`))", req({ host: "a.com", query: "force" }), true],
  ])("%s", (rule, r, want) => {
    expect(match(rule, r)).toBe(want);
  });

  it.each([
    ["ClientIP(`10.0.0.0/33`)", /ClientIP: "10.0.0.0\/33" has no valid prefix length/],
    ["ClientIP(`example.com`)", /ClientIP: "example.com" is not an IP address or a CIDR block/],
    ["Query(`a`, `b`, `c`)", /Query\(\) takes a key and a value/],
    ["Query(`=x`)", /Query: "=x" has no key/],
    ["QueryRegexp(`a`, `(`)", /QueryRegexp: .*Invalid regular expression/],
    ["HeaderRegexp(`X`)", /HeaderRegexp\(\) takes a name and a regular expression/],
    ["HeadersRegexp:X", /HeadersRegexp: takes a name and a pattern/],
    ["Query:=1", /Query: "=1" has no key/],
    ["Frobnicate(`x`)", /unknown matcher "Frobnicate" \(known: .*ClientIP/],
    ["Frobnicate:x", /unknown matcher "Frobnicate" \(known: .*Query/],
  ])("%s is refused, saying why", (rule, why) => {
    const p = parseRule(rule);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.reason).toMatch(why);
  });

  it("a router's ruleSyntax tag says how HostRegexp, Query and paths read their arguments", () => {
    // v2: a host template, whole name; v3: a regular expression found anywhere.
    expect(match("HostRegexp(`a.example.com`)", req({ host: "a.example.com.evil" }), "v2")).toBe(false);
    expect(match("HostRegexp(`a.example.com`)", req({ host: "a.example.com.evil" }), "v3")).toBe(true);
    // v2: Query(`k`) is the key with any value; v3: with an empty value.
    expect(match("Query(`mobile`)", req({ query: "mobile=1" }), "v2")).toBe(true);
    expect(match("Query(`mobile`)", req({ query: "mobile=1" }), "v3")).toBe(false);
    // v3 paths are literal.
    expect(match("Path(`/a/{id}`)", req({ path: "/a/{id}" }), "v3")).toBe(true);
    expect(match("Path(`/a/{id}`)", req({ path: "/a/1" }), "v2")).toBe(true);
    const spec = readLabels(["traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.ruleSyntax=v2"], "traefik");
    expect("routers" in spec && spec.routers[0]?.ruleSyntax).toBe("v2");
    expect(readLabels(["traefik.http.routers.r.ruleSyntax=v1"], "traefik")).toEqual({ reason: "tag traefik.http.routers.r.ruleSyntax=v1: must be v2 or v3" });
  });

  it("a request's host is read without its port or a final dot, as Traefik's Host compares it", () => {
    expect([hostOf("Example.COM.:8080"), hostOf("example.com."), hostOf("[::1]:80"), hostOf("a.b")]).toEqual(["example.com", "example.com", "[::1]", "a.b"]);
  });
});
