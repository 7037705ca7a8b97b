/**
 * The router end to end in one process: a real state store (memory backend) and its
 * catalog, services registered as a Consul client registers them, real HTTP backends on
 * 127.0.0.1 port 0, and requests through the router with undici.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect as h2connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { routerHarness, type HarnessBackend } from "./testing.js";

const client = new Agent({ keepAliveTimeout: 1000 });
afterAll(async () => {
  await client.close();
});

// The access log on, as by default (its lines go to the silent logger).
const h = routerHarness({ accessLog: true });
const { start, register } = h;

/** A backend answering its name and what it was sent; `handler` answers instead when given. */
function backend(name: string, handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<HarnessBackend> {
  return h.backend(
    handler ??
      ((req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ name, url: req.url, headers: req.headers }));
      }),
  );
}

async function get(host: string, path = "/", o: { method?: "GET" | "POST" | "PUT"; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const r = await request(`http://${h.address()}${path}`, { method: o.method ?? "GET", headers: { host, ...o.headers }, body: o.body ?? null, dispatcher: client });
  return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
}

const nameOf = (body: string): string => (JSON.parse(body) as { name: string }).name;

describe("the router", () => {
  it("routes by Host to both passing instances in turn, with X-Forwarded headers; 404 elsewhere", async () => {
    const a = await backend("a");
    const b = await backend("b");
    const tags = ["traefik.frontend.rule=Host:demo.exemple.com", "traefik.tags=exposed"];
    await register("a", "demo", a.port, tags);
    await register("b", "demo", b.port, tags);
    await start({ constraints: ["tag==exposed"] });
    const names = [];
    for (let i = 0; i < 4; i++) {
      const r = await get("demo.exemple.com", "/x?y=1", { headers: { "x-forwarded-for": "6.6.6.6" } });
      expect(r.status).toBe(200);
      const body = JSON.parse(r.body) as { name: string; url: string; headers: Record<string, string> };
      names.push(body.name);
      expect(body.url).toBe("/x?y=1");
      expect(body.headers).toMatchObject({ host: "demo.exemple.com", "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": "demo.exemple.com", "x-real-ip": "127.0.0.1" });
    }
    expect(names.sort()).toEqual(["a", "a", "b", "b"]);
    expect((await get("other.exemple.com")).status).toBe(404);
  });

  it("a new passing instance is routed at once; one turning critical gets no more traffic", async () => {
    const a = await backend("a");
    await start();
    expect((await get("late")).status).toBe(404);
    const t0 = performance.now();
    await register("a", "late", a.port, []);
    // No sleep: the table is swapped in the tick the catalog's wait resolves.
    let r = await get("late");
    while (r.status !== 200 && performance.now() - t0 < 1000) r = await get("late");
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(200);
    await h.registry().setCheck("n1", "a-ttl", "critical", "down");
    expect(await get("late")).toMatchObject({ status: 503, body: "503 Service Unavailable: no healthy instance\n" });
  });

  it("a killed instance costs no failed request: refused or reset connections are retried elsewhere, and it is ejected", async () => {
    const a = await backend("a");
    const b = await backend("b");
    await register("a", "web", a.port, []);
    await register("b", "web", b.port, []);
    const r = await start();
    for (let i = 0; i < 4; i++) expect((await get("web")).status).toBe(200);
    a.server.closeAllConnections();
    await new Promise((res) => a.server.close(res));
    const statuses = new Map<number, number>();
    for (let i = 0; i < 20; i++) {
      const s = (await get("web")).status;
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    expect([...statuses]).toEqual([[200, 20]]);
    const overview = (await (await fetch(`http://${r.dashboardAddress}/api/overview`)).json()) as { routes: { backends: { origin: string; ejected: boolean }[] }[] };
    expect(overview.routes[0]?.backends.find((x) => x.origin.endsWith(`:${a.port}`))?.ejected).toBe(true);
    const metrics = await (await fetch(`http://${r.dashboardAddress}/metrics`)).text();
    expect(metrics).toContain(`ruche_router_backend_up{route="web",backend="http://127.0.0.1:${a.port}"} 0`);
    expect(metrics).toMatch(/ruche_router_retries_total\{route="web"\} [1-9]/);
    expect(metrics).toContain('ruche_router_requests_total{route="web",code="200"} 24');
  });

  it("a reset before the response: a GET goes to another instance, a POST with a body gets 502", async () => {
    const bad = await backend("bad", (req) => req.socket.destroy());
    const good = await backend("good");
    await register("bad", "web", bad.port, ["traefik.backend.loadbalancer.method=wrr"]);
    await register("good", "web", good.port, []);
    await start({ ejection: { failures: 100 } });
    for (let i = 0; i < 4; i++) expect(nameOf((await get("web")).body)).toBe("good");
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push((await get("web", "/", { method: "POST", body: "x" })).status);
    expect(posts.sort()).toEqual([200, 200, 502, 502]);
  });

  it("weights give a canary its share; least request prefers the idle instance", async () => {
    const main = await backend("main");
    const canary = await backend("canary");
    await register("main", "w", main.port, ["traefik.weight=9"]);
    await register("canary", "w", canary.port, ["traefik.weight=1"]);
    const slow = await backend("slow", (_req, res) => setTimeout(() => res.end(JSON.stringify({ name: "slow" })), 300));
    const fast = await backend("fast");
    await register("slow", "p", slow.port, ["traefik.backend.loadbalancer.method=drr"]);
    await register("fast", "p", fast.port, ["traefik.backend.loadbalancer.method=drr"]);
    await start();
    for (let i = 0; i < 100; i++) await get("w");
    expect([main.seen.length, canary.seen.length]).toEqual([90, 10]);
    const all = await Promise.all(Array.from({ length: 40 }, () => get("p")));
    expect(all.every((x) => x.status === 200)).toBe(true);
    // The slow instance holds its requests: the fast one gets most of them.
    expect(fast.seen.length).toBeGreaterThan(slow.seen.length * 2);
  });

  it("limits: a body over the limit gets 413, a backend slower than the request timeout 504", async () => {
    const sink = await backend("sink", (req, res) => {
      req.resume();
      req.on("end", () => res.end(JSON.stringify({ name: "sink" })));
    });
    const slow = await backend("slow", () => undefined);
    await register("sink", "sink", sink.port, []);
    await register("slow", "slow", slow.port, []);
    await start({ limits: { maxBodyBytes: 1000, requestTimeoutMs: 300 } });
    expect((await get("sink", "/", { method: "POST", body: "x".repeat(1001) })).status).toBe(413);
    expect((await get("sink", "/", { method: "POST", body: "x".repeat(1000) })).status).toBe(200);
    const chunked = await request(`http://${h.address()}/`, { method: "POST", headers: { host: "sink" }, body: Readable.from((function* () { for (let i = 0; i < 5; i++) yield Buffer.alloc(300); })()), dispatcher: client });
    expect(chunked.statusCode).toBe(413);
    await chunked.body.dump();
    expect((await get("slow")).status).toBe(504);
  });

  it("WebSocket: the upgrade goes through and bytes flow both ways", async () => {
    const ws = await backend("ws");
    ws.server.on("upgrade", (req: IncomingMessage, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Host: ${req.headers.host ?? ""}\r\n\r\n`);
      socket.on("data", (d: Buffer) => socket.write(Buffer.from(d.toString().toUpperCase())));
      socket.on("end", () => socket.end());
    });
    await register("ws", "ws", ws.port, []);
    const r = await start();
    const [host, port] = r.address.split(":");
    const sock = netConnect(Number(port), host);
    sock.write("GET /chat HTTP/1.1\r\nHost: ws\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let got = "";
    await new Promise<void>((resolve) => {
      sock.on("data", (d: Buffer) => {
        got += d.toString();
        if (got.includes("\r\n\r\n") && !got.includes("HELLO")) sock.write("hello");
        if (got.includes("HELLO")) resolve();
      });
    });
    sock.destroy();
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(got).toContain("X-Seen-Host: ws");
  });

  it("a route to Ruche's own API needs the token, when the configuration exposes it at all", async () => {
    const api = await backend("api");
    await register("api", "ruche", api.port, ["traefik.frontend.rule=Host:ruche.exemple.com"]);
    const hidden = await start({}, { config: { ...h.config(), controlApi: { addresses: [`127.0.0.1:${api.port}`], expose: false, token: "" } }, dashboardPort: -1 });
    expect((await get("ruche.exemple.com")).status).toBe(404);
    expect(hidden.table().skipped[0]?.reason).toContain("Ruche's own API");
    await hidden.close();
    const token = "s3cret-s3cret-s3cret";
    await start({}, { config: { ...h.config(), controlApi: { addresses: [`127.0.0.1:${api.port}`], expose: true, token } }, dashboardPort: -1 });
    expect((await get("ruche.exemple.com")).status).toBe(401);
    expect((await get("ruche.exemple.com", "/", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await get("ruche.exemple.com", "/", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it("the dashboard is read-only, on 127.0.0.1, and shows routes, backends and what was left out", async () => {
    const a = await backend("a");
    await register("a", "web", a.port, ["traefik.frontend.rule=Host:web"]);
    await register("bad", "broken", a.port, ["traefik.frontend.rule=Nope:x"]);
    const r = await start();
    expect(r.dashboardAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    await get("web");
    const o = (await (await fetch(`http://${r.dashboardAddress}/api/overview`)).json()) as { routes: unknown[]; skipped: unknown[] };
    expect(o.routes).toEqual([expect.objectContaining({ name: "web", rule: "Host:web", requests: 1, backends: [expect.objectContaining({ id: "a", origin: `http://127.0.0.1:${a.port}`, ejected: false })] })]);
    expect(o.skipped).toEqual([{ service: "broken", instance: "bad", reason: expect.stringContaining('unknown matcher "Nope"') as unknown }]);
    expect((await fetch(`http://${r.dashboardAddress}/`)).headers.get("content-type")).toContain("text/html");
    expect((await fetch(`http://${r.dashboardAddress}/api/overview`, { method: "POST" })).status).toBe(405);
  });

  it("close() stops following the catalog and closes every port", async () => {
    const r = await start();
    const ac = new AbortController();
    await r.close();
    await expect(get("x")).rejects.toThrow();
    const second = await start({}, { dashboardPort: -1, signal: ac.signal });
    ac.abort();
    await second.close();
  });
});

describe("the router over TLS", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ruche-router-tls-"));
    for (const name of ["a.test", "b.test"]) {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${name}`, "-addext", `subjectAltName=DNS:${name}`, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`)], { stdio: "ignore" });
    }
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("terminates TLS with the certificate the client names (SNI) and speaks HTTP/2", async () => {
    const a = await backend("a");
    await register("a", "b", a.port, ["traefik.frontend.rule=Host:b.test"]);
    const r = await start({
      entryPoints: { http: { address: "127.0.0.1:0" }, https: { address: "127.0.0.1:0", tls: { certificates: ["a.test", "b.test"].map((n) => ({ certFile: join(dir, `${n}.crt`), keyFile: join(dir, `${n}.key`) })) } } },
    });
    const [host, port] = (r.addresses.https ?? "").split(":");
    const peer = await new Promise<{ cn: string; alpn: string | false }>((resolve, reject) => {
      const t = tlsConnect({ host, port: Number(port), servername: "b.test", rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] }, () => {
        resolve({ cn: String(t.getPeerCertificate().subject.CN), alpn: t.alpnProtocol ?? false });
        t.destroy();
      });
      t.once("error", reject);
    });
    expect(peer).toEqual({ cn: "b.test", alpn: "h2" });
    const session = h2connect(`https://${r.addresses.https ?? ""}`, { servername: "b.test", rejectUnauthorized: false });
    session.on("error", () => undefined);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request({ ":path": "/h2", ":authority": "b.test" });
      let status = 0;
      let body = "";
      s.on("response", (h) => (status = Number(h[":status"])));
      s.setEncoding("utf8");
      s.on("data", (d: string) => (body += d));
      s.on("end", () => { resolve({ status, body }); });
      s.on("error", reject);
    });
    session.close();
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe("/h2");
    expect(seen.headers).toMatchObject({ host: "b.test", "x-forwarded-proto": "https" });
  });
});
