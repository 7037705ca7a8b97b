/**
 * Traefik's load balancing and matchers as its users configure them, end to end: a real
 * state store and catalog, services registered with Traefik's documented tags, real HTTP
 * backends on 127.0.0.1 port 0, the router started in process, and curl as the client
 * (its cookie engine keeps the sticky cookie between requests, as a browser does).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stickyValue } from "./sticky.js";
import { routerHarness, runCurl as curl, type HarnessBackend } from "./testing.js";

const h = routerHarness();
const { start, register } = h;
let dir = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-traefik-lb-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A backend answering its name and a newline; `handler` may answer instead (returning true). */
function backend(name: string, handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<HarnessBackend> {
  return h.backend((req, res) => {
    req.resume();
    res.end(`${name}\n`);
  }, handler);
}

/** `n` GETs of `host` in one curl run (one connection, as a client keeps it), extra arguments first; the names that answered. */
async function names(host: string, n: number, extra: string[] = [], path = "/"): Promise<string[]> {
  const url = `http://${h.address()}${path}`;
  const out = await curl([...extra, "-H", `Host: ${host}`, ...Array.from({ length: n }, () => url)]);
  return out.split("\n").filter((l) => l !== "");
}

function count(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of list) out[x] = (out[x] ?? 0) + 1;
  return out;
}

async function until(what: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("sticky sessions (Traefik's sticky cookie tags)", () => {
  const tags = [
    "traefik.http.routers.shop.rule=Host(`shop.example.com`)",
    "traefik.http.services.shop.loadbalancer.sticky.cookie=true",
    "traefik.http.services.shop.loadbalancer.sticky.cookie.name=shop_lb",
    // (secure=true too in Traefik's example: curl, as a browser, would not send such a cookie back over plain HTTP.)
    "traefik.http.services.shop.loadbalancer.sticky.cookie.httpOnly=true",
    "traefik.http.services.shop.loadbalancer.sticky.cookie.sameSite=lax",
  ];

  it("a client with its cookie stays on one backend across 20 requests; without it, requests are spread; the cookie is Traefik's", async () => {
    const ports: Record<string, number> = {};
    for (const n of ["a", "b", "c"]) {
      const port = (await backend(n)).port;
      ports[n] = port;
      await register(n, "shop", port, tags);
    }
    await start();
    // No cookie kept: round robin over the three.
    expect(Object.keys(count(await names("shop.example.com", 9))).sort()).toEqual(["a", "b", "c"]);
    // Its cookie kept (curl's cookie engine): one backend, 20 times.
    const jar = join(dir, "jar");
    const got = await names("shop.example.com", 20, ["-c", jar, "-b", jar]);
    expect(got).toHaveLength(20);
    expect(new Set(got).size).toBe(1);
    const first = got[0] as string;
    const line = readFileSync(jar, "utf8").split("\n").find((l) => l.includes("shop_lb")) ?? "";
    expect(line.split("\t").at(-1)).toBe(stickyValue(`http://127.0.0.1:${ports[first] ?? 0}`));
    // Each new client gets the cookie with its attributes (Go's order); a valid cookie is not sent again.
    const head = await curl(["-D", "-", "-o", "/dev/null", "-H", "Host: shop.example.com", `http://${h.address()}/`]);
    expect(head).toMatch(/^set-cookie: shop_lb=[0-9a-f]{16}; Path=\/; HttpOnly; SameSite=Lax\r$/m);
    const again = await curl(["-D", "-", "-o", "/dev/null", "-b", jar, "-H", "Host: shop.example.com", `http://${h.address()}/`]);
    expect(again).not.toMatch(/set-cookie/i);
    // Its backend turns critical: the client moves to another one, and sticks to that.
    await h.registry().setCheck("n1", `${first}-ttl`, "critical", "down");
    const after = await names("shop.example.com", 20, ["-c", jar, "-b", jar]);
    expect(after).not.toContain(first);
    expect(new Set(after).size).toBe(1);
  });

  it("an older cookie (the server's URL, as Traefik v1 wrote it) still sticks, and is written again in today's form", async () => {
    const a = await backend("a");
    const b = await backend("b");
    const old = ["traefik.frontend.rule=Host:old.example.com", "traefik.backend.loadbalancer.stickiness=true", "traefik.backend.loadbalancer.stickiness.cookieName=old_lb"];
    await register("a", "old", a.port, old);
    await register("b", "old", b.port, old);
    await start();
    const url = `http://127.0.0.1:${b.port}`;
    const out = await curl(["-D", "-", "-b", `old_lb=${url}`, "-H", "Host: old.example.com", ...Array.from({ length: 6 }, () => `http://${h.address()}/`)]);
    expect(out.split("\n").filter((l) => l === "b" || l === "a")).toEqual(["b", "b", "b", "b", "b", "b"]);
    expect(out).toContain(`set-cookie: old_lb=${stickyValue(url)}; Path=/`);
  });
});

describe("weights", () => {
  it("weight tags 3:1 share 40 requests 30:10", async () => {
    const heavy = await backend("heavy");
    const light = await backend("light");
    await register("heavy", "w", heavy.port, ["traefik.http.routers.w.rule=Host(`w.example.com`)", "traefik.http.services.w.loadbalancer.server.weight=3"]);
    await register("light", "w", light.port, ["traefik.http.routers.w.rule=Host(`w.example.com`)", "traefik.http.services.w.loadbalancer.server.weight=1"]);
    await start();
    expect(count(await names("w.example.com", 40))).toEqual({ heavy: 30, light: 10 });
  });

  it("without a weight tag, Consul's Weights.Passing of each registration shares them", async () => {
    const heavy = await backend("heavy");
    const light = await backend("light");
    await register("heavy", "cw", heavy.port, [], "passing", { Weights: { Passing: 3, Warning: 1 } });
    await register("light", "cw", light.port, [], "passing", { Weights: { Passing: 1, Warning: 1 } });
    await start();
    expect(count(await names("cw", 40))).toEqual({ heavy: 30, light: 10 });
  });
});

describe("Traefik's health-check tags", () => {
  it("a backend failing its check is left out, and back when it passes again; the probe is sent as the tags say", async () => {
    let healthy = true;
    const probes: IncomingMessage[] = [];
    const check = (req: IncomingMessage, res: ServerResponse): boolean => {
      if (req.url !== "/health?deep=1") return false;
      probes.push(req);
      res.statusCode = healthy ? 200 : 503;
      res.end();
      return true;
    };
    const a = await backend("a", check);
    const b = await backend("b", (req, res) => {
      if (req.url !== "/health?deep=1") return false;
      res.end();
      return true;
    });
    const tags = [
      "traefik.http.routers.hc.rule=Host(`hc.example.com`)",
      "traefik.http.services.hc.loadbalancer.healthcheck.path=/health?deep=1",
      "traefik.http.services.hc.loadbalancer.healthcheck.interval=100ms",
      "traefik.http.services.hc.loadbalancer.healthcheck.timeout=1s",
      "traefik.http.services.hc.loadbalancer.healthcheck.hostname=probe.example.com",
      "traefik.http.services.hc.loadbalancer.healthcheck.headers.X-Probe=ruche",
    ];
    await register("a", "hc", a.port, tags);
    await register("b", "hc", b.port, tags);
    const r = await start();
    await until(() => Promise.resolve(probes.length > 0));
    expect(probes[0]?.headers).toMatchObject({ host: "probe.example.com", "x-probe": "ruche" });
    expect(count(await names("hc.example.com", 10))).toEqual({ a: 5, b: 5 });
    healthy = false;
    await until(async () => (await names("hc.example.com", 4)).every((n) => n === "b"));
    expect(count(await names("hc.example.com", 10))).toEqual({ b: 10 });
    const services = (await (await fetch(`http://${r.dashboardAddress}/api/overview`)).json()) as { routes: { backends: { origin: string; healthCheckFailing: boolean }[] }[] };
    expect(services.routes[0]?.backends.find((x) => x.origin.endsWith(`:${a.port}`))?.healthCheckFailing).toBe(true);
    const api = (await (await fetch(`http://${r.dashboardAddress}/api/http/services`)).json()) as { name: string; serverStatus: Record<string, string> }[];
    expect(api.find((x) => x.name === "hc@consulcatalog")?.serverStatus).toEqual({ [`http://127.0.0.1:${a.port}`]: "DOWN", [`http://127.0.0.1:${b.port}`]: "UP" });
    healthy = true;
    await until(async () => (await names("hc.example.com", 4)).includes("a"));
    // Stopped with the router: no probe after it closes.
    await r.close();
    await new Promise((res) => setTimeout(res, 100));
    const probed = probes.length;
    await new Promise((res) => setTimeout(res, 400));
    expect(probes.length).toBe(probed);
  });

  it("redirects on the backend's own address are followed (followRedirects, on by default); with it off, a 3xx is healthy", async () => {
    const redirecting = (name: string): Promise<{ port: number; seen: IncomingMessage[] }> =>
      backend(name, (req, res) => {
        if (req.url === "/health") res.writeHead(302, { location: "/health/deep" }).end();
        else if (req.url === "/health/deep") res.writeHead(503).end();
        else return false;
        return true;
      });
    const follows = await redirecting("follows");
    const stops = await redirecting("stops");
    const hc = ["traefik.http.services.S.loadbalancer.healthcheck.path=/health", "traefik.http.services.S.loadbalancer.healthcheck.interval=100ms"];
    await register("follows", "rd", follows.port, ["traefik.http.routers.rd.rule=Host(`rd.example.com`)", ...hc.map((t) => t.replace(".S.", ".rd."))]);
    await register("stops", "rd2", stops.port, ["traefik.http.routers.rd2.rule=Host(`rd2.example.com`)", ...hc.map((t) => t.replace(".S.", ".rd2.")), "traefik.http.services.rd2.loadbalancer.healthcheck.followRedirects=false"]);
    await start();
    const url = `http://${h.address()}/`;
    await until(async () => (await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: rd.example.com", url])) === "503");
    expect(follows.seen.some((r) => r.url === "/health/deep")).toBe(true);
    await until(() => Promise.resolve(stops.seen.filter((r) => r.url === "/health").length >= 2));
    expect(await names("rd2.example.com", 3)).toEqual(["stops", "stops", "stops"]);
    expect(stops.seen.some((r) => r.url === "/health/deep")).toBe(false);
  });

  it("the older tags (traefik.backend.healthcheck.path/interval): every backend failing is a 503", async () => {
    let up = true;
    const only = await backend("only", (req, res) => {
      if (req.url !== "/ping") return false;
      res.statusCode = up ? 204 : 500;
      res.end();
      return true;
    });
    await register("only", "old", only.port, ["traefik.frontend.rule=Host:old.example.com", "traefik.backend.healthcheck.path=/ping", "traefik.backend.healthcheck.interval=100ms"]);
    await start();
    expect(await names("old.example.com", 1)).toEqual(["only"]);
    up = false;
    const url = `http://${h.address()}/`;
    await until(async () => (await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: old.example.com", url])) === "503");
    up = true;
    await until(async () => (await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: old.example.com", url])) === "200");
  });
});

describe("matchers through the router", () => {
  it("Query, ClientIP, HeadersRegexp, Method, HostRegexp and PathRegexp each pick their route; the longer rule first, an explicit priority over it", async () => {
    const routes: [string, string[]][] = [
      ["plain", ["traefik.http.routers.plain.rule=Host(`m.example.com`)"]],
      ["query", ["traefik.http.routers.query.rule=Host(`m.example.com`) && Query(`mobile`, `true`)"]],
      ["queryv2", ["traefik.http.routers.queryv2.rule=Host(`m.example.com`) && Query(`v=2`, `lang={l:[a-z]{2}}`)"]],
      ["outside", ["traefik.http.routers.outside.rule=Host(`m.example.com`) && PathPrefix(`/ip`) && ClientIP(`10.0.0.0/8`)"]],
      ["local", ["traefik.http.routers.local.rule=Host(`m.example.com`) && PathPrefix(`/ip`) && ClientIP(`127.0.0.0/8`, `::1`)"]],
      ["json", ["traefik.http.routers.json.rule=Host(`m.example.com`) && HeadersRegexp(`Content-Type`, `application/(text|json)`)"]],
      ["post", ["traefik.http.routers.post.rule=Host(`m.example.com`) && Method(`POST`)"]],
      ["regexp", ["traefik.http.routers.regexp.rule=HostRegexp(`^[a-z]+\\.regexp\\.example\\.com$`)"]],
      ["images", ["traefik.http.routers.images.rule=Host(`m.example.com`) && PathRegexp(`\\.(jpeg|jpg|png)$`)"]],
      ["v1", ["traefik.frontend.rule=Host:v1.example.com;Query:debug=1;Method:GET"]],
      ["urgent", ["traefik.http.routers.urgent.rule=Host(`m.example.com`) && Header(`X-Urgent`, `1`)", "traefik.http.routers.urgent.priority=1000"]],
    ];
    for (const [name, tags] of routes) await register(name, name, (await backend(name)).port, tags);
    await start();
    const base = `http://${h.address()}`;
    const one = async (args: string[], host = "m.example.com", path = "/"): Promise<string> => (await curl(["-H", `Host: ${host}`, ...args, `${base}${path}`])).trim();
    expect(await one([])).toBe("plain");
    expect(await one([], "m.example.com", "/?mobile=true")).toBe("query");
    expect(await one([], "m.example.com", "/?mobile=false")).toBe("plain");
    expect(await one([], "m.example.com", "/?v=2&lang=fr")).toBe("queryv2");
    expect(await one([], "m.example.com", "/?v=2&lang=fra")).toBe("plain");
    expect(await one([], "m.example.com", "/ip")).toBe("local");
    expect(await one(["-H", "Content-Type: application/json"])).toBe("json");
    expect(await one(["-H", "Content-Type: application/xml"])).toBe("plain");
    expect(await one(["-d", "x=1"])).toBe("post");
    expect(await one([], "api.regexp.example.com")).toBe("regexp");
    expect((await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: a1.regexp.example.com", `${base}/`])).trim()).toBe("404");
    expect(await one([], "m.example.com", "/a/b.png")).toBe("images");
    expect(await one([], "v1.example.com", "/?debug=1")).toBe("v1");
    expect((await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: v1.example.com", `${base}/?debug=0`])).trim()).toBe("404");
    // Both match: the longer rule (HeadersRegexp's) wins by default; an explicit priority wins over both.
    expect(await one(["-H", "Content-Type: application/json"], "m.example.com", "/?mobile=true")).toBe("json");
    expect(await one(["-H", "X-Urgent: 1"], "m.example.com", "/?mobile=true")).toBe("urgent");
  });
});
