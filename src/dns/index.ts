export { startDns, type DnsOptions, type DnsServer } from "./server.js";
export { parseName, resolve, Rcode, type Lookup, type ResolveContext } from "./resolve.js";
export { respond } from "./message.js";
