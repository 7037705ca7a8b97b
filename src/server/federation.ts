import type { ServerInfo } from "./cluster.js";

/** A server of any region, as the federation knows it. */
export interface FederationMember extends ServerInfo {
  /** alive: it answered lately; failed: it stopped answering (kept a while, then forgotten); left: it said it leaves. */
  Status: "alive" | "failed" | "left";
  /** Whether it led its region when last heard from. */
  Leader: boolean;
  /** Milliseconds of the last round trip this server measured to it (its probe's); absent when none was measured. */
  RTT?: number;
}

/** What a join answers (Nomad's `{num_joined, error}`): how many addresses answered as servers, and what went wrong with the others ("" when nothing). */
export interface FederationJoinResult {
  joined: number;
  error: string;
}

/**
 * The regions a server knows beside its own, and their servers: what forwarding a request
 * for another region (`?region=`, a job's `region`) or datacenter (`?dc=`) needs. A server
 * that federates with no other region has its own alone.
 */
export interface Federation {
  /** Every region known, this server's own included, sorted. */
  regions(): string[];
  /** Every datacenter known (this server's own, its region's servers', the other regions'), sorted. */
  datacenters(): string[];
  /** Every server of every region, this server's region included. */
  members(): FederationMember[];
  /** A live server of another region to send a request to (its leader when known), or undefined when none answers. */
  serverIn(region: string): FederationMember | undefined;
  /** A live server of another region whose datacenter is `dc`, or undefined. */
  serverInDatacenter(dc: string): FederationMember | undefined;
  /**
   * Joins other regions' servers at their HTTP API addresses (`ruche server join`, Nomad's
   * `PUT /v1/agent/join?address=`, Consul's `PUT /v1/agent/join/ADDR?wan=1`); rejects with the
   * reason when this server cannot federate. Absent: it cannot, and the routes say so.
   */
  join?(addresses: readonly string[]): Promise<FederationJoinResult>;
  /**
   * The servers' exchange (`POST /v1/internal/federation`): takes another server's word (checked
   * here) and returns this one's; `from` says how it came (over TLS, the client certificate it
   * showed), for a federation over TLS to check it is a server of the region it claims. Absent:
   * the route is not served.
   */
  exchange?(theirs: unknown, from?: FederationCaller): unknown;
}

/** How another server's word came to the exchange: over TLS or not, and the client certificate it showed (verified against the CA by the listener). */
export interface FederationCaller {
  tls: boolean;
  peer?: { subject: string; uris: readonly string[]; dnsNames: readonly string[] };
  /** The address it came from, for the log. */
  address?: string;
}

/** The federation of a server that joins no other region: its own region, its own servers. */
export function ownRegionOnly(self: () => ServerInfo, members: () => FederationMember[] = () => [{ ...self(), Status: "alive", Leader: true }]): Federation {
  return {
    regions: () => [self().Region],
    datacenters: () => [...new Set([self().Datacenter, ...members().map((m) => m.Datacenter)])].sort(),
    members,
    serverIn: () => undefined,
    serverInDatacenter: () => undefined,
  };
}
