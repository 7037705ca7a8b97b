import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import type { CatalogReader } from "../catalog/index.js";
import { silentLogger, type Acl, type Logger } from "../structs/index.js";
import { aclCatalog, aclServers } from "./acl.js";
import { otherDatacenterAsked, queryAsked, respond } from "./message.js";
import { DEFAULT_DNS_CONFIG, type DnsConfig } from "./config.js";
import type { DnsServerEntry, QueryAnswer, ResolveContext } from "./resolve.js";

export interface DnsOptions {
  host: string;
  /** 0 picks a free port, the same for UDP and TCP. */
  port: number;
  catalog: CatalogReader;
  /** Default "consul". */
  domain?: string;
  /** Consul's `dns_config` (TTLs, `only_passing`, truncation); what is left out keeps Consul's default (`DEFAULT_DNS_CONFIG`). */
  config?: Partial<DnsConfig>;
  /** This datacenter's live servers, read at each question: the NS records of the domain and `consul.service.consul`. Without it, neither. */
  servers?: () => readonly DnsServerEntry[];
  logger?: Logger;
  /** TCP connections one client address may hold open, as the agent's HTTP listeners (`-http-max-conns-per-client`); past it a connection is closed at once. 0: no limit. Default 100. */
  maxConnsPerClient?: number;
  /**
   * The catalog of another datacenter, for `NAME.service.DC.consul` and `NODE.node.DC.consul`
   * (Consul asks that datacenter's servers): null when no server of it is known or alive
   * (NXDOMAIN, as Consul's "No path to datacenter"); a rejection is answered SERVFAIL. Without
   * it, another datacenter is NXDOMAIN.
   */
  otherDatacenter?: (dc: string) => Promise<CatalogReader | null>;
  /**
   * Executes the prepared query `NAME.query[.DC].consul` names (by the datacenter's servers
   * when `dc` is another's; null: this one), failing over as the query says: null when there
   * is no such query (NXDOMAIN); a rejection is answered SERVFAIL. Without it, such names are
   * NXDOMAIN.
   */
  preparedQuery?: (name: string, dc: string | null, acl: Acl | undefined) => Promise<QueryAnswer | null>;
  /**
   * With ACLs on: what the DNS token may read (Consul's `acl { tokens { dns } }`), read at each
   * question so that a changed token or policy takes effect on the next one. The nodes and
   * services it may not read are left out of every answer (`aclCatalog`), the servers too
   * unless it may read the `consul` service (`aclServers`), and a prepared query is executed
   * with it (`preparedQuery`'s `acl`). A throw (the token is not found, or expired) is answered
   * SERVFAIL, with why in the log. Absent (ACLs off): everything is answered.
   */
  acl?: () => Acl;
}

export interface DnsServer {
  /** The bound port, UDP and TCP alike. */
  port: number;
  close(): Promise<void>;
}

/** A TCP connection that says nothing for this long is closed. */
const TCP_IDLE_MS = 30_000;
/** Tries at finding a port free for both UDP and TCP when asked for port 0. */
const PORT_TRIES = 10;
/** The agent's default `http_max_conns_per_client`, for DNS over TCP too. */
const DEFAULT_MAX_CONNS_PER_CLIENT = 100;

/** Starts a Consul-style DNS server on UDP and TCP of one port. */
export async function startDns(opts: DnsOptions): Promise<DnsServer> {
  const log = opts.logger ?? silentLogger;
  const ctx: ResolveContext = {
    catalog: opts.catalog,
    domain: (opts.domain ?? "consul").toLowerCase().replace(/^\.+|\.+$/g, ""),
    config: { ...DEFAULT_DNS_CONFIG, ...opts.config },
    nowSeconds: () => Math.floor(Date.now() / 1000),
    random: Math.random,
  };
  const other = opts.otherDatacenter;
  const servers = opts.servers;
  const answer = async (query: Buffer, transport: "udp" | "tcp"): Promise<Buffer | null> => {
    try {
      // Another datacenter's name is answered from its catalog, found first: the resolver stays a function of the catalog it is given.
      const dc = other === undefined ? null : otherDatacenterAsked(query, ctx.domain, ctx.catalog.datacenter());
      let c = dc === null || other === undefined ? ctx : { ...ctx, catalog: await other(dc).then((found) => found ?? noPath, unreachable) };
      if (servers !== undefined) c = { ...c, servers: servers() };
      // With ACLs on, the DNS token's view: what it may not read is not there (a token that does not resolve: SERVFAIL).
      let acl: Acl | undefined;
      if (opts.acl !== undefined) {
        try {
          acl = opts.acl();
          c = { ...c, catalog: aclCatalog(c.catalog, acl), servers: aclServers(c.servers ?? [], acl) };
        } catch (err) {
          c = { ...c, catalog: unreachable(err), servers: [] };
        }
      }
      // A prepared query's name is answered from its execution, made first (with the DNS token).
      const asked = opts.preparedQuery === undefined ? null : queryAsked(query, ctx.domain);
      if (asked !== null && opts.preparedQuery !== undefined) {
        const noToken = opts.acl !== undefined && acl === undefined;
        c = { ...c, query: noToken ? new Error("the DNS token does not resolve") : await opts.preparedQuery(asked.name, asked.dc, acl).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))) };
      }
      // A question the resolver fails on is answered SERVFAIL (and logged); a failure past that, nothing: the client times out.
      return respond(query, transport, c, (err) => {
        log.error({ component: "dns", err }, "dns query failed: answered SERVFAIL");
      });
    } catch (err) {
      log.error({ component: "dns", err }, "dns query failed");
      return null;
    }
  };

  let bound: { tcp: Server; udp: UdpSocket } | null = null;
  let lastError: unknown = null;
  for (let i = 0; i < (opts.port === 0 ? PORT_TRIES : 1) && bound === null; i++) {
    try {
      bound = await bindBoth(opts.host, opts.port, answer, log, opts.maxConnsPerClient ?? DEFAULT_MAX_CONNS_PER_CLIENT);
    } catch (err) {
      lastError = err;
    }
  }
  if (bound === null) throw lastError instanceof Error ? lastError : new Error(String(lastError));

  const { tcp, udp } = bound;
  const address = tcp.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  log.info({ component: "dns", host: opts.host, port }, "dns listening");

  let closed: Promise<void> | null = null;
  return {
    port,
    close: () => {
      closed ??= Promise.all([closeTcp(tcp), closeUdp(udp)]).then(() => undefined);
      return closed;
    },
  };
}

type Answerer = (query: Buffer, transport: "udp" | "tcp") => Promise<Buffer | null>;

/** The catalog of a datacenter no server can be found for: of no datacenter, so that its names are NXDOMAIN. */
const noPath: CatalogReader = {
  index: () => 1,
  datacenter: () => "",
  instances: () => [],
  services: () => ({}),
  nodes: () => [],
  wait: () => Promise.resolve(1),
};

/** The catalog of a datacenter whose server did not answer: every read fails, and the question is answered SERVFAIL with why. */
function unreachable(err: unknown): CatalogReader {
  const fail = (): never => {
    throw err;
  };
  return { index: fail, datacenter: fail, instances: fail, services: fail, nodes: fail, wait: fail };
}

const connections = new WeakMap<Server, Set<Socket>>();

async function bindBoth(host: string, port: number, answer: Answerer, log: Logger, maxConnsPerClient: number): Promise<{ tcp: Server; udp: UdpSocket }> {
  const tcp = await listenTcp(host, port, answer, log, maxConnsPerClient);
  const address = tcp.address();
  const actual = typeof address === "object" && address !== null ? address.port : port;
  try {
    const udp = await bindUdp(host, actual, answer, log);
    return { tcp, udp };
  } catch (err) {
    await closeTcp(tcp);
    throw err;
  }
}

function bindUdp(host: string, port: number, answer: Answerer, log: Logger): Promise<UdpSocket> {
  const udp = createSocket(isIPv6(host) ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, host, () => {
      udp.off("error", reject);
      udp.on("error", (err) => {
        log.warn({ component: "dns", transport: "udp", err }, "dns udp socket error");
      });
      udp.on("message", (msg, rinfo) => {
        void answer(msg, "udp").then((out) => {
          if (out === null) return;
          udp.send(out, rinfo.port, rinfo.address, (err) => {
            if (err) log.debug({ component: "dns", err }, "dns udp send failed");
          });
        });
      });
      resolve(udp);
    });
  });
}

function listenTcp(host: string, port: number, answer: Answerer, log: Logger, maxConnsPerClient: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const perClient = new Map<string, number>();
  let lastWarned = 0;
  const server = createServer((socket) => {
    // A client address over its limit: closed at once, before a query is read (DNS over TCP has no "too many" answer).
    const address = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    const open = perClient.get(address) ?? 0;
    if (maxConnsPerClient > 0 && open >= maxConnsPerClient) {
      socket.destroy();
      if (Date.now() - lastWarned >= 1_000) {
        lastWarned = Date.now();
        log.warn({ component: "dns", transport: "tcp", address, limit: maxConnsPerClient }, "too many concurrent dns tcp connections from one client: closed");
      }
      return;
    }
    perClient.set(address, open + 1);
    sockets.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on("close", () => {
      sockets.delete(socket);
      const left = (perClient.get(address) ?? 1) - 1;
      if (left <= 0) perClient.delete(address);
      else perClient.set(address, left);
    });
    socket.on("error", (err) => {
      log.debug({ component: "dns", transport: "tcp", err }, "dns tcp connection error");
    });
    let pending = Buffer.alloc(0);
    // Answers go back in the order of the queries, one after the other (another datacenter's takes a round trip).
    let previous: Promise<unknown> = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Each message is prefixed by its 2-byte length (RFC 1035 §4.2.2); several may share a connection.
      while (pending.length >= 2) {
        const size = pending.readUInt16BE(0);
        if (pending.length < 2 + size) break;
        const msg = pending.subarray(2, 2 + size);
        pending = pending.subarray(2 + size);
        const answered = answer(Buffer.from(msg), "tcp");
        previous = Promise.all([answered, previous]).then(([out]) => {
          if (socket.destroyed) return;
          if (out === null) {
            socket.destroy(); // unreadable: the stream can no longer be trusted
            return;
          }
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(out.length, 0);
          socket.write(Buffer.concat([prefix, out]));
        });
      }
    });
  });
  connections.set(server, sockets);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      server.on("error", (err) => {
        log.warn({ component: "dns", transport: "tcp", err }, "dns tcp server error");
      });
      resolve(server);
    });
  });
}

function closeTcp(server: Server): Promise<void> {
  for (const s of connections.get(server) ?? []) s.destroy();
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

function closeUdp(udp: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    udp.close(() => {
      resolve();
    });
  });
}
