import * as packet from "dns-packet";
import type { DnsConfig } from "./config.js";
import { parseName, Rcode, resolve, type Answer, type Lookup, type ResolveContext } from "./resolve.js";

/** The largest UDP answer without EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The largest answer a 2-byte TCP length prefix can carry. */
export const TCP_MAX_SIZE = 65535;
/** The EDNS buffer size we advertise in our OPT record. */
const OUR_UDP_SIZE = 4096;

const OPCODE_QUERY = 0;
const HEADER_SIZE = 12;

/**
 * Turns one wire query into one wire response, or `null` when nothing should be sent
 * (too short to carry an id, or itself a response). `transport` decides the size limit:
 * UDP answers are cut as Consul cuts them (`encodeUdp`); TCP ones only past 65535 bytes. A
 * question the resolver fails on is answered SERVFAIL, as Consul does, and its error handed
 * to `onError`: the client hears at once instead of waiting out its timeout.
 */
export function respond(query: Buffer, transport: "udp" | "tcp", ctx: ResolveContext, onError?: (err: unknown) => void): Buffer | null {
  if (query.length < HEADER_SIZE) return null;
  const id = query.readUInt16BE(0);
  const headerFlags = query.readUInt16BE(2);
  if ((headerFlags & 0x8000) !== 0) return null; // a response: never answer it, lest two servers loop
  const rd = headerFlags & packet.RECURSION_DESIRED;
  const opcode = (headerFlags >> 11) & 0xf;

  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(query);
  } catch {
    return encode({ id, flags: rd, rcode: Rcode.FORMERR, questions: [], body: null, opt: null });
  }
  const questions = decoded.questions ?? [];
  const opt = (decoded.additionals ?? []).find((a): a is packet.OptAnswer => a.type === "OPT") ?? null;
  const ourOpt: packet.OptAnswer | null =
    opt === null ? null : { type: "OPT", name: ".", udpPayloadSize: OUR_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };

  if (opcode !== OPCODE_QUERY) return encode({ id, flags: rd, rcode: Rcode.NOTIMP, questions, body: null, opt: ourOpt });
  const question = questions[0];
  if (question === undefined || questions.length !== 1) return encode({ id, flags: rd, rcode: Rcode.FORMERR, questions, body: null, opt: ourOpt });

  let body: Answer;
  try {
    body = resolve(question, ctx);
  } catch (err) {
    onError?.(err);
    return encode({ id, flags: rd, rcode: Rcode.SERVFAIL, questions: [question], body: null, opt: ourOpt });
  }
  const reply: Reply = { id, flags: rd, rcode: body.rcode, questions: [question], body, opt: ourOpt };
  if (transport === "tcp") return encode(reply);
  const limit = opt === null ? CLASSIC_UDP_SIZE : Math.min(TCP_MAX_SIZE, Math.max(CLASSIC_UDP_SIZE, opt.udpPayloadSize));
  return encodeUdp(reply, limit, ctx.config);
}

/** Consul answers at most this many records over UDP without EDNS, whatever its `udp_answer_limit`. */
const MAX_UDP_ANSWER_LIMIT = 8;

/**
 * A UDP answer, cut as Consul's `trimUDPResponse` cuts it: without EDNS, to `udp_answer_limit`
 * answers (at most 8); then to as many answers as fit in `limit` bytes (at least one), the
 * additional section keeping the records of the SRV targets still answered. TC is set when
 * answers were cut and `enable_truncate` is on (the client then asks over TCP), and whenever
 * even one answer does not fit.
 */
function encodeUdp(r: Reply, limit: number, config: DnsConfig): Buffer {
  const all = r.body?.answers ?? [];
  const authorities = r.body?.authorities ?? [];
  const additionals = r.body?.additionals ?? [];
  let answers = all;
  if (limit === CLASSIC_UDP_SIZE) answers = answers.slice(0, Math.max(1, Math.min(MAX_UDP_ANSWER_LIMIT, config.udpAnswerLimit)));
  const extraFor = (kept: packet.Answer[]): packet.Answer[] => (kept.length === all.length ? additionals : syncExtra(kept, additionals));
  const sized = (n: number): packet.Packet => toPacket(r, answers.slice(0, n), authorities, extraFor(answers.slice(0, n)), false);
  let n = answers.length;
  if (packet.encodingLength(sized(n)) > limit) {
    // The most answers that fit, at least one: binary search, as an answer set can run to thousands.
    let lo = 1;
    let hi = n;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (packet.encodingLength(sized(mid)) <= limit) lo = mid;
      else hi = mid - 1;
    }
    n = Math.min(lo, n);
  }
  const kept = answers.slice(0, n);
  const cut = n < all.length;
  const candidate = toPacket(r, kept, authorities, extraFor(kept), cut && config.enableTruncate);
  if (packet.encodingLength(candidate) <= limit) return packet.encode(candidate);
  // Even one answer does not fit: the client must ask over TCP.
  return encode(r, limit);
}

/** The additional records of the targets of the SRV answers kept (Consul's `syncExtra`). */
function syncExtra(kept: packet.Answer[], additionals: packet.Answer[]): packet.Answer[] {
  const targets = new Set(kept.flatMap((a) => (a.type === "SRV" ? [a.data.target.toLowerCase()] : [])));
  return additionals.filter((a) => targets.has(a.name.toLowerCase().replace(/\.$/, "")));
}

/** What a wire query's one question asks for (`parseName`); null for a response, several questions, or a query it cannot read. */
function questionLookup(query: Buffer, domain: string): Lookup | null {
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(query);
  } catch {
    return null;
  }
  const q = decoded.questions;
  if (decoded.type === "response" || q?.length !== 1 || q[0] === undefined) return null;
  return parseName(q[0].name, domain);
}

/**
 * The datacenter a query's one question names (`NAME.service.DC.consul`, `NODE.node.DC.consul`)
 * when it is not `local`: what the server must find another datacenter's catalog for before it
 * answers. Null for anything else (no datacenter, this one, a query it cannot read).
 */
export function otherDatacenterAsked(query: Buffer, domain: string, local: string): string | null {
  const lookup = questionLookup(query, domain);
  if (lookup === null || (lookup.kind !== "service" && lookup.kind !== "node") || lookup.dc === null) return null;
  return lookup.dc === local.toLowerCase() ? null : lookup.dc;
}

interface Reply {
  id: number;
  /** Flags echoed from the query (RD). */
  flags: number;
  rcode: Rcode;
  questions: packet.Question[];
  body: Answer | null;
  opt: packet.OptAnswer | null;
}

function toPacket(r: Reply, answers: packet.Answer[], authorities: packet.Answer[], additionals: packet.Answer[], truncated: boolean): packet.Packet {
  return {
    type: "response",
    id: r.id,
    flags: r.flags | packet.AUTHORITATIVE_ANSWER | (truncated ? packet.TRUNCATED_RESPONSE : 0) | r.rcode,
    questions: r.questions,
    answers,
    authorities,
    additionals: r.opt === null ? additionals : [...additionals, r.opt],
  };
}

/**
 * Encodes a reply within `limit` bytes. When it does not fit, the additional section
 * goes first, then answers from the end, until it fits; TC is then set so the client
 * retries over TCP.
 */
function encode(r: Reply, limit: number = TCP_MAX_SIZE): Buffer {
  const answers = r.body?.answers ?? [];
  const authorities = r.body?.authorities ?? [];
  const additionals = r.body?.additionals ?? [];
  const full = toPacket(r, answers, authorities, additionals, false);
  if (packet.encodingLength(full) <= limit) return packet.encode(full);

  // The most answers that fit: binary search, as an answer set can run to thousands.
  const fits = (n: number): boolean => packet.encodingLength(toPacket(r, answers.slice(0, n), authorities, [], true)) <= limit;
  let lo = 0;
  let hi = answers.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  let candidate = toPacket(r, answers.slice(0, lo), authorities, [], true);
  if (packet.encodingLength(candidate) > limit) candidate = toPacket(r, [], [], [], true);
  return packet.encode(candidate);
}

/** The prepared query a wire query's one question names (`NAME.query[.DC].consul`), with its datacenter (null: this one's); null for any other question or one it cannot read. */
export function queryAsked(query: Buffer, domain: string): { name: string; dc: string | null } | null {
  const lookup = questionLookup(query, domain);
  return lookup?.kind === "query" ? { name: lookup.query, dc: lookup.dc } : null;
}
