/**
 * Routes whose tags ask for what the router does not implement (a middleware, a TLS option,
 * a Traefik v1 frontend option): never served as if the tag were absent, but answered 503
 * naming it, on the fast path and the full server, logged once and flagged on the
 * dashboard; `tls=true` routes served on TLS entrypoints only. Real sockets on 127.0.0.1.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../structs/index.js";
import { parseRouterConfig } from "./config.js";
import { startRouter, type RunningRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { closedAfterEach, httpBackend, instance, type Closer } from "./testing.js";
import type { ServiceInstance } from "../catalog/index.js";

const closers = closedAfterEach();

/** Each case: the tags beside the route's rule, and what the 503 must name. */
const CASES: [string, string[], string][] = [
  ["digestauth", ["traefik.http.routers.R.middlewares=d", "traefik.http.middlewares.d.digestauth.users=u:r:h"], "traefik.http.middlewares.d.digestauth (the digestauth middleware is not implemented)"],
  ["forwardauth", ["traefik.http.routers.R.middlewares=fa", "traefik.http.middlewares.fa.forwardauth.address=http://auth.example/check"], "traefik.http.middlewares.fa.forwardauth (the forwardauth middleware is not implemented)"],
  ["errors", ["traefik.http.routers.R.middlewares=e", "traefik.http.middlewares.e.errors.status=500-599"], "traefik.http.middlewares.e.errors (the errors middleware is not implemented)"],
  ["a middleware defined elsewhere", ["traefik.http.routers.R.middlewares=other@file"], "middleware other@file is defined by no tag (middlewares of provider file are not read here)"],
  ["an option not implemented", ["traefik.http.routers.R.middlewares=h", "traefik.http.middlewares.h.headers.sslredirect=true"], "traefik.http.middlewares.h.headers.sslredirect: the SSL redirect options of headers are not implemented"],
  ["an unknown option beside a password", ["traefik.http.routers.R.middlewares=auth@consulcatalog", "traefik.http.middlewares.auth.basicauth.users=u:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "traefik.http.middlewares.auth.basicauth.userfile=x"], "traefik.http.middlewares.auth.basicauth.userfile (this option of basicauth is not implemented)"],
  ["a chain with one not implemented", ["traefik.http.routers.R.middlewares=a,b", "traefik.http.middlewares.a.stripprefix.prefixes=/x", "traefik.http.middlewares.b.forwardauth.address=http://auth.example/check"], "traefik.http.middlewares.b.forwardauth (the forwardauth middleware is not implemented)"],
  ["a users file", ["traefik.http.routers.R.middlewares=f", "traefik.http.middlewares.f.basicauth.usersfile=/etc/htpasswd"], "traefik.http.middlewares.f.basicauth.usersfile: a users file is not read by this router"],
  ["zstd alone", ["traefik.http.routers.R.middlewares=z", "traefik.http.middlewares.z.compress.encodings=zstd"], "traefik.http.middlewares.z.compress.encodings: zstd is not implemented by this router"],
  ["tls=true without a TLS entrypoint", ["traefik.http.routers.R.tls=true"], "traefik.http.routers.R.tls=true (none of its entrypoints, http, has TLS)"],
  ["tls.certresolver", ["traefik.http.routers.R.tls.certresolver=le"], "traefik.http.routers.R.tls.certresolver=le"],
  ["tls.options", ["traefik.http.routers.R.tls.options=modern@file"], "traefik.http.routers.R.tls.options=modern@file"],
  ["tls.domains", ["traefik.http.routers.R.tls.domains[0].main=a.test"], "traefik.http.routers.R.tls.domains[0].main=a.test"],
  ["a plugin", ["traefik.http.routers.R.middlewares=p", "traefik.http.middlewares.p.plugin.blockpath.regex=^/admin"], "traefik.http.middlewares.p.plugin (the plugin middleware is not implemented)"],
  ["v1 basic auth from a file", ["traefik.frontend.auth.basic.usersFile=/etc/htpasswd"], "traefik.frontend.auth.basic.usersFile (not implemented)"],
  ["v1 forward auth", ["traefik.frontend.auth.forward.address=http://auth.example/check"], "traefik.frontend.auth.forward.address (not implemented)"],
  ["v1 whitelist on X-Forwarded-For", ["traefik.frontend.whiteList.sourceRange=10.0.0.0/8", "traefik.frontend.whiteList.useXForwardedFor=true"], "traefik.frontend.whiteList.useXForwardedFor=true (a client's X-Forwarded-For is not trusted by this router"],
  ["v1 rate limit without a rate", ["traefik.frontend.rateLimit.extractorFunc=client.ip"], "traefik.frontend.rateLimit.extractorFunc: no traefik.frontend.rateLimit.rateSet.NAME.* tag gives a rate"],
  ["v1 headers", ["traefik.frontend.headers.SSLRedirect=true"], "traefik.frontend.headers.SSLRedirect (not implemented)"],
  ["a backend option", ["traefik.backend.maxconn.amount=10"], "traefik.backend.maxconn.amount (not implemented)"],
];

/** The route of case `i`: its own Host, in the tag syntax the case's tags are in. */
function tagsOf(i: number, tags: string[]): string[] {
  const v1 = tags.some((t) => t.startsWith("traefik.frontend.") || t.startsWith("traefik.backend."));
  return v1 ? [`traefik.frontend.rule=Host:case${i}`, ...tags] : [`traefik.http.routers.R.rule=Host(\`case${i}\`)`, ...tags];
}

async function send(address: string, host: string, body?: string): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  const [h, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = request({ host: h, port: Number(port), path: "/", method: body === undefined ? "GET" : "POST", headers: { host } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, text, headers: res.headers });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("tags asking for what the router does not implement", () => {
  let router: RunningRouter;
  let reached = 0;
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (fields, msg) => warnings.push({ fields, msg }) };
  const catalog = new SnapshotCatalog("dc1");
  let instances: ServiceInstance[] = [];
  const stop: Closer[] = [];

  beforeAll(async () => {
    const backend = await httpBackend(stop, (req, res) => {
      reached++;
      req.resume();
      req.on("end", () => res.end("served"));
    });
    instances = [
      ...CASES.map(([, tags], i): ServiceInstance => ({ ...instance(`case${i}`, backend), Tags: tagsOf(i, tags) })),
      // What the router does implement keeps working: weights, scheme, a load-balancing method, tls=false.
      { ...instance("plain", backend), Tags: ["traefik.frontend.rule=Host:plain", "traefik.weight=2", "traefik.backend.loadbalancer.method=drr", "traefik.frontend.passHostHeader=true", "traefik.backend=plain"] },
      { ...instance("v2", backend), Tags: ["traefik.http.routers.v2.rule=Host(`v2`)", "traefik.http.routers.v2.tls=false", "traefik.http.routers.v2.service=v2", "traefik.http.services.v2.loadbalancer.server.port=" + String(backend), "traefik.http.services.v2.loadbalancer.passhostheader=true", "traefik.http.middlewares.unused.basicauth.users=u:h"] },
    ];
    catalog.set({ index: 2, instances });
    const p = parseRouterConfig({ accessLog: false, allowLoopbackBackends: true });
    if (!p.ok) throw new Error(p.errors.join("; "));
    router = await startRouter({ catalog, config: p.config, host: "127.0.0.1", port: 0, dashboardPort: 0, logger });
  });

  afterAll(async () => {
    await router.close();
    for (const s of stop.reverse()) await s();
  });

  it.each(CASES.map((c, i) => [c[0], i, c[2]] as const))("%s: answered 503 naming it, with or without a body; the backend is never reached", async (_name, i, names) => {
    const before = reached;
    for (const body of [undefined, "a body takes the full server"]) {
      const res = await send(router.address, `case${i}`, body);
      expect(res.status).toBe(503);
      expect(res.text).toContain(`route ${i < 14 ? "R" : `case${i}`} asks for what this router does not implement`);
      expect(res.text).toContain(names);
    }
    expect(reached).toBe(before);
  });

  it("what the router implements is served; a middleware defined but used by no route changes nothing", async () => {
    expect(await send(router.address, "plain")).toMatchObject({ status: 200, text: "served" });
    expect(await send(router.address, "v2", "body")).toMatchObject({ status: 200, text: "served" });
  });

  it("each refused route is logged once, and flagged on the dashboard with what it asks for; no secret is shown", async () => {
    catalog.set({ index: 3, instances });
    await send(router.address, "plain");
    const refused = warnings.filter((w) => w.msg.includes("does not implement"));
    expect(refused).toHaveLength(CASES.length);
    expect(JSON.stringify(warnings)).not.toContain("$apr1$");
    const overview = (await (await fetch(`http://${router.dashboardAddress}/api/overview`)).json()) as { routes: { name: string; service: string; unimplemented: string[]; backends: unknown[] }[] };
    const byService = new Map(overview.routes.map((r) => [r.service, r]));
    for (let i = 0; i < CASES.length; i++) {
      expect(byService.get(`case${i}`)?.unimplemented.join("; ")).toContain(CASES[i]?.[2]);
      expect(byService.get(`case${i}`)?.backends).toEqual([]);
    }
    expect(byService.get("plain")?.unimplemented).toEqual([]);
    expect(JSON.stringify(overview)).not.toContain("$apr1$");
  });
});

describe("tls=true", () => {
  it("is served on the TLS entrypoints only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-tls-route-"));
    closers.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=secure.test", "-addext", "subjectAltName=DNS:secure.test", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")], { stdio: "ignore" });
    const backend = await httpBackend(closers, (_req, res) => res.end("secure"));
    const catalog = new SnapshotCatalog("dc1");
    catalog.set({ index: 2, instances: [{ ...instance("secure", backend), Tags: ["traefik.http.routers.s.rule=Host(`secure.test`)", "traefik.http.routers.s.tls=true"] }] });
    const p = parseRouterConfig({ accessLog: false, allowLoopbackBackends: true, entryPoints: { http: { address: "127.0.0.1:0" }, https: { address: "127.0.0.1:0", tls: { certificates: [{ certFile: join(dir, "c.pem"), keyFile: join(dir, "k.pem") }] } } } });
    if (!p.ok) throw new Error(p.errors.join("; "));
    const r = await startRouter({ catalog, config: p.config, dashboardPort: -1 });
    closers.push(() => r.close());
    expect(r.table().routes[0]?.entryPoints).toEqual(["https"]);
    expect(await send(r.address, "secure.test")).toMatchObject({ status: 404 });
    const [h, port] = (r.addresses.https ?? "").split(":");
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest({ host: h, port: Number(port), path: "/", servername: "secure.test", headers: { host: "secure.test" }, rejectUnauthorized: false }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, text });
        });
      });
      req.on("error", reject);
      req.end();
    });
    expect(res).toEqual({ status: 200, text: "secure" });
  });
});
