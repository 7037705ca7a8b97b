import type { CatalogReader } from "../catalog/index.js";
import { AclPrefixKind, type Acl } from "../structs/index.js";
import type { DnsServerEntry } from "./resolve.js";

/**
 * The catalog as a token may read it, for DNS answers (Consul's ACL filter of what its DNS
 * asks the servers): the nodes it has node:read of, the services it has service:read of, and
 * of those the instances on a node it may read too (Consul's `filterCheckServiceNodes`). A
 * node or service left out is unknown to the resolver: NXDOMAIN, as Consul answers it.
 */
export function aclCatalog(catalog: CatalogReader, acl: Acl): CatalogReader {
  if (acl.management) return catalog;
  const node = (name: string): boolean => acl.prefix(AclPrefixKind.ConsulNode, name, "read");
  const service = (name: string): boolean => acl.prefix(AclPrefixKind.Service, name, "read");
  return {
    index: () => catalog.index(),
    datacenter: () => catalog.datacenter(),
    instances: (name) => (service(name) ? catalog.instances(name).filter((i) => service(i.Service) && node(i.node.Node)) : []),
    services: () => Object.fromEntries(Object.entries(catalog.services()).filter(([name]) => service(name))),
    nodes: () => catalog.nodes().filter((n) => node(n.Node)),
    wait: (minIndex, timeoutMs, signal) => catalog.wait(minIndex, timeoutMs, signal),
  };
}

/**
 * The servers a token may see as `consul.service.consul` and as the domain's name servers:
 * Consul finds both by looking its own `consul` service up with the DNS token, so it takes
 * service:read of `consul` and node:read of each server's node.
 */
export function aclServers(servers: readonly DnsServerEntry[], acl: Acl): DnsServerEntry[] {
  if (acl.management) return [...servers];
  if (!acl.prefix(AclPrefixKind.Service, "consul", "read")) return [];
  return servers.filter((s) => acl.prefix(AclPrefixKind.ConsulNode, s.node, "read"));
}
