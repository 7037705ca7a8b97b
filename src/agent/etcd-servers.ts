import type { Etcd3 } from "etcd3";
import type { ApiWire } from "../api/index.js";
import type { Logger } from "../structs/index.js";
import type { AgentConfig } from "./agent.js";
import { startManagedEtcd, type ManagedEtcd } from "./etcd-member.js";
import { serverEtcdClient } from "./etcd-membership.js";
import { reachExternalEtcd } from "./etcd-external.js";
import type { EtcdTls } from "./etcd-tls.js";

/** The etcd a server keeps its state on, and the client it reaches it with. */
export interface ServerEtcd {
  client: Etcd3;
  /** The member this server runs, when it runs one (its join routes go on the API). */
  member: ManagedEtcd | undefined;
  /** The client URLs the client was given. */
  endpoints: string[];
}

/**
 * The external cluster the config names (`-etcd-endpoints`), or the member this server runs
 * itself, formed with the other servers it finds through `retry_join` once `bootstrap_expect`
 * of them answer (`startManagedEtcd`; it serves the join routes on the API's port meanwhile).
 * Its client sends a call that reached no member (one is down) to another, tries a call that
 * may have reached etcd once, and gives up on a unary call after 4 s (etcd without a quorum):
 * the callers retry on their own terms. With `etcdTls` (servers on their own members with the
 * CA derived from the cluster key), the member speaks TLS and asks for client certificates,
 * and the client shows that certificate; it is ignored for an external cluster, whose client
 * speaks the TLS of the config (`AgentConfig.etcdTls`: `-etcd-cacert`, `-etcd-cert`,
 * `-etcd-key`) when it has one, and must answer at once (`reachExternalEtcd`).
 */
export async function serverEtcd(cfg: AgentConfig, name: string, dataDir: string, log: Logger, closers: (() => Promise<void>)[], wire?: ApiWire, etcdTls?: EtcdTls): Promise<ServerEtcd> {
  let member: ManagedEtcd | undefined;
  let endpoints = cfg.etcdEndpoints;
  if (endpoints.length === 0) {
    member = await startManagedEtcd({ name, region: cfg.region, dataDir, bind: cfg.bind, httpPort: cfg.httpPort, bootstrapExpect: cfg.bootstrapExpect, retryJoin: cfg.retryJoin, log, ...(wire === undefined ? {} : { wire }), ...(etcdTls === undefined ? {} : { tls: etcdTls }) });
    const m = member;
    closers.push(() => m.stop());
    endpoints = m.endpoints();
  }
  const made = serverEtcdClient(endpoints, 2000, 4000, member === undefined ? cfg.etcdTls : etcdTls);
  // An external cluster answers before the server relies on it; else the start stops saying why (its TLS refused, or not there).
  const client = member === undefined ? await reachExternalEtcd(made, endpoints, cfg.etcdTls) : made;
  closers.push(() => {
    client.close();
    return Promise.resolve();
  });
  return { client, member, endpoints };
}

export { memberStatuses as etcdMemberStatuses, removeMember as removeEtcdMember } from "./etcd-membership.js";
