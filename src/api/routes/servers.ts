import type { ClusterView, Federation, ServerInfo, ServerMember } from "../../server/index.js";
import { fetch as dialFetch } from "undici";
import { ErrorCode, errorMessage, RucheError } from "../../structs/index.js";
import { PLAIN_HTTP, type Dial } from "../forward.js";
import type { Router } from "../http.js";

/**
 * The servers of the region as Nomad's and Consul's APIs show theirs: the leader, the peers,
 * the members, force-leave; and Ruche's own views of the etcd members and of each server's
 * lag. Everything here is read from the ClusterView of the server that answers.
 */

/** host and port of "host:port" or "[v6]:port". */
function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  if (i < 0) return { host: addr, port: 0 };
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(addr.slice(i + 1)) || 0 };
}

/**
 * serf's protocol numbers, which Nomad's and Consul's members carry: Ruche speaks no gossip,
 * but clients that decode a member expect the fields.
 */
const PROTOCOL = { ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4 } as const;

/**
 * A server as Nomad's `/v1/agent/members` shows it (its `api.AgentMember`). Nomad's Port is
 * its gossip port and `Tags.port` its RPC port; a Ruche server is reached at one address, its
 * HTTP API (where the others forward to it and `retry_join` finds it), so both are that port.
 * `nomad server members` marks the leader whose `Addr:Tags.port` is `/v1/status/leader`'s
 * answer, which is the leader's HTTP address: the two agree.
 */
export function nomadMember(m: ServerMember): Record<string, unknown> {
  const { host, port } = hostPort(m.HTTPAddr);
  const tags: Record<string, string> = { role: "nomad", region: m.Region, dc: m.Datacenter, build: m.Build, port: String(port), rpc_addr: host, id: m.Name };
  if (m.EtcdMember !== "") tags.etcd_member = m.EtcdMember;
  return { Name: `${m.Name}.${m.Region}`, Addr: host, Port: port, Tags: tags, Status: m.Status, ...PROTOCOL };
}

/** serf's member status numbers, which Consul's `/v1/agent/members` answers with. */
const CONSUL_STATUS = { alive: 1, left: 3, failed: 4 } as const satisfies Record<ServerMember["Status"], number>;

/** The address a Consul client reaches a server at: its Consul-compatible API, else its HTTP API (which serves the same routes). */
function consulAddr(s: ServerInfo): string {
  return s.ConsulAddr !== "" ? s.ConsulAddr : s.HTTPAddr;
}

/** A server as Consul's `/v1/agent/members` shows it; `Tags.port` and `Port` are its Consul-compatible API's port. */
export function consulMember(m: ServerMember): Record<string, unknown> {
  const { host, port } = hostPort(consulAddr(m));
  return {
    Name: m.Name,
    Addr: host,
    Port: port,
    Tags: { role: "consul", dc: m.Datacenter, port: String(port), build: m.Build, id: m.Name, segment: "", vsn: "2", vsn_min: "2", vsn_max: "3" },
    Status: CONSUL_STATUS[m.Status],
    ...PROTOCOL,
  };
}

/** A server as Consul's `/v1/agent/members?wan=1` shows it: named `name.dc`, as Consul's WAN pool names its servers. */
export function consulWanMember(m: ServerMember): Record<string, unknown> {
  return { ...consulMember(m), Name: `${m.Name}.${m.Datacenter}` };
}

/**
 * Nomad's status, members and force-leave, and Ruche's operator views, on the main API. The
 * members are every region's (`federation`), as Nomad's serf pool holds them; the region's
 * alone without one.
 */
export function serverRoutes(r: Router, cluster: ClusterView, dial: Dial = PLAIN_HTTP, federation?: Federation): void {
  // "" when there is no leader, as Nomad answers (200, not an error).
  r.get("/v1/status/leader", () => ({ body: cluster.leader()?.HTTPAddr ?? "" }));
  r.get("/v1/status/peers", () => ({ body: alive(cluster).map((s) => s.HTTPAddr) }));
  r.get("/v1/agent/members", () => {
    const self = cluster.self;
    return { body: { ServerName: self.Name, ServerRegion: self.Region, ServerDC: self.Datacenter, Members: (federation?.members() ?? cluster.members()).map((m) => nomadMember(m)) } };
  });
  r.put("/v1/agent/force-leave", async (req) => {
    const node = req.query.get("node") ?? "";
    if (node === "") throw new RucheError(ErrorCode.BadRequest, "missing node to force leave", { path: "node" });
    await cluster.forceLeave(serverName(cluster, node));
    return { body: null };
  });
  r.get("/v1/operator/etcd/members", async () => {
    const members = await cluster.etcdMembers();
    if (members === null) throw new RucheError(ErrorCode.BadRequest, "this server keeps its state in its embedded store (SQLite): there are no etcd members; servers started with bootstrap_expect or etcd endpoints have them");
    return { body: { Members: members } };
  });
  r.delete("/v1/operator/etcd/member/:id", async (req) => {
    await cluster.etcdRemove(req.params.id ?? "");
    return { body: null };
  });
  r.get("/v1/operator/servers", async () => ({ body: { Servers: await serversWithLag(cluster, dial) } }));
}

/** A client node as Consul's LAN members show an agent that is not a server. */
export interface ConsulClientMember {
  Node: string;
  Address: string;
  Datacenter: string;
  alive: boolean;
}

/** A client node as Consul's `/v1/agent/members` shows a client agent (`role: node`); Ruche has no gossip port to give: Port 0. */
export function consulClientMember(n: ConsulClientMember): Record<string, unknown> {
  return { Name: n.Node, Addr: n.Address, Port: 0, Tags: { role: "node", dc: n.Datacenter, segment: "", id: n.Node, vsn: "2", vsn_min: "2", vsn_max: "3" }, Status: n.alive ? CONSUL_STATUS.alive : CONSUL_STATUS.failed, ...PROTOCOL };
}

/**
 * Consul's status, members (`?wan=1`: every datacenter's servers, from `federation`; the LAN
 * pool: the region's servers, then the client nodes of the catalog, `clients`) and
 * force-leave, on the Consul-compatible listener.
 */
export function consulServerRoutes(r: Router, cluster: ClusterView, federation?: Federation, clients?: () => readonly ConsulClientMember[]): void {
  // Consul answers its leader's server RPC address ("ip:8300"); Ruche has no such port, and
  // answers the address a Consul client reaches the leader at. "" when there is none, as Consul.
  r.get("/v1/status/leader", () => {
    const leader = cluster.leader();
    return { body: leader === null ? "" : consulAddr(leader) };
  });
  r.get("/v1/status/peers", () => ({ body: alive(cluster).map(consulAddr) }));
  r.get("/v1/agent/members", (req) => {
    if (req.query.has("wan")) return { body: (federation?.members() ?? cluster.members()).map((m) => consulWanMember(m)) };
    const servers = cluster.members();
    // A server that runs a client too is one agent: listed once, as a server.
    const others = (clients?.() ?? []).filter((n) => !servers.some((m) => m.Name === n.Node));
    return { body: [...servers.map((m) => consulMember(m)), ...others.map(consulClientMember)] };
  });
  r.put("/v1/agent/force-leave/:node", async (req) => {
    await cluster.forceLeave(req.params.node ?? "");
    return { body: null };
  });
}

function alive(cluster: ClusterView): ServerMember[] {
  return cluster.members().filter((m) => m.Status === "alive");
}

/** A server named as Nomad names its members (`name.region`) or by its name alone. */
function serverName(cluster: ClusterView, node: string): string {
  const m = cluster.members().find((s) => `${s.Name}.${s.Region}` === node);
  return m === undefined ? node : m.Name;
}

/** A server with its lag: how long since it last heard from the cluster's state (ms), as it says itself. */
export interface ServerLag extends ServerMember {
  /** Milliseconds, null when it could not be asked (it is not alive, or did not answer). */
  LastContact: number | null;
  /** Why it could not be asked, "" when it answered. */
  Error: string;
}

/** How long a server is given to say its lag. */
const LAG_TIMEOUT_MS = 1000;

/**
 * Every server with its lag: this server's from its own view, each other alive server's from
 * the `X-Nomad-LastContact` of a stale read it answers itself (`/v1/status/leader?stale`),
 * all asked at once, each given a second.
 */
async function serversWithLag(cluster: ClusterView, dial: Dial): Promise<ServerLag[]> {
  const self = cluster.self.Name;
  return Promise.all(
    cluster.members().map(async (m): Promise<ServerLag> => {
      if (m.Name === self) return { ...m, LastContact: cluster.lastContact(), Error: "" };
      if (m.Status !== "alive") return { ...m, LastContact: null, Error: `the server is ${m.Status}` };
      try {
        const res = await dialFetch(`${dial.scheme}://${m.HTTPAddr}/v1/status/leader?stale`, { signal: AbortSignal.timeout(LAG_TIMEOUT_MS), ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }) });
        await res.body?.cancel();
        const last = res.headers.get("x-nomad-lastcontact");
        if (!res.ok || last === null) return { ...m, LastContact: null, Error: `it answered ${res.status} without X-Nomad-LastContact` };
        return { ...m, LastContact: Number(last), Error: "" };
      } catch (err) {
        return { ...m, LastContact: null, Error: `it did not answer at ${m.HTTPAddr}: ${errorMessage(err)}` };
      }
    }),
  );
}
