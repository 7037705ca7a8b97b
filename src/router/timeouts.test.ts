/**
 * The router's own timeouts (`limits` of its configuration), each on the fast path and on
 * the full server, and in worker processes: a client slow to send its head is cut after
 * `headersTimeoutMs`, a kept-alive connection with no request after `idleTimeoutMs`, a
 * backend that does not answer within `requestTimeoutMs` gets 504 and the router serves on.
 * Raw TCP clients on 127.0.0.1; closure is observed with a bounded wait.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { parseRouterConfig } from "./config.js";
import { startRouter, type RunningRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { closedAfterEach, httpBackend, instance } from "./testing.js";

const closers = closedAfterEach();

/**
 * A port whose connections never complete: a listener that never accepts (python, since
 * node's servers always accept), its one-place queue taken, so the kernel drops the next
 * SYNs — as a backend on an unreachable host.
 */
async function unanswering(): Promise<number> {
  const p = spawn("python3", ["-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)"], { stdio: ["ignore", "pipe", "inherit"] });
  closers.push(() => {
    p.kill("SIGKILL");
  });
  const port = await new Promise<number>((resolve, reject) => {
    p.once("error", reject);
    p.stdout.once("data", (d: Buffer) => {
      resolve(Number(d.toString().trim()));
    });
  });
  const filler = connect(port, "127.0.0.1");
  filler.on("error", () => undefined);
  closers.push(() => {
    filler.destroy();
  });
  await new Promise((resolve) => filler.once("connect", resolve));
  return port;
}

/** A router with these limits to two services: `ok` answers at once, `slow` never; `more` is more of its configuration. */
async function routerWith(limits: Record<string, number>, workers = 1, more: Record<string, unknown> = {}): Promise<RunningRouter> {
  const ok = await httpBackend(closers, (req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const slow = await httpBackend(closers, (req) => {
    req.resume();
  });
  const catalog = new SnapshotCatalog("dc1");
  const hung = await unanswering();
  // `dial`: an instance whose connections never complete, and one that answers.
  catalog.set({ index: 2, instances: [instance("ok", ok), instance("slow", slow), instance("dial", hung), { ...instance("dial", ok), ID: "dial-ok" }, { ...instance("hung", hung), ID: "hung" }] });
  const p = parseRouterConfig({ accessLog: false, allowLoopbackBackends: true, limits, ...more });
  if (!p.ok) throw new Error(p.errors.join("; "));
  const r = await startRouter({ catalog, config: p.config, host: "127.0.0.1", port: 0, dashboardPort: -1, workers });
  closers.push(() => r.close());
  return r;
}

/** A raw connection to the router, what it has read, and when it closed. */
interface Conn {
  sock: Socket;
  got: () => string;
  /** Resolves with the ms from `since` to the close, or null if still open after `boundMs`. */
  closedWithin: (boundMs: number, since: number) => Promise<number | null>;
  /** Resolves once what was read contains `what` (null after `boundMs`). */
  read: (what: string, boundMs: number) => Promise<string | null>;
}

/** A connection to `address` (the main entrypoint's by default); over TLS (HTTP/1.1) with `tls`. */
async function open(r: RunningRouter, o: { address?: string; tls?: boolean } = {}): Promise<Conn> {
  const [host, port] = (o.address ?? r.address).split(":");
  const sock = o.tls === true ? tlsConnect({ host, port: Number(port), servername: "ok", rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }) : connect(Number(port), host);
  await new Promise<void>((resolve, reject) => {
    sock.once(o.tls === true ? "secureConnect" : "connect", resolve);
    sock.once("error", reject);
  });
  closers.push(() => {
    sock.destroy();
  });
  let got = "";
  let closedAt: number | null = null;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  sock.on("data", (d: Buffer) => {
    got += d.toString("latin1");
    wake();
  });
  sock.on("error", () => undefined);
  sock.on("close", () => {
    closedAt = Date.now();
    wake();
  });
  const until = <T>(check: () => T | null, boundMs: number): Promise<T | null> =>
    new Promise((resolve) => {
      const done = (v: T | null): void => {
        clearTimeout(timer);
        waiters.delete(w);
        resolve(v);
      };
      const w = (): void => {
        const v = check();
        if (v !== null) done(v);
      };
      const timer = setTimeout(() => {
        done(null);
      }, boundMs);
      waiters.add(w);
      w();
    });
  return {
    sock,
    got: () => got,
    closedWithin: (boundMs, since) => until(() => (closedAt === null ? null : closedAt - since), boundMs),
    read: (what, boundMs) => until(() => (got.includes(what) ? got : null), boundMs),
  };
}

/** Writes `text` one byte every `everyMs` while the connection is open. */
function trickle(c: Conn, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (c.sock.destroyed || i >= text.length) {
      clearInterval(timer);
      return;
    }
    c.sock.write(text[i++] ?? "");
  }, everyMs);
  closers.push(() => {
    clearInterval(timer);
  });
}

const POST = "POST / HTTP/1.1\r\nHost: ok\r\nContent-Length: 2\r\n\r\nhi";
const GET = "GET / HTTP/1.1\r\nHost: ok\r\n\r\n";
/** A head sent a byte at a time never ends within the test: its blank line never comes. */
const SLOW_HEAD = "GET / HTTP/1.1\r\nHost: ok\r\nX-Slow: " + "a".repeat(200);

describe("the router's timeouts", () => {
  it("a client sending its head a byte at a time is cut after headersTimeoutMs, on the fast path", async () => {
    const r = await routerWith({ headersTimeoutMs: 500 });
    const c = await open(r);
    const t0 = Date.now();
    // A byte every 100 ms: the connection is never idle, only slow.
    trickle(c, SLOW_HEAD, 100);
    const ms = await c.closedWithin(5000, t0);
    expect(ms).not.toBeNull();
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(c.got()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("a client sending its head a byte at a time is cut after headersTimeoutMs, on the full server", async () => {
    const r = await routerWith({ headersTimeoutMs: 500 });
    const c = await open(r);
    // A request with a body: the connection is the full server's from then on.
    c.sock.write(POST);
    expect(await c.read("\r\n\r\nok", 3000)).not.toBeNull();
    const t0 = Date.now();
    trickle(c, SLOW_HEAD, 100);
    const ms = await c.closedWithin(5000, t0);
    expect(ms).not.toBeNull();
    expect(ms).toBeGreaterThanOrEqual(400);
  });

  it("a kept-alive connection with no request is closed after idleTimeoutMs, on the fast path and on the full server", async () => {
    const r = await routerWith({ idleTimeoutMs: 500 });
    const fast = await open(r);
    fast.sock.write(GET);
    expect(await fast.read("\r\n\r\nok", 3000)).not.toBeNull();
    const full = await open(r);
    full.sock.write(POST);
    expect(await full.read("\r\n\r\nok", 3000)).not.toBeNull();
    const t0 = Date.now();
    const [a, b] = await Promise.all([fast.closedWithin(5000, t0), full.closedWithin(5000, t0)]);
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
  });

  it("a backend slower than requestTimeoutMs gets 504 on both paths, even when idleTimeoutMs is shorter, and the router serves on", async () => {
    const r = await routerWith({ requestTimeoutMs: 800, idleTimeoutMs: 300 });
    const fast = await open(r);
    fast.sock.write("GET / HTTP/1.1\r\nHost: slow\r\n\r\n");
    const full = await open(r);
    full.sock.write("POST / HTTP/1.1\r\nHost: slow\r\nContent-Length: 2\r\n\r\nhi");
    const [a, b] = await Promise.all([fast.read("\r\n\r\n", 5000), full.read("\r\n\r\n", 5000)]);
    expect(a).toMatch(/^HTTP\/1\.1 504 /);
    expect(b).toMatch(/^HTTP\/1\.1 504 /);
    // Kept alive after its answer, the connection is idle from then on, and closed for it.
    const t0 = Date.now();
    expect(await fast.closedWithin(3000, t0)).not.toBeNull();
    expect(await full.closedWithin(3000, t0)).not.toBeNull();
    const again = await open(r);
    again.sock.write(GET);
    expect(await again.read("\r\n\r\nok", 3000)).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("a backend that cannot be reached within dialTimeoutMs counts as refused: a GET goes to another instance, a POST gets 502", async () => {
    const r = await routerWith({ dialTimeoutMs: 300 });
    const t0 = Date.now();
    const gets: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await open(r);
      c.sock.write("GET / HTTP/1.1\r\nHost: dial\r\n\r\n");
      gets.push((await c.read("\r\n\r\n", 3000)) ?? "no answer");
    }
    expect(gets.map((g) => g.slice(0, 12))).toEqual(Array(4).fill("HTTP/1.1 200"));
    const post = await open(r);
    post.sock.write("POST / HTTP/1.1\r\nHost: hung\r\nContent-Length: 2\r\n\r\nhi");
    expect(await post.read("\r\n\r\n", 3000)).toMatch(/^HTTP\/1\.1 502 /);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it("HTTPS: a slow head is cut after headersTimeoutMs, and so is a client that never finishes its TLS handshake", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-router-timeouts-"));
    closers.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ok", "-keyout", join(dir, "ok.key"), "-out", join(dir, "ok.crt")], { stdio: "ignore" });
    const r = await routerWith({ headersTimeoutMs: 500 }, 1, { entryPoints: { http: { address: "127.0.0.1:0" }, https: { address: "127.0.0.1:0", tls: { certificates: [{ certFile: join(dir, "ok.crt"), keyFile: join(dir, "ok.key") }] } } } });
    const address = r.addresses.https ?? "";
    const c = await open(r, { address, tls: true });
    c.sock.write(GET);
    expect(await c.read("\r\n\r\nok", 3000)).not.toBeNull();
    const t0 = Date.now();
    trickle(c, SLOW_HEAD, 100);
    expect(await c.closedWithin(5000, t0)).not.toBeNull();
    // Plain TCP to the TLS port, silent: no handshake ever starts.
    const raw = await open(r, { address });
    expect(await raw.closedWithin(5000, Date.now())).not.toBeNull();
  });

  it("worker processes cut a slow head after headersTimeoutMs too", async () => {
    const r = await routerWith({ headersTimeoutMs: 500 }, 2);
    const c = await open(r);
    const t0 = Date.now();
    trickle(c, SLOW_HEAD, 100);
    const ms = await c.closedWithin(5000, t0);
    expect(ms).not.toBeNull();
    expect(c.got()).toMatch(/^HTTP\/1\.1 408 /);
  }, 60_000);
});
