import { describe, expect, it } from "vitest";
import type { ServiceInstance } from "../catalog/index.js";
import { Balancer } from "./balancer.js";
import { parseRouterConfig } from "./config.js";
import { cookieName, parseDuration, readLabels } from "./labels.js";
import { cookieValue, fnv64, setCookie, stickyValue, stuckTo } from "./sticky.js";
import { routingTable } from "./table.js";
import type { Backend, Route, RouterConfig } from "./types.js";

let seq = 0;
function inst(service: string, tags: string[], o: { port?: number; weights?: { Passing: number; Warning: number } } = {}): ServiceInstance {
  seq++;
  const id = `${service}-${seq}`;
  const node = { ID: "n1", Node: "node1", Address: "10.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  const check = { Node: "node1", CheckID: "http", Name: "http", Status: "passing" as const, Notes: "", Output: "", ServiceID: id, ServiceName: service, ServiceTags: tags, Type: "", CreateIndex: 1, ModifyIndex: 1 };
  const i: ServiceInstance = { ID: id, Service: service, Tags: tags, Address: "10.0.0.1", Port: o.port ?? 20000 + seq, Meta: {}, node, checks: [check], CreateIndex: 1, ModifyIndex: 1 };
  // The catalog's Weights, as a Consul registration gives them.
  return o.weights === undefined ? i : { ...i, details: { Weights: o.weights } };
}

function config(): RouterConfig {
  const p = parseRouterConfig({});
  if (!p.ok) throw new Error(p.errors.join("; "));
  return p.config;
}

function onlyRoute(instances: ServiceInstance[]): Route {
  const t = routingTable({ index: 1, instances }, config());
  expect(t.skipped).toEqual([]);
  expect(t.routes).toHaveLength(1);
  return t.routes[0] as Route;
}

/** Who gets `n` requests in a row, by port. */
function spread(route: Route, n: number, b = new Balancer({ failures: 3, baseMs: 1000, maxMs: 1000 })): Record<number, number> {
  const out: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const p = b.pick(route, null)?.port ?? 0;
    out[p] = (out[p] ?? 0) + 1;
  }
  return out;
}

describe("sticky sessions", () => {
  it("the cookie's value is Traefik's: the first 16 hex digits of the SHA-256 of the server's URL; older values are FNV-1 64", () => {
    expect(stickyValue("http://10.0.0.1:8080")).toBe("cc3dd0c247d6ff41");
    expect(fnv64("a")).toBe("af63bd4c8601b7be");
    // Traefik's default name: "_" and SHA-1 of "_TRAEFIK_BACKEND_" + the service, 6 characters in all.
    expect(cookieName("whoami@consulcatalog")).toBe("_405c8");
  });

  it("Traefik's documented tags: a cookie with its name, secure, httpOnly, sameSite and maxAge", () => {
    const r = onlyRoute([
      inst("app", [
        "traefik.http.routers.app.rule=Host(`app.example.com`)",
        "traefik.http.services.app.loadbalancer.sticky.cookie=true",
        "traefik.http.services.app.loadbalancer.sticky.cookie.name=app_session",
        "traefik.http.services.app.loadbalancer.sticky.cookie.secure=true",
        "traefik.http.services.app.loadbalancer.sticky.cookie.httpOnly=true",
        "traefik.http.services.app.loadbalancer.sticky.cookie.sameSite=strict",
        "traefik.http.services.app.loadbalancer.sticky.cookie.maxAge=3600",
      ], { port: 8080 }),
    ]);
    expect(r.unimplemented).toEqual([]);
    expect(r.sticky).toEqual({ name: "app_session", secure: true, httpOnly: true, sameSite: "Strict", maxAge: 3600, path: "/", domain: "" });
    const b = r.backends[0] as Backend;
    expect(setCookie(r.sticky as NonNullable<Route["sticky"]>, b)).toBe(`app_session=${stickyValue("http://10.0.0.1:8080")}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict`);
  });

  it("the default name, and the older stickiness tags", () => {
    expect(onlyRoute([inst("app", ["traefik.http.services.app.loadbalancer.sticky.cookie=true"])]).sticky?.name).toBe(cookieName("app@consulcatalog"));
    expect(onlyRoute([inst("old", ["traefik.backend.loadbalancer.stickiness=true"])]).sticky?.name).toBe(cookieName("old"));
    expect(onlyRoute([inst("old", ["traefik.backend.loadbalancer.stickiness=true", "traefik.backend.loadbalancer.stickiness.cookieName=my cookie"])]).sticky?.name).toBe("my_cookie");
    expect(onlyRoute([inst("old", ["traefik.backend.loadbalancer.sticky=true"])]).sticky).not.toBeNull();
    expect(onlyRoute([inst("plain", [])]).sticky).toBeNull();
    expect(onlyRoute([inst("off", ["traefik.http.services.off.loadbalancer.sticky.cookie=false"])]).sticky).toBeNull();
  });

  it.each([
    ["traefik.http.services.a.loadbalancer.sticky.cookie.secure=yes", "must be true or false"],
    ["traefik.http.services.a.loadbalancer.sticky.cookie.sameSite=sometimes", "must be none, lax or strict"],
    ["traefik.http.services.a.loadbalancer.sticky.cookie.maxAge=-1", "must be a whole number of seconds"],
    ["traefik.backend.loadbalancer.stickiness=maybe", "must be true or false"],
  ])("a malformed tag %s leaves the instance out, saying why", (tag, why) => {
    const l = readLabels([tag], "traefik");
    expect(l).toEqual({ reason: expect.stringContaining(why) as unknown });
    expect((l as { reason: string }).reason).toContain(tag);
  });

  it("a cookie naming a backend sends to it while it is usable; an older value of it too, to be written again", () => {
    const r = onlyRoute([0, 1, 2].map((i) => inst("s", ["traefik.http.services.s.loadbalancer.sticky.cookie.name=sid"], { port: 9000 + i })));
    const second = r.backends[1] as Backend;
    const all = (): boolean => true;
    expect(stuckTo(r, `a=1; sid=${stickyValue(second.origin)}`, all)).toEqual({ backend: second, rewrite: false });
    expect(stuckTo(r, `sid=${second.origin}`, all)).toEqual({ backend: second, rewrite: true });
    expect(stuckTo(r, `sid=${fnv64(second.origin)}`, all)).toEqual({ backend: second, rewrite: true });
    expect(stuckTo(r, `sid=${fnv64(fnv64(second.origin))}`, all)).toEqual({ backend: second, rewrite: true });
    expect(stuckTo(r, "sid=0123456789abcdef", all)).toBeNull();
    expect(stuckTo(r, undefined, all)).toBeNull();
    expect(stuckTo(r, `sid=${stickyValue(second.origin)}`, (b) => b !== second)).toBeNull();
    expect(cookieValue(['x="1"', 'sid="q"'], "sid")).toBe("q");
  });
});

describe("weights", () => {
  it("weight tags (both forms) share the traffic 3:1 in smooth round robin", () => {
    const r = onlyRoute([inst("w", ["traefik.weight=3"], { port: 9001 }), inst("w", ["traefik.http.services.w.loadbalancer.server.weight=1"], { port: 9002 })]);
    expect(spread(r, 400)).toEqual({ 9001: 300, 9002: 100 });
  });

  it("without a tag, the catalog's Weights.Passing (Consul's) is the weight; a tag says otherwise", () => {
    const r = onlyRoute([inst("c", [], { port: 9001, weights: { Passing: 3, Warning: 1 } }), inst("c", [], { port: 9002, weights: { Passing: 1, Warning: 1 } })]);
    expect(r.backends.map((b) => b.weight)).toEqual([3, 1]);
    expect(spread(r, 40)).toEqual({ 9001: 30, 9002: 10 });
    expect(onlyRoute([inst("c", ["traefik.weight=7"], { weights: { Passing: 3, Warning: 1 } })]).backends[0]?.weight).toBe(7);
    expect(onlyRoute([inst("c", [])]).backends[0]?.weight).toBe(1);
  });

  it("the older `traefik.backend.loadbalancer=drr` (the method as the key's value) is least request", () => {
    expect(onlyRoute([inst("d", ["traefik.backend.loadbalancer=drr"])]).method).toBe("p2c");
    expect(onlyRoute([inst("d", ["traefik.backend.loadbalancer=wrr"])]).method).toBe("wrr");
    expect(onlyRoute([inst("d", ["traefik.backend.loadbalancer.method=drr"])]).method).toBe("p2c");
    expect(readLabels(["traefik.backend.loadbalancer=fastest"], "traefik")).toEqual({ reason: "tag traefik.backend.loadbalancer=fastest: must be wrr, drr or p2c" });
  });
});

describe("active health checks from tags", () => {
  it("Traefik's documented tags: path, interval, timeout, port, scheme, hostname, headers", () => {
    const r = onlyRoute([
      inst("h", [
        "traefik.http.services.h.loadbalancer.healthcheck.path=/health",
        "traefik.http.services.h.loadbalancer.healthcheck.interval=10s",
        "traefik.http.services.h.loadbalancer.healthcheck.timeout=3s",
        "traefik.http.services.h.loadbalancer.healthcheck.port=8081",
        "traefik.http.services.h.loadbalancer.healthcheck.scheme=http",
        "traefik.http.services.h.loadbalancer.healthcheck.hostname=example.com",
        "traefik.http.services.h.loadbalancer.healthcheck.headers.My-Custom-Header=foo",
        "traefik.http.services.h.loadbalancer.healthcheck.headers.My-Header=bar",
      ]),
    ]);
    expect(r.unimplemented).toEqual([]);
    expect(r.healthCheck).toEqual({ path: "/health", method: "GET", intervalMs: 10_000, unhealthyIntervalMs: 10_000, timeoutMs: 3_000, port: 8081, scheme: "http", hostname: "example.com", headers: { "My-Custom-Header": "foo", "My-Header": "bar" }, status: 0, followRedirects: true });
    const old = onlyRoute([inst("o", ["traefik.backend.healthcheck.path=/ping", "traefik.backend.healthcheck.interval=1m30s"])]);
    expect(old.healthCheck).toMatchObject({ path: "/ping", intervalMs: 90_000, timeoutMs: 5_000 });
  });

  it.each([
    ["traefik.http.services.h.loadbalancer.healthcheck.interval=10s", "a health check needs traefik.http.services.h.loadbalancer.healthcheck.path"],
    ["traefik.backend.healthcheck.path=health", 'must be a path starting with "/"'],
    ["traefik.http.services.h.loadbalancer.healthcheck.path=/h,traefik.http.services.h.loadbalancer.healthcheck.interval=often", "must be a duration"],
    ["traefik.http.services.h.loadbalancer.healthcheck.path=/h,traefik.http.services.h.loadbalancer.healthcheck.port=0", "from 1 to 65535"],
    ["traefik.http.services.h.loadbalancer.healthcheck.path=/h,traefik.http.services.h.loadbalancer.healthcheck.status=2000", "HTTP status"],
  ])("%s is refused: %s", (tags, why) => {
    expect((readLabels(tags.split(","), "traefik") as { reason: string }).reason).toContain(why);
  });

  it("a health check with gRPC's mode is not served rather than checked otherwise", () => {
    const r = onlyRoute([inst("g", ["traefik.http.services.g.loadbalancer.healthcheck.path=/h", "traefik.http.services.g.loadbalancer.healthcheck.mode=grpc"])]);
    expect(r.unimplemented).toEqual(["traefik.http.services.g.loadbalancer.healthcheck.mode (not implemented)"]);
    expect(onlyRoute([inst("g", ["traefik.http.services.g.loadbalancer.healthcheck.path=/h", "traefik.http.services.g.loadbalancer.healthcheck.mode=http"])]).unimplemented).toEqual([]);
  });

  it("durations as Traefik takes them", () => {
    expect([parseDuration("10s"), parseDuration("500ms"), parseDuration("1m30s"), parseDuration("2"), parseDuration("1.5s"), parseDuration("soon")]).toEqual([10_000, 500, 90_000, 2000, 1500, null]);
  });

  it("a backend failing its check is never picked, even when none is left; back when it passes", () => {
    const r = onlyRoute([inst("x", [], { port: 9001 }), inst("x", [], { port: 9002 })]);
    const b = new Balancer({ failures: 3, baseMs: 1000, maxMs: 1000 });
    b.setDown((r.backends[0] as Backend).origin, true);
    expect(spread(r, 10, b)).toEqual({ 9002: 10 });
    expect(b.usable(r.backends[0] as Backend)).toBe(false);
    b.setDown((r.backends[1] as Backend).origin, true);
    expect(b.pick(r, null)).toBeNull();
    b.setDown((r.backends[0] as Backend).origin, false);
    b.setDown((r.backends[1] as Backend).origin, false);
    expect(spread(r, 10, b)).toEqual({ 9001: 5, 9002: 5 });
  });
});
