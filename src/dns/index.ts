export { startDns, type DnsOptions, type DnsServer } from "./server.js";
export { parseName, resolve, Rcode, type DnsServerEntry, type Lookup, type ResolveContext } from "./resolve.js";
export { DEFAULT_DNS_CONFIG, serviceTtl, type DnsConfig } from "./config.js";
export { respond } from "./message.js";
