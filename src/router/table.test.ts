import { describe, expect, it } from "vitest";
import type { HealthStatus, ServiceInstance } from "../catalog/index.js";
import { DEFAULT_ROUTER_CONFIG, parseRouterConfig } from "./config.js";
import { lookup } from "./lookup.js";
import { routingTable, sameRoutes } from "./table.js";
import type { RouterConfig, RoutingTable } from "./types.js";

let seq = 0;
function inst(service: string, tags: string[], o: { port?: number; address?: string; status?: HealthStatus; id?: string; node?: HealthStatus } = {}): ServiceInstance {
  seq++;
  const id = o.id ?? `${service}-${seq}`;
  const node = { ID: "n1", Node: "node1", Address: "10.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  const check = (name: string, status: HealthStatus) => ({ Node: "node1", CheckID: name, Name: name, Status: status, Notes: "", Output: "", ServiceID: id, ServiceName: service, ServiceTags: tags, Type: "", CreateIndex: 1, ModifyIndex: 1 });
  return { ID: id, Service: service, Tags: tags, Address: o.address ?? "10.0.0.1", Port: o.port ?? 20000 + seq, Meta: {}, node, checks: [check("serfHealth", o.node ?? "passing"), check("http", o.status ?? "passing")], CreateIndex: 1, ModifyIndex: 1 };
}

function config(over: Record<string, unknown> = {}): RouterConfig {
  const p = parseRouterConfig(over);
  if (!p.ok) throw new Error(p.errors.join("; "));
  return p.config;
}

function table(instances: ServiceInstance[], cfg: RouterConfig = config()): RoutingTable {
  return routingTable({ index: 7, instances }, cfg);
}

/** The route a request would take: its name and backends' ports, or null. */
function route(t: RoutingTable, host: string, path = "/", ep = "http"): { name: string; ports: number[] } | null {
  const r = lookup(t, ep, { host, path, method: "GET", headers: {} });
  return r === null ? null : { name: r.name, ports: r.backends.map((b) => b.port) };
}

describe("routingTable: rules from tags", () => {
  it.each([
    ["Host:demo.exemple.com", "demo.exemple.com", "/", true],
    ["Host:demo.exemple.com", "other.exemple.com", "/", false],
    ["Host:a.com,b.com", "b.com", "/", true],
    ["Host: A.com", "a.com", "/", true],
    ["PathPrefix:/api", "anything", "/api/users", true],
    ["PathPrefix:/api", "anything", "/web", false],
    ["Host:x.com;PathPrefix:/y", "x.com", "/y/1", true],
    ["Host:x.com;PathPrefix:/y", "x.com", "/z", false],
    ["Host:x.com;PathPrefix:/y", "z.com", "/y", false],
    ["Path:/exact", "h", "/exact", true],
    ["Path:/exact", "h", "/exact/more", false],
    ["HostRegexp:{sub:[a-z]+}.x.com", "abc.x.com", "/", true],
    ["HostRegexp:{sub:[a-z]+}.x.com", "abcxx.com", "/", false],
  ])("the older syntax %s: %s%s matches = %s", (rule, host, path, want) => {
    const t = table([inst("web", [`traefik.frontend.rule=${rule}`], { port: 9000 })]);
    expect(t.skipped).toEqual([]);
    expect(route(t, host, path)).toEqual(want ? { name: "web", ports: [9000] } : null);
  });

  it.each([
    ["Host(`a.com`) && PathPrefix(`/b`)", "a.com", "/b/c", true],
    ["Host(`a.com`) && PathPrefix(`/b`)", "a.com", "/c", false],
    ["Host(`a.com`) || Host(`b.com`)", "b.com", "/", true],
    ["Host(`a.com`, `c.com`)", "c.com", "/", true],
    ["Host(`a.com`) && !PathPrefix(`/admin`)", "a.com", "/admin/x", false],
    ["Host(`a.com`) && !PathPrefix(`/admin`)", "a.com", "/home", true],
    ["(Host(`a.com`) || Host(`b.com`)) && Path(`/x`)", "b.com", "/x", true],
    ['Host("a.com")', "a.com", "/", true],
    ["HostRegexp(`^[a-z]+\\.d\\.com$`)", "abc.d.com", "/", true],
    ["PathRegexp(`^/v[0-9]+/`)", "h", "/v2/x", true],
  ])("the current syntax %s: %s%s matches = %s", (rule, host, path, want) => {
    const t = table([inst("web", [`traefik.http.routers.site.rule=${rule}`], { port: 9000 })]);
    expect(t.skipped).toEqual([]);
    expect(route(t, host, path)).toEqual(want ? { name: "site", ports: [9000] } : null);
  });

  it("the demo job's tags route demo.exemple.com to both instances, and only with the exposed constraint met", () => {
    const tags = ["traefik.frontend.rule=Host:demo.exemple.com", "traefik.tags=exposed"];
    const both = [inst("demoapp-webs-frontend", tags, { port: 21001 }), inst("demoapp-webs-frontend", tags, { port: 21002 })];
    const t = table(both, config({ consulCatalog: { domain: "exemple.com", constraints: ["tag==exposed"] } }));
    expect(route(t, "demo.exemple.com")).toEqual({ name: "demoapp-webs-frontend", ports: [21001, 21002] });
    expect(route(t, "demo.exemple.com:8080".split(":")[0] ?? "")).not.toBeNull();
  });

  it("article 2's web.json (name demo, tag traefik.tags=exposed, no rule) gets the default rule Host:demo.exemple.com", () => {
    const t = table([inst("demo", ["traefik.tags=exposed"], { port: 80 })], config({ consulCatalog: { domain: "exemple.com", constraints: ["tag==exposed"] } }));
    expect(t.routes.map((r) => r.rule)).toEqual(["Host:demo.exemple.com"]);
    expect(route(t, "demo.exemple.com")).toEqual({ name: "demo", ports: [80] });
  });

  it("constraints: a service without the exposed tag is left out, with the reason", () => {
    const t = table([inst("internal", [], { id: "i1" }), inst("pub", ["exposed"])], config({ constraints: ["tag==exposed"] }));
    expect(t.routes.map((r) => r.service)).toEqual(["pub"]);
    expect(t.skipped).toEqual([{ service: "internal", instance: "i1", reason: "constraint tag==exposed does not hold for its tags" }]);
  });

  it.each([
    [["tag!=internal"], ["internal"], false],
    [["tag!=internal"], ["web"], true],
    [["tag==eu-*"], ["eu-west"], true],
    [["Tag(`a`) && !Tag(`b`)"], ["a"], true],
    [["Tag(`a`) && !Tag(`b`)"], ["a", "b"], false],
    [["TagRegex(`^v[0-9]$`)"], ["v2"], true],
    [["tag==exposed"], ["traefik.tags=other,exposed"], true],
  ])("constraints %j on tags %j: routed = %s", (constraints, tags, want) => {
    const t = table([inst("s", tags)], config({ constraints }));
    expect(t.routes.length).toBe(want ? 1 : 0);
  });

  it("exposedByDefault off: only services with traefik.enable=true; traefik.enable=false always leaves out", () => {
    const cfg = config({ exposedByDefault: false, domain: "d" });
    const t = table([inst("a", []), inst("b", ["traefik.enable=true"]), inst("c", ["traefik.enable=false"])], cfg);
    expect(t.routes.map((r) => r.service)).toEqual(["b"]);
    expect(t.skipped.map((s) => [s.service, s.reason])).toEqual([
      ["a", "not exposed: exposedByDefault is off and there is no traefik.enable=true tag"],
      ["c", "traefik.enable=false"],
    ]);
    expect(table([inst("c", ["traefik.enable=false"])]).routes).toEqual([]);
  });

  it("the default rule: Host:{{name}}.{{domain}}, the other template spellings, and no domain", () => {
    expect(table([inst("web", [])], config({ domain: "exemple.com" })).routes[0]?.rule).toBe("Host:web.exemple.com");
    expect(table([inst("web", [])]).routes[0]?.rule).toBe("Host:web");
    expect(table([inst("my_web", [])], config({ defaultRule: "Host(`{{ normalize .Name }}.{{.Domain}}`)", domain: "d.io" })).routes[0]?.rule).toBe("Host(`my-web.d.io`)");
  });

  it("only passing instances are backends; a route whose instances all fail stays, with none (503, not 404)", () => {
    const tags = ["traefik.frontend.rule=Host:x"];
    const t = table([inst("s", tags, { port: 1, status: "passing" }), inst("s", tags, { port: 2, status: "critical" }), inst("s", tags, { port: 3, status: "warning" })]);
    expect(route(t, "x")).toEqual({ name: "s", ports: [1] });
    const down = table([inst("s", tags, { status: "critical" })]);
    expect(route(down, "x")).toEqual({ name: "s", ports: [] });
  });

  it("a route with no passing instance falls back on those failing only their node's check (its agent silent), and only then", () => {
    const tags = ["traefik.frontend.rule=Host:x"];
    // Every instance on a node whose agent restarts: still routed until a replacement passes.
    const silent = table([inst("s", tags, { port: 1, node: "critical" }), inst("s", tags, { port: 2, node: "critical", status: "critical" }), inst("s", tags, { port: 3, status: "critical" })]);
    expect(route(silent, "x")).toEqual({ name: "s", ports: [1] });
    // Once one passes, it alone is the backend.
    const replaced = table([inst("s", tags, { port: 1, node: "critical" }), inst("s", tags, { port: 4 })]);
    expect(route(replaced, "x")).toEqual({ name: "s", ports: [4] });
  });

  it("weights: traefik.weight per instance, so a canary can be given a share", () => {
    const t = table([inst("s", ["traefik.weight=9"], { port: 1 }), inst("s", ["traefik.weight=1"], { port: 2 }), inst("s", ["traefik.http.services.s.loadbalancer.server.weight=3"], { port: 3 })]);
    expect(t.routes).toHaveLength(1);
    expect(t.routes[0]?.backends.map((b) => [b.port, b.weight])).toEqual([
      [1, 9],
      [2, 1],
      [3, 3],
    ]);
  });

  it("load-balancing method: wrr by default; drr and p2c give least request", () => {
    expect(table([inst("s", [])]).routes[0]?.method).toBe("wrr");
    expect(table([inst("s", ["traefik.backend.loadbalancer.method=drr"])]).routes[0]?.method).toBe("p2c");
    expect(table([inst("s", ["traefik.backend.loadbalancer.method=wrr"])]).routes[0]?.method).toBe("wrr");
    expect(table([inst("s", ["traefik.http.services.s.loadbalancer.strategy=p2c"])]).routes[0]?.method).toBe("p2c");
  });

  it("the current form's service port overrides the instance's port", () => {
    const t = table([inst("s", ["traefik.http.routers.r.rule=Host(`h`)", "traefik.http.services.s.loadbalancer.server.port=12345"], { port: 80 })]);
    expect(route(t, "h")).toEqual({ name: "r", ports: [12345] });
  });

  it("entrypoints: routes are served on the ones their tags name, else the default ones", () => {
    const cfg = config({ entryPoints: { http: { address: ":80" }, admin: { address: ":81" } }, defaultEntryPoints: ["http"] });
    const t = table([inst("a", ["traefik.frontend.rule=Host:a"]), inst("b", ["traefik.frontend.rule=Host:b", "traefik.frontend.entryPoints=admin"]), inst("c", ["traefik.http.routers.c.rule=Host(`c`)", "traefik.http.routers.c.entrypoints=http,admin"])], cfg);
    expect([route(t, "a", "/", "http")?.name, route(t, "a", "/", "admin")?.name]).toEqual(["a", undefined]);
    expect([route(t, "b", "/", "http")?.name, route(t, "b", "/", "admin")?.name]).toEqual([undefined, "b"]);
    expect([route(t, "c", "/", "http")?.name, route(t, "c", "/", "admin")?.name]).toEqual(["c", "c"]);
  });

  it("priority: the longer rule first, unless a priority tag says otherwise", () => {
    const t = table([inst("site", ["traefik.frontend.rule=Host:h"], { port: 1 }), inst("api", ["traefik.frontend.rule=Host:h;PathPrefix:/api"], { port: 2 })]);
    expect(route(t, "h", "/api/x")?.name).toBe("api");
    expect(route(t, "h", "/x")?.name).toBe("site");
    const pinned = table([inst("site", ["traefik.frontend.rule=Host:h", "traefik.frontend.priority=100"], { port: 1 }), inst("api", ["traefik.frontend.rule=Host:h;PathPrefix:/api"], { port: 2 })]);
    expect(route(pinned, "h", "/api/x")?.name).toBe("site");
  });

  it("several routers on one service; instances with different tags (a canary's) give separate routes", () => {
    const t = table([inst("s", ["traefik.http.routers.a.rule=Host(`a`)", "traefik.http.routers.b.rule=Host(`b`)"], { port: 1 })]);
    expect(t.routes.map((r) => r.name).sort()).toEqual(["a", "b"]);
    const canary = table([inst("s", ["traefik.frontend.rule=Host:v1"], { port: 1 }), inst("s", ["traefik.frontend.rule=Host:v2"], { port: 2 })]);
    expect([route(canary, "v1")?.ports, route(canary, "v2")?.ports]).toEqual([[1], [2]]);
  });

  it.each([
    ["traefik.frontend.rule=Hots:a.com", 'unknown matcher "Hots"'],
    ["traefik.frontend.rule=Host:", "Host: needs a value"],
    ["traefik.http.routers.r.rule=Host(`a`", 'expected "," or ")" in Host(...) at the end'],
    ["traefik.http.routers.r.rule=Host(`a`) &&", "expected a matcher"],
    ["traefik.frontend.rule=PathPrefix:api", 'must start with "/"'],
    ["traefik.http.routers.r.rule=HostRegexp(`(`)", "HostRegexp"],
    ["traefik.frontend.entryPoints=nope", 'entrypoint "nope" is not one of the router\'s (http)'],
  ])("a bad tag %s leaves its route out with a reason (%s), never a crash", (tag, reason) => {
    const t = table([inst("bad", [tag]), inst("good", ["traefik.frontend.rule=Host:good"])]);
    expect(t.routes.map((r) => r.service)).toEqual(["good"]);
    expect(t.skipped).toHaveLength(1);
    expect(t.skipped[0]?.reason).toContain(reason);
  });

  it.each([
    ["traefik.weight=-1", "must be a whole number"],
    ["traefik.weight=abc", "must be a whole number"],
    ["traefik.enable=yes", "must be true or false"],
    ["traefik.backend.loadbalancer.method=random", "must be wrr, drr or p2c"],
    ["traefik.http.services.s.loadbalancer.server.port=99999", "from 1 to 65535"],
    ["traefik.protocol=gopher", "must be http or https"],
  ])("a bad instance tag %s leaves the instance out: %s", (tag, reason) => {
    const t = table([inst("s", [tag])]);
    expect(t.routes).toEqual([]);
    expect(t.skipped[0]?.reason).toContain(reason);
  });

  it("never routes to Ruche's own API unless configured to, and then only with a token", () => {
    const api = inst("ruche", ["traefik.frontend.rule=Host:ruche.exemple.com"], { address: "10.0.0.1", port: 4646 });
    const cfg: RouterConfig = { ...DEFAULT_ROUTER_CONFIG, controlApi: { addresses: ["0.0.0.0:4646"], expose: false, token: "" } };
    const t = table([api], cfg);
    expect(t.routes).toEqual([]);
    expect(t.skipped[0]?.reason).toContain("is Ruche's own API");
    const open = table([api], { ...cfg, controlApi: { addresses: ["0.0.0.0:4646"], expose: true, token: "0123456789abcdef" } });
    expect(open.routes[0]?.token).toBe("0123456789abcdef");
    expect(parseRouterConfig({ controlApi: { expose: true } })).toEqual({ ok: false, errors: ["controlApi.token: exposing Ruche's API through the router needs a token of at least 16 characters"] });
  });

  it("is a pure function: the same catalog gives the same table", () => {
    const list = [inst("a", ["traefik.frontend.rule=Host:a"]), inst("b", [])];
    const strip = (t: RoutingTable) => JSON.stringify(t.routes.map(({ matcher: _m, ...r }) => r));
    expect(strip(table(list))).toBe(strip(table(list)));
  });
});

describe("parseRouterConfig", () => {
  it("reads article 2's catalog section and entrypoints", () => {
    const p = parseRouterConfig({ defaultEntryPoints: ["http"], entryPoints: { http: { address: ":80" } }, consulCatalog: { endpoint: "127.0.0.1:8500", watch: true, domain: "exemple.com", prefix: "traefik", constraints: ["tag==exposed"] } });
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.config.domain).toBe("exemple.com");
    expect(p.config.entryPoints).toEqual([{ name: "http", host: "0.0.0.0", port: 80, tls: null }]);
    expect(p.config.constraints.map((c) => c.text)).toEqual(["tag==exposed"]);
  });

  it("reports every mistake, each naming its key", () => {
    const p = parseRouterConfig({ retries: -1, domain: 3, constraints: ["Tag(`x`"], entryPoints: { web: { address: "nope" } }, bogus: 1 });
    expect(p).toEqual({
      ok: false,
      errors: ["bogus: unknown key", "domain: must be a string", 'constraints: constraint "Tag(`x`": expected "," or ")" in Tag(...) at the end (write tag==VALUE, tag!=VALUE or Tag(`VALUE`))', 'entryPoints.web.address: must be HOST:PORT or :PORT', "retries: must be a whole number from 0 to 10"],
    });
    expect(parseRouterConfig([])).toEqual({ ok: false, errors: ["the router configuration must be a JSON object"] });
  });
});

describe("sameRoutes", () => {
  it("tells a table that routes alike from one that does not", () => {
    const a = [inst("s", ["traefik.frontend.rule=Host:x"], { port: 1, id: "s1" })];
    expect(sameRoutes(table(a), routingTable({ index: 9, instances: a }, config()))).toBe(true);
    expect(sameRoutes(table(a), table([inst("s", ["traefik.frontend.rule=Host:x", "traefik.weight=2"], { port: 1, id: "s1" })]))).toBe(false);
    expect(sameRoutes(table(a), table([...a, inst("s", ["traefik.frontend.rule=Host:x"], { port: 2, id: "s2" })]))).toBe(false);
  });
});

describe("routingTable: instances it cannot read", () => {
  it("leaves out an instance whose fields are of another type, with the error as its reason, and routes the others", () => {
    const good = inst("web", [], { port: 9000 });
    const badTags = { ...inst("api", []), Tags: "traefik.enable=true" } as unknown as ServiceInstance;
    const badChecks = { ...inst("web", [], { port: 9001 }), checks: null } as unknown as ServiceInstance;
    const t = table([badTags, good, badChecks, null as unknown as ServiceInstance]);
    expect(route(t, "web")).toEqual({ name: "web", ports: [9000] });
    expect(route(t, "api")).toBeNull();
    expect(t.skipped.map((s) => [s.service, s.reason.startsWith("the instance cannot be read: ")])).toEqual([
      ["api", true],
      ["web", true],
      ["undefined", true],
    ]);
  });
});
