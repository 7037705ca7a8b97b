/**
 * Records a history of Consul KV operations for the linearizability checker
 * (linearizability.ts): concurrent clients reading, writing and compare-and-setting a few
 * keys over real HTTP, spread over every server given, each operation with its monotonic
 * call and answer times and its outcome. Test code only.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { OUTCOMES, type KvOp, type KvOperation, type Outcome } from "./linearizability.js";

/** A request that got no usable answer: an HTTP status other than the operation's own, or no answer at all. */
export type Failure =
  | { kind: "status"; status: number; /** The `error.code` of Ruche's JSON error body, if any. */ code: string | undefined; server: string; write: boolean }
  | { kind: "error"; /** The error's `code` (ECONNREFUSED, UND_ERR_SOCKET...) or name (TimeoutError, AbortError). */ code: string; server: string; write: boolean };

/**
 * Whether a failed write certainly did not take effect (it is then left out of the history;
 * otherwise it may have applied at any time after its call): a 503 RUCHE_NO_LEADER (a
 * follower with no leader refuses before forwarding; a leader whose fenced commit failed
 * kept nothing), a 429 (the connection was over the limit and answered before its request
 * was read), or a connection refused (nothing was sent). Everything else is unknown.
 */
export function refusedBeforeApply(f: Failure): boolean {
  if (f.kind === "error") return f.code === "ECONNREFUSED";
  return (f.status === 503 && f.code === "RUCHE_NO_LEADER") || f.status === 429;
}

export interface RecordOptions {
  /** The Consul API (host:port) of each server; client operations go round robin over them. */
  addresses: readonly string[];
  /** The keys, read before the clients start (their values then are the history's `initial`). */
  keys: readonly string[];
  /** Concurrent clients, each issuing one operation at a time. */
  clients: number;
  /** How long the clients start new operations; operations under way then run to their answer or timeout. */
  durationMs: number;
  /** Past this, a request is given up: its outcome is unknown. */
  opTimeoutMs: number;
  /** Stops the clients at once; requests under way are given up (unknown). */
  signal?: AbortSignal;
  /** Seeds the choice of key and operation (random when not given; the history says which). */
  seed?: number;
  /** The weights of reads, plain writes and compare-and-sets (a cas is a read, then `?cas=` its ModifyIndex). Default 2:1:2. */
  mix?: { get: number; put: number; cas: number };
  /** Which failed writes certainly did not apply. Default `refusedBeforeApply`. */
  notApplied?: (f: Failure) => boolean;
  /** A client's pause after a failed request, so that it does not spin while a server is down. Default 50 ms. */
  backoffMs?: number;
}

export interface KvHistory {
  ops: KvOperation[];
  /** Each key's value when the clients started (`checkKvHistory(ops, { initial })`). */
  initial: Record<string, string | null>;
  seed: number;
  stats: {
    /** Operations by outcome; a cas counts its read and its write. */
    ok: number;
    unknown: number;
    refused: number;
    /** Answered cas writes that applied and that did not. */
    casApplied: number;
    casRefused: number;
    /** Failed requests by what failed them: "503 RUCHE_NO_LEADER", "ECONNREFUSED", "TimeoutError"... */
    failures: Record<string, number>;
  };
}

/** Runs the clients and returns what they saw. Throws when a key cannot be read at the start. */
export async function recordKvHistory(o: RecordOptions): Promise<KvHistory> {
  if (o.addresses.length === 0 || o.keys.length === 0 || o.clients < 1) throw new Error("recordKvHistory needs at least one address, one key and one client");
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const mix = o.mix ?? { get: 2, put: 1, cas: 2 };
  const notApplied = o.notApplied ?? refusedBeforeApply;
  const backoffMs = o.backoffMs ?? 50;
  const run = randomUUID().slice(0, 8);
  const dispatcher = new Agent({ connections: o.clients, keepAliveTimeout: 10_000 });
  const ops: KvOperation[] = [];
  const stats: KvHistory["stats"] = { ok: 0, unknown: 0, refused: 0, casApplied: 0, casRefused: 0, failures: {} };
  const stopped = (): boolean => o.signal?.aborted === true;

  /** One request; its answer, or the failure, with the times around it. */
  const send = async (server: string, method: "GET" | "PUT", key: string, query: string, body?: string): Promise<{ call: number; return: number } & ({ status: number; text: string } | { error: string })> => {
    const path = key.split("/").map(encodeURIComponent).join("/");
    const timeout = AbortSignal.timeout(o.opTimeoutMs);
    const signal = o.signal === undefined ? timeout : AbortSignal.any([timeout, o.signal]);
    const call = performance.now();
    try {
      const res = await request(`http://${server}/v1/kv/${path}${query}`, { method, dispatcher, signal, ...(body === undefined ? {} : { body }) });
      const text = await res.body.text();
      return { call, return: performance.now(), status: res.statusCode, text };
    } catch (err) {
      const e = err as { code?: unknown; name?: unknown };
      const error = timeout.aborted ? "TimeoutError" : typeof e.code === "string" ? e.code : typeof e.name === "string" ? e.name : "error";
      return { call, return: performance.now(), error };
    }
  };

  /** The failure of an answer with an unexpected status, or of no answer. */
  const failure = (server: string, write: boolean, r: { status: number; text: string } | { error: string }): Failure => {
    if ("error" in r) return { kind: "error", code: r.error, server, write };
    let code: string | undefined;
    try {
      const b = JSON.parse(r.text) as { error?: { code?: unknown } };
      if (typeof b.error?.code === "string") code = b.error.code;
    } catch {
      // Not Ruche's JSON error body.
    }
    return { kind: "status", status: r.status, code, server, write };
  };
  const label = (f: Failure): string => (f.kind === "error" ? f.code : `${f.status}${f.code === undefined ? "" : ` ${f.code}`}`);
  const count = (f: Failure): void => {
    stats.failures[label(f)] = (stats.failures[label(f)] ?? 0) + 1;
  };
  const record = (client: number, server: string, key: string, t: { call: number; return: number }, outcome: Outcome, op: KvOp, failed?: Failure): void => {
    ops.push({ client, server, key, call: t.call, return: t.return, outcome, op, ...(failed === undefined ? {} : { failure: label(failed) }) });
    stats[outcome]++;
  };

  /** A read with default consistency: the value and its ModifyIndex (0: absent), or undefined when it failed. */
  const read = async (server: string, key: string): Promise<{ t: { call: number; return: number }; value: string | null; index: number } | { t: { call: number; return: number }; failure: Failure }> => {
    const r = await send(server, "GET", key, "");
    if ("status" in r && r.status === 404) return { t: r, value: null, index: 0 };
    if ("status" in r && r.status === 200) {
      const [e] = JSON.parse(r.text) as { Value: string | null; ModifyIndex: number }[];
      if (e === undefined) throw new Error(`GET /v1/kv/${key} on ${server} answered 200 with an empty list`);
      return { t: r, value: e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8"), index: e.ModifyIndex };
    }
    return { t: r, failure: failure(server, false, r) };
  };

  /** A write: true/false as answered, or the failure. */
  const write = async (server: string, key: string, value: string, cas: number | undefined): Promise<{ t: { call: number; return: number }; applied: boolean } | { t: { call: number; return: number }; failure: Failure }> => {
    const r = await send(server, "PUT", key, cas === undefined ? "" : `?cas=${cas}`, value);
    if ("status" in r && r.status === 200 && (r.text.trim() === "true" || (cas !== undefined && r.text.trim() === "false"))) return { t: r, applied: r.text.trim() === "true" };
    return { t: r, failure: failure(server, true, r) };
  };

  const initial: Record<string, string | null> = {};
  for (const key of o.keys) {
    let last: Failure | undefined;
    for (const server of o.addresses) {
      const r = await read(server, key);
      if ("failure" in r) {
        last = r.failure;
        continue;
      }
      initial[key] = r.value;
      break;
    }
    if (!(key in initial)) throw new Error(`recordKvHistory: no server could read ${key} at the start (last: ${JSON.stringify(last)})`);
  }

  const deadline = performance.now() + o.durationMs;
  const client = async (c: number): Promise<void> => {
    const rand = rng(seed + c * 0x9e3779b1);
    const total = mix.get + mix.put + mix.cas;
    let seq = 0;
    let failed = false;
    for (let i = 0; performance.now() < deadline && !stopped(); i++) {
      if (failed) {
        await sleep(backoffMs, undefined, o.signal === undefined ? {} : { signal: o.signal }).catch(() => undefined);
        failed = false;
        if (stopped()) break;
      }
      const server = o.addresses[(c + i) % o.addresses.length]!;
      const key = o.keys[Math.floor(rand() * o.keys.length)]!;
      const pick = rand() * total;
      const value = `${run}:${c}:${seq++}`;
      if (pick < mix.put) {
        const w = await write(server, key, value, undefined);
        if ("failure" in w) {
          count(w.failure);
          failed = true;
        }
        record(c, server, key, w.t, "failure" in w ? (notApplied(w.failure) ? OUTCOMES.Refused : OUTCOMES.Unknown) : OUTCOMES.Ok, { type: "put", value }, "failure" in w ? w.failure : undefined);
        continue;
      }
      const r = await read(server, key);
      if ("failure" in r) {
        count(r.failure);
        failed = true;
        record(c, server, key, r.t, OUTCOMES.Unknown, { type: "get", result: null }, r.failure);
        continue;
      }
      record(c, server, key, r.t, OUTCOMES.Ok, { type: "get", result: r.value });
      if (pick < mix.put + mix.get || performance.now() >= deadline || stopped()) continue;
      const w = await write(server, key, value, r.index);
      if ("failure" in w) {
        count(w.failure);
        failed = true;
      } else if (w.applied) stats.casApplied++;
      else stats.casRefused++;
      const outcome = "failure" in w ? (notApplied(w.failure) ? OUTCOMES.Refused : OUTCOMES.Unknown) : OUTCOMES.Ok;
      record(c, server, key, w.t, outcome, { type: "cas", expected: r.value, value, result: "applied" in w && w.applied }, "failure" in w ? w.failure : undefined);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  } finally {
    await dispatcher.close();
  }
  ops.sort((a, b) => a.call - b.call);
  return { ops, initial, seed, stats };
}

/** A deterministic generator (mulberry32): the clients' choices here, the generated histories of the checker's tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
