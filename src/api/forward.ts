import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { request, type Dispatcher } from "undici";
import type { ClusterView } from "../server/index.js";
import { ErrorCode, errorMessage, neverSent, RucheError, tlsFailure, tlsHandshakeFailed } from "../structs/index.js";
import type { ApiFlavor } from "./cluster-headers.js";
import { NODE_KEY_HEADER } from "./node-identity.js";
import { encodePeer, PEER_HEADER, type PeerCert } from "./tls-listener.js";

/** How a server reaches the other agents: over TLS through `dispatcher` (its CA, its certificate), or plain HTTP. */
export interface Dial {
  scheme: "http" | "https";
  dispatcher?: Dispatcher;
}

export const PLAIN_HTTP: Dial = { scheme: "http" };

/** What a listener needs of the cluster: the view, and which of the leader's addresses to forward to. */
export interface ClusterEdge {
  view: ClusterView;
  flavor: ApiFlavor;
  /** How to reach the leader; plain HTTP when absent. */
  dial?: Dial;
  /** The nodes the agent endpoints act on (`AgentNodes`); absent: the listener serves none (its forwarded writes name no node). */
  nodes?: AgentNodes;
}

/**
 * What the forwarding knows of nodes, for Consul's agent endpoints (`/v1/agent/service/register`,
 * maintenance, checks, sessions' default node): a write a follower forwards acts on the
 * follower's node, as a Consul agent's endpoint acts on the agent that received it, never on
 * the leader's.
 */
export interface AgentNodes {
  /** The node this server's agent runs (its ID), undefined when it runs none. */
  local(): string | undefined;
  /** A node's name by its ID, undefined for a node not in the state: the leader checks that a server names its own node only. */
  name(id: string): string | undefined;
}

/**
 * The header a follower names its own node in (`AgentNodes.local`, "" for none) on each write
 * it forwards. The leader believes it only in a batch of writes from a server (`receivedByOf`
 * in `http.ts`), and only for the node that server runs; on a request sent to it directly it
 * means nothing.
 */
export const AGENT_NODE_HEADER = "x-ruche-agent-node";

/** Marks a request one server forwarded to the leader: the leader answers it, never forwards it again. */
const FORWARDED = "x-ruche-forwarded-by";

/**
 * The leader's route for a batch of forwarded writes (`forwardBatch`): one request from a
 * follower carries every write its clients sent while the previous batches were on their
 * way, and one answer carries every answer.
 */
export const FORWARD_BATCH_PATH = "/v1/internal/forward";

/**
 * Writes any server answers itself: the agent's own config, the membership and etcd
 * operations, the servers' join, and `alloc exec` (a stream to the node that runs the
 * allocation, which writes no state).
 */
const LOCAL_WRITE = /^\/v1\/(agent\/(reload|force-leave)|event\/fire\/|operator\/etcd\/|internal\/|client\/allocation\/[^/]+\/exec$)/;

/** Reads that say something of this server, not of the state: no barrier. */
const LOCAL_READ = /^\/v1\/(status\/|event\/list$|agent\/(self|members|host|metrics|ca$)|metrics|operator\/(etcd\/|servers|tls\/ca$)|internal\/|openapi)|^\/(?!v1\/)/;

export function isWrite(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

/** Whether a write must reach the leader: this server does not lead, and the path is not answered by any server. */
export function mustForward(edge: ClusterEdge, method: string, path: string): boolean {
  return isWrite(method) && !edge.view.isLeader() && !LOCAL_WRITE.test(path);
}

/**
 * Whether a read waits for this server's memory to hold every write acknowledged before it
 * (Nomad's and Consul's default consistency); `?stale` answers from memory at once.
 */
export function needsBarrier(method: string, path: string, query: URLSearchParams): boolean {
  return !isWrite(method) && !query.has("stale") && !LOCAL_READ.test(path);
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade", "proxy-connection", "te", "trailer"]);

/** One request as it travels in a batch: what the client sent, and what it is answered. */
export interface ForwardedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}
export interface ForwardedAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** The headers a request or answer keeps on its way through a server: none of its own connection's. */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

// --- the batch's wire: frames of [u32 length][JSON head][u32 length][body] -------------------

function frame(head: unknown, body: Buffer): Buffer[] {
  const h = Buffer.from(JSON.stringify(head), "utf8");
  const lens = Buffer.alloc(8);
  lens.writeUInt32BE(h.length, 0);
  lens.writeUInt32BE(body.length, 4);
  return [lens.subarray(0, 4), h, lens.subarray(4), body];
}

function* frames(buf: Buffer, what: string): Generator<{ head: unknown; body: Buffer }> {
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > buf.length) throw new RucheError(ErrorCode.BadRequest, `${what}: truncated at byte ${at}`);
    const n = buf.readUInt32BE(at);
    at += 4;
    if (at + n > buf.length) throw new RucheError(ErrorCode.BadRequest, `${what}: a frame of ${n} bytes at byte ${at} runs past the end (${buf.length})`);
    return n;
  };
  while (at < buf.length) {
    const hl = u32();
    let head: unknown;
    try {
      head = JSON.parse(buf.toString("utf8", at, at + hl));
    } catch (err) {
      throw new RucheError(ErrorCode.BadRequest, `${what}: the head at byte ${at} is not JSON: ${errorMessage(err)}`);
    }
    at += hl;
    const bl = u32();
    yield { head, body: buf.subarray(at, at + bl) };
    at += bl;
  }
}

export function encodeRequests(items: readonly ForwardedRequest[]): Buffer {
  return Buffer.concat(items.flatMap((r) => frame({ m: r.method, u: r.url, h: r.headers }, r.body)));
}

export function decodeRequests(buf: Buffer): ForwardedRequest[] {
  const out: ForwardedRequest[] = [];
  for (const { head, body } of frames(buf, "forwarded batch")) {
    const h = head as { m?: unknown; u?: unknown; h?: unknown };
    if (typeof h.m !== "string" || typeof h.u !== "string" || typeof h.h !== "object" || h.h === null) {
      throw new RucheError(ErrorCode.BadRequest, `forwarded batch: request ${out.length} needs a method (m), a URL (u) and headers (h)`);
    }
    out.push({ method: h.m, url: h.u, headers: h.h as Record<string, string>, body });
  }
  return out;
}

export function encodeAnswers(items: readonly ForwardedAnswer[]): Buffer {
  return Buffer.concat(items.flatMap((a) => frame({ s: a.status, h: a.headers }, a.body)));
}

export function decodeAnswers(buf: Buffer): ForwardedAnswer[] {
  const out: ForwardedAnswer[] = [];
  for (const { head, body } of frames(buf, "the leader's batch answer")) {
    const h = head as { s?: unknown; h?: unknown };
    if (typeof h.s !== "number" || typeof h.h !== "object" || h.h === null) throw new RucheError(ErrorCode.Internal, `the leader's batch answer ${out.length} has no status or headers`);
    out.push({ status: h.s, headers: h.h as Record<string, string | string[]>, body });
  }
  return out;
}

/** Whether a batch from `raw` may be answered here: it names the follower that sent it; a server that does not lead refuses each write in it. */
export function forwardedBy(raw: IncomingMessage): string | undefined {
  const by = raw.headers[FORWARDED];
  return Array.isArray(by) ? by.join(", ") : by;
}

export function notLeaderAnymore(by: string): RucheError {
  return new RucheError(ErrorCode.NoLeader, `this server no longer leads (the request was forwarded here by ${by}): nothing was written; try again`);
}

// --- the follower's side ---------------------------------------------------------------

/**
 * Writes the leader answers only once a node's agent has acted (a host volume made, registered
 * or removed: up to `HOST_VOLUME_WAIT_MS`): each goes on its own request, so that the writes
 * gathered with it are not answered only when it is.
 */
const WAITS_FOR_A_NODE: readonly [string, RegExp][] = [
  ["PUT", /^\/v1\/volume\/host\/(create|register)(\?|$)/],
  ["DELETE", /^\/v1\/volume\/host\/[^/?]+(\/delete)?(\?|$)/],
];

function waitsForANode(req: ForwardedRequest): boolean {
  return WAITS_FOR_A_NODE.some(([method, path]) => req.method === method && path.test(req.url));
}

/** Bytes of bodies one batch carries at most (a write alone may be bigger: it goes alone). */
const BATCH_BYTES = 1024 * 1024;
/** Batches one follower has on their way to the leader at once; writes that come meanwhile wait for the next. */
const IN_FLIGHT = 4;

interface Queued {
  req: ForwardedRequest;
  resolve: (a: ForwardedAnswer) => void;
  reject: (err: unknown) => void;
}

/**
 * A follower's line to one leader address: the writes its clients send are gathered while
 * `IN_FLIGHT` batches are on their way, and go as one request to `FORWARD_BATCH_PATH`, whose
 * answer holds each one's answer: what a write costs the follower and the leader is then a
 * share of one request, not a request of its own (Nomad's servers forward over one
 * multiplexed connection for the same reason). A leader that has no batch route (a server of
 * an older build) is sent each write on its own.
 */
class LeaderLine {
  private queue: Queued[] = [];
  private inFlight = 0;
  private scheduled = false;
  private batches = true;

  /** The leader, for messages: `name (address)`. */
  private readonly who: string;

  constructor(
    private readonly target: string,
    leader: string,
    private readonly self: string,
    private readonly dial: Dial,
  ) {
    this.who = `${leader} (${target})`;
  }

  send(req: ForwardedRequest): Promise<ForwardedAnswer> {
    if (waitsForANode(req)) return this.one(req);
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    // The writes parsed in this turn of the event loop go together.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < IN_FLIGHT && this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || bytes + (this.queue[n] as Queued).req.body.length <= BATCH_BYTES)) {
        bytes += (this.queue[n] as Queued).req.body.length;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.inFlight++;
      void this.deliver(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async deliver(batch: Queued[]): Promise<void> {
    if (!this.batches) {
      await Promise.all(batch.map(async (q) => this.one(q.req).then(q.resolve, q.reject)));
      return;
    }
    let answers: ForwardedAnswer[];
    try {
      const res = await request(`${this.dial.scheme}://${this.target}${FORWARD_BATCH_PATH}`, {
        ...(this.dial.dispatcher === undefined ? {} : { dispatcher: this.dial.dispatcher }),
        method: "POST",
        headers: { [FORWARDED]: this.self, "content-type": "application/octet-stream" },
        body: encodeRequests(batch.map((q) => q.req)),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode === 404) {
        // A leader of an older build: nothing of the batch was read as writes.
        this.batches = false;
        await Promise.all(batch.map(async (q) => this.one(q.req).then(q.resolve, q.reject)));
        return;
      }
      if (res.statusCode !== 200) {
        // The batch itself was refused before any write in it was served (the leader's own
        // limits, a leader that stepped down): each write gets that answer.
        const answer = { status: res.statusCode, headers: endToEnd(res.headers), body: bytes };
        for (const q of batch) q.resolve(answer);
        return;
      }
      answers = decodeAnswers(bytes);
    } catch (err) {
      for (const q of batch) q.reject(this.failure(err));
      return;
    }
    batch.forEach((q, i) => {
      const a = answers[i];
      if (a === undefined) q.reject(new RucheError(ErrorCode.Unavailable, `the leader ${this.who} answered ${answers.length} of a batch of ${batch.length} writes; this one may have been made: read before you try again`));
      else q.resolve(a);
    });
  }

  /** One write on its own, as it came (to a leader without the batch route). */
  private async one(req: ForwardedRequest): Promise<ForwardedAnswer> {
    try {
      const res = await request(`${this.dial.scheme}://${this.target}${req.url}`, {
        ...(this.dial.dispatcher === undefined ? {} : { dispatcher: this.dial.dispatcher }),
        method: req.method as "PUT",
        headers: { ...req.headers, [FORWARDED]: this.self },
        body: req.body.length === 0 ? null : req.body,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      return { status: res.statusCode, headers: endToEnd(res.headers), body: Buffer.from(await res.body.arrayBuffer()) };
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * Refused before the request left: nothing was written. Once sent, the leader may have
   * written it before the connection broke: 503 RUCHE_UNAVAILABLE, which clients do not
   * send again unless repeating it is harmless.
   */
  private failure(err: unknown): RucheError {
    if (neverSent(err) || tlsHandshakeFailed(err)) return new RucheError(ErrorCode.NoLeader, `the leader ${this.who} could not be reached: ${tlsFailure(err) ?? errorMessage(err)}; nothing was written; try again`, { cause: err });
    return new RucheError(ErrorCode.Unavailable, `the leader ${this.who} did not answer: ${errorMessage(err)}; the write may have been made: read before you try again`, { cause: err });
  }
}

/**
 * Sends writes to the leader's API of the same flavor and their answers back as they went:
 * a follower serves every endpoint, as Nomad servers forward RPCs to their leader. No leader,
 * a leader that changed under the request, or one that does not answer: 503
 * `RUCHE_NO_LEADER` (nothing was written), or `RUCHE_UNAVAILABLE` for a leader that stopped
 * answering once the write was sent (nothing known: the message says which).
 */
export class Forwarder {
  private readonly lines = new Map<string, LeaderLine>();

  constructor(readonly edge: ClusterEdge) {}

  /** `peerCert`: the client certificate the write came with, which the leader is told of (it did not see it). */
  async forward(raw: IncomingMessage, body: Buffer, peerCert?: PeerCert): Promise<ForwardedAnswer> {
    const by = forwardedBy(raw);
    if (by !== undefined) throw notLeaderAnymore(by);
    const { view, flavor } = this.edge;
    const leader = view.leader();
    if (leader === null) throw new RucheError(ErrorCode.NoLeader, "no cluster leader: the servers are electing one (or etcd has lost its quorum); nothing was written; try again");
    const target = flavor === "nomad" ? leader.HTTPAddr : leader.ConsulAddr;
    if (leader.Name === view.self.Name) throw new RucheError(ErrorCode.NoLeader, "this server was just elected and is taking up the leader's duties: nothing was written; try again");
    if (target === "") throw new RucheError(ErrorCode.NoLeader, `the leader ${leader.Name} serves no ${flavor === "nomad" ? "HTTP" : "Consul"} API to forward to; nothing was written`);
    const key = `${leader.Name}@${target}`;
    let line = this.lines.get(key);
    if (line === undefined) {
      // A line per leader; the one to a former leader is dropped (its batches on their way finish).
      this.lines.clear();
      line = new LeaderLine(target, leader.Name, view.self.Name, this.edge.dial ?? PLAIN_HTTP);
      this.lines.set(key, line);
    }
    const headers: Record<string, string> = {};
    // The certificate and node headers are this server's to set; the agent's node key means something to this server only.
    for (const [k, v] of Object.entries(endToEnd(raw.headers))) if (k !== PEER_HEADER && k !== NODE_KEY_HEADER && k !== AGENT_NODE_HEADER) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    if (peerCert !== undefined) headers[PEER_HEADER] = encodePeer(peerCert);
    // The agent endpoints act on the node of the server that received the write: this one's.
    if (this.edge.nodes !== undefined) headers[AGENT_NODE_HEADER] = this.edge.nodes.local() ?? "";
    return line.send({ method: raw.method ?? "PUT", url: raw.url ?? "/", headers, body });
  }
}
