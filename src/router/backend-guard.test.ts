/**
 * Backends that are Ruche itself or this machine's loopback, however their address is
 * written: the pure judgement, the lookup used when a backend is named by a name, and the
 * router refusing them on real sockets on 127.0.0.1 (its own API, its dashboard, its own
 * entrypoint, a name resolving to this machine).
 */
import { request } from "node:http";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import type { ServiceInstance } from "../catalog/index.js";
import type { Logger } from "../structs/index.js";
import { canonicalHost, guardedLookup, guardOf, judgeBackend, REFUSED_BACKEND } from "./backend-guard.js";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { startRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { closedAfterEach, httpBackend, instance } from "./testing.js";
import type { RouterConfig } from "./types.js";

const closers = closedAfterEach();

/** GET / through the router with the given Host. */
async function get(address: string, host: string): Promise<{ status: number; body: string }> {
  const [h, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = request({ host: h, port: Number(port), path: "/", headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "LocalHost.", "127.1", "127.0.1", "0x7f000001", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "0.0.0.0", "0", "::", "[::]", "a.localhost"];

describe("canonical addresses", () => {
  it.each([
    ["127.1", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["[::ffff:7f00:1]", "127.0.0.1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["[::]", "::"],
    ["0", "0.0.0.0"],
    ["Web.Example.COM.", "web.example.com"],
    ["10.0.0.1", "10.0.0.1"],
  ])("%s is %s", (a, canonical) => {
    expect(canonicalHost(a)).toBe(canonical);
  });
});

describe("judging a backend", () => {
  const config: RouterConfig = { ...DEFAULT_ROUTER_CONFIG, controlApi: { addresses: ["127.0.0.1:4646", "127.0.0.1:8500"], expose: false, token: "" }, self: { hosts: ["192.0.2.7"], ports: [8080, 8081] } };

  it.each(LOOPBACK_SPELLINGS)("%s on Ruche's API port is Ruche's own, even where loopback backends are allowed", (a) => {
    for (const allow of [false, true]) {
      const v = judgeBackend(a, 4646, guardOf({ ...config, allowLoopbackBackends: allow }));
      expect(v.ok).toBe(false);
      if (!v.ok) expect(v.api).toBe(true);
    }
  });

  it.each(LOOPBACK_SPELLINGS)("%s on another port is refused unless loopback backends are allowed", (a) => {
    const v = judgeBackend(a, 3000, guardOf(config));
    expect(v).toMatchObject({ ok: false, api: false });
    expect(v.ok ? "" : v.reason).toContain("allowLoopbackBackends");
    expect(judgeBackend(a, 3000, guardOf({ ...config, allowLoopbackBackends: true }))).toEqual({ ok: true });
  });

  it("the router's own ports are refused on every address of the machine; another machine's address is not this one", () => {
    const g = guardOf({ ...config, allowLoopbackBackends: true });
    for (const a of ["127.1", "192.0.2.7", "::ffff:192.0.2.7", "::"]) expect(judgeBackend(a, 8081, g)).toMatchObject({ ok: false, api: false });
    expect(judgeBackend("192.0.2.7", 4646, g)).toMatchObject({ ok: false, api: true });
    expect(judgeBackend("192.0.2.7", 3000, g)).toEqual({ ok: true });
    expect(judgeBackend("10.0.0.9", 4646, g)).toEqual({ ok: true });
    expect(judgeBackend("10.0.0.9", 8081, g)).toEqual({ ok: true });
  });

  it("another node's agent API is Ruche's too; an API on every interface makes its port refused everywhere", () => {
    expect(judgeBackend("10.0.0.9", 4646, guardOf(config, new Set(["10.0.0.9"])))).toMatchObject({ ok: false, api: true });
    const any = guardOf({ ...config, controlApi: { ...config.controlApi, addresses: ["0.0.0.0:4646"] } });
    expect(judgeBackend("203.0.113.5", 4646, any)).toMatchObject({ ok: false, api: true });
  });

  it("a name is resolved when connecting, and refused when it resolves to what is refused", async () => {
    const g = guardOf(config);
    const refused: string[] = [];
    const lookup = guardedLookup(3000, g, (name, reason) => refused.push(`${name}: ${reason}`));
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      lookup("localhost", { all: false }, (e) => {
        resolve(e);
      });
    });
    expect(err?.code).toBe(REFUSED_BACKEND);
    expect(refused[0]).toContain("localhost resolves to 127.0.0.1:3000 is this machine's loopback");
    const allowed = guardedLookup(3000, guardOf({ ...config, allowLoopbackBackends: true }), () => undefined);
    const address = await new Promise<string>((resolve, reject) => {
      allowed("localhost", { all: false, family: 4 }, (e, a) => {
        if (e !== null) reject(e);
        else resolve(a as string);
      });
    });
    expect(address).toBe("127.0.0.1");
  });
});

describe("the router refuses backends that are Ruche itself", () => {
  const warnings: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (_f, msg) => warnings.push(msg) };

  it("its API under any spelling of this machine, its dashboard and its own entrypoint: never reached, each logged once and shown on the dashboard", async () => {
    const api = await httpBackend(closers, (_req, res) => res.end("ruche api"));
    const web = await httpBackend(closers, (_req, res) => res.end("web"));
    const inst = (id: string, address: string, port: number): ServiceInstance => ({ ...instance(id, port), Address: address });
    const catalog = new SnapshotCatalog("dc1");
    const spellings = ["localhost", "127.1", "0x7f000001", "2130706433", "::ffff:127.0.0.1", "0.0.0.0", "::", "[::]", hostname()];
    const instances = [inst("web", "127.0.0.1", web), ...spellings.map((a, i) => inst(`api${i}`, a, api))];
    catalog.set({ index: 2, instances });
    // As a -dev agent's router: loopback backends allowed, Ruche's own ports not.
    const config: RouterConfig = { ...DEFAULT_ROUTER_CONFIG, accessLog: false, allowLoopbackBackends: true, controlApi: { addresses: [`127.0.0.1:${api}`], expose: false, token: "" } };
    const r = await startRouter({ catalog, config, host: "127.0.0.1", port: 0, dashboardPort: 0, logger });
    closers.push(() => r.close());
    const through = (host: string): Promise<{ status: number; body: string }> => get(r.address, host);
    expect(await through("web")).toEqual({ status: 200, body: "web" });
    for (let i = 0; i < spellings.length; i++) expect((await through(`api${i}`)).body, spellings[i]).not.toBe("ruche api");
    // A name is judged when the router connects: it resolves to this machine, on the API's port.
    const byName = spellings.length - 1;
    expect(await through(`api${byName}`)).toMatchObject({ status: 502 });
    const overview = r.overview() as { skipped: { reason: string; refused?: boolean }[]; refusedBackends: { name: string; reason: string }[] };
    expect(overview.skipped.filter((s) => s.refused === true && s.reason.includes("is Ruche's own API"))).toHaveLength(spellings.length - 1);
    expect(overview.refusedBackends.map((b) => b.name)).toEqual([hostname()]);
    expect(overview.refusedBackends[0]?.reason).toContain("is Ruche's own API");

    // The dashboard and the router's own entrypoint as backends.
    const dashPort = Number(r.dashboardAddress.split(":")[1]);
    const ownPort = Number(r.address.split(":")[1]);
    catalog.set({ index: 3, instances: [...instances, inst("dash", "127.0.0.1", dashPort), inst("loop", "localhost", ownPort)] });
    const deadline = Date.now() + 5000;
    while (!(r.overview() as typeof overview).skipped.some((s) => s.reason.includes(`:${ownPort} is the router itself`)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(await through("dash")).toMatchObject({ status: 503 });
    expect(await through("loop")).toMatchObject({ status: 503 });
    // Built again from the same instances: nothing logged twice.
    catalog.set({ index: 4, instances: [...instances, inst("dash", "127.0.0.1", dashPort), inst("loop", "localhost", ownPort)] });
    await through("web");
    expect(await through(`api${byName}`)).toMatchObject({ status: 502 });
    expect(new Set(warnings).size).toBe(warnings.length);
    expect(warnings.filter((w) => w.includes("backend refused"))).toHaveLength(spellings.length + 2);
  });

  it("outside -dev, a backend on loopback is refused unless the configuration allows it", async () => {
    const web = await httpBackend(closers, (_req, res) => res.end("web"));
    const catalog = new SnapshotCatalog("dc1");
    catalog.set({ index: 2, instances: [instance("web", web)] });
    const r = await startRouter({ catalog, config: { ...DEFAULT_ROUTER_CONFIG, accessLog: false }, host: "127.0.0.1", port: 0, dashboardPort: -1 });
    closers.push(() => r.close());
    expect(await get(r.address, "web")).toMatchObject({ status: 503 });
    expect(r.table().skipped).toMatchObject([{ service: "web", instance: "web", refused: true }]);
    expect(r.table().skipped[0]?.reason).toContain("allowLoopbackBackends");
  });
});
