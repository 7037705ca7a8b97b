/**
 * The part of Consul's `dns_config` that Ruche's DNS server honours, with Consul's
 * defaults. TTLs are whole seconds.
 */
export interface DnsConfig {
  /** `node_ttl`: node lookups, `.addr.` names and the NS records. Default 0. */
  nodeTtlSeconds: number;
  /**
   * `service_ttl`: service name (lower case) → TTL of its lookups. A key ending in `*` is a
   * prefix (`"web-*"`, `"*"` for every service); an exact name wins, then the longest
   * prefix. A service none matches: 0.
   */
  serviceTtlSeconds: Readonly<Record<string, number>>;
  /** `only_passing`: leave out warning instances too, not only critical ones. Default false. */
  onlyPassing: boolean;
  /** `enable_truncate`: set TC on a UDP answer that was cut, so that the client asks again over TCP. Default false. */
  enableTruncate: boolean;
  /** `udp_answer_limit`: the most answers of a UDP answer without EDNS (at most 8, as Consul). Default 3. */
  udpAnswerLimit: number;
  /** `a_record_limit`: the most A/AAAA records of a service answer, over UDP and TCP; 0 for no limit. Default 0. */
  aRecordLimit: number;
}

/** Consul's defaults. */
export const DEFAULT_DNS_CONFIG: DnsConfig = {
  nodeTtlSeconds: 0,
  serviceTtlSeconds: {},
  onlyPassing: false,
  enableTruncate: false,
  udpAnswerLimit: 3,
  aRecordLimit: 0,
};

/** The TTL of a service's lookups: its own `service_ttl`, else the longest `prefix*` that matches it, else 0 (Consul's `GetTTLForService`). */
export function serviceTtl(config: DnsConfig, service: string): number {
  const name = service.toLowerCase();
  const exact = config.serviceTtlSeconds[name];
  if (exact !== undefined) return exact;
  let best: { length: number; ttl: number } | null = null;
  for (const [key, ttl] of Object.entries(config.serviceTtlSeconds)) {
    if (!key.endsWith("*")) continue;
    const prefix = key.slice(0, -1);
    if (name.startsWith(prefix) && (best === null || prefix.length > best.length)) best = { length: prefix.length, ttl };
  }
  return best?.ttl ?? 0;
}
