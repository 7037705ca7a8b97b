import { isIP } from "node:net";
import type * as packet from "dns-packet";
import { aggregate, type CatalogReader, type ServiceInstance } from "../catalog/index.js";
import { assertNever, ipBytes as parseIpBytes, ipText } from "../structs/index.js";
import { serviceTtl, type DnsConfig } from "./config.js";

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

/** A server of this datacenter, for `consul.service.consul` and the NS records of the domain. */
export interface DnsServerEntry {
  /** Its name, the node of its NS and SRV targets (`NAME.node.DC.consul`). */
  node: string;
  datacenter: string;
  /** Its IP address. */
  address: string;
  /** The port clients reach its Consul API on. */
  port: number;
}

/** What the resolver needs besides the query: the catalog, its naming, the `dns_config`, and injected time and randomness. */
export interface ResolveContext {
  catalog: CatalogReader;
  /** Lower-case, without dots at either end: "consul". */
  domain: string;
  config: DnsConfig;
  /** This datacenter's live servers; absent or empty: no NS records, and `consul.service.consul` is answered from the catalog alone. */
  servers?: readonly DnsServerEntry[];
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
  /** The query's DNS TTL, when it sets one; else the `service_ttl` of `service` (else of the query's name). */
  ttlSeconds?: number;
  /** The service the query looks up. */
  service?: string;
  /** `address` is the instance's own, else its node's; `ownAddress`, when given, the instance's own ("" when it has none), which then makes an `.addr.` SRV target, as a service lookup's; `weight` its SRV weight (default 1). */
  instances: readonly { node: string; address: string; ownAddress?: string; port: number; weight?: number }[];
}

/** What a name inside our domain asks for. */
export type Lookup =
  | { kind: "apex" }
  | { kind: "service"; service: string; tag: string | null; dc: string | null }
  | { kind: "node"; node: string; dc: string | null }
  /** A prepared query's name (its labels joined with dots), lower case. */
  | { kind: "query"; query: string; dc: string | null }
  /** `<hex IP>.addr[.DC].consul`: the hexadecimal label, lower case. */
  | { kind: "addr"; hex: string }
  | { kind: "unknown" };

/** The labels that say what a name asks for. */
const KINDS: ReadonlySet<string> = new Set(["service", "node", "query", "addr"]);

/** A label of RFC 2782's form, `_x`. */
function isUnderscored(label: string): boolean {
  return label.length > 1 && label.startsWith("_");
}

/** The name split against our domain: `null` when the name is outside it. */
export function parseName(name: string, domain: string): Lookup | null {
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n === domain) return { kind: "apex" };
  if (!n.endsWith(`.${domain}`)) return null;
  const labels = n.slice(0, -(domain.length + 1)).split(".");
  if (labels.some((l) => l === "")) return { kind: "unknown" };
  // RFC 2782 without "service": _NAME._TAG[.DC].consul.
  const [l0, l1, ...rest] = labels;
  if (l0 !== undefined && l1 !== undefined && rest.length <= 1 && !KINDS.has(rest[0] ?? "") && isUnderscored(l0) && isUnderscored(l1)) {
    return { kind: "service", service: l0.slice(1), tag: l1 === "_tcp" ? null : l1.slice(1), dc: rest[0] ?? null };
  }

  // Find "service", "node", "query" or "addr" as the last or second-to-last label (the last then being a DC).
  let dc: string | null = null;
  let kindAt = labels.length - 1;
  const last = labels[kindAt];
  if (!KINDS.has(last ?? "")) {
    dc = last ?? null;
    kindAt -= 1;
  }
  const kind = labels[kindAt];
  const head = labels.slice(0, Math.max(0, kindAt));
  if (head.length === 0) return { kind: "unknown" };

  if (kind === "node") return { kind: "node", node: head.join("."), dc };
  if (kind === "query") return { kind: "query", query: head.join("."), dc };
  // Consul reads the address alone: the datacenter of an `.addr.` name changes nothing.
  if (kind === "addr") return head.length === 1 && head[0] !== undefined ? { kind: "addr", hex: head[0] } : { kind: "unknown" };
  if (kind !== "service") return { kind: "unknown" };

  const [first, second] = head;
  if (first === undefined) return { kind: "unknown" };
  if (head.length === 1) return { kind: "service", service: first, tag: null, dc };
  if (head.length === 2 && second !== undefined) {
    // RFC 2782: _service._protocol, where the protocol is a tag and `_tcp` means any.
    if (isUnderscored(first) && isUnderscored(second)) {
      const tag = second.slice(1);
      return { kind: "service", service: first.slice(1), tag: tag === "tcp" ? null : tag, dc };
    }
    return { kind: "service", service: second, tag: first, dc };
  }
  return { kind: "unknown" };
}

/** Healthy enough to be answered: passing or warning, as Consul does; passing only with `only_passing`. */
function isServed(instance: ServiceInstance, onlyPassing: boolean): boolean {
  const status = aggregate(instance.checks);
  return onlyPassing ? status === "passing" : status !== "critical";
}

/** Whether a name can be written in a DNS message: labels of 1 to 63 bytes, 253 bytes in all (RFC 1035 §2.3.4). */
function isDnsName(name: string): boolean {
  return Buffer.byteLength(name) <= 253 && name.split(".").every((l) => l !== "" && Buffer.byteLength(l) <= 63);
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

/** The 4 or 16 bytes of an IP address (an IPv6 zone left out); null when it is not one. */
export function ipBytes(address: string): Buffer | null {
  const bytes = parseIpBytes(address.replace(/%.*$/, ""));
  return bytes === null ? null : Buffer.from(bytes);
}

/** The address a reverse name (`4.3.2.1.in-addr.arpa`, the 32 nibbles of `ip6.arpa`) stands for; undefined when the name is not one; null when it is one but holds no address. */
export function parseArpa(name: string): Buffer | null | undefined {
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n.endsWith(".in-addr.arpa")) {
    const parts = n.slice(0, -".in-addr.arpa".length).split(".");
    if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
    return Buffer.from(parts.reverse().map(Number));
  }
  if (n.endsWith(".ip6.arpa")) {
    const nibbles = n.slice(0, -".ip6.arpa".length).split(".");
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return null;
    return Buffer.from(nibbles.reverse().join(""), "hex");
  }
  return undefined;
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
    // Consul's: the SOA's minimum TTL, 0.
    ttl: 0,
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

function answered(answers: packet.Answer[], additionals: packet.Answer[], ctx: ResolveContext): Answer {
  // No record of the asked type: NOERROR, with the SOA, as Consul's "no data".
  if (answers.length === 0 && additionals.length === 0) return empty(Rcode.NOERROR, ctx);
  return { rcode: Rcode.NOERROR, answers, authorities: [], additionals };
}

/** Where a service is served: its node (name and address) and its own address ("" when it has none), its port, and its SRV weight. */
interface Endpoint {
  node: string;
  nodeAddress: string;
  serviceAddress: string;
  port: number;
  weight: number;
}

/** An instance's SRV weight, as Consul's `findWeight`: its `Weights.Warning` when a check warns, else `Weights.Passing` (both 1 by default). */
function weightOf(instance: ServiceInstance): number {
  const weights = instance.details?.Weights;
  if (weights === undefined) return 1;
  return aggregate(instance.checks) === "warning" ? weights.Warning : weights.Passing;
}

/**
 * A, AAAA, ANY or SRV answers of endpoints, as Consul's: an SRV target is the instance's own
 * address (`<hex>.addr.DC.consul`, its A or AAAA record in the additional section) when it has
 * one, else its node (`NODE.node.DC.consul`, the node's address in the
 * additional section), else a host name the address is; an address that is a host name is
 * answered with a CNAME to it for A/AAAA/ANY (Ruche does not recurse to resolve it).
 */
function endpointAnswer(name: string, qtype: string, endpoints: readonly Endpoint[], dc: string, ttl: number, ctx: ResolveContext): Answer {
  if (qtype === "SRV") {
    const answers: packet.Answer[] = [];
    const additionals: packet.Answer[] = [];
    const handled = new Set<string>();
    const glued = new Set<string>();
    for (const e of endpoints) {
      const tuple = `${e.node}:${e.serviceAddress}:${e.port}`;
      if (handled.has(tuple)) continue;
      handled.add(tuple);
      const own = e.serviceAddress !== "";
      const address = own ? e.serviceAddress : e.nodeAddress;
      if (address === "") continue;
      const bytes = ipBytes(address);
      const target = bytes === null ? address.replace(/\.$/, "") : own ? `${bytes.toString("hex")}.addr.${dc}.${ctx.domain}` : `${e.node}.node.${dc}.${ctx.domain}`;
      // A name that cannot be a DNS name would make the whole answer unreadable: its record is left out.
      if (!isDnsName(target)) continue;
      answers.push({ type: "SRV", name, ttl, class: "IN", data: { priority: 1, weight: e.weight, port: e.port, target } });
      const key = `${target.toLowerCase()} ${address}`;
      if (bytes === null || glued.has(key)) continue;
      glued.add(key);
      additionals.push(...addressRecords(target, [address], "ANY", ttl));
    }
    return answered(answers, additionals, ctx);
  }
  const addresses = [...new Set(endpoints.map((e) => (e.serviceAddress !== "" ? e.serviceAddress : e.nodeAddress)).filter((a) => a !== ""))];
  let answers = addressRecords(name, addresses, qtype, ttl);
  if (ctx.config.aRecordLimit > 0) answers = answers.slice(0, ctx.config.aRecordLimit);
  if (answers.length === 0 && (qtype === "A" || qtype === "AAAA" || qtype === "ANY")) {
    // Only host names: a CNAME to the first, as Consul answers an external service.
    const host = addresses.find((a) => isIP(a) === 0 && isDnsName(a.replace(/\.$/, "")));
    if (host !== undefined) answers = [{ type: "CNAME", name, ttl, class: "IN", data: host.replace(/\.$/, "") }];
  }
  return answered(answers, [], ctx);
}

/** The NS records of the domain, one per live server (at most 3, shuffled, as Consul), and their addresses as glue. */
function nameservers(ctx: ResolveContext): { ns: packet.Answer[]; glue: packet.Answer[] } {
  const ttl = ctx.config.nodeTtlSeconds;
  const ns: packet.Answer[] = [];
  const glue: packet.Answer[] = [];
  for (const s of shuffle(ctx.servers ?? [], ctx.random)) {
    const target = `${s.node}.node.${s.datacenter}.${ctx.domain}`.toLowerCase();
    if (!isDnsName(target) || ipBytes(s.address) === null) continue;
    ns.push({ type: "NS", name: ctx.domain, ttl, class: "IN", data: target });
    glue.push(...addressRecords(target, [s.address], "ANY", ttl));
    if (ns.length === MAX_NS) break;
  }
  return { ns, glue };
}

/** Consul answers at most this many NS records. */
const MAX_NS = 3;

/** `dig -x`: the nodes of that address (`NODE.node.DC.consul`), else the services registered with it as their own (`NAME.service.DC.consul`). */
function reverse(name: string, address: Buffer | null, qtype: string, ctx: ResolveContext): Answer {
  if (address === null) return empty(Rcode.NXDOMAIN, ctx);
  const dc = ctx.catalog.datacenter();
  const same = (a: string): boolean => ipBytes(a)?.equals(address) === true;
  const targets = ctx.catalog
    .nodes()
    .filter((n) => same(n.Address))
    .map((n) => `${n.Node}.node.${dc}.${ctx.domain}`);
  if (targets.length === 0) {
    for (const service of Object.keys(ctx.catalog.services())) {
      if (ctx.catalog.instances(service).some((i) => i.Address !== "" && same(i.Address))) targets.push(`${service}.service.${dc}.${ctx.domain}`);
    }
  }
  const valid = targets.filter(isDnsName);
  if (valid.length === 0) return empty(Rcode.NXDOMAIN, ctx);
  if (qtype !== "PTR" && qtype !== "ANY") return empty(Rcode.NOERROR, ctx);
  // Consul's PTR records carry a TTL of 0.
  return answered(
    valid.map((data) => ({ type: "PTR", name, ttl: 0, class: "IN", data })),
    [],
    ctx,
  );
}

/**
 * Answers one question from the catalog. Pure: the catalog is read, time and
 * randomness come from the context.
 */
export function resolve(question: packet.Question, ctx: ResolveContext): Answer {
  if (question.class !== undefined && question.class !== "IN" && question.class !== "ANY") return empty(Rcode.REFUSED, null);
  // Echo the name as asked, case included (RFC 4343), without a trailing dot: dns-packet adds it.
  const name = question.name.replace(/\.$/, "");
  const qtype: string = question.type; // also "ANY", which the types leave out
  const arpa = parseArpa(question.name);
  if (arpa !== undefined) return reverse(name, arpa, qtype, ctx);
  const lookup = parseName(question.name, ctx.domain);
  if (lookup === null) return empty(Rcode.REFUSED, null);
  if (qtype === "AXFR" || qtype === "IXFR") return empty(Rcode.NOTIMP, null);

  // SOA and NS questions are the domain's, whatever the name inside it, as Consul answers them.
  if (qtype === "SOA") {
    const { ns, glue } = nameservers(ctx);
    return { rcode: Rcode.NOERROR, answers: [soaRecord(ctx)], authorities: ns, additionals: glue };
  }
  if (qtype === "NS") {
    const { ns, glue } = nameservers(ctx);
    return answered(ns, glue, ctx);
  }

  switch (lookup.kind) {
    case "apex": {
      if (qtype === "ANY") return { rcode: Rcode.NOERROR, answers: [soaRecord(ctx)], authorities: [], additionals: [] };
      return empty(Rcode.NOERROR, ctx);
    }
    case "unknown":
      return empty(Rcode.NXDOMAIN, ctx);
    case "addr": {
      const bytes = /^([0-9a-f]{8}|[0-9a-f]{32})$/.test(lookup.hex) ? Buffer.from(lookup.hex, "hex") : null;
      if (bytes === null) return empty(Rcode.NXDOMAIN, ctx);
      const address = ipText(bytes);
      const record = addressRecords(name, [address], "ANY", ctx.config.nodeTtlSeconds);
      // The address's record answers A (IPv4) or AAAA (IPv6) and ANY; another type finds it in the additional section, as Consul's.
      const asked = addressRecords(name, [address], qtype, ctx.config.nodeTtlSeconds);
      return asked.length > 0 ? answered(asked, [], ctx) : answered([], record, ctx);
    }
    case "node": {
      if (lookup.dc !== null && lookup.dc !== ctx.catalog.datacenter().toLowerCase()) return empty(Rcode.NXDOMAIN, ctx);
      const node = ctx.catalog.nodes().find((n) => n.Node.toLowerCase() === lookup.node);
      if (node === undefined) return empty(Rcode.NXDOMAIN, ctx);
      const ttl = ctx.config.nodeTtlSeconds;
      const answers = addressRecords(name, [node.Address], qtype, ttl);
      if (answers.length === 0 && isIP(node.Address) === 0 && (qtype === "A" || qtype === "AAAA" || qtype === "ANY") && isDnsName(node.Address.replace(/\.$/, ""))) {
        return answered([{ type: "CNAME", name, ttl, class: "IN", data: node.Address.replace(/\.$/, "") }], [], ctx);
      }
      return answered(answers, [], ctx);
    }
    case "service": {
      const dc = ctx.catalog.datacenter();
      if (lookup.dc !== null && lookup.dc !== dc.toLowerCase()) return empty(Rcode.NXDOMAIN, ctx);
      const service = Object.keys(ctx.catalog.services()).find((s) => s.toLowerCase() === lookup.service);
      const ttl = serviceTtl(ctx.config, lookup.service);
      if (service === undefined) {
        // `consul.service.consul`: the servers, as Consul registers itself.
        const servers = lookup.service === "consul" && lookup.tag === null ? (ctx.servers ?? []).filter((s) => s.datacenter.toLowerCase() === dc.toLowerCase()) : [];
        if (servers.length === 0) return empty(Rcode.NXDOMAIN, ctx);
        const endpoints = shuffle(servers, ctx.random).map((s) => ({ node: s.node, nodeAddress: s.address, serviceAddress: "", port: s.port, weight: 1 }));
        return endpointAnswer(name, qtype, endpoints, dc, ttl, ctx);
      }
      const tag = lookup.tag;
      const instances = shuffle(
        ctx.catalog
          .instances(service)
          .filter((i) => isServed(i, ctx.config.onlyPassing))
          .filter((i) => tag === null || i.Tags.some((t) => t.toLowerCase() === tag)),
        ctx.random,
      );
      if (instances.length === 0) return empty(Rcode.NXDOMAIN, ctx);
      const endpoints = instances.map((i) => ({ node: i.node.Node, nodeAddress: i.node.Address, serviceAddress: i.Address, port: i.Port, weight: weightOf(i) }));
      return endpointAnswer(name, qtype, endpoints, dc, ttl, ctx);
    }
    case "query": {
      const q = ctx.query;
      if (q instanceof Error) throw q;
      if (q === undefined || q === null || q.instances.length === 0) return empty(Rcode.NXDOMAIN, ctx);
      const ttl = q.ttlSeconds ?? serviceTtl(ctx.config, q.service ?? lookup.query);
      const endpoints = q.instances.map((i) => ({ node: i.node, nodeAddress: i.address, serviceAddress: i.ownAddress ?? "", port: i.port, weight: i.weight ?? 1 }));
      return endpointAnswer(name, qtype, endpoints, q.datacenter, ttl, ctx);
    }
    default:
      return assertNever(lookup, "lookup");
  }
}
