import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import type { RouterConfig } from "./types.js";

/**
 * Which backends are Ruche itself, or this machine's loopback: anyone who may register a
 * service may name any address, and the router must not carry the public to Ruche's own
 * API, its Consul port, a node's API, the router's dashboard or its own entrypoints (a
 * loop) — however the address is written. Addresses are compared in one canonical form:
 * IPv4 in every form the resolver takes (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`)
 * as a dotted quad, IPv6 compressed and lower case, IPv4-mapped IPv6 (`::ffff:127.0.0.1`)
 * as its IPv4 address; names lower case without a final dot. Names other than the
 * `localhost` family are resolved when the router connects (`guardedLookup`), and refused
 * there if they resolve to what is refused.
 */

/** An address in its canonical form: a dotted quad, a compressed IPv6 address (no brackets), or a lower-case name. */
export function canonicalHost(address: string): string {
  let h = address.trim().toLowerCase();
  if (h.includes(":") && !h.startsWith("[")) h = `[${h}]`;
  let host: string;
  try {
    // The WHATWG URL parser reads IPv4 addresses in all the forms inet_aton takes, and normalises IPv6.
    host = new URL(`http://${h}/`).hostname;
  } catch {
    return address.trim().toLowerCase();
  }
  if (host.startsWith("[")) {
    host = host.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped !== null) {
      const hi = parseInt(mapped[1] as string, 16);
      const lo = parseInt(mapped[2] as string, 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
    return host;
  }
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** Whether a canonical address is this machine whatever machine it is: loopback (127/8, ::1), unspecified (0/8, ::), or a `localhost` name. */
export function isLocalHost(h: string): boolean {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(h)) return h.startsWith("127.") || h.startsWith("0.");
  return h === "::1" || h === "::" || h === "localhost" || h.endsWith(".localhost") || h === "localhost.localdomain" || h === "ip6-localhost" || h === "ip6-loopback";
}

/** What the guard knows: this machine's addresses, Ruche's ports, the cluster's nodes. */
export interface Guard {
  /** The router's own ports (entrypoints, dashboard): never a backend. */
  selfPorts: ReadonlySet<number>;
  /** The ports of Ruche's APIs (HTTP API, Consul port, node API). */
  apiPorts: ReadonlySet<number>;
  /** Those of them an API listens on at every address (0.0.0.0, ::): any backend on them is refused. */
  anyHostPorts: ReadonlySet<number>;
  /** This machine's addresses (its interfaces' and those the APIs listen on), canonical. */
  ownHosts: ReadonlySet<string>;
  /** The addresses of the catalog's nodes: their agents' APIs are Ruche's too. */
  nodeHosts: ReadonlySet<string>;
  /** The nodes' agents' APIs (canonical host:port; an unspecified host as `*:port`, on every node and here). */
  nodeApis: ReadonlySet<string>;
  allowLoopback: boolean;
}

export function guardOf(config: RouterConfig, nodeHosts: ReadonlySet<string> = new Set(), nodeApiAddrs: readonly string[] = []): Guard {
  const nodeApis = new Set<string>();
  for (const a of nodeApiAddrs) {
    const colon = a.lastIndexOf(":");
    if (colon < 0) continue;
    const host = a.slice(0, colon).replace(/^\[|\]$/g, "");
    const h = host === "" ? "::" : canonicalHost(host);
    nodeApis.add(`${h === "0.0.0.0" || h === "::" ? "*" : h}:${a.slice(colon + 1)}`);
  }
  const apiPorts = new Set<number>();
  const anyHostPorts = new Set<number>();
  const ownHosts = new Set(config.self.hosts.map(canonicalHost));
  for (const a of config.controlApi.addresses) {
    const colon = a.lastIndexOf(":");
    apiPorts.add(Number(a.slice(colon + 1)));
    const host = a.slice(0, colon).replace(/^\[|\]$/g, "");
    const h = host === "" ? "::" : canonicalHost(host);
    if (h === "0.0.0.0" || h === "::") anyHostPorts.add(Number(a.slice(colon + 1)));
    else ownHosts.add(h);
  }
  return { selfPorts: new Set(config.self.ports), apiPorts, anyHostPorts, ownHosts, nodeHosts, nodeApis, allowLoopback: config.allowLoopbackBackends };
}

export type Verdict = { ok: true } | { ok: false; api: boolean; reason: string };

/** Whether `address:port` may be a backend; when it may not, why (`api`: it is one of Ruche's APIs, which `controlApi.expose` may still open). */
export function judgeBackend(address: string, port: number, g: Guard): Verdict {
  const h = canonicalHost(address);
  const local = isLocalHost(h);
  const here = local || g.ownHosts.has(h);
  const shown = h === address ? address : `${address} (${h})`;
  if (g.selfPorts.has(port) && here) return { ok: false, api: false, reason: `${shown}:${port} is the router itself (an entrypoint or its dashboard)` };
  if (g.apiPorts.has(port) && (here || g.nodeHosts.has(h) || g.anyHostPorts.has(port))) return { ok: false, api: true, reason: `${shown}:${port} is Ruche's own API (${here ? "this agent's" : "a node's agent"}), which the router does not expose unless its configuration says so (controlApi.expose, with a token)` };
  // A node's agent's API: at its own address, or on a node (or here) when it listens on every address.
  if (g.nodeApis.has(`${h}:${port}`) || (g.nodeApis.has(`*:${port}`) && (here || g.nodeHosts.has(h)))) return { ok: false, api: true, reason: `${shown}:${port} is Ruche's own API (a node's agent), which the router does not expose unless its configuration says so (controlApi.expose, with a token)` };
  if (local && !g.allowLoopback) return { ok: false, api: false, reason: `${shown}:${port} is this machine's loopback or unspecified address: refused outside -dev unless the router's configuration allows it (allowLoopbackBackends)` };
  return { ok: true };
}

/** The code of a connection refused because its name resolved to a refused address. */
export const REFUSED_BACKEND = "ERUCHE_BACKEND_REFUSED";

/**
 * A `lookup` for connections to a backend on `port` named by a name: the name is resolved
 * as usual, and refused (error code `REFUSED_BACKEND`, a connection that never reached
 * anything) when an address it resolves to is refused; `refused` is told why.
 */
export function guardedLookup(port: number, g: Guard, refused: (name: string, reason: string) => void): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addrs: LookupAddress[]) => {
      if (err !== null) {
        callback(err, "", 0);
        return;
      }
      for (const a of addrs) {
        const v = judgeBackend(a.address, port, g);
        if (!v.ok) {
          const reason = `${hostname} resolves to ${v.reason}`;
          refused(hostname, reason);
          const e: NodeJS.ErrnoException = new Error(`backend refused: ${reason}`);
          e.code = REFUSED_BACKEND;
          callback(e, "", 0);
          return;
        }
      }
      const first = addrs[0];
      if (options.all === true) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addrs);
      else if (first === undefined) callback(Object.assign(new Error(`${hostname}: no address`), { code: "ENOTFOUND" }), "", 0);
      else callback(null, first.address, first.family);
    });
  };
}
