import { ErrorCode, RucheError } from "../structs/index.js";

/**
 * The servers of a region as each one sees them: who they are, which one leads, and how
 * current this server's memory is. One server on SQLite is a cluster of one (`soloCluster`);
 * several servers on etcd elect their leader there (`etcdCluster`, `cluster-etcd.ts`).
 */

/** What a server says of itself, where the others can read it. */
export interface ServerInfo {
  /** The server's name (`-node`/`name`, else the host name), unique in the region. */
  Name: string;
  Region: string;
  Datacenter: string;
  /** host:port of its HTTP API (Nomad's). */
  HTTPAddr: string;
  /** host:port of its Consul-compatible API, "" when off. */
  ConsulAddr: string;
  /** Ruche's version. */
  Build: string;
  /** The name of the etcd member it runs, "" when it runs none (SQLite, or an external etcd). */
  EtcdMember: string;
}

/** A server as the members list shows it (`ruche server members`, `/v1/agent/members`). */
export interface ServerMember extends ServerInfo {
  /** alive: it holds its lease; failed: it stopped renewing it; left: removed (`force-leave`). */
  Status: "alive" | "failed" | "left";
  Leader: boolean;
}

/** An etcd member, as `ruche operator etcd list` shows it. */
export interface EtcdMemberStatus {
  ID: string;
  Name: string;
  PeerURLs: string[];
  ClientURLs: string[];
  /** Whether it answered its status request. */
  Reachable: boolean;
  IsLeader: boolean;
  /** Bytes of its database file. */
  DbSize: number;
  Revision: number;
  RaftIndex: number;
  Version: string;
  /** Why it did not answer, "" when it did. */
  Error: string;
}

export interface ClusterView {
  readonly self: ServerInfo;
  /** Whether this server leads now: it runs the leader's duties and commits. */
  isLeader(): boolean;
  /** The leader as last seen, null while there is none (an election under way, quorum lost). */
  leader(): ServerInfo | null;
  /** Every server of the region, the leader marked. */
  members(): ServerMember[];
  /** Milliseconds since this server last heard from the cluster's state (0 on the leader, and on a single server). */
  lastContact(): number;
  /**
   * Resolves once this server's memory holds every write acknowledged before the call (a
   * linearizable read of the cluster's index, then a wait for it); at once on a single server.
   * Rejects with a 503-class error when the cluster's state cannot be read (quorum lost).
   */
  barrier(signal?: AbortSignal): Promise<void>;
  /** Marks a server left and forgets it (`ruche server force-leave`); removes its etcd member if it runs one. */
  forceLeave(name: string): Promise<void>;
  /** The etcd members with their status; null on a single server on SQLite. */
  etcdMembers(): Promise<EtcdMemberStatus[] | null>;
  /** Removes an etcd member by name or hex ID (`ruche operator etcd remove`). */
  etcdRemove(nameOrId: string): Promise<void>;
}

/**
 * A single server on its embedded store: it always leads, and is always current. `self` may
 * be a function, for an address known only once the API listens (port 0).
 */
export function soloCluster(info: ServerInfo | (() => ServerInfo)): ClusterView {
  const me = typeof info === "function" ? info : () => info;
  return {
    get self() {
      return me();
    },
    isLeader: () => true,
    leader: () => me(),
    members: () => [{ ...me(), Status: "alive", Leader: true }],
    lastContact: () => 0,
    barrier: () => Promise.resolve(),
    forceLeave: (name) =>
      Promise.reject(
        name === me().Name
          ? new RucheError(ErrorCode.BadRequest, `${name} is this server: a server cannot force itself out`)
          : new RucheError(ErrorCode.NotFound, `no server named ${name}: this server runs alone`),
      ),
    etcdMembers: () => Promise.resolve(null),
    etcdRemove: () => Promise.reject(new RucheError(ErrorCode.BadRequest, "this server runs on its embedded store (SQLite): it has no etcd members")),
  };
}
