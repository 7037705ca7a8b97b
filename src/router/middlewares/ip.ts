import { BlockList, isIP } from "node:net";
import type { Options } from "./options.js";
import { answer, header, type Exchange, type Wrap } from "./types.js";

/** An address as compared: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4, brackets and zone dropped. */
export function plainIp(a: string): string {
  let s = a.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return m === null ? s : (m[1] as string);
}

/** A range an address is tested against: an address (`10.0.0.1`) or a CIDR block (`10.0.0.0/8`, `fe80::/10`). */
export function validRange(r: string): boolean {
  const [addr, bits, extra] = r.split("/");
  const v = isIP(plainIp(addr ?? ""));
  if (v === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (v === 4 ? 32 : 128);
}

/** The ranges as one set (`validRange` each). */
export function rangeSet(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const r of ranges) {
    const [addr, bits] = r.split("/");
    const a = plainIp(addr ?? "");
    const type = isIP(a) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(a, type);
    else list.addSubnet(a, Number(bits), type);
  }
  return list;
}

export function inSet(set: BlockList, ip: string): boolean {
  const a = plainIp(ip);
  const v = isIP(a);
  return v !== 0 && set.check(a, v === 6 ? "ipv6" : "ipv4");
}

/**
 * Traefik's `ipStrategy`: which address a request comes from. With `depth` N, the Nth from the
 * right of X-Forwarded-For; else, with `excludedIPs`, the first from the right not among them;
 * else the connection's. The X-Forwarded-For read is the router's own (a client's is never
 * trusted, see headers.ts): the client's address, the one entry.
 */
export interface IpStrategy {
  depth: number;
  excludedIPs: string[];
}

export function parseIpStrategy(o: Options, base: string): IpStrategy {
  const depth = o.int(`${base}.depth`, 0, 0);
  const excludedIPs = o.list(`${base}.excludedIPs`) ?? [];
  const bad = excludedIPs.find((r) => !validRange(r));
  if (bad !== undefined) o.fail(`${base}.excludedIPs`, `"${bad}" is not an address or CIDR block`);
  if (o.str(`${base}.ipv6Subnet`) !== undefined) o.fail(`${base}.ipv6Subnet`, "grouping IPv6 clients by subnet is not implemented");
  return { depth, excludedIPs };
}

/** The address a request comes from under a strategy; "" when none is found (too few X-Forwarded-For entries). */
export function sourceIp(x: Exchange, s: IpStrategy, excluded: BlockList | null): string {
  if (s.depth === 0 && s.excludedIPs.length === 0) return plainIp(x.clientIp);
  const xff = (header(x, "x-forwarded-for") ?? "").split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (s.depth > 0) return xff.length >= s.depth ? plainIp(xff[xff.length - s.depth] as string) : "";
  for (let i = xff.length - 1; i >= 0; i--) if (excluded === null || !inSet(excluded, xff[i] as string)) return plainIp(xff[i] as string);
  return "";
}

/** `ipAllowList` (and its former name, `ipWhiteList`): sourceRange, ipStrategy, rejectStatusCode. */
export interface IpAllowListConfig {
  type: "ipAllowList";
  sourceRange: string[];
  ipStrategy: IpStrategy;
  rejectStatusCode: number;
}

export function parseIpAllowList(o: Options): IpAllowListConfig {
  const sourceRange = o.list("sourceRange") ?? [];
  if (sourceRange.length === 0) o.fail("sourceRange", "no address or CIDR block is given");
  const bad = sourceRange.find((r) => !validRange(r));
  if (bad !== undefined) o.fail("sourceRange", `"${bad}" is not an address or CIDR block`);
  return { type: "ipAllowList", sourceRange, ipStrategy: parseIpStrategy(o, "ipStrategy"), rejectStatusCode: o.int("rejectStatusCode", 403, 100, 599) };
}

/** Lets through requests from the ranges; others get 403 Forbidden (or `rejectStatusCode`). */
export function ipAllowList(c: IpAllowListConfig): Wrap {
  const allowed = rangeSet(c.sourceRange);
  const excluded = c.ipStrategy.excludedIPs.length === 0 ? null : rangeSet(c.ipStrategy.excludedIPs);
  return (next) => (x) => {
    const ip = sourceIp(x, c.ipStrategy, excluded);
    if (ip !== "" && inSet(allowed, ip)) return next(x);
    return Promise.resolve(answer(c.rejectStatusCode, c.rejectStatusCode === 403 ? "Forbidden\n" : `${c.rejectStatusCode}\n`));
  };
}
