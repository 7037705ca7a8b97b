import { describe, expect, it } from "vitest";
import { DEFAULT_ROUTER_CONFIG, parseRouterConfig } from "./config.js";
import { kvInstances } from "./kv-provider.js";
import { routingTable } from "./table.js";

const entries = (kv: Record<string, string>): { Key: string; Value: string | null; ModifyIndex: number }[] =>
  Object.entries(kv)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Key, v], i) => ({ Key, Value: Buffer.from(v).toString("base64"), ModifyIndex: i + 1 }));

describe("the KV provider (Traefik v2's KV layout)", () => {
  it("makes each server of a routed service an instance carrying its routers' and service's keys as tags", () => {
    const { instances, problems } = kvInstances(
      entries({
        "traefik/http/routers/blog/rule": "Host(`blog.example`)",
        "traefik/http/routers/blog/entrypoints/0": "web",
        "traefik/http/routers/blog/entrypoints/1": "websecure",
        "traefik/http/routers/blog/middlewares/0": "strip@consul",
        "traefik/http/routers/blog/service": "blog@consul",
        "traefik/http/routers/blog/priority": "42",
        "traefik/http/services/blog/loadbalancer/servers/0/url": "http://10.0.0.1:8080",
        "traefik/http/services/blog/loadbalancer/servers/1/url": "https://10.0.0.2",
        "traefik/http/services/blog/loadbalancer/servers/1/weight": "3",
        "traefik/http/services/blog/loadbalancer/passhostheader": "true",
        "traefik/http/middlewares/strip/stripprefix/prefixes/0": "/blog",
        "traefik/http/services/unused/loadbalancer/servers/0/url": "http://10.0.0.9:80",
      }),
      "traefik",
      "traefik",
      "dc1",
    );
    expect(problems).toEqual([]);
    expect(instances.map((i) => [i.ID, i.Service, i.Address, i.Port])).toEqual([
      ["traefik-kv/blog/0", "blog@consul", "10.0.0.1", 8080],
      ["traefik-kv/blog/1", "blog@consul", "10.0.0.2", 443],
    ]);
    expect(instances[1]?.Tags).toEqual([
      "traefik.enable=true",
      "traefik.http.routers.blog.entrypoints=web,websecure",
      "traefik.http.routers.blog.middlewares=strip",
      "traefik.http.routers.blog.priority=42",
      "traefik.http.routers.blog.rule=Host(`blog.example`)",
      "traefik.http.routers.blog.service=blog",
      "traefik.http.services.blog.loadbalancer.passhostheader=true",
      "traefik.http.middlewares.strip.stripprefix.prefixes=/blog",
      "traefik.http.services.blog.loadbalancer.server.port=443",
      "traefik.http.services.blog.loadbalancer.server.scheme=https",
      "traefik.http.services.blog.loadbalancer.server.weight=3",
    ]);
  });

  it("leaves out, each with its reason, what it cannot take", () => {
    const { instances, problems } = kvInstances(
      entries({
        "traefik/tcp/routers/db/rule": "HostSNI(`*`)",
        "traefik/http/routers/nosvc/rule": "Host(`a`)",
        "traefik/http/routers/other/rule": "Host(`b`)",
        "traefik/http/routers/other/service": "web@consulcatalog",
        "traefik/http/routers/empty/rule": "Host(`c`)",
        "traefik/http/routers/empty/service": "ghost",
        "traefik/http/services/bad/loadbalancer/servers/0/url": "ftp://x",
        "traefik/http/services/w/weighted/services/0/name": "a",
      }),
      "traefik",
      "traefik",
      "dc1",
    );
    expect(instances).toEqual([]);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^traefik\/http\/services\/bad\/loadbalancer\/servers\/0\/url: "ftp:\/\/x" is not an http/),
        expect.stringMatching(/^traefik\/http\/services\/w\/weighted: weighted services are not built/),
        expect.stringMatching(/^traefik\/tcp\/routers\/db\/rule: TCP routers are not built/),
        expect.stringMatching(/^traefik\/http\/routers\/nosvc: it names no service/),
        expect.stringMatching(/^traefik\/http\/routers\/other\/service: "web@consulcatalog" is another provider's service/),
        expect.stringMatching(/^traefik\/http\/routers\/empty\/service: "ghost" has no servers/),
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it("is routed by the table whatever the catalog's constraints and exposedByDefault say", () => {
    const p = parseRouterConfig({ exposedByDefault: false, constraints: ["tag==exposed"], allowLoopbackBackends: true });
    if (!p.ok) throw new Error(p.errors.join());
    const { instances } = kvInstances(entries({ "traefik/http/routers/r/rule": "Host(`kv.example`)", "traefik/http/routers/r/service": "s", "traefik/http/services/s/loadbalancer/servers/0/url": "http://10.0.0.1:81" }), "traefik", p.config.prefix, "dc1");
    const t = routingTable({ index: 1, instances }, p.config);
    expect(t.skipped).toEqual([]);
    expect(t.routes.map((r) => [r.name, r.service, r.backends.map((b) => b.origin)])).toEqual([["r", "s@consul", ["http://10.0.0.1:81"]]]);
    // The catalog's prefix names the tags (article 3: prefix "traefik-consul" for the catalog, the KV under traefik/).
    const other = kvInstances(entries({ "traefik/http/routers/r/rule": "Host(`kv.example`)", "traefik/http/routers/r/service": "s", "traefik/http/services/s/loadbalancer/servers/0/url": "http://10.0.0.1:81" }), "traefik", "traefik-consul", "dc1");
    expect(routingTable({ index: 1, instances: other.instances }, { ...DEFAULT_ROUTER_CONFIG, prefix: "traefik-consul" }).routes).toHaveLength(1);
  });
});

describe("the KV provider, Traefik v1's layout ([consul] of article 3)", () => {
  it("routes frontends to their backend's servers", () => {
    const p = parseRouterConfig({ allowLoopbackBackends: true, entryPoints: { http: { address: ":80" }, https: { address: ":443" } } });
    if (!p.ok) throw new Error(p.errors.join());
    const { instances, problems } = kvInstances(
      entries({
        "traefik/backends/backend1/servers/server1/url": "http://172.17.0.2:80",
        "traefik/backends/backend1/servers/server1/weight": "10",
        "traefik/backends/backend1/servers/server2/url": "http://172.17.0.3:80",
        "traefik/backends/backend1/loadbalancer/method": "drr",
        "traefik/frontends/frontend1/backend": "backend1",
        "traefik/frontends/frontend1/routes/test_1/rule": "Host:test.localhost",
        "traefik/frontends/frontend1/entrypoints": "http",
        "traefik/frontends/frontend1/priority": "5",
      }),
      "traefik",
      "traefik",
      "dc1",
    );
    expect(problems).toEqual([]);
    const t = routingTable({ index: 1, instances }, p.config);
    expect(t.skipped).toEqual([]);
    expect(t.routes.map((r) => ({ name: r.name, rule: r.rule, entryPoints: r.entryPoints, priority: r.priority, method: r.method, backends: r.backends.map((b) => [b.origin, b.weight]) }))).toEqual([
      { name: "frontend1", rule: "Host:test.localhost", entryPoints: ["http"], priority: 5, method: "p2c", backends: [["http://172.17.0.2:80", 10], ["http://172.17.0.3:80", 1]] },
    ]);
  });
});
