/**
 * A small cluster on this machine for the fault tests and the healing benchmark: a server on
 * a fixed port (so that it can be restarted where its clients look for it), an edge router
 * that follows the server's catalog from its own process, and client agents each talking to
 * the Docker engine through its own socket proxy (so that one node's engine can be made
 * unreachable without touching the engine the other tests use). Load through the router is
 * counted request by request.
 */
import { mkdirSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { EngineProxy } from "../../src/drivers/docker/engine-proxy.js";
import { errorMessage } from "../../src/structs/index.js";
import { type AgentProcess, getThrough, NO_ACL_NO_TLS, startAgentProcess, until } from "./harness.js";

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface FleetClient {
  name: string;
  /** Its Docker engine, as this node sees it: stop it to make the engine unreachable. */
  proxy: EngineProxy;
  agent: AgentProcess | undefined;
  /** Dynamic ports of this node: its own range, since every node is this machine. */
  ports: [number, number];
}

export interface FleetOptions {
  dir: string;
  clients: number;
  /** Extra flags for the server agent. */
  serverArgs?: string[];
}

/** A server, a router and `clients` client agents, started and ready. */
export class Fleet {
  server!: AgentProcess;
  router!: AgentProcess;
  readonly clients: FleetClient[] = [];
  private serverPort = 0;

  private constructor(private readonly opts: FleetOptions) {}

  static async start(opts: FleetOptions): Promise<Fleet> {
    const f = new Fleet(opts);
    f.serverPort = await freePort();
    await f.startServer();
    f.router = await startAgentProcess([...NO_ACL_NO_TLS, "-router", "-servers", f.serverAddress, "-bind", "127.0.0.1", "-http-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
    for (let i = 0; i < opts.clients; i++) {
      const name = `node-${i + 1}`;
      // Below the agents' default range (20000-32000), which other tests' agents use on this machine.
      const base = 14000 + i * 1000;
      const proxy = new EngineProxy(join(opts.dir, `${name}.docker.sock`));
      await proxy.start();
      f.clients.push({ name, proxy, agent: undefined, ports: [base, base + 999] });
    }
    await Promise.all(f.clients.map((c) => f.startClient(c)));
    return f;
  }

  get serverAddress(): string {
    return `127.0.0.1:${this.serverPort}`;
  }

  async startServer(): Promise<void> {
    this.server = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", join(this.opts.dir, "server"), "-http-port", String(this.serverPort), "-consul-port", "-1", "-dns-port", "-1", ...(this.opts.serverArgs ?? [])]);
  }

  /** Starts (again) a client agent on its own data dir, through its Docker proxy. */
  async startClient(c: FleetClient): Promise<AgentProcess> {
    const data = join(this.opts.dir, c.name);
    mkdirSync(data, { recursive: true });
    c.agent = await startAgentProcess(
      [...NO_ACL_NO_TLS, "-client", "-servers", this.serverAddress, "-data-dir", data, "-node", c.name, "-http-port", "0", "-datacenter", "dc1", "-min-dynamic-port", String(c.ports[0]), "-max-dynamic-port", String(c.ports[1])],
      { DOCKER_HOST: `unix://${c.proxy.socketPath}` },
    );
    return c.agent;
  }

  /** Stops everything started; the tasks of the client agents are left to the caller's job stop. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.agent?.stop() ?? Promise.resolve(true)));
    await Promise.allSettled([this.router.stop(), this.server.stop()]);
    await Promise.allSettled(this.clients.map((c) => c.proxy.close()));
  }
}

/** Requests through the router at a steady rate, each one counted. */
export class RouterLoad {
  ok = 0;
  failed = 0;
  /** Failures by what went wrong (status or error), with when the first and last happened. */
  readonly failures = new Map<string, { count: number; first: number; last: number }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });

  constructor(
    private readonly address: string,
    private readonly host: string,
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const p = this.one().finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }, 1000 / this.perSecond);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
    this.agent.destroy();
  }

  private fail(what: string): void {
    this.failed++;
    const now = Date.now();
    const f = this.failures.get(what) ?? { count: 0, first: now, last: now };
    f.count++;
    f.last = now;
    this.failures.set(what, f);
  }

  private one(): Promise<void> {
    return getThrough(this.address, this.host, this.agent).then(
      (r) => {
        if (r.status === 200) this.ok++;
        else this.fail(`HTTP ${String(r.status)}`);
      },
      (err: unknown) => {
        this.fail(errorMessage(err));
      },
    );
  }

  summary(): { ok: number; failed: number; failures: Record<string, number> } {
    return { ok: this.ok, failed: this.failed, failures: Object.fromEntries([...this.failures].map(([k, v]) => [k, v.count])) };
  }
}

/** Waits until `address`'s router answers 200 for `host`. */
export async function routed(address: string, host: string, ms = 60_000): Promise<void> {
  await until(`the router to serve ${host}`, async () => ((await getThrough(address, host)).status === 200 ? true : undefined), ms);
}

/** A service job of busybox httpd containers (the local test image) behind the router at `host`, with an HTTP check. */
export function webJob(name: string, count: number, host: string): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  group "web" {
    count = ${count}
    network {
      port "http" {
        to = 80
      }
    }
    service {
      name = "${name}"
      port = "http"
      tags = ["traefik.http.routers.${name}.rule=Host(\`${host}\`)"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "web" {
      driver = "docker"
      config {
        image = "ruche-test/httpd:latest"
        ports = ["http"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;
}
