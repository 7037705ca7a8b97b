/**
 * The router as Traefik's users drive it, wired as `startAgent` wires a server with a router,
 * in one process, on a memory store: its configuration from a Traefik v2 static file, the KV
 * provider fed with `curl -X PUT /v1/kv/traefik/...` on the Consul port (routed at once,
 * re-routed on change), and Traefik's API read with curl from the dashboard port.
 */
import { execFile } from "node:child_process";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsulApi, type RunningHttp } from "../api/index.js";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { ApiClient } from "../apiclient/index.js";
import { DEFAULT_ROUTER_CONFIG, KvMergedCatalog, parseRouterConfigFile, RemoteKv, startRouter, type RunningRouter } from "../router/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";

const run = promisify(execFile);

/** curl, as a user runs it: the status on the last line. Fails the test, saying so, when curl is missing. */
async function curl(...args: string[]): Promise<{ status: number; body: string; headers: string }> {
  let out: string;
  try {
    out = (await run("curl", ["-sS", "-D", "-", "-w", "\n%{http_code}", ...args], { encoding: "utf8" })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("curl is missing: install it (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
  const nl = out.lastIndexOf("\n");
  const status = Number(out.slice(nl + 1));
  const rest = out.slice(0, nl);
  const split = rest.lastIndexOf("\r\n\r\n");
  return { status, headers: rest.slice(0, split), body: rest.slice(split + 4) };
}

let store: StateStore;
let consul: RunningHttp;
let router: RunningRouter;
const backends: HttpServer[] = [];

async function backend(name: string): Promise<number> {
  const s = createServer((req, res) => res.end(`${name} ${req.url ?? ""}`));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  backends.push(s);
  return (s.address() as AddressInfo).port;
}

/** Asks until `ok` holds, for up to 10 s; the last answer. */
async function until<T>(ask: () => Promise<T>, ok: (t: T) => boolean): Promise<T> {
  const end = Date.now() + 10_000;
  for (;;) {
    const t = await ask();
    if (ok(t) || Date.now() > end) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const STATIC = `# Traefik v2's static configuration
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  consulCatalog:
    exposedByDefault: false
    constraints: "Tag(\`exposed\`)"
  consul:
    rootKey: traefik
    endpoints: ["127.0.0.1:8500"]
api:
  dashboard: true
accessLog: {}
allowLoopbackBackends: true
`;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  const registry = new ServiceRegistry(store, Date.now);
  const catalog = new StoreCatalog(store, "dc1", silentLogger);
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  consul = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: { catalog, localNode: () => undefined, version: "1.17.0", registry, allowScriptChecks: false, kv } });
  const p = parseRouterConfigFile("traefik.yml", STATIC);
  if (!p.ok) throw new Error(p.errors.join("\n"));
  const config = p.config;
  const merged = new KvMergedCatalog(catalog, { list: (pre) => kv.list(pre), index: () => kv.index("kv"), wait: (i, t, s) => kv.wait("kv", i, t, s) }, config.kv?.rootKey ?? "traefik", config.prefix);
  router = await startRouter({ catalog: merged, config, host: "127.0.0.1", port: 0, dashboardPort: 0, logger: silentLogger });
});

afterAll(async () => {
  await router.close();
  await consul.close();
  for (const s of backends) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const put = (key: string, value: string): Promise<{ status: number; body: string }> => curl("-X", "PUT", "--data-binary", value, `http://${consul.address}/v1/kv/${key}`);
const web = (): string => router.addresses.web ?? "";

describe("Traefik's KV provider, on Ruche's own KV", () => {
  it("routes what curl writes under traefik/ in Traefik v2's layout, and re-routes when it changes", async () => {
    const a = await backend("a");
    const b = await backend("b");
    expect((await put("traefik/http/services/app/loadbalancer/servers/0/url", `http://127.0.0.1:${a}`)).body.trim()).toBe("true");
    await put("traefik/http/routers/app/rule", "Host(`kv.example`) && PathPrefix(`/v1`)");
    await put("traefik/http/routers/app/service", "app");
    await put("traefik/http/routers/app/entrypoints/0", "web");

    const first = await until(() => curl("-H", "Host: kv.example", `http://${web()}/v1/hello`), (r) => r.status === 200);
    // The KV's servers are not held to the catalog's constraints (Tag(`exposed`)).
    expect(first).toMatchObject({ status: 200, body: "a /v1/hello" });
    expect((await curl("-H", "Host: kv.example", `http://${web()}/other`)).status).toBe(404);

    // Changed: the new server at once, without a restart.
    await put("traefik/http/services/app/loadbalancer/servers/0/url", `http://127.0.0.1:${b}`);
    expect(await until(() => curl("-H", "Host: kv.example", `http://${web()}/v1/x`), (r) => r.body === "b /v1/x")).toMatchObject({ status: 200, body: "b /v1/x" });

    // A second server: both answer, in turn.
    await put("traefik/http/services/app/loadbalancer/servers/1/url", `http://127.0.0.1:${a}`);
    const seen = new Set<string>();
    await until(
      async () => {
        seen.add((await curl("-H", "Host: kv.example", `http://${web()}/v1/x`)).body);
        return seen;
      },
      (s) => s.size === 2,
    );
    expect([...seen].sort()).toEqual(["a /v1/x", "b /v1/x"]);

    // Removed: the route is gone.
    expect((await curl("-X", "DELETE", `http://${consul.address}/v1/kv/traefik/http/routers/app?recurse`)).status).toBe(200);
    expect((await until(() => curl("-H", "Host: kv.example", `http://${web()}/v1/x`), (r) => r.status === 404)).status).toBe(404);
  });
});

describe("the KV provider on a router-only agent", () => {
  it("follows the servers' KV with blocking queries over HTTP, and routes what it reads", async () => {
    const port = await backend("remote");
    const catalog = new StoreCatalog(store, "dc1", silentLogger);
    const remote = new KvMergedCatalog(catalog, new RemoteKv(new ApiClient([consul.address]), "traefik"), "traefik", "traefik");
    const edge = await startRouter({ catalog: remote, config: { ...DEFAULT_ROUTER_CONFIG, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: -1, logger: silentLogger });
    try {
      await put("traefik/http/routers/remote/rule", "Host(`remote.example`)");
      await put("traefik/http/routers/remote/service", "remote");
      await put("traefik/http/services/remote/loadbalancer/servers/0/url", `http://127.0.0.1:${port}`);
      expect(await until(() => curl("-H", "Host: remote.example", `http://${edge.address}/x`), (r) => r.status === 200)).toMatchObject({ status: 200, body: "remote /x" });
      await curl("-X", "DELETE", `http://${consul.address}/v1/kv/traefik/http/routers/remote?recurse`);
      expect((await until(() => curl("-H", "Host: remote.example", `http://${edge.address}/x`), (r) => r.status === 404)).status).toBe(404);
    } finally {
      await edge.close();
    }
  });
});

describe("middlewares from the KV", () => {
  it("apply as the same middlewares from tags do, and Traefik's API lists them", async () => {
    const port = await backend("mw");
    await put("traefik/http/middlewares/strip/stripPrefix/prefixes/0", "/api");
    await put("traefik/http/middlewares/auth/basicAuth/users/0", "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/");
    await put("traefik/http/services/mw/loadbalancer/servers/0/url", `http://127.0.0.1:${port}`);
    await put("traefik/http/routers/mw/rule", "Host(`mw.example`)");
    await put("traefik/http/routers/mw/service", "mw");
    await put("traefik/http/routers/mw/middlewares/0", "strip@consul");
    const stripped = await until(() => curl("-H", "Host: mw.example", `http://${web()}/api/users`), (r) => r.status === 200);
    expect(stripped).toMatchObject({ status: 200, body: "mw /users" });

    // A second middleware on the router: basic auth (Traefik's documented user test:test).
    await put("traefik/http/routers/mw/middlewares/1", "auth");
    expect((await until(() => curl("-H", "Host: mw.example", `http://${web()}/api/users`), (r) => r.status === 401)).status).toBe(401);
    expect(await curl("-u", "test:test", "-H", "Host: mw.example", `http://${web()}/api/users`)).toMatchObject({ status: 200, body: "mw /users" });

    const dash = `http://${router.dashboardAddress}`;
    const mws = JSON.parse((await curl(`${dash}/api/http/middlewares`)).body) as Record<string, unknown>[];
    expect(mws).toEqual([
      { basicAuth: expect.objectContaining({ users: ["test"] }) as unknown, status: "enabled", usedBy: ["mw@consul"], name: "auth@consul", provider: "consul", type: "basicauth" },
      { stripPrefix: expect.objectContaining({ prefixes: ["/api"] }) as unknown, status: "enabled", usedBy: ["mw@consul"], name: "strip@consul", provider: "consul", type: "stripprefix" },
    ]);
    expect(JSON.parse((await curl(`${dash}/api/http/routers/mw@consul`)).body)).toMatchObject({ middlewares: ["strip", "auth"], status: "enabled" });
    // Never a credential: the user's hash is not shown.
    expect((await curl(`${dash}/api/rawdata`)).body).not.toContain("$apr1$");
    await curl("-X", "DELETE", `http://${consul.address}/v1/kv/traefik/http/routers/mw?recurse`);
  });
});

describe("Traefik's API on the dashboard port", () => {
  it("answers rawdata, overview, routers, services, entrypoints and version in Traefik v2's shapes", async () => {
    const port = await backend("api");
    await put("traefik/http/services/whoami/loadbalancer/servers/0/url", `http://127.0.0.1:${port}`);
    await put("traefik/http/routers/whoami/rule", "Host(`whoami.example`)");
    await put("traefik/http/routers/whoami/service", "whoami@consul");
    await until(() => curl("-H", "Host: whoami.example", `http://${web()}/`), (r) => r.status === 200);
    const dash = `http://${router.dashboardAddress}`;

    const routers = await curl(`${dash}/api/http/routers`);
    expect(routers.status).toBe(200);
    expect(routers.headers).toMatch(/^x-next-page: 1\r?$/im);
    expect(JSON.parse(routers.body)).toEqual([{ entryPoints: ["http", "web"], service: "whoami", rule: "Host(`whoami.example`)", priority: expect.any(Number) as number, status: "enabled", using: ["http", "web"], name: "whoami@consul", provider: "consul" }]);

    const one = await curl(`${dash}/api/http/routers/whoami%40consul`);
    expect(JSON.parse(one.body)).toMatchObject({ name: "whoami@consul", provider: "consul", status: "enabled" });
    const missing = await curl(`${dash}/api/http/routers/nope@consul`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ message: "router not found: nope@consul" });

    const services = JSON.parse((await curl(`${dash}/api/http/services`)).body) as unknown[];
    expect(services).toEqual([
      expect.objectContaining({ loadBalancer: { servers: [{ url: `http://127.0.0.1:${port}` }], passHostHeader: true }, status: "enabled", usedBy: ["whoami@consul"], serverStatus: { [`http://127.0.0.1:${port}`]: "UP" }, name: "whoami@consul", provider: "consul", type: "loadbalancer" }),
    ]);
    expect(JSON.parse((await curl(`${dash}/api/http/services/whoami@consul`)).body)).toMatchObject({ name: "whoami@consul" });

    const raw = JSON.parse((await curl(`${dash}/api/rawdata`)).body) as { routers: Record<string, unknown>; services: Record<string, unknown> };
    expect(raw.routers["whoami@consul"]).toMatchObject({ service: "whoami", rule: "Host(`whoami.example`)", status: "enabled" });
    expect(raw.services["whoami@consul"]).toMatchObject({ loadBalancer: { servers: [{ url: `http://127.0.0.1:${port}` }] }, usedBy: ["whoami@consul"] });

    const overview = JSON.parse((await curl(`${dash}/api/overview`)).body) as Record<string, unknown>;
    expect(overview).toMatchObject({
      http: { routers: { total: 1, warnings: 0, errors: 0 }, services: { total: 1, warnings: 0, errors: 0 }, middlewares: { total: 0, warnings: 0, errors: 0 } },
      tcp: { routers: { total: 0, warnings: 0, errors: 0 }, services: { total: 0, warnings: 0, errors: 0 } },
      udp: { routers: { total: 0, warnings: 0, errors: 0 }, services: { total: 0, warnings: 0, errors: 0 } },
      features: { tracing: "", metrics: "Prometheus", accessLog: true },
      providers: ["ConsulCatalog", "Consul"],
    });

    const eps = JSON.parse((await curl(`${dash}/api/entrypoints`)).body) as { name: string; address: string }[];
    expect(eps.map((e) => e.name)).toEqual(["http", "web"]);
    expect(JSON.parse((await curl(`${dash}/api/entrypoints/web`)).body)).toEqual({ address: web(), name: "web" });
    expect(JSON.parse((await curl(`${dash}/api/version`)).body)).toMatchObject({ Version: expect.stringMatching(/^2\./) as string, startDate: expect.any(String) as string });

    // Paged as Traefik pages: per_page, page, X-Next-Page; a page past the end is a 400.
    await put("traefik/http/routers/second/rule", "Host(`second.example`)");
    await put("traefik/http/routers/second/service", "whoami");
    await until(() => curl("-H", "Host: second.example", `http://${web()}/`), (r) => r.status === 200);
    const page1 = await curl(`${dash}/api/http/routers?per_page=1`);
    expect(page1.headers).toMatch(/^x-next-page: 2\r?$/im);
    expect((JSON.parse(page1.body) as { name: string }[]).map((r) => r.name)).toEqual(["second@consul"]);
    const page2 = await curl(`${dash}/api/http/routers?per_page=1&page=2`);
    expect(page2.headers).toMatch(/^x-next-page: 1\r?$/im);
    expect((JSON.parse(page2.body) as { name: string }[]).map((r) => r.name)).toEqual(["whoami@consul"]);
    expect((await curl(`${dash}/api/http/routers?per_page=1&page=3`)).status).toBe(400);
    expect((JSON.parse((await curl(`${dash}/api/http/routers?search=second`)).body) as unknown[]).length).toBe(1);
  });
});
