import type { IncomingMessage, ServerResponse } from "node:http";
import { request } from "undici";
import type { ClusterView } from "../server/index.js";
import { ErrorCode, errorMessage, neverSent, RucheError } from "../structs/index.js";
import type { ApiFlavor } from "./cluster-headers.js";

/** What a listener needs of the cluster: the view, and which of the leader's addresses to forward to. */
export interface ClusterEdge {
  view: ClusterView;
  flavor: ApiFlavor;
}

/** Marks a request one server forwarded to the leader: the leader answers it, never forwards it again. */
const FORWARDED = "x-ruche-forwarded-by";

/** Writes any server answers itself: the agent's own config, the membership and etcd operations, the servers' join. */
const LOCAL_WRITE = /^\/v1\/(agent\/(reload|force-leave)|operator\/etcd\/|internal\/)/;

/** Reads that say something of this server, not of the state: no barrier. */
const LOCAL_READ = /^\/v1\/(status\/|agent\/(self|members|host|metrics)|metrics|operator\/(etcd\/|servers)|internal\/|openapi)|^\/(?!v1\/)/;

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

/**
 * Sends a write to the leader's API of the same flavor, as it came, and its answer back as
 * it went: a follower serves every endpoint, as Nomad servers forward RPCs to their leader.
 * No leader, a leader that changed under the request, or one that does not answer: 503
 * `RUCHE_NO_LEADER` (nothing was written, or for a leader that stopped answering mid-request,
 * nothing known: the message says which).
 */
export async function forwardToLeader(edge: ClusterEdge, raw: IncomingMessage, res: ServerResponse, body: Buffer, signal: AbortSignal): Promise<void> {
  if (raw.headers[FORWARDED] !== undefined) {
    throw new RucheError(ErrorCode.NoLeader, `this server no longer leads (the request was forwarded here by ${String(raw.headers[FORWARDED])}): nothing was written; try again`);
  }
  const leader = edge.view.leader();
  if (leader === null) throw new RucheError(ErrorCode.NoLeader, "no cluster leader: the servers are electing one (or etcd has lost its quorum); nothing was written; try again");
  const target = edge.flavor === "nomad" ? leader.HTTPAddr : leader.ConsulAddr;
  if (leader.Name === edge.view.self.Name) throw new RucheError(ErrorCode.NoLeader, "this server was just elected and is taking up the leader's duties: nothing was written; try again");
  if (target === "") throw new RucheError(ErrorCode.NoLeader, `the leader ${leader.Name} serves no ${edge.flavor === "nomad" ? "HTTP" : "Consul"} API to forward to; nothing was written`);
  const headers: Record<string, string> = { [FORWARDED]: edge.view.self.Name };
  for (const [k, v] of Object.entries(raw.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
  let answer;
  try {
    answer = await request(`http://${target}${raw.url ?? "/"}`, {
      method: (raw.method ?? "PUT") as "PUT",
      headers,
      body: body.length === 0 ? null : body,
      signal,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    // Refused before the request left: nothing was written. Once sent, the leader may have
    // written it before the connection broke: 503 RUCHE_UNAVAILABLE, which clients do not
    // send again unless repeating it is harmless.
    if (neverSent(err)) throw new RucheError(ErrorCode.NoLeader, `the leader ${leader.Name} (${target}) could not be reached: ${errorMessage(err)}; nothing was written; try again`, { cause: err });
    throw new RucheError(ErrorCode.Unavailable, `the leader ${leader.Name} (${target}) did not answer: ${errorMessage(err)}; the write may have been made: read before you try again`, { cause: err });
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
  const bytes = Buffer.from(await answer.body.arrayBuffer());
  res.writeHead(answer.statusCode, { ...out, "content-length": bytes.length });
  res.end(bytes);
}

