import { isIP } from "node:net";
import type { DnsServerEntry } from "../dns/index.js";
import type { ClusterView } from "../server/index.js";

/**
 * The live servers of a datacenter as the DNS interface names them (`consul.service.consul`,
 * the NS records of the domain): each one's name, and the address and port of its
 * Consul-compatible API (else its HTTP API, which serves the same routes). A server whose
 * address is not an IP is left out: DNS cannot glue a host name.
 */
export function dnsServers(cluster: ClusterView, datacenter: string): DnsServerEntry[] {
  const out: DnsServerEntry[] = [];
  for (const m of cluster.members()) {
    if (m.Status !== "alive" || m.Datacenter !== datacenter) continue;
    const addr = m.ConsulAddr !== "" ? m.ConsulAddr : m.HTTPAddr;
    const i = addr.lastIndexOf(":");
    const host = (i < 0 ? addr : addr.slice(0, i)).replace(/^\[(.*)\]$/, "$1");
    const port = i < 0 ? 0 : Number(addr.slice(i + 1)) || 0;
    if (isIP(host) === 0) continue;
    out.push({ node: m.Name, datacenter: m.Datacenter, address: host, port });
  }
  return out;
}
