/**
 * Traefik's middlewares as its users configure them, end to end: a real state store and
 * catalog, services registered with the tags of Traefik's documented examples, real HTTP
 * backends on 127.0.0.1 port 0, the router started in process, and curl as the client.
 * Requests without a body (which the fast path would carry) and with one both go through
 * the middlewares.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { routerHarness, runCurl, type HarnessBackend } from "./testing.js";

const h = routerHarness();
const { start, register } = h;

/** A backend answering, as JSON, the path and headers it was sent; `handler` may answer instead (returning true). */
function backend(handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<HarnessBackend> {
  return h.backend((req, res) => {
    req.resume();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  }, handler);
}

/** curl with these arguments: the status, the response headers (lower-case names) and body. A missing curl fails the test saying so. */
async function curl(host: string, path: string, args: string[] = [], base = `http://${h.address()}`): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const stdout = await runCurl(["-D", "-", "-H", `Host: ${host}`, ...args, `${base}${path}`], "latin1");
  const end = stdout.indexOf("\r\n\r\n");
  const lines = stdout.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(lines[0]?.split(" ")[1]), headers, body: stdout.slice(end + 4) };
}

const sentTo = (body: string): { url: string; headers: Record<string, string> } => JSON.parse(body) as { url: string; headers: Record<string, string> };

/** Traefik's documented htpasswd users: test/test and test2/test2. */
const USERS = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0";

describe("Traefik's middlewares, from tags", () => {
  it("basicAuth: 401 with its realm without the password (GET and POST), the backend reached with it; removeHeader, headerField", async () => {
    const b = await backend();
    await register("a", "admin", b.port, [
      "traefik.http.routers.admin.rule=Host(`admin.example.com`)",
      "traefik.http.routers.admin.middlewares=test-auth@consulcatalog",
      `traefik.http.middlewares.test-auth.basicauth.users=${USERS}`,
      "traefik.http.middlewares.test-auth.basicauth.removeheader=true",
      "traefik.http.middlewares.test-auth.basicauth.headerField=X-WebAuth-User",
    ]);
    await start();
    const none = await curl("admin.example.com", "/");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Basic realm="traefik"');
    expect((await curl("admin.example.com", "/", ["-u", "test:wrong", "-d", "x=1"])).status).toBe(401);
    expect(b.seen).toHaveLength(0);
    const ok = await curl("admin.example.com", "/in", ["-u", "test2:test2"]);
    expect(ok.status).toBe(200);
    const sent = sentTo(ok.body);
    expect(sent.url).toBe("/in");
    expect(sent.headers["x-webauth-user"]).toBe("test2");
    expect(sent.headers.authorization).toBeUndefined();
    expect((await curl("admin.example.com", "/post", ["-u", "test:test", "-d", "x=1"])).status).toBe(200);
  });

  it("Traefik 1's frontend.auth.basic.users and whiteList.sourceRange", async () => {
    const b = await backend();
    await register("a", "old", b.port, ["traefik.frontend.rule=Host:old.example.com", `traefik.frontend.auth.basic.users=${USERS}`]);
    await register("w", "walled", b.port, ["traefik.frontend.rule=Host:walled.example.com", "traefik.frontend.whiteList.sourceRange=10.0.0.0/8,192.168.0.0/16"]);
    await start();
    expect((await curl("old.example.com", "/")).status).toBe(401);
    expect((await curl("old.example.com", "/", ["-u", "test:test"])).status).toBe(200);
    expect((await curl("walled.example.com", "/")).status).toBe(403);
  });

  it("ipAllowList: 403 to an address outside its ranges, served from one inside", async () => {
    const b = await backend();
    await register("in", "inside", b.port, ["traefik.http.routers.in.rule=Host(`in.example.com`)", "traefik.http.routers.in.middlewares=local", "traefik.http.middlewares.local.ipallowlist.sourcerange=127.0.0.1/32, 192.168.1.7"]);
    await register("out", "outside", b.port, ["traefik.http.routers.out.rule=Host(`out.example.com`)", "traefik.http.routers.out.middlewares=lan", "traefik.http.middlewares.lan.ipwhitelist.sourcerange=192.168.1.0/24"]);
    await start();
    expect((await curl("in.example.com", "/")).status).toBe(200);
    const refused = await curl("out.example.com", "/", ["-H", "X-Forwarded-For: 192.168.1.7"]);
    expect([refused.status, refused.body]).toEqual([403, "Forbidden\n"]);
  });

  it("rateLimit: over average/period and burst, 429 with Retry-After; each client its own bucket", async () => {
    const b = await backend();
    await register("r", "api", b.port, ["traefik.http.routers.api.rule=Host(`api.example.com`)", "traefik.http.routers.api.middlewares=test-ratelimit", "traefik.http.middlewares.test-ratelimit.ratelimit.average=6", "traefik.http.middlewares.test-ratelimit.ratelimit.period=1m", "traefik.http.middlewares.test-ratelimit.ratelimit.burst=3", "traefik.http.middlewares.test-ratelimit.ratelimit.sourcecriterion.requestheadername=username"]);
    await start();
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await curl("api.example.com", "/", ["-H", "username: ann"])).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const over = await curl("api.example.com", "/", ["-H", "username: ann"]);
    // A token every 10 s; the first was taken a moment ago.
    expect(over.headers["retry-after"]).toMatch(/^(9|10)$/);
    expect((await curl("api.example.com", "/", ["-H", "username: bob"])).status).toBe(200);
  });

  it("redirectScheme and redirectRegex: 301/308 (permanent) or 302 to the new URL, the backend never reached", async () => {
    const b = await backend();
    await register("s", "site", b.port, ["traefik.http.routers.site.rule=Host(`site.example.com`)", "traefik.http.routers.site.middlewares=test-redirectscheme", "traefik.http.middlewares.test-redirectscheme.redirectscheme.scheme=https", "traefik.http.middlewares.test-redirectscheme.redirectscheme.permanent=true"]);
    await register("o", "oldsite", b.port, ["traefik.http.routers.oldsite.rule=Host(`localhost`)", "traefik.http.routers.oldsite.middlewares=test-redirectregex", "traefik.http.middlewares.test-redirectregex.redirectregex.regex=^http://localhost/(.*)", "traefik.http.middlewares.test-redirectregex.redirectregex.replacement=http://mydomain/${1}"]);
    await start();
    const r = await curl("site.example.com", "/a/b?c=1");
    expect([r.status, r.headers.location]).toEqual([301, "https://site.example.com/a/b?c=1"]);
    expect((await curl("site.example.com", "/", ["-X", "POST", "-d", "x"])).status).toBe(308);
    const rr = await curl("localhost", "/x/y");
    expect([rr.status, rr.headers.location]).toEqual([302, "http://mydomain/x/y"]);
    expect(b.seen).toHaveLength(0);
  });

  it("stripPrefix, then addPrefix, in the router's order; X-Forwarded-Prefix; a chain expands in place", async () => {
    const b = await backend();
    await register("p", "paths", b.port, [
      "traefik.http.routers.paths.rule=Host(`paths.example.com`) && PathPrefix(`/foobar`)",
      "traefik.http.routers.paths.middlewares=rewrite",
      "traefik.http.middlewares.rewrite.chain.middlewares=test-stripprefix,test-addprefix",
      "traefik.http.middlewares.test-stripprefix.stripprefix.prefixes=/foobar,/fiibar",
      "traefik.http.middlewares.test-addprefix.addprefix.prefix=/api",
    ]);
    await start();
    const r = await curl("paths.example.com", "/foobar/users?page=2");
    const sent = sentTo(r.body);
    expect(sent.url).toBe("/api/users?page=2");
    expect(sent.headers["x-forwarded-prefix"]).toBe("/foobar");
  });

  it("headers and compress: custom headers set and removed, security headers; Brotli, else gzip, as curl --compressed accepts", async () => {
    const big = "<p>hello</p>".repeat(200);
    const b = await backend((req, res) => {
      if (req.url !== "/page") return false;
      res.setHeader("content-type", "text/html");
      res.setHeader("x-powered-by", "php");
      res.end(big);
      return true;
    });
    await register("h", "web", b.port, [
      "traefik.http.routers.web.rule=Host(`web.example.com`)",
      "traefik.http.routers.web.middlewares=test-header,test-compress",
      "traefik.http.middlewares.test-header.headers.customrequestheaders.X-Script-Name=test",
      "traefik.http.middlewares.test-header.headers.customresponseheaders.X-Powered-By=",
      "traefik.http.middlewares.test-header.headers.customresponseheaders.X-Custom-Response-Header=value",
      "traefik.http.middlewares.test-header.headers.framedeny=true",
      "traefik.http.middlewares.test-header.headers.contenttypenosniff=true",
      "traefik.http.middlewares.test-compress.compress=true",
    ]);
    await start();
    // curl accepts zstd, br, gzip and deflate: Traefik's order (zstd, br, gzip) picks br here, where zstd is not had.
    const r = await curl("web.example.com", "/page", ["--compressed"]);
    expect(r.status).toBe(200);
    expect(r.body).toBe(big);
    const gz = await curl("web.example.com", "/page", ["--compressed", "-H", "Accept-Encoding: gzip"]);
    expect([gz.headers["content-encoding"], gz.headers.vary, gz.body === big]).toEqual(["gzip", "Accept-Encoding", true]);
    expect(r.headers).toMatchObject({ "content-encoding": "br", "x-custom-response-header": "value", "x-frame-options": "DENY", "x-content-type-options": "nosniff" });
    expect(r.headers["x-powered-by"]).toBeUndefined();
    const plain = await curl("web.example.com", "/echo");
    expect(sentTo(plain.body).headers["x-script-name"]).toBe("test");
    expect(plain.headers["content-encoding"]).toBeUndefined();
  });

  it("buffering: a body over maxRequestBodyBytes is 413, never reaching the backend", async () => {
    const b = await backend();
    await register("u", "upload", b.port, ["traefik.http.routers.upload.rule=Host(`upload.example.com`)", "traefik.http.routers.upload.middlewares=limit", "traefik.http.middlewares.limit.buffering.maxRequestBodyBytes=1000"]);
    await start();
    expect((await curl("upload.example.com", "/", ["--data-binary", "x".repeat(2000)])).status).toBe(413);
    expect(b.seen).toHaveLength(0);
    expect((await curl("upload.example.com", "/", ["--data-binary", "x".repeat(500)])).status).toBe(200);
  });

  it("a WebSocket upgrade goes through the route's middlewares: 401 without the password", async () => {
    const b = await backend();
    await register("ws", "ws", b.port, ["traefik.http.routers.ws.rule=Host(`ws.example.com`)", "traefik.http.routers.ws.middlewares=auth", `traefik.http.middlewares.auth.basicauth.users=${USERS}`]);
    const r = await start();
    const [host, port] = r.address.split(":");
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(port), host, () => {
        s.write("GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
      });
      let got = "";
      s.on("data", (d: Buffer) => (got += d.toString()));
      s.on("end", () => {
        resolve(got);
      });
      s.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(answer).toContain('www-authenticate: Basic realm="traefik"');
    expect(b.seen).toHaveLength(0);
  });

  it("retry: a backend that resets the first connections is tried again until it answers; circuitBreaker: 503 once 5xx pass a quarter", async () => {
    let resets = 2;
    const flaky = await backend((req, res) => {
      if (resets === 0) return false;
      resets--;
      req.socket.destroy();
      res.destroy();
      return true;
    });
    await register("f", "flaky", flaky.port, ["traefik.http.routers.flaky.rule=Host(`flaky.example.com`)", "traefik.http.routers.flaky.middlewares=test-retry", "traefik.http.middlewares.test-retry.retry.attempts=4", "traefik.http.middlewares.test-retry.retry.initialinterval=100ms"]);
    const failing = await backend((req, res) => {
      req.resume();
      res.statusCode = 500;
      res.end("boom\n");
      return true;
    });
    await register("c", "breaker", failing.port, ["traefik.http.routers.breaker.rule=Host(`breaker.example.com`)", "traefik.http.routers.breaker.middlewares=test-cb", "traefik.http.middlewares.test-cb.circuitbreaker.expression=ResponseCodeRatio(500, 600, 0, 600) > 0.25"]);
    await start();
    const r = await curl("flaky.example.com", "/");
    expect(r.status).toBe(200);
    expect(flaky.seen).toHaveLength(3);
    expect((await curl("breaker.example.com", "/")).status).toBe(500);
    await new Promise((done) => setTimeout(done, 150));
    const open = await curl("breaker.example.com", "/");
    expect(open.status).toBe(503);
    expect(failing.seen).toHaveLength(1);
  });

  it("a middleware one service defines serves another's router (name@consulcatalog); instances that disagree on a route's middlewares make it 503", async () => {
    const b = await backend();
    await register("auth", "auth-holder", b.port, ["traefik.enable=true", "traefik.http.routers.holder.rule=Host(`holder.example.com`)", `traefik.http.middlewares.shared-auth.basicauth.users=${USERS}`]);
    await register("app", "app", b.port, ["traefik.http.routers.app.rule=Host(`app.example.com`)", "traefik.http.routers.app.middlewares=shared-auth@consulcatalog"]);
    const guarded = ["traefik.http.routers.mixed.rule=Host(`mixed.example.com`)", "traefik.http.routers.mixed.middlewares=shared-auth@consulcatalog"];
    await register("m1", "mixed", b.port, guarded);
    await register("m2", "mixed", b.port, ["traefik.http.routers.mixed.rule=Host(`mixed.example.com`)"]);
    await start();
    expect((await curl("app.example.com", "/")).status).toBe(401);
    expect((await curl("app.example.com", "/", ["-u", "test:test"])).status).toBe(200);
    const mixed = await curl("mixed.example.com", "/", ["-u", "test:test"]);
    expect(mixed.status).toBe(503);
    expect(mixed.body).toContain("the instances of route mixed give it different middlewares");
  });

  it("on an HTTPS entrypoint (HTTP/2): auth, security headers with HSTS, and the redirect from plain HTTP", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-mw-tls-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=secure.test", "-addext", "subjectAltName=DNS:secure.test", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")], { stdio: "ignore" });
      const b = await backend();
      await register("s", "secure", b.port, [
        "traefik.http.routers.secure.rule=Host(`secure.test`)",
        "traefik.http.routers.secure.middlewares=to-https,auth,sts",
        "traefik.http.middlewares.to-https.redirectscheme.scheme=https",
        `traefik.http.middlewares.auth.basicauth.users=${USERS}`,
        "traefik.http.middlewares.sts.headers.stsseconds=31536000",
        "traefik.http.middlewares.sts.headers.stspreload=true",
      ]);
      const r = await start({ entryPoints: { http: { address: "127.0.0.1:0" }, https: { address: "127.0.0.1:0", tls: { certificates: [{ certFile: join(dir, "c.pem"), keyFile: join(dir, "k.pem") }] } } } });
      const moved = await curl("secure.test", "/x");
      expect([moved.status, moved.headers.location]).toEqual([302, "https://secure.test/x"]);
      const base = `https://secure.test:${(r.addresses.https ?? "").split(":")[1] ?? ""}`;
      const tls = ["-k", "--http2", "--resolve", `secure.test:${base.split(":")[2] ?? ""}:127.0.0.1`];
      expect((await curl("secure.test", "/x", tls, base)).status).toBe(401);
      const ok = await curl("secure.test", "/x", [...tls, "-u", "test:test"], base);
      expect(ok.status).toBe(200);
      expect(ok.headers["strict-transport-security"]).toBe("max-age=31536000; preload");
      expect(sentTo(ok.body).url).toBe("/x");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
