import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, fetch as undiciFetch, type Dispatcher } from "undici";
import { ApiClient, ApiError } from "../apiclient/index.js";
import { errorMessage, type Allocation, type AllocUpdate, type Node } from "../structs/index.js";
import { SimulatedNode } from "./sim.js";
import type { ClientTransport } from "./transport.js";

export interface FleetOptions {
  /** The servers' HTTP API, host:port each; every node fails over between them. */
  servers: readonly string[];
  nodes: number;
  datacenter: string;
  /** Nodes are named PREFIX-0 … PREFIX-(N-1). */
  namePrefix: string;
  /** Keep-alive connections per server shared by every node's registration, heartbeats and updates. */
  connections?: number;
  /** Registrations under way at once while the fleet starts. */
  startConcurrency?: number;
  /** The ACL token the nodes send (servers with ACLs on and no TLS register a node only with `node:write`). */
  token?: string;
}

/** What the fleet is doing, for its status line. */
export interface FleetStatus {
  registered: number;
  ready: number;
  running: number;
  /** Failed calls since the last status, by error code. */
  errors: Record<string, number>;
}

/** Connections of one source address for the allocation watches: under the servers' default limit per client address (100). */
const WATCHES_PER_SOURCE = 90;

/**
 * Many simulated nodes in one process, costing the servers what as many real nodes cost:
 * each registers, heartbeats at the TTL the servers give, holds one blocking query on its
 * allocations, and reports them running (the mock driver, see `SimulatedNode`).
 *
 * Connections: registrations and allocation updates share a pool of keep-alive
 * connections per server (undici, `connections`, 64 by default), heartbeats another
 * (a real node's beat never waits behind other nodes' reports). A blocking
 * query holds its HTTP/1.1 connection until it answers (the servers speak no HTTP/2, and
 * a request pipelined behind a long poll waits for it), so the watches cannot share: each
 * node's watch has a keep-alive connection of its own, as a real node's has — one socket
 * per node at each end, plus the pool. When the servers are on loopback, the watches come
 * from addresses spread over 127.0.0.0/8, 90 per address, so that the servers' limit of
 * connections per client address (`-http-max-conns-per-client`, 100) sees them as it would
 * a fleet of machines; other servers need that limit raised (0) for a fleet in one process.
 */
export class SimFleet {
  readonly sims: SimulatedNode[] = [];
  private readonly shared: Agent;
  /** Heartbeats have a pool of their own: a real node's beat never waits behind other nodes' reports. */
  private readonly beats: Agent;
  private readonly watchAgents: Agent[] = [];
  private readonly errors = new Map<string, number>();
  private stopping = false;

  constructor(private readonly opts: FleetOptions) {
    this.shared = new Agent({ connections: opts.connections ?? 64, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 600_000 });
    this.beats = new Agent({ connections: opts.connections ?? 64, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 600_000 });
    const loopback = opts.servers.every((s) => /^(https?:\/\/)?(127\.|localhost[:/])/.test(s));
    const groups = loopback ? Math.ceil(opts.nodes / WATCHES_PER_SOURCE) : 1;
    for (let g = 0; g < groups; g++) {
      const localAddress = loopback ? sourceAddress(g) : undefined;
      // One connection per watch, and no more: left unbounded, undici opens a new connection
      // for a node's next query before the last one's is free again, and the group's
      // connections would pass the servers' limit per address.
      const connections = loopback ? Math.min(WATCHES_PER_SOURCE, opts.nodes - g * WATCHES_PER_SOURCE) : opts.nodes;
      this.watchAgents.push(new Agent({ connections, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 600_000, headersTimeout: 0, bodyTimeout: 0, ...(localAddress === undefined ? {} : { localAddress }) }));
    }
  }

  /** Registers every node (a bounded number at once) and starts them; returns once all are registered or failed. */
  async start(signal?: AbortSignal): Promise<void> {
    const { servers, nodes } = this.opts;
    const sharedFetch = fetchOver(this.shared);
    const beatFetch = fetchOver(this.beats);
    for (let i = 0; i < nodes; i++) {
      // The attempt timeout counts the time a request waits for a free connection of the
      // pool: with thousands of nodes reporting at once that wait is the fleet's, not the
      // servers', so it is long (a minute); a server that went away still fails fast.
      const o = { fetch: sharedFetch, start: i % servers.length, attemptTimeoutMs: 60_000, ...(this.opts.token === undefined ? {} : { token: this.opts.token }) };
      const api = new ApiClient(servers, o);
      const beat = new ApiClient(servers, { ...o, fetch: beatFetch });
      const watch = new ApiClient(servers, { ...o, fetch: fetchOver(this.watchAgents[Math.floor(i / WATCHES_PER_SOURCE) % this.watchAgents.length] ?? this.shared) });
      const node = { name: `${this.opts.namePrefix}-${i}`, id: randomUUID(), datacenter: this.opts.datacenter };
      this.sims.push(new SimulatedNode(this.counted(api, beat, watch), node));
    }
    let next = 0;
    const halted = (): boolean => signal?.aborted === true || this.stopping;
    const worker = async (): Promise<void> => {
      while (next < this.sims.length && !halted()) {
        const sim = this.sims[next++];
        // A node whose registration failed is tried again until the fleet stops.
        while (sim !== undefined && !halted()) {
          try {
            await sim.start();
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(nodes, this.opts.startConcurrency ?? 256) }, worker));
  }

  status(): FleetStatus {
    let registered = 0;
    let ready = 0;
    let running = 0;
    for (const s of this.sims) {
      if (s.ready) ready++;
      if (s.started) registered++;
      running += s.running();
    }
    const errors = Object.fromEntries(this.errors);
    this.errors.clear();
    return { registered, ready, running, errors };
  }

  /** Stops every node at once (as machines that die: the servers mark them down after their TTL) and closes the connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.sims.map((s) => s.kill()));
    await Promise.all([this.shared, this.beats, ...this.watchAgents].map((a) => a.destroy()));
  }

  /** A transport over the two clients that counts the failures by code. */
  private counted(api: ApiClient, beat: ApiClient, watch: ApiClient): ClientTransport {
    const count = <T>(p: Promise<T>): Promise<T> =>
      p.catch((err: unknown) => {
        if (!this.stopping) {
          const code = err instanceof ApiError ? (err.status === 429 ? "HTTP_429 (raise the servers' -http-max-conns-per-client)" : err.status === 0 ? `${err.code} (${err.message.split(": ").at(-1) ?? ""})` : err.code) : (err as Error).name === "AbortError" ? "" : errorMessage(err);
          if (code !== "") this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
        }
        throw err;
      });
    let ttl = 0;
    return {
      register: (node: Node) =>
        count(
          api.registerNode(node).then((r) => {
            ttl = r.body.HeartbeatTTL;
            return r.body;
          }),
        ),
      // A heartbeat waits up to half the TTL for its answer: thousands of nodes in one process
      // may be slower to read an answer than the servers are to send it.
      heartbeat: (id: string, secret: string) =>
        count(
          beat
            .withNodeSecret(secret)
            .heartbeat(id, Math.max(5000, ttl / 2))
            .then((r) => {
              ttl = r.body.HeartbeatTTL;
              return r.body;
            }),
        ),
      allocations: (id: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal) =>
        count(watch.withNodeSecret(secret).nodeOwnAllocations(id, { index: minIndex, wait: `${Math.round(waitMs)}ms`, signal })).then((r): { index: number; allocs: readonly Allocation[] } => ({ index: r.index, allocs: r.body })),
      updateAllocs: (id: string, secret: string, updates: AllocUpdate[]) => count(api.withNodeSecret(secret).updateAllocations(id, updates)),
    };
  }
}

/** The 127.0.0.0/8 address for a group of watches: 127.1.0.1, 127.1.0.2, … (never 127.0.0.1, which the shared pool uses). */
function sourceAddress(g: number): string {
  return `127.${1 + Math.floor(g / 65_024)}.${Math.floor((g % 65_024) / 254)}.${1 + (g % 254)}`;
}

/**
 * The fetch of an API client over one undici dispatcher. undici's Response is the one
 * Node's own fetch is built on (a newer copy of the same class): what the client reads of
 * it (status, headers, text, body) is the same.
 */
function fetchOver(dispatcher: Dispatcher): (url: URL, init: RequestInit) => Promise<Response> {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- see above
  return (url, init) => undiciFetch(url, { ...(init as unknown as Parameters<typeof undiciFetch>[1]), dispatcher });
}

/**
 * The soft limit on open files of this process (Linux: /proc/self/limits), or undefined
 * where it cannot be read. Node cannot raise it itself: the shell that starts it can
 * (`ulimit -n`, up to the hard limit).
 */
export function openFilesLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const m = line === undefined ? null : /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(line);
    if (m === null) return undefined;
    const n = (v: string | undefined): number => (v === "unlimited" || v === undefined ? Number.POSITIVE_INFINITY : Number(v));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return undefined;
  }
}

/** The files a fleet holds open: one watch connection per node, the shared pool per server, and room for the rest. */
export function fleetOpenFiles(nodes: number, servers: number, connections = 64): number {
  return nodes + 2 * servers * connections + 200;
}
