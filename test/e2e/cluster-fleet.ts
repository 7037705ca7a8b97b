/**
 * Three servers on one etcd, client agents and an edge router that know all three
 * (`-servers a,b,c`), for the cluster's fault tests: fleet.ts's fleet with a highly available
 * control plane. The etcd is external (`-etcd-endpoints`) or the servers' own (`-bootstrap-expect
 * 3 -retry-join a,b,c`: each server runs an etcd member on its HTTP port + 1 and + 2). Each
 * server has fixed ports (HTTP and Consul API) and its own data dir, so that it can be killed
 * and started again where the others and the clients look for it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePortRange } from "../../src/state/etcd-testing.js";
import { freePort } from "./fleet.js";
import { type AgentProcess, NO_ACL_NO_TLS, startAgentProcess, until } from "./harness.js";

export interface ClusterServer {
  name: string;
  httpPort: number;
  consulPort: number;
  dataDir: string;
  /** The running process; undefined before the first start. */
  agent: AgentProcess | undefined;
}

/** An external etcd cluster's client URLs, or "managed": each server runs a member of its own. */
export type FleetEtcd = { endpoints: string[] } | "managed";

export interface ClusterFleetOptions {
  dir: string;
  etcd: FleetEtcd;
  region: string;
  clients: number;
  /**
   * The first host port of the client agents' dynamic port ranges: node i takes
   * [base + 1000 i, base + 1000 i + 999], so that tasks of the nodes (all on this machine)
   * never ask for the same port.
   */
  dynamicPortBase: number;
}

export interface ClusterClient {
  name: string;
  agent: AgentProcess | undefined;
  ports: [number, number];
}

export class ClusterFleet {
  readonly servers: ClusterServer[] = [];
  readonly clients: ClusterClient[] = [];
  router!: AgentProcess;

  private constructor(private readonly opts: ClusterFleetOptions) {}

  /** Three servers (started together: they elect one leader), then the router and the clients. */
  static async start(opts: ClusterFleetOptions): Promise<ClusterFleet> {
    const f = new ClusterFleet(opts);
    const ports = new Set<number>();
    const port = async (): Promise<number> => {
      for (;;) {
        const p = await freePort();
        if (!ports.has(p)) {
          ports.add(p);
          return p;
        }
      }
    };
    // A server with its own etcd member needs its HTTP port's next two free as well.
    const httpPort = async (): Promise<number> => {
      if (opts.etcd !== "managed") return port();
      for (;;) {
        const p = await freePortRange(3);
        if (![p, p + 1, p + 2].some((x) => ports.has(x))) {
          for (const x of [p, p + 1, p + 2]) ports.add(x);
          return p;
        }
      }
    };
    for (let i = 0; i < 3; i++) f.servers.push({ name: `server-${i + 1}`, httpPort: await httpPort(), consulPort: await port(), dataDir: join(opts.dir, `server-${i + 1}`), agent: undefined });
    await Promise.all(f.servers.map((s) => f.startServer(s)));
    f.router = await startAgentProcess([...NO_ACL_NO_TLS, "-router", "-servers", f.serverList, "-bind", "127.0.0.1", "-http-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
    for (let i = 0; i < opts.clients; i++) {
      const base = opts.dynamicPortBase + i * 1000;
      f.clients.push({ name: `node-${i + 1}`, agent: undefined, ports: [base, base + 999] });
    }
    await Promise.all(f.clients.map((c) => f.startClient(c)));
    return f;
  }

  /** Every server's HTTP API, `a,b,c`, as clients and routers are given them. */
  get serverList(): string {
    return this.servers.map((s) => http(s)).join(",");
  }

  /** Starts (again) a server on its ports and data dir; resolves once it names a leader. */
  async startServer(s: ClusterServer): Promise<AgentProcess> {
    mkdirSync(s.dataDir, { recursive: true });
    const etcd = this.opts.etcd;
    s.agent = await startAgentProcess([
      ...NO_ACL_NO_TLS,
      "-server",
      "-bind",
      "127.0.0.1",
      ...(etcd === "managed" ? ["-bootstrap-expect", "3", "-retry-join", this.serverList] : ["-etcd-endpoints", etcd.endpoints.join(",")]),
      "-region",
      this.opts.region,
      "-node",
      s.name,
      "-data-dir",
      s.dataDir,
      "-http-port",
      String(s.httpPort),
      "-consul-port",
      String(s.consulPort),
      "-dns-port",
      "-1",
    ]);
    return s.agent;
  }

  async startClient(c: ClusterClient): Promise<AgentProcess> {
    const data = join(this.opts.dir, c.name);
    mkdirSync(data, { recursive: true });
    c.agent = await startAgentProcess([...NO_ACL_NO_TLS, "-client", "-servers", this.serverList, "-data-dir", data, "-node", c.name, "-http-port", "0", "-datacenter", "dc1", "-min-dynamic-port", String(c.ports[0]), "-max-dynamic-port", String(c.ports[1])]);
    return c.agent;
  }

  /** The server whose HTTP API is `address` (as `/v1/status/leader` names it). */
  serverAt(address: string): ClusterServer | undefined {
    return this.servers.find((s) => http(s) === address);
  }

  /** The leader, as every running server names it alike (waits until they agree). */
  async leader(ms = 15_000): Promise<ClusterServer> {
    return until(
      "the running servers to name one leader",
      async () => {
        const named = await Promise.all(this.running().map((s) => leaderNamedBy(s)));
        const first = named[0];
        if (first === undefined || first === "" || named.some((n) => n !== first)) return undefined;
        return this.serverAt(first);
      },
      ms,
    );
  }

  /** The servers whose process runs (a paused one too). */
  running(): ClusterServer[] {
    return this.servers.filter((s) => s.agent !== undefined && s.agent.child.exitCode === null && s.agent.child.signalCode === null);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.agent?.stop() ?? Promise.resolve(true)));
    await Promise.allSettled([this.router.stop(), ...this.servers.map((s) => stopServer(s))]);
  }
}

/** A server's HTTP API address. */
export function http(s: ClusterServer): string {
  return `127.0.0.1:${s.httpPort}`;
}

/** A server's Consul API address. */
export function consul(s: ClusterServer): string {
  return `127.0.0.1:${s.consulPort}`;
}

/** What `/v1/status/leader` on `s` answers ("" when it knows none); throws when it does not answer within `ms`. */
export async function leaderNamedBy(s: ClusterServer, ms = 1000): Promise<string> {
  const r = await fetch(`http://${http(s)}/v1/status/leader`, { signal: AbortSignal.timeout(ms) });
  if (!r.ok) throw new Error(`/v1/status/leader on ${s.name} answered ${r.status}`);
  return (await r.json()) as string;
}

function stopServer(s: ClusterServer): Promise<unknown> {
  const a = s.agent;
  if (a === undefined) return Promise.resolve();
  // A paused server takes no SIGTERM until it goes on.
  a.child.kill("SIGCONT");
  return a.stop();
}
