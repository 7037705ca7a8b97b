/**
 * A region on this machine, as the reference article builds one per cloud: one server and
 * its clients, each its own agent process started from an agent config file in the article's
 * form (`region`, `datacenter`, `data_dir`, `bind_addr`, `server { enabled bootstrap_expect }`
 * or `client { enabled }`), with what one machine needs besides: ports of its own (0 at first,
 * the same ones when the server starts again), the servers the clients join (the article's
 * find theirs through Consul), and TLS and ACLs off, on purpose (federation over TLS, where the
 * regions share one CA, is tested on its own). The clients run docker tasks; their tasks
 * outlive them, so `stop` removes the containers of the region's nodes.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AgentProcess, docker, startAgentProcess, until } from "./harness.js";

export interface RegionSpec {
  /** The region (`europe`) and its datacenter (`europe-west1`). */
  region: string;
  datacenter: string;
  /** A directory of the test's own: the region's config files and data dirs go under `<dir>/<region>/`. */
  dir: string;
  /** How many clients (docker, as the article's). */
  clients: number;
  /** Other regions' servers' API host:port, for `retry_join_wan` in the server's config. */
  retryJoinWan?: string[];
  /**
   * The first of the dynamic ports this region's clients hand out: client i takes 200 from
   * `firstPort + 200 * i`, so that clients on one machine never give two tasks the same host port.
   */
  firstPort: number;
}

/** The port of a `host:port`. */
function portOf(hostPort: string): string {
  return hostPort.slice(hostPort.lastIndexOf(":") + 1);
}

export class Region {
  readonly clients: AgentProcess[] = [];
  /** The IDs of the region's nodes, as its server registered them. */
  readonly nodeIds: string[] = [];
  private ports: { http: string; consul: string; dns: string } | undefined;

  private constructor(
    readonly spec: RegionSpec,
    public server: AgentProcess,
  ) {}

  /** Where the region's files are. */
  static home(spec: RegionSpec): string {
    return join(spec.dir, spec.region);
  }

  /** Starts the server, then the clients, and resolves once every client's node is ready. */
  static async start(spec: RegionSpec): Promise<Region> {
    const home = Region.home(spec);
    mkdirSync(home, { recursive: true });
    const wan = spec.retryJoinWan === undefined ? "" : `\nretry_join_wan = [${spec.retryJoinWan.map((a) => `"${a}"`).join(", ")}]\n`;
    writeFileSync(
      join(home, "server.hcl"),
      `region = "${spec.region}"
datacenter = "${spec.datacenter}"
data_dir = "${join(home, "server")}"
bind_addr = "127.0.0.1"
name = "${spec.region}-server"
${wan}
server {
    enabled = true
    bootstrap_expect = 1
}

ports {
    http = 0
    consul = 0
    dns = 0
}

tls {
    enabled = false
}

acl {
    enabled = false
}
`,
    );
    const region = new Region(spec, await startAgentProcess(["-config", join(home, "server.hcl"), "-server"]));
    region.ports = { http: portOf(region.server.address), consul: portOf(region.server.consulAddress), dns: portOf(region.server.dnsAddress) };
    for (let i = 1; i <= spec.clients; i++) {
      const file = join(home, `client-${i}.hcl`);
      writeFileSync(
        file,
        `region = "${spec.region}"
datacenter = "${spec.datacenter}"
data_dir = "${join(home, `client-${i}`)}"
bind_addr = "127.0.0.1"
name = "${spec.region}-client-${i}"

client {
    enabled = true
    min_dynamic_port = ${spec.firstPort + 200 * (i - 1)}
    max_dynamic_port = ${spec.firstPort + 200 * (i - 1) + 199}
}

ports {
    http = 0
}

tls {
    enabled = false
}

acl {
    enabled = false
}
`,
      );
      region.clients.push(await startAgentProcess(["-config", file, "-client", "-servers", region.server.address]));
    }
    const nodes = await until(`the ${spec.clients} clients of ${spec.region} to be ready`, async () => {
      const list = (await (await fetch(`http://${region.server.address}/v1/nodes`)).json()) as { ID: string; Status: string }[];
      return list.length === spec.clients && list.every((n) => n.Status === "ready") ? list : undefined;
    });
    region.nodeIds.push(...nodes.map((n) => n.ID));
    return region;
  }

  /** Starts the server again on its data dir and its ports, after `server.crash()` or `server.stop()`. */
  async restartServer(): Promise<void> {
    if (this.ports === undefined) throw new Error(`the server of ${this.spec.region} never started`);
    const home = Region.home(this.spec);
    this.server = await startAgentProcess(["-config", join(home, "server.hcl"), "-server", "-http-port", this.ports.http, "-consul-port", this.ports.consul, "-dns-port", this.ports.dns]);
  }

  /**
   * Stops the clients (SIGTERM, SIGKILL after 10 s), then the server, and removes the
   * containers of the region's nodes. Says whether every agent ended on SIGTERM, and how many
   * of the region's containers ran on once its clients had ended.
   */
  async stop(): Promise<{ graceful: boolean; runningOn: number }> {
    const graceful = await Promise.all(this.clients.map((c) => c.stop(10_000)));
    const containers = async (status: string[]): Promise<string[]> => {
      const ids: string[] = [];
      for (const id of this.nodeIds) ids.push(...(await docker("ps", "-q", ...status, "--filter", `label=com.hashicorp.nomad.node_id=${id}`)).split("\n").filter((c) => c !== ""));
      return ids;
    };
    const runningOn = (await containers([])).length;
    graceful.push(await this.server.stop(10_000));
    const left = await containers(["-a"]);
    if (left.length > 0) await docker("rm", "-f", ...left);
    return { graceful: graceful.every((g) => g), runningOn };
  }
}
