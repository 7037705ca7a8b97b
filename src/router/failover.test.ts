import { Agent, request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import type { CatalogSnapshot, HealthStatus, ServiceInstance } from "../catalog/index.js";
import { Balancer } from "./balancer.js";
import { parseRouterConfig } from "./config.js";
import { httpServices, overview } from "./dashboard.js";
import { FailoverWatch, NO_OTHER_DATACENTER, type Datacenters } from "./failover.js";
import { readLabels } from "./labels.js";
import { lookup } from "./lookup.js";
import { RouterMetrics } from "./metrics.js";
import { startRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { NO_FEDERATION, routingTable } from "./table.js";
import { closedAfterEach, httpBackend, instance } from "./testing.js";
import type { DatacentersView, RouterConfig, RoutingTable } from "./types.js";
import { silentLogger } from "../structs/index.js";

let seq = 0;
/** An instance of `service` in datacenter `dc` on `address:port`, its own check at `status`. */
function inst(service: string, tags: string[], o: { dc?: string; address?: string; port?: number; status?: HealthStatus } = {}): ServiceInstance {
  seq++;
  const id = `${service}-${seq}`;
  const dc = o.dc ?? "europe-west1";
  const node = { ID: `n-${dc}`, Node: `node-${dc}`, Address: o.address ?? "10.0.0.1", Datacenter: dc, Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  const check = (name: string, status: HealthStatus) => ({ Node: node.Node, CheckID: name, Name: name, Status: status, Notes: "", Output: "", ServiceID: id, ServiceName: service, ServiceTags: tags, Type: "", CreateIndex: 1, ModifyIndex: 1 });
  return { ID: id, Service: service, Tags: tags, Address: o.address ?? "10.0.0.1", Port: o.port ?? 20000 + seq, Meta: {}, node, checks: [check("serfHealth", "passing"), check("http", o.status ?? "passing")], CreateIndex: 1, ModifyIndex: 1 };
}

function config(over: Record<string, unknown> = {}): RouterConfig {
  const p = parseRouterConfig(over);
  if (!p.ok) throw new Error(p.errors.join("; "));
  return p.config;
}

const snap = (instances: ServiceInstance[], index = 7): CatalogSnapshot => ({ index, instances });
const others = (...dcs: [string, ServiceInstance[]][]): DatacentersView => ({ unavailable: null, datacenters: dcs.map(([name, list]) => ({ name, snapshot: snap(list), error: null })) });

/** The backends a request for `host` reaches: "dc:port", the router's own datacenter as "local". */
function reached(t: RoutingTable, host: string): string[] | null {
  const r = lookup(t, "http", { host, path: "/", method: "GET", headers: {} });
  return r === null ? null : r.backends.map((b) => `${b.datacenter ?? "local"}:${b.port}`);
}

const ON = "traefik.ruche.failover=nearest";
const RULE = "traefik.frontend.rule=Host:web.example.com";

describe("the ruche.failover tag and the failover setting", () => {
  it.each([
    ["nearest", { kind: "nearest" }],
    ["off", { kind: "off" }],
    ["us-west-2, asia-east1", { kind: "datacenters", datacenters: ["us-west-2", "asia-east1"] }],
  ])("%s is read", (value, want) => {
    const l = readLabels([`traefik.ruche.failover=${value}`], "traefik");
    expect("reason" in l ? l : l.failover).toEqual(want);
  });

  it("a malformed one leaves the instance out, naming the tag", () => {
    const l = readLabels(["traefik.ruche.failover=us west"], "traefik");
    expect(l).toEqual({ reason: expect.stringContaining("tag traefik.ruche.failover=us west: must be off, nearest, or datacenter names") as unknown });
  });

  it("the configuration's default, and its mistakes named by key", () => {
    expect(config({ failover: "nearest" }).failover).toEqual({ kind: "nearest" });
    expect(config({ failover: ["us-west-2"] }).failover).toEqual({ kind: "datacenters", datacenters: ["us-west-2"] });
    expect(config().failover).toEqual({ kind: "off" });
    expect(parseRouterConfig({ failover: 3 })).toEqual({ ok: false, errors: ['failover: must be "off", "nearest", or a list of datacenter names'] });
  });
});

describe("routingTable: failover to other datacenters", () => {
  const us = (status: HealthStatus = "passing"): ServiceInstance => inst("web", [RULE, ON], { dc: "us-west-2", address: "10.1.0.1", port: 8001, status });
  const asia = (): ServiceInstance => inst("web", [RULE, ON], { dc: "asia-east1", address: "10.2.0.1", port: 8002 });

  it("local instances passing: served here, the others' only known", () => {
    const t = routingTable(snap([inst("web", [RULE, ON], { port: 7000 })]), config(), others(["us-west-2", [us()]]));
    expect(reached(t, "web.example.com")).toEqual(["local:7000"]);
    expect(t.routes[0]?.failover).toEqual({ asked: { kind: "nearest" }, servedFrom: null, note: null });
  });

  it("none passing here: the nearest datacenter that has passing instances, in the view's order", () => {
    const local = inst("web", [RULE, ON], { port: 7000, status: "critical" });
    const t = routingTable(snap([local]), config(), others(["us-west-2", [us("critical")]], ["asia-east1", [asia()]]));
    expect(reached(t, "web.example.com")).toEqual(["asia-east1:8002"]);
    expect(t.routes[0]?.failover?.servedFrom).toBe("asia-east1");
    const t2 = routingTable(snap([local]), config(), others(["us-west-2", [us()]], ["asia-east1", [asia()]]));
    expect(reached(t2, "web.example.com")).toEqual(["us-west-2:8001"]);
  });

  it("no local instance left at all (the job stopped here): the other datacenter's instances, which ask for it, make the route", () => {
    const t = routingTable(snap([]), config(), others(["us-west-2", [us()]]));
    expect(reached(t, "web.example.com")).toEqual(["us-west-2:8001"]);
  });

  it("a list of datacenters is tried in its order, whatever is nearest", () => {
    const tags = [RULE, "traefik.ruche.failover=asia-east1,us-west-2"];
    const t = routingTable(snap([inst("web", tags, { status: "critical" })]), config(), others(["us-west-2", [us()]], ["asia-east1", [asia()]]));
    expect(reached(t, "web.example.com")).toEqual(["asia-east1:8002"]);
  });

  it("off (no tag, the default configuration): 503 as before, and another datacenter's instances make no route", () => {
    const plain = [RULE];
    const t = routingTable(snap([inst("web", plain, { status: "critical" })]), config(), others(["us-west-2", [inst("web", plain, { dc: "us-west-2", address: "10.1.0.1" })]]));
    expect(reached(t, "web.example.com")).toEqual([]);
    expect(t.routes[0]?.failover).toBeNull();
    expect(routingTable(snap([]), config(), others(["us-west-2", [inst("web", plain, { dc: "us-west-2" })]])).routes).toEqual([]);
  });

  it("the configuration's failover holds for instances without the tag; a local tag off wins over it", () => {
    const plain = [RULE];
    const there = others(["us-west-2", [inst("web", plain, { dc: "us-west-2", address: "10.1.0.1", port: 8001 })]]);
    expect(reached(routingTable(snap([inst("web", plain, { status: "critical" })]), config({ failover: "nearest" }), there), "web.example.com")).toEqual(["us-west-2:8001"]);
    expect(reached(routingTable(snap([inst("web", [RULE, "traefik.ruche.failover=off"], { status: "critical" })]), config({ failover: "nearest" }), there), "web.example.com")).toEqual([]);
  });

  it("another datacenter's passing instances come before local ones failing only their node's check", () => {
    const nodeLost = inst("web", [RULE, ON], { port: 7000 });
    nodeLost.checks = nodeLost.checks.map((c) => (c.CheckID === "serfHealth" ? { ...c, Status: "critical" as const } : c));
    expect(reached(routingTable(snap([nodeLost]), config(), others(["us-west-2", [us()]])), "web.example.com")).toEqual(["us-west-2:8001"]);
    expect(reached(routingTable(snap([nodeLost]), config(), others(["us-west-2", []])), "web.example.com")).toEqual(["local:7000"]);
  });

  it("no federation: the route is served locally and says why it cannot fail over", () => {
    const t = routingTable(snap([inst("web", [RULE, ON], { status: "critical" })]), config());
    expect(reached(t, "web.example.com")).toEqual([]);
    expect(t.routes[0]?.failover).toEqual({ asked: { kind: "nearest" }, servedFrom: null, note: NO_FEDERATION.unavailable });
  });

  it("another datacenter's backend on a Ruche API port is refused, never exposed", () => {
    const api = inst("web", [RULE, ON], { dc: "us-west-2", address: "10.1.0.1", port: 4646 });
    const view: DatacentersView = { unavailable: null, datacenters: [{ name: "us-west-2", snapshot: { index: 3, instances: [api], nodeApis: ["10.1.0.1:4646"] }, error: null }] };
    const t = routingTable(snap([]), config(), view);
    expect(reached(t, "web.example.com")).toEqual([]);
    expect(t.skipped).toEqual([expect.objectContaining({ instance: `${api.ID} (datacenter us-west-2)`, refused: true })]);
  });

  it("the dashboard and Traefik's /api/http/services say where a service is served from", () => {
    const t = routingTable(snap([]), config(), others(["us-west-2", [us()]]));
    const o = overview({ table: () => t, balancer: new Balancer(config().ejection), metrics: new RouterMetrics(), entryPoints: () => [] }) as { routes: { failover: unknown; backends: { datacenter?: string }[] }[]; datacenters: unknown };
    expect(o.routes[0]?.failover).toEqual({ datacenters: "nearest", servedFrom: "us-west-2", note: null });
    expect(o.routes[0]?.backends[0]?.datacenter).toBe("us-west-2");
    expect(o.datacenters).toEqual({ unavailable: null, list: [{ name: "us-west-2", index: 7, error: null }] });
    expect(httpServices(o)).toEqual([
      {
        loadBalancer: { servers: [{ url: "http://10.1.0.1:8001", datacenter: "us-west-2" }], passHostHeader: true },
        status: "enabled",
        usedBy: ["web@consulcatalog"],
        serverStatus: { "http://10.1.0.1:8001": "UP" },
        name: "web@consulcatalog",
        provider: "consulcatalog",
        type: "loadbalancer",
        failover: { datacenters: "nearest", servedFrom: "us-west-2", note: null },
      },
    ]);
  });
});

/** Other datacenters held in memory: each snapshot call blocks until its catalog moves past the index asked. */
class FakeDatacenters implements Datacenters {
  names: string[] = [];
  readonly snaps = new Map<string, CatalogSnapshot>();
  readonly asked: string[] = [];
  private waiters: (() => void)[] = [];
  fail: string | null = null;

  nearest(): Promise<string[]> {
    return Promise.resolve(this.names);
  }
  async snapshot(dc: string, index: number, _waitMs: number, signal: AbortSignal): Promise<CatalogSnapshot> {
    this.asked.push(`${dc}@${index}`);
    for (;;) {
      if (signal.aborted) throw new Error("aborted");
      if (this.fail !== null) throw new Error(this.fail);
      const s = this.snaps.get(dc);
      if (s !== undefined && s.index !== index) return s;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
      });
    }
  }
  set(dc: string, s: CatalogSnapshot): void {
    this.snaps.set(dc, s);
    for (const w of this.waiters.splice(0)) w();
  }
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe("FailoverWatch", () => {
  it("follows each datacenter with blocking queries while wanted, tells each change, and stops", async () => {
    const src = new FakeDatacenters();
    src.names = ["us-west-2"];
    src.set("us-west-2", snap([inst("web", [RULE, ON], { dc: "us-west-2" })], 3));
    let changes = 0;
    const ac = new AbortController();
    const w = new FailoverWatch(src, () => changes++, ac.signal);
    // Not read yet: nothing is said missing.
    expect(w.view()).toEqual({ unavailable: null, datacenters: [] });
    w.want(true);
    await tick();
    expect(w.view().datacenters.map((d) => [d.name, d.snapshot?.index])).toEqual([["us-west-2", 3]]);
    const before = changes;
    expect(before).toBeGreaterThan(0);
    src.set("us-west-2", snap([], 4));
    await tick();
    expect(changes).toBeGreaterThan(before);
    expect(w.view().datacenters[0]?.snapshot?.index).toBe(4);
    // One query per change, each from the index last seen: no polling.
    expect(src.asked).toEqual(["us-west-2@0", "us-west-2@3", "us-west-2@4"]);
    w.want(false);
    await w.closed();
    expect(w.view().datacenters).toEqual([]);
    ac.abort();
  });

  it("a federation that knows no other datacenter is said so once listed", async () => {
    const src = new FakeDatacenters();
    const ac = new AbortController();
    const w = new FailoverWatch(src, () => undefined, ac.signal);
    w.want(true);
    await tick();
    expect(w.view()).toEqual({ unavailable: NO_OTHER_DATACENTER, datacenters: [] });
    ac.abort();
    await w.closed();
  });

  it("a datacenter whose servers fail is shown with its error and its last catalog kept a while", async () => {
    const src = new FakeDatacenters();
    src.names = ["us-west-2"];
    src.set("us-west-2", snap([], 3));
    const ac = new AbortController();
    const w = new FailoverWatch(src, () => undefined, ac.signal);
    w.want(true);
    await tick();
    src.fail = "no server of datacenter us-west-2 answers";
    src.set("us-west-2", snap([], 5));
    await tick();
    expect(w.view().datacenters).toEqual([{ name: "us-west-2", snapshot: snap([], 3), error: "no server of datacenter us-west-2 answers" }]);
    ac.abort();
    await w.closed();
  });
});

describe("startRouter with failover", () => {
  const closers = closedAfterEach();
  const client = new Agent({ keepAliveTimeout: 1000 });
  afterAll(async () => {
    await client.close();
  });

  const FO = ["traefik.frontend.rule=Host:web", ON];
  const at = (port: number, dc: string): ServiceInstance => ({ ...instance("web", port), ID: `web-${dc}-${port}`, Tags: FO, node: { ...instance("web", port).node, Datacenter: dc } });

  async function answer(address: string): Promise<string> {
    const r = await request(`http://${address}/`, { headers: { host: "web" }, dispatcher: client });
    return `${r.statusCode} ${await r.body.text()}`;
  }

  it("sends requests to the other datacenter's instances once the local ones are gone, and back when they return", async () => {
    const localPort = await httpBackend(closers, (_q, s) => s.end("europe"));
    const remotePort = await httpBackend(closers, (_q, s) => s.end("us"));
    const catalog = new SnapshotCatalog("europe-west1");
    catalog.set(snap([at(localPort, "europe-west1")], 2));
    const dcs = new FakeDatacenters();
    dcs.names = ["us-west-2"];
    dcs.set("us-west-2", snap([at(remotePort, "us-west-2")], 5));
    const r = await startRouter({ catalog, config: config({ allowLoopbackBackends: true }), host: "127.0.0.1", port: 0, dashboardPort: -1, datacenters: dcs });
    closers.push(() => r.close());
    expect(await answer(r.address)).toBe("200 europe");
    // The other datacenter is followed before it is needed.
    await until(() => r.table().datacenters.list[0]?.index === 5);
    catalog.set(snap([], 3));
    await until(() => r.table().routes[0]?.failover?.servedFrom === "us-west-2");
    expect(await answer(r.address)).toBe("200 us");
    catalog.set(snap([at(localPort, "europe-west1")], 4));
    await until(() => r.table().routes[0]?.failover?.servedFrom === null);
    expect(await answer(r.address)).toBe("200 europe");
  });

  it("with -router-workers 2: the primary follows the other datacenters, the workers fail over from what it sends", async () => {
    const localPort = await httpBackend(closers, (_q, s) => s.end("europe"));
    const remotePort = await httpBackend(closers, (_q, s) => s.end("us"));
    const catalog = new SnapshotCatalog("europe-west1");
    catalog.set(snap([at(localPort, "europe-west1")], 2));
    const dcs = new FakeDatacenters();
    dcs.names = ["us-west-2"];
    dcs.set("us-west-2", snap([at(remotePort, "us-west-2")], 5));
    const r = await startRouter({ catalog, config: config({ allowLoopbackBackends: true }), host: "127.0.0.1", port: 0, dashboardPort: 0, datacenters: dcs, workers: 2 });
    closers.push(() => r.close());
    const fresh = async (): Promise<string> => {
      const res = await request(`http://${r.address}/`, { headers: { host: "web", connection: "close" } });
      return `${res.statusCode} ${await res.body.text()}`;
    };
    expect(await fresh()).toBe("200 europe");
    await until(() => r.table().datacenters.list[0]?.index === 5);
    catalog.set(snap([], 3));
    // Each connection may land on either worker: every one answers from us.
    await untilAsync(async () => (await fresh()) === "200 us");
    for (let i = 0; i < 10; i++) expect(await fresh()).toBe("200 us");
    const o = (await (await fetch(`http://${r.dashboardAddress}/api/overview`)).json()) as { routes: { failover: { servedFrom: string | null } | null }[] };
    expect(o.routes[0]?.failover?.servedFrom).toBe("us-west-2");
    catalog.set(snap([at(localPort, "europe-west1")], 4));
    await untilAsync(async () => (await fresh()) === "200 europe");
    for (let i = 0; i < 10; i++) expect(await fresh()).toBe("200 europe");
  }, 60_000);

  it("no federation: a route asking for failover is served locally, and the log and the table say why", async () => {
    const warned: string[] = [];
    const log = { ...silentLogger, warn: (_f: Record<string, unknown>, msg: string) => void warned.push(msg) };
    const catalog = new SnapshotCatalog("dc1");
    catalog.set(snap([{ ...at(1, "dc1"), checks: [{ ...inst("web", []).checks[1], Status: "critical" } as ServiceInstance["checks"][number]] }], 2));
    const r = await startRouter({ catalog, config: config({ allowLoopbackBackends: true }), host: "127.0.0.1", port: 0, dashboardPort: -1, logger: log });
    closers.push(() => r.close());
    expect(await answer(r.address)).toMatch(/^503 /);
    expect(r.table().routes[0]?.failover?.note).toBe(NO_FEDERATION.unavailable);
    expect(warned).toContain(`router: route web asks for failover to other datacenters, but ${NO_FEDERATION.unavailable ?? ""}`);
  });
});

/** Waits until `ok` holds, 5 s at most. */
async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
}

/** Waits until `ok` resolves true, 30 s at most (a loaded machine answers slowly). */
async function untilAsync(ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end && !(await ok())) await new Promise((r) => setTimeout(r, 10));
  expect(await ok()).toBe(true);
}
