import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { KV_MAX_VALUE_BYTES, type LockDelays } from "../catalog/index.js";
import type { StateStore } from "../state/index.js";
import { AclPrefixKind, errorMessage, type Acl, type Logger } from "../structs/index.js";
import { ETCD_CLUSTER_VERSION, ETCD_VERSION, type EtcdAcl } from "./api.js";
import { V2Events, V2Expiry } from "./v2-events.js";
import { cleanKey, dirPrefix, find, nodeOf, storeKey, V2Code, V2Error, v2Delete, v2Post, v2Put, type KVView, type V2Event, type V2Written } from "./v2-keys.js";

/** A request body the v2 API reads: a value at the KV's limit, form-encoded (up to 3 bytes a byte), and the other fields. */
const MAX_BODY_BYTES = 3 * KV_MAX_VALUE_BYTES + 64 * 1024;

export interface EtcdV2Options {
  store: StateStore;
  /** The store's lock delays (`catalog.LockDelays`), as Consul's KV writes see them. */
  delays: LockDelays;
  now?: () => number;
  /** This server as an etcd member, and its cluster: named as the v3 API names them (`EtcdApiOptions`), so that both show the same ids. */
  memberName: string;
  clusterName: string;
  /** The URLs clients reach this API on: etcdctl syncs to them (`/v2/members`) and sends its next requests there. Default: the URL the request came to. */
  clientURLs?: () => string[];
  /** Whether this server may write: the leader among several. A follower refuses writes (etcd's 300) rather than commit behind the leader's back. Default: always. */
  isLeader?: () => boolean;
  /** With ACLs on: what the request's token (`X-Consul-Token`, or `Authorization: Bearer`) may do. Absent: ACLs off. */
  acl?: EtcdAcl;
  log?: Logger;
}

/** etcd's v2 HTTP API on one server: a node `(req, res)` handler for `/v2/*` and `/version`, and the leader's TTL sweep. */
export interface EtcdV2 {
  /** Whether a path is this API's: `/version`, `/v2/...`. */
  serves(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Deletes keys whose TTL passed: the leader's duty (start when leading, stop when not). */
  expiry: V2Expiry;
  /** Stops following the store; watches waiting now are left to their connections. */
  close(): void;
}

/** The largest `ttl=` kept: some 31 years, so that its expiry stays a safe integer of ms. */
const MAX_TTL_SECONDS = 1_000_000_000;

type Form = Map<string, string>;

/** The operations `/v2/stats/store` counts, each as `<op>Success` and `<op>Fail`. */
const STAT_OPS = ["gets", "sets", "delete", "update", "create", "compareAndSwap", "compareAndDelete"] as const;
type StatOp = (typeof STAT_OPS)[number];
type Stat = `${StatOp}${"Success" | "Fail"}`;

/** A member's or cluster's id in hex, as v2 shows it: the number the v3 API's headers carry (api.ts). */
function hexId(s: string): string {
  return (createHash("sha256").update(s).digest().readBigUInt64BE(0) >> 1n).toString(16);
}

/** Go's `strconv.ParseBool`. */
function parseBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/**
 * etcd's v2 API over Ruche's KV store (v2-keys.ts for the mapping): `/v2/keys` with etcd's
 * parameters, JSON and errors; `/v2/members`, `/v2/machines` and `/v2/stats/*` describing
 * this server as one etcd member; `/version`. Users and roles (`/v2/auth`) are refused:
 * Ruche's ACL tokens stand for them (a token is taken as basic auth's password too).
 */
export function etcdV2(opts: EtcdV2Options): EtcdV2 {
  const { store } = opts;
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const events = new V2Events(store);
  const stats = Object.fromEntries(STAT_OPS.flatMap((op) => [`${op}Success`, `${op}Fail`]).map((s) => [s, 0])) as Record<Stat, number>;
  const expiry = new V2Expiry(events, {
    now,
    onError: (err) => log?.warn({ err }, "expiring etcd v2 keys failed; trying again at the next sweep"),
  });
  const name = opts.memberName;
  const memberId = hexId(`member:${opts.clusterName}:${name}`);
  const clusterId = hexId(`cluster:${opts.clusterName}`);
  const started = new Date(now()).toISOString();
  const env = (): { nowMs: number; delays: LockDelays } => ({ nowMs: now(), delays: opts.delays });
  const view: KVView = { get: (k) => store.kvGet(k), list: (p) => store.kvList(p), expiry: (k) => store.kvExpiry(k) };

  const clientURLs = (req: IncomingMessage): string[] => opts.clientURLs?.() ?? [`${"encrypted" in req.socket && req.socket.encrypted === true ? "https" : "http"}://${req.headers.host ?? "127.0.0.1:2379"}`];

  const headers = (index?: number): Record<string, string> => ({
    "content-type": "application/json",
    "x-etcd-cluster-id": clusterId,
    ...(index === undefined ? {} : { "x-etcd-index": String(index), "x-raft-index": String(store.index), "x-raft-term": "1" }),
  });
  const json = (res: ServerResponse, status: number, body: unknown, index?: number): void => {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, { ...headers(index), "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  const fail = (res: ServerResponse, err: V2Error): void => {
    // A refusal of the store's: the index it is at now.
    const index = err.index === 0 ? 0 : store.index;
    const body = { ...err.body(), index };
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(err.status, { ...headers(), ...(index === 0 ? {} : { "x-etcd-index": String(index) }), "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  const plain = (res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...extra });
    res.end(text);
  };

  /**
   * The request's rights, or a refusal (etcd's 110) for a token that is not known or has
   * expired. The token is `X-Consul-Token`, `Authorization: Bearer`, or etcd's basic auth
   * (`etcdctl -u user:SECRET`) whose password is the token's SecretID, as the v3 API's
   * Authenticate takes it: Ruche's ACL tokens stand for etcd's users.
   */
  const rights = (req: IncomingMessage): Acl | undefined => {
    if (opts.acl === undefined) return undefined;
    const auth = req.headers.authorization ?? "";
    const header = req.headers["x-consul-token"];
    let token = typeof header === "string" && header !== "" ? header : undefined;
    if (token === undefined && /^bearer /i.test(auth)) token = auth.slice(7).trim();
    if (token === undefined && /^basic /i.test(auth)) {
      const pair = Buffer.from(auth.slice(6).trim(), "base64").toString("utf8");
      token = pair.includes(":") ? pair.slice(pair.indexOf(":") + 1) : pair;
    }
    const r = opts.acl.resolve(token);
    if (!r.ok) throw new V2Error(V2Code.Unauthorized, `the token is refused (${r.reason}): send a Ruche ACL token as X-Consul-Token, Authorization: Bearer, or etcd's basic auth password`);
    return r.acl;
  };
  const may = (acl: Acl | undefined, key: string, level: "read" | "write"): boolean => acl === undefined || acl.prefix(AclPrefixKind.Key, key, level);
  const mustMay = (acl: Acl | undefined, key: string, level: "read" | "write"): void => {
    if (!may(acl, key, level)) throw new V2Error(V2Code.Unauthorized, `Permission denied: the token may not ${level} the key "${key}"`);
  };

  async function keys(req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> {
    const method = req.method ?? "GET";
    if (!["GET", "HEAD", "PUT", "POST", "DELETE"].includes(method)) {
      plain(res, 405, "Method Not Allowed", { allow: "GET, HEAD, POST, PUT, DELETE" });
      return;
    }
    const acl = rights(req);
    let raw: string;
    try {
      raw = url.pathname
        .slice("/v2/keys".length)
        .split("/")
        .map((s) => decodeURIComponent(s))
        .join("/");
    } catch {
      throw new V2Error(V2Code.InvalidForm, `the key ${url.pathname} is not a well-formed URL path`);
    }
    const key = cleanKey(raw);
    // Go's FormValue: the form body of a PUT or POST first, then the query.
    const form: Form = new Map();
    if (method === "PUT" || method === "POST") for (const [k, v] of new URLSearchParams(await body(req))) if (!form.has(k)) form.set(k, v);
    for (const [k, v] of url.searchParams) if (!form.has(k)) form.set(k, v);
    const flag = (n: string): boolean => {
      const v = form.get(n);
      if (v === undefined) return false;
      const b = parseBool(v);
      if (b === undefined) throw new V2Error(V2Code.InvalidField, `invalid value for "${n}"`);
      return b;
    };
    const uint = (n: string, code: V2Code): number | undefined => {
      const v = form.get(n);
      if (v === undefined || (n === "ttl" && v === "")) return undefined;
      const x = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(x)) throw new V2Error(code, `invalid value for "${n}"`);
      return x;
    };
    const recursive = flag("recursive");
    const dir = flag("dir");
    const wait = flag("wait");
    const quorum = flag("quorum");
    flag("sorted");
    const stream = flag("stream");
    const prevIndex = uint("prevIndex", V2Code.IndexNaN);
    const waitIndex = uint("waitIndex", V2Code.IndexNaN);
    const ttl = uint("ttl", V2Code.TTLNaN);
    if (ttl !== undefined && ttl > MAX_TTL_SECONDS) throw new V2Error(V2Code.InvalidField, `a ttl of ${ttl} seconds is over the largest Ruche keeps (${MAX_TTL_SECONDS} seconds)`);
    const prevExistRaw = form.get("prevExist");
    const prevExist = prevExistRaw === undefined ? undefined : parseBool(prevExistRaw);
    // etcd names this one without quotes.
    if (prevExistRaw !== undefined && prevExist === undefined) throw new V2Error(V2Code.InvalidField, "invalid value for prevExist");
    const prevValue = form.get("prevValue");
    if (prevValue === "") throw new V2Error(V2Code.PrevValueRequired, '"prevValue" cannot be empty');
    const refresh = flag("refresh");
    const value = form.get("value");
    if (value !== undefined && Buffer.byteLength(value) > KV_MAX_VALUE_BYTES) throw new V2Error(V2Code.InvalidField, `the value is ${Buffer.byteLength(value)} bytes, over the KV's limit of ${KV_MAX_VALUE_BYTES} bytes`);

    if (method === "GET" || method === "HEAD") {
      if (wait) return watch(res, { key, recursive, waitIndex: waitIndex ?? 0, stream }, acl, signal);
      if (quorum) await store.barrier(signal);
      const found = find(view, key);
      const readable = (k: string): boolean => may(acl, k, "read");
      // A directory the token may read nothing of is not found, as Consul answers a tree it filtered empty.
      const hidden = found.kind === "dir" && key !== "/" && acl !== undefined && ![...(found.self === undefined ? [] : [found.self]), ...found.under].some((e) => readable(e.Key));
      if (found.kind === "none" || hidden) {
        stats.getsFail++;
        throw new V2Error(V2Code.KeyNotFound, key, store.index);
      }
      if (found.kind === "file") mustMay(acl, found.entry.Key, "read");
      stats.getsSuccess++;
      const node = nodeOf(key, found, { view, nowMs: now(), recursive, readable });
      json(res, 200, { action: "get", node }, store.index);
      return;
    }

    if (opts.isLeader !== undefined && !opts.isLeader()) {
      throw new V2Error(V2Code.RaftInternal, "this Ruche server does not lead: it refuses etcd v2 writes, which its leader's etcd port takes", store.index);
    }
    const compare = prevValue !== undefined || prevIndex !== undefined;
    const op: StatOp = method === "DELETE" ? (compare ? "compareAndDelete" : "delete") : method === "POST" || prevExist === false ? "create" : compare ? "compareAndSwap" : prevExist === true ? "update" : "sets";
    let written: V2Written & { index: number };
    try {
      if (method === "DELETE") {
        if (key !== "/") {
          const f = find(view, key);
          if (f.kind === "file") mustMay(acl, f.entry.Key, "write");
          if (f.kind === "dir") for (const e of [...(f.self === undefined ? [] : [f.self]), ...f.under]) mustMay(acl, e.Key, "write");
        }
        written = await events.write((tx) => v2Delete(tx, env(), { key, dir, recursive, prevValue, prevIndex }));
      } else if (method === "POST") {
        mustMay(acl, dirPrefix(key), "write");
        written = await events.write((tx) => v2Post(tx, env(), { key, value, ttl, dir }));
      } else {
        if (refresh && value !== undefined && value !== "") throw new V2Error(V2Code.RefreshValue, "A value was provided on a refresh");
        if (refresh && ttl === undefined) throw new V2Error(V2Code.RefreshTTLRequired, "No TTL value set");
        if (key !== "/") mustMay(acl, dir || find(view, key).kind === "dir" ? dirPrefix(key) : storeKey(key), "write");
        written = await events.write((tx) => v2Put(tx, env(), { key, value, dir, ttl, refresh, prevExist, prevValue, prevIndex }));
      }
    } catch (err) {
      if (err instanceof V2Error && err.errorCode !== V2Code.Unauthorized) stats[`${op}Fail`]++;
      throw err;
    }
    stats[`${op}Success`]++;
    json(res, written.created ? 201 : 200, written.event, written.index);
  }

  /**
   * `?wait=true`: the first event from `waitIndex` (or the next one) on the key, or under it
   * with `recursive`; with `stream=true`, every event from then on, one JSON a line, until the
   * client goes. Events of keys the token may not read are skipped.
   */
  async function watch(res: ServerResponse, w: { key: string; recursive: boolean; waitIndex: number; stream: boolean }, acl: Acl | undefined, signal: AbortSignal): Promise<void> {
    const readable = (e: V2Event): boolean => acl === undefined || may(acl, storeKey(e.node.key ?? "/") + (e.node.dir === true ? "/" : ""), "read");
    /** The first readable event from `from` in the history (none for 0); throws etcd's 401 past it. */
    const past = (from: number): { index: number; event: V2Event } | undefined => {
      let hit = from === 0 ? undefined : events.scan(w.key, w.recursive, from);
      while (hit !== undefined && !readable(hit.event)) hit = events.scan(w.key, w.recursive, hit.index + 1);
      return hit;
    };
    let hit = past(w.waitIndex);
    if (hit !== undefined && !w.stream) {
      json(res, 200, hit.event, store.index);
      return;
    }
    // As etcd does: the headers now, the events as they come.
    res.writeHead(200, headers(store.index));
    res.flushHeaders();
    for (;;) {
      try {
        while (hit === undefined) {
          const next = await events.next(w.key, w.recursive, signal);
          if (readable(next.event)) hit = next;
        }
      } catch {
        // The client went.
        res.end();
        return;
      }
      const line = `${JSON.stringify(hit.event)}\n`;
      if (!w.stream) {
        res.end(line);
        return;
      }
      res.write(line);
      try {
        // What happened while it was written, then the next ones.
        hit = past(hit.index + 1);
      } catch {
        res.end();
        return;
      }
    }
  }

  function members(req: IncomingMessage, res: ServerResponse, path: string): void {
    const me = { id: memberId, name, peerURLs: [] as string[], clientURLs: clientURLs(req) };
    if (req.method !== "GET" && req.method !== "HEAD") {
      json(res, 501, { message: "Ruche's etcd API does not add, remove or update members: its servers join and leave the cluster themselves (`ruche operator etcd` shows the etcd members under the state)" });
    } else if (path === "/v2/members/leader") json(res, 200, me);
    else if (path === "/v2/members" || path === "/v2/members/") json(res, 200, { members: [me] });
    else json(res, 404, { message: "Not found" });
  }

  /** Everything but the keys: this server as an etcd member, its stats, and the refusals. */
  function cluster(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === "/version") json(res, 200, { etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    else if (path === "/v2/members" || path.startsWith("/v2/members/")) members(req, res, path);
    else if (path === "/v2/machines") plain(res, 200, clientURLs(req).join(", "));
    else if (path === "/v2/stats/self") {
      const leaderInfo = { leader: memberId, uptime: `${((now() - Date.parse(started)) / 1000).toFixed(3)}s`, startTime: started };
      json(res, 200, { name, id: memberId, state: opts.isLeader === undefined || opts.isLeader() ? "StateLeader" : "StateFollower", startTime: started, leaderInfo, recvAppendRequestCnt: 0, sendAppendRequestCnt: 0 });
    } else if (path === "/v2/stats/store") json(res, 200, { ...stats, expireCount: events.expired, watchers: events.watchers });
    else if (path === "/v2/stats/leader") json(res, 200, { leader: memberId, followers: {} });
    else if (path === "/v2/auth" || path.startsWith("/v2/auth/")) {
      json(res, 501, { message: "etcd's v2 users and roles are not supported by Ruche: its ACL policies decide; with ACLs on, send a Ruche ACL token (X-Consul-Token, Authorization: Bearer, or as the basic auth password) whose policy grants the keys" });
    } else plain(res, 404, "404 page not found\n");
  }

  async function route(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (path === "/v2/keys" || path.startsWith("/v2/keys/")) await keys(req, res, url, signal);
    else cluster(req, res, path);
  }

  return {
    serves: (path) => path === "/version" || path === "/v2" || path.startsWith("/v2/"),
    handle(req, res) {
      const ac = new AbortController();
      res.on("close", () => {
        ac.abort();
      });
      route(req, res, ac.signal).catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof V2Error) fail(res, err);
        else if (err instanceof BodyTooLarge) json(res, 413, { message: err.message });
        else {
          log?.error({ err }, "etcd v2 request failed");
          fail(res, new V2Error(V2Code.RaftInternal, errorMessage(err), store.index));
        }
      });
    },
    expiry,
    close: () => {
      events.close();
    },
  };
}

class BodyTooLarge extends Error {}

/** The request body as text, refused past MAX_BODY_BYTES. */
async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge(`the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}
