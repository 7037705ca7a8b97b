/**
 * The fast path's own HTTP/1.1 handling, byte for byte, against raw backends on 127.0.0.1
 * port 0: how a response ends (length, chunks, close), HEAD, pipelined requests, a body
 * handing the connection to the full server mid-way, Connection: close, a kept-alive
 * backend connection the backend closed meanwhile, a large answer.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { startRouter, type RunningRouter } from "./router.js";
import { closedAfterEach, httpBackend, instance } from "./testing.js";
import type { ServiceInstance } from "../catalog/index.js";

const closers = closedAfterEach();

/** A raw backend: `answer` gets each request's head and writes what it wants. */
async function rawBackend(answer: (head: string, sock: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    let buf = "";
    sock.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end);
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        answer(head, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          r();
        });
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function routerTo(port: number, more: { port: number; tags: string[]; service?: string }[] = []): Promise<RunningRouter> {
  const inst: ServiceInstance = { ...instance("svc", port), ID: "b" };
  const others = more.map((m, i): ServiceInstance => ({ ...inst, ID: `m${i}`, Service: m.service ?? `more${i}`, Tags: m.tags, Port: m.port }));
  const catalog = new SnapshotCatalog("dc1");
  catalog.set({ index: 2, instances: [inst, ...others] });
  const r = await startRouter({ catalog, config: { ...DEFAULT_ROUTER_CONFIG, accessLog: false, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: -1 });
  closers.push(() => r.close());
  return r;
}

/** Writes `raw` on one connection; resolves with all it reads once `done` says so, or the connection ends. */
async function exchange(r: RunningRouter, raw: string[], done: (got: string) => boolean): Promise<{ got: string; closed: boolean }> {
  const [host, port] = r.address.split(":");
  const sock = connect(Number(port), host);
  closers.push(() => {
    sock.destroy();
  });
  let got = "";
  let closed = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve({ got, closed });
    }, 3000);
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (done(got)) {
        clearTimeout(timer);
        // A moment to see whether the router closes the connection.
        setTimeout(() => {
          resolve({ got, closed });
        }, 50);
      }
    });
    sock.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve({ got, closed });
    });
    let i = 0;
    const send = (): void => {
      const part = raw[i++];
      if (part === undefined) return;
      sock.write(part);
      setTimeout(send, 30);
    };
    send();
  });
}

const GET = (path: string, extra = ""): string => `GET ${path} HTTP/1.1\r\nHost: svc\r\n${extra}\r\n`;
const count = (s: string, what: string): number => s.split(what).length - 1;

describe("the fast path", () => {
  it("passes a chunked answer through whole, trailers and all, and the connection serves the next request", async () => {
    const port = await rawBackend((head, sock) => {
      if (head.startsWith("GET /chunked")) sock.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
      if (head.startsWith("GET /chunked")) setTimeout(() => sock.write("6;ext=1\r\n world\r\n0\r\nx-trailer: yes\r\n\r\n"), 20);
      else sock.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext");
    });
    const r = await routerTo(port);
    const { got, closed } = await exchange(r, [GET("/chunked"), GET("/after")], (g) => g.endsWith("next"));
    expect(got).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: yes\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext");
    expect(closed).toBe(false);
  });

  it("an answer without length ends with the backend's connection, and so does the client's", async () => {
    const port = await rawBackend((_head, sock) => {
      sock.end("HTTP/1.1 200 OK\r\n\r\nuntil close");
    });
    const r = await routerTo(port);
    const { got, closed } = await exchange(r, [GET("/")], () => false);
    expect(got).toBe("HTTP/1.1 200 OK\r\n\r\nuntil close");
    expect(closed).toBe(true);
  });

  it("HEAD and 304 have no body whatever their length says; pipelined requests are answered in order", async () => {
    const port = await rawBackend((head, sock) => {
      const path = head.split(" ")[1] ?? "";
      if (head.startsWith("HEAD")) sock.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n");
      else if (path === "/304") sock.write("HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n");
      else sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
    });
    const r = await routerTo(port);
    const { got } = await exchange(r, [`HEAD / HTTP/1.1\r\nHost: svc\r\n\r\n${GET("/304")}${GET("/a")}${GET("/bb")}`], (g) => g.endsWith("/bb"));
    expect(got).toBe("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nHTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/aHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n/bb");
  });

  it("a request with a body on a kept-alive connection: the connection goes to the full server, with what was read, and carries on", async () => {
    const seen: string[] = [];
    const port = await rawBackend((head, sock) => {
      seen.push(head.split("\r\n")[0] ?? "");
      sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const r = await routerTo(port);
    const { got } = await exchange(r, [GET("/1"), "POST /2 HTTP/1.1\r\nHost: svc\r\ncontent-length: 5\r\n\r\nhello", GET("/3")], (g) => count(g, "\r\n\r\nok") === 3);
    expect(count(got, " 200 OK\r\n")).toBe(3);
    expect(seen).toEqual(["GET /1 HTTP/1.1", "POST /2 HTTP/1.1", "GET /3 HTTP/1.1"]);
  });

  it("forwards with X-Forwarded-* set and hop-by-hop headers out; Connection: close closes after the answer", async () => {
    let head = "";
    const port = await rawBackend((h, sock) => {
      head = h;
      sock.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    const r = await routerTo(port);
    const { closed } = await exchange(r, [GET("/x?q=1", "Connection: close\r\nX-Forwarded-For: 6.6.6.6\r\nKeep-Alive: 5\r\nX-Custom: y\r\n")], (g) => g.endsWith("\r\n\r\n"));
    expect(closed).toBe(true);
    expect(head).toBe(`GET /x?q=1 HTTP/1.1\r\nHost: svc\r\nX-Custom: y\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: svc\r\nx-forwarded-port: ${r.address.split(":")[1] ?? ""}\r\nx-real-ip: 127.0.0.1`);
  });

  it("a kept-alive backend connection closed meanwhile: the next request goes on a new one, no 502", async () => {
    let n = 0;
    const port = await rawBackend((_h, sock) => {
      n++;
      // Answers, then closes the connection shortly after, as a backend's keep-alive timeout does.
      sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      setTimeout(() => sock.destroy(), 10);
    });
    const r = await routerTo(port);
    const { got } = await exchange(r, [GET("/1"), GET("/2"), GET("/3")], (g) => count(g, "ok") === 3);
    expect(count(got, "HTTP/1.1 200 OK")).toBe(3);
    expect(n).toBe(3);
  });

  it("a large answer passes whole, with the client's pace", async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 97);
    const r = await routerTo(await httpBackend(closers, (_req, res) => res.end(body)));
    const { got } = await exchange(r, [GET("/big")], (g) => g.length >= body.length);
    expect(got.slice(got.indexOf("\r\n\r\n") + 4).length).toBe(body.length);
  });

  it("a rule on a header is matched on the fast path, whatever case the header is written in; headers named like object properties are headers", async () => {
    const plain = await rawBackend((_h, sock) => sock.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain"));
    const canary = await rawBackend((_h, sock) => sock.write("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\ncanary"));
    const r = await routerTo(plain, [{ port: canary, tags: ["traefik.http.routers.c.rule=Host(`svc`) && Header(`X-Canary`, `yes`)", "traefik.http.routers.c.priority=100"] }]);
    const { got } = await exchange(r, [GET("/1", "constructor: x\r\n__proto__: y\r\n"), GET("/2", "x-CANARY: yes\r\n"), GET("/3")], (g) => count(g, "200 OK") === 3);
    expect([...got.matchAll(/\r\n\r\n(plain|canary)/g)].map((m) => m[1])).toEqual(["plain", "canary", "plain"]);
  });

  it("a request line the fast path does not carry (HTTP/1.0, a lower-case method) goes to the full server, which answers it", async () => {
    const port = await rawBackend((h, sock) => sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${(h.split("\r\n")[0] ?? "").length}\r\n\r\n${h.split("\r\n")[0] ?? ""}`));
    const r = await routerTo(port);
    const { got } = await exchange(r, ["GET /old HTTP/1.0\r\nHost: svc\r\n\r\n"], (g) => g.includes("GET /old"));
    expect(got).toMatch(/^HTTP\/1\.[01] 200 OK/);
    const bad = await exchange(r, ["get / HTTP/1.1\r\nHost: svc\r\n\r\n"], (g) => g.includes("\r\n\r\n"));
    expect(bad.got).toMatch(/^HTTP\/1\.1 400/);
  });

  it("a body after a large answer the client has not read yet: the hand-off waits for the answer to be written, and both arrive whole", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 98);
    const r = await routerTo(
      await httpBackend(closers, (req, res) => {
        if (req.method === "POST") req.resume().on("end", () => res.end("posted"));
        else res.end(big);
      }),
    );
    const [host, port] = r.address.split(":");
    const sock = connect(Number(port), host);
    closers.push(() => {
      sock.destroy();
    });
    sock.pause();
    sock.write(`${GET("/big")}POST /form HTTP/1.1\r\nHost: svc\r\ncontent-length: 5\r\n\r\nhello`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const chunks: Buffer[] = [];
    let got = 0;
    await new Promise<void>((resolve) => {
      sock.on("data", (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (Buffer.concat(chunks).toString("latin1").endsWith("posted")) resolve();
      });
      sock.resume();
    });
    const all = Buffer.concat(chunks).toString("latin1");
    expect(count(all, "HTTP/1.1 200 OK")).toBe(2);
    expect(got).toBeGreaterThan(big.length);
    expect(all.slice(all.indexOf("\r\n\r\n") + 4, all.indexOf("\r\n\r\n") + 4 + big.length)).toBe(big.toString("latin1"));
  });

  it("a backend that dies between its head and its body: nothing reached the client, and the GET goes to another instance", async () => {
    let dying = 0;
    const dies = await rawBackend((_h, sock) => {
      dying++;
      // A head, then nothing: killed before its file is sent.
      sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
      setTimeout(() => sock.destroy(), 20);
    });
    const lives = await rawBackend((_h, sock) => sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    const r = await routerTo(lives, [{ port: dies, tags: ["traefik.frontend.rule=Host:svc"], service: "svc" }]);
    const { got, closed } = await exchange(r, [GET("/1"), GET("/2"), GET("/3"), GET("/4")], (g) => count(g, "\r\n\r\nok") === 4);
    expect(count(got, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")).toBe(4);
    expect(closed).toBe(false);
    expect(dying).toBeGreaterThan(0);
  });
});
