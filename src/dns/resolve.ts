import { isIP } from "node:net";
import type * as packet from "dns-packet";
import { aggregate, type CatalogReader, type ServiceInstance } from "../catalog/index.js";
import { assertNever } from "../structs/index.js";

/** DNS response codes (RFC 1035 §4.1.1) that this server sends. */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
export type Rcode = (typeof Rcode)[keyof typeof Rcode];

/** What the resolver needs besides the query: the catalog, its naming, and injected time and randomness. */
export interface ResolveContext {
  catalog: CatalogReader;
  /** Lower-case, without dots at either end: "consul". */
  domain: string;
  ttlSeconds: number;
  /** Unix time in seconds, used as the SOA serial. */
  nowSeconds: () => number;
  /** A number in [0, 1), used to shuffle instances. */
  random: () => number;
  /**
   * The answer of the prepared query a `NAME.query[.DC].consul` question names, executed
   * before the question is resolved (the resolver stays pure): null when there is no such
   * query, an error when executing it failed (SERVFAIL). Absent: such names are NXDOMAIN.
   */
  query?: QueryAnswer | null | Error;
}

/** A prepared query's answer as DNS needs it: where its instances are, how long to keep them, and each one's node, address and port, in the order to answer. */
export interface QueryAnswer {
  datacenter: string;
  /** The query's DNS TTL, when it sets one; else the server's. */
  ttlSeconds?: number;
  instances: readonly { node: string; address: string; port: number }[];
}

/** What a name inside our domain asks for. */
export type Lookup =
  | { kind: "apex" }
  | { kind: "service"; service: string; tag: string | null; dc: string | null }
  | { kind: "node"; node: string; dc: string | null }
  /** A prepared query's name (its labels joined with dots), lower case. */
  | { kind: "query"; query: string; dc: string | null }
  | { kind: "unknown" };

/** The name split against our domain: `null` when the name is outside it. */
export function parseName(name: string, domain: string): Lookup | null {
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n === domain) return { kind: "apex" };
  if (!n.endsWith(`.${domain}`)) return null;
  const labels = n.slice(0, -(domain.length + 1)).split(".");
  if (labels.some((l) => l === "")) return { kind: "unknown" };

  // Find "service", "node" or "query" as the last or second-to-last label (the last then being a DC).
  let dc: string | null = null;
  let kindAt = labels.length - 1;
  const last = labels[kindAt];
  if (last !== "service" && last !== "node" && last !== "query") {
    dc = last ?? null;
    kindAt -= 1;
  }
  const kind = labels[kindAt];
  const head = labels.slice(0, Math.max(0, kindAt));
  if (head.length === 0) return { kind: "unknown" };

  if (kind === "node") return { kind: "node", node: head.join("."), dc };
  if (kind === "query") return { kind: "query", query: head.join("."), dc };
  if (kind !== "service") return { kind: "unknown" };

  const [first, second] = head;
  if (first === undefined) return { kind: "unknown" };
  if (head.length === 1) return { kind: "service", service: first, tag: null, dc };
  if (head.length === 2 && second !== undefined) {
    // RFC 2782: _service._protocol, where the protocol is a tag and `_tcp` means any.
    if (first.startsWith("_") && second.startsWith("_") && first.length > 1 && second.length > 1) {
      const tag = second.slice(1);
      return { kind: "service", service: first.slice(1), tag: tag === "tcp" ? null : tag, dc };
    }
    return { kind: "service", service: second, tag: first, dc };
  }
  return { kind: "unknown" };
}

/** Healthy enough to be answered: passing or warning, as Consul does without `only_passing`. */
function isServed(instance: ServiceInstance): boolean {
  return aggregate(instance.checks) !== "critical";
}

/** Whether a name can be written in a DNS message: labels of 1 to 63 bytes, 253 bytes in all (RFC 1035 §2.3.4). */
function isDnsName(name: string): boolean {
  return Buffer.byteLength(name) <= 253 && name.split(".").every((l) => l !== "" && Buffer.byteLength(l) <= 63);
}

function addressOf(instance: ServiceInstance): string {
  return instance.Address !== "" ? instance.Address : instance.node.Address;
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i];
    const b = out[j];
    if (a === undefined || b === undefined) continue;
    out[i] = b;
    out[j] = a;
  }
  return out;
}

/** A or AAAA for an address, or nothing when the address is not an IP of the asked family. */
function addressRecord(name: string, address: string, type: "A" | "AAAA", ttl: number): packet.Answer | null {
  const family = isIP(address);
  if (type === "A" && family === 4) return { type: "A", name, ttl, class: "IN", data: address };
  if (type === "AAAA" && family === 6) return { type: "AAAA", name, ttl, class: "IN", data: address };
  return null;
}

/** The records of one name for a question type: A/AAAA/ANY give addresses; other types give none. */
function addressRecords(name: string, addresses: readonly string[], qtype: string, ttl: number): packet.Answer[] {
  const types: ("A" | "AAAA")[] = qtype === "A" ? ["A"] : qtype === "AAAA" ? ["AAAA"] : qtype === "ANY" ? ["A", "AAAA"] : [];
  const out: packet.Answer[] = [];
  for (const address of addresses) {
    for (const t of types) {
      const r = addressRecord(name, address, t, ttl);
      if (r !== null) out.push(r);
    }
  }
  return out;
}

export function soaRecord(ctx: ResolveContext): packet.Answer {
  return {
    type: "SOA",
    name: `${ctx.domain}.`,
    ttl: ctx.ttlSeconds,
    class: "IN",
    data: {
      mname: `ns.${ctx.domain}.`,
      rname: `hostmaster.${ctx.domain}.`,
      serial: ctx.nowSeconds(),
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 0,
    },
  };
}

/** The body of an answer: code and sections. Header fields (id, flags, question, OPT) are the server's. */
export interface Answer {
  rcode: Rcode;
  answers: packet.Answer[];
  authorities: packet.Answer[];
  additionals: packet.Answer[];
}

function empty(rcode: Rcode, ctx: ResolveContext | null): Answer {
  return { rcode, answers: [], authorities: ctx === null ? [] : [soaRecord(ctx)], additionals: [] };
}

/**
 * Answers one question from the catalog. Pure: the catalog is read, time and
 * randomness come from the context.
 */
export function resolve(question: packet.Question, ctx: ResolveContext): Answer {
  if (question.class !== undefined && question.class !== "IN" && question.class !== "ANY") return empty(Rcode.REFUSED, null);
  const lookup = parseName(question.name, ctx.domain);
  if (lookup === null) return empty(Rcode.REFUSED, null);
  // Echo the name as asked, case included (RFC 4343), without a trailing dot: dns-packet adds it.
  const name = question.name.replace(/\.$/, "");
  const qtype: string = question.type; // also "ANY", which the types leave out
  const ttl = ctx.ttlSeconds;

  switch (lookup.kind) {
    case "apex": {
      if (qtype === "SOA" || qtype === "ANY") return { rcode: Rcode.NOERROR, answers: [soaRecord(ctx)], authorities: [], additionals: [] };
      return empty(Rcode.NOERROR, ctx);
    }
    case "unknown":
      return empty(Rcode.NXDOMAIN, ctx);
    case "node": {
      if (lookup.dc !== null && lookup.dc !== ctx.catalog.datacenter().toLowerCase()) return empty(Rcode.NXDOMAIN, ctx);
      const node = ctx.catalog.nodes().find((n) => n.Node.toLowerCase() === lookup.node);
      if (node === undefined) return empty(Rcode.NXDOMAIN, ctx);
      const answers = addressRecords(name, [node.Address], qtype, ttl);
      return answers.length > 0 ? { rcode: Rcode.NOERROR, answers, authorities: [], additionals: [] } : empty(Rcode.NOERROR, ctx);
    }
    case "service": {
      const dc = ctx.catalog.datacenter();
      if (lookup.dc !== null && lookup.dc !== dc.toLowerCase()) return empty(Rcode.NXDOMAIN, ctx);
      const service = Object.keys(ctx.catalog.services()).find((s) => s.toLowerCase() === lookup.service);
      if (service === undefined) return empty(Rcode.NXDOMAIN, ctx);
      const tag = lookup.tag;
      const instances = shuffle(
        ctx.catalog
          .instances(service)
          .filter(isServed)
          .filter((i) => tag === null || i.Tags.some((t) => t.toLowerCase() === tag)),
        ctx.random,
      );
      if (instances.length === 0) return empty(Rcode.NXDOMAIN, ctx);

      if (qtype === "SRV") {
        const answers: packet.Answer[] = [];
        const additionals: packet.Answer[] = [];
        const seen = new Set<string>();
        for (const i of instances) {
          const target = `${i.node.Node}.node.${dc}.${ctx.domain}`;
          // A node name that cannot be a DNS name would make the whole answer unreadable: its record is left out.
          if (!isDnsName(target)) continue;
          answers.push({ type: "SRV", name, ttl, class: "IN", data: { priority: 1, weight: 1, port: i.Port, target } });
          const address = addressOf(i);
          const key = `${target.toLowerCase()} ${address}`;
          if (seen.has(key)) continue;
          seen.add(key);
          additionals.push(...addressRecords(target, [address], "ANY", ttl));
        }
        return { rcode: Rcode.NOERROR, answers, authorities: [], additionals };
      }
      const answers = addressRecords(name, [...new Set(instances.map(addressOf))], qtype, ttl);
      return answers.length > 0 ? { rcode: Rcode.NOERROR, answers, authorities: [], additionals: [] } : empty(Rcode.NOERROR, ctx);
    }
    case "query": {
      const q = ctx.query;
      if (q instanceof Error) throw q;
      if (q === undefined || q === null || q.instances.length === 0) return empty(Rcode.NXDOMAIN, ctx);
      const qttl = q.ttlSeconds ?? ttl;
      if (qtype === "SRV") {
        const answers: packet.Answer[] = [];
        const additionals: packet.Answer[] = [];
        const seen = new Set<string>();
        for (const i of q.instances) {
          const target = `${i.node}.node.${q.datacenter}.${ctx.domain}`;
          if (!isDnsName(target)) continue;
          answers.push({ type: "SRV", name, ttl: qttl, class: "IN", data: { priority: 1, weight: 1, port: i.port, target } });
          const key = `${target.toLowerCase()} ${i.address}`;
          if (seen.has(key)) continue;
          seen.add(key);
          additionals.push(...addressRecords(target, [i.address], "ANY", qttl));
        }
        return { rcode: Rcode.NOERROR, answers, authorities: [], additionals };
      }
      const answers = addressRecords(name, [...new Set(q.instances.map((i) => i.address))], qtype, qttl);
      return answers.length > 0 ? { rcode: Rcode.NOERROR, answers, authorities: [], additionals: [] } : empty(Rcode.NOERROR, ctx);
    }
    default:
      return assertNever(lookup, "lookup");
  }
}
