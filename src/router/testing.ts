/**
 * Test support for the router's tests (not used by Ruche itself): what a test starts is
 * closed after it, newest first; backends listen on 127.0.0.1 port 0; a catalog instance
 * routed by its Host; the router over a real store and catalog (`routerHarness`); curl.
 */
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach } from "vitest";
import { ServiceRegistry, StoreCatalog, type ServiceInstance } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import type { HealthStatus, RegisteredService } from "../structs/index.js";
import { parseRouterConfig } from "./config.js";
import { startRouter, type RouterOptions, type RunningRouter } from "./router.js";
import type { RouterConfig } from "./types.js";

export type Closer = () => Promise<void> | void;

/** The list of what a test started, each closed after the test, newest first. Call at the top level of a test file. */
export function closedAfterEach(): Closer[] {
  const closers: Closer[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return closers;
}

/** A node:http server on 127.0.0.1 port 0, closed with its connections by `closers`; it and its port. */
export async function httpServer(closers: Closer[], handler: RequestListener): Promise<{ server: Server; port: number }> {
  const http = createServer(handler);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => {
          resolve();
        });
      }),
  );
  return { server: http, port: (http.address() as AddressInfo).port };
}

/** A node:http backend on 127.0.0.1 port 0, closed with its connections by `closers`; its port. */
export async function httpBackend(closers: Closer[], handler: RequestListener): Promise<number> {
  return (await httpServer(closers, handler)).port;
}

/** An instance of `service` (its ID too) on 127.0.0.1:`port`, on node "n" of dc1, routed by `Host: <service>`. */
export function instance(service: string, port: number): ServiceInstance {
  const node = { ID: "n", Node: "n", Address: "127.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  return { ID: service, Service: service, Tags: [`traefik.frontend.rule=Host:${service}`], Address: "127.0.0.1", Port: port, Meta: {}, node, checks: [], CreateIndex: 1, ModifyIndex: 1 };
}

/** A backend of `routerHarness`: its server, its port, and the requests it was sent. */
export interface HarnessBackend {
  server: Server;
  port: number;
  seen: IncomingMessage[];
}

/** The router end to end in one test's process: see `routerHarness`. */
export interface RouterHarness {
  /** This test's state store (memory backend) and its service registry. */
  store: () => StateStore;
  registry: () => ServiceRegistry;
  /** The router configuration `raw` gives over the harness's defaults; bad input throws. */
  config: (raw?: Record<string, unknown>) => RouterConfig;
  /** A router on 127.0.0.1 port 0 (its dashboard on a free port) following this test's catalog (dc1); `options` over those. */
  start: (raw?: Record<string, unknown>, options?: Partial<RouterOptions>) => Promise<RunningRouter>;
  /** The main address of the router last started; "" before one is. */
  address: () => string;
  /** A backend on 127.0.0.1 port 0 keeping the requests it is sent: `handler` answers one when it returns true, `answer` the others. */
  backend: (answer: (req: IncomingMessage, res: ServerResponse) => void, handler?: (req: IncomingMessage, res: ServerResponse) => boolean) => Promise<HarnessBackend>;
  /** Registers, as a Consul client does, instance `id` of `name` on 127.0.0.1:`port` of node n1, with one TTL check (`<id>-ttl`) in `status`. */
  register: (id: string, name: string, port: number, tags: string[], status?: HealthStatus, details?: RegisteredService["Details"]) => Promise<void>;
}

/**
 * The router over a real state store and its catalog, for each test of the file: a memory
 * store and registry before each, and after it the routers it started, its backends and the
 * store closed, in that order. `defaults` is the router configuration every `start` begins
 * from, over loopback backends allowed (as a -dev agent's are) and no access log. Call at
 * the top level of a test file.
 */
export function routerHarness(defaults: Record<string, unknown> = {}): RouterHarness {
  let store: StateStore | null = null;
  let registry: ServiceRegistry | null = null;
  const routers: RunningRouter[] = [];
  const backends: Closer[] = [];
  beforeEach(async () => {
    store = await StateStore.open(memoryBackend());
    registry = new ServiceRegistry(store, Date.now);
  });
  afterEach(async () => {
    for (const r of routers.splice(0).reverse()) await r.close();
    for (const c of backends.splice(0).reverse()) await c();
    await store?.close();
    store = null;
    registry = null;
  });
  const h: RouterHarness = {
    store: () => {
      if (store === null) throw new Error("no state store outside a test");
      return store;
    },
    registry: () => {
      if (registry === null) throw new Error("no service registry outside a test");
      return registry;
    },
    config: (raw = {}) => {
      const p = parseRouterConfig({ allowLoopbackBackends: true, accessLog: false, ...defaults, ...raw });
      if (!p.ok) throw new Error(p.errors.join("; "));
      return p.config;
    },
    start: async (raw = {}, options = {}) => {
      const r = await startRouter({ catalog: new StoreCatalog(h.store(), "dc1"), config: h.config(raw), host: "127.0.0.1", port: 0, dashboardPort: 0, ...options });
      // A test may close it itself: closed once.
      let closed: Promise<void> | null = null;
      const router: RunningRouter = { ...r, close: () => (closed ??= r.close()) };
      routers.push(router);
      return router;
    },
    address: () => routers[routers.length - 1]?.address ?? "",
    backend: async (answer, handler) => {
      const seen: IncomingMessage[] = [];
      const { server, port } = await httpServer(backends, (req, res) => {
        seen.push(req);
        if (handler?.(req, res) === true) return;
        answer(req, res);
      });
      return { server, port, seen };
    },
    register: async (id, name, port, tags, status = "passing", details) => {
      const svc: RegisteredService = {
        ...(details === undefined ? {} : { Details: details }),
        ID: id,
        Name: name,
        Tags: tags,
        Address: "127.0.0.1",
        Port: port,
        Meta: {},
        NodeID: "n1",
        Checks: [{ CheckID: `${id}-ttl`, Name: "ttl", Type: "ttl", HTTP: "", Method: "", TCP: "", Args: [], Interval: 0, Timeout: 0, TTL: 60e9, DeregisterCriticalServiceAfter: 0, SuccessBeforePassing: 0, FailuresBeforeCritical: 0, Status: status, Output: "", StatusTime: Date.now() }],
        CreateIndex: 0,
        ModifyIndex: 0,
      };
      await h.registry().register(svc);
    },
  };
  return h;
}

/** `curl -sS --max-time 10` with these arguments; its standard output (read as `encoding`). A missing curl fails the test saying so. */
export function runCurl(args: string[], encoding: BufferEncoding = "utf8"): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--max-time", "10", ...args], { maxBuffer: 1 << 22, encoding }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === "ENOENT") reject(new Error("curl is not installed (Debian package curl; scripts/test-deps.sh installs it)"));
      else if (err !== null) reject(new Error(`curl ${args.join(" ")}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
