export { startAgent, type AgentConfig, type RunningAgent } from "./agent.js";
export type { AgentTls } from "./tls.js";
export { inProcessTransport } from "./in-process.js";
export { DEFAULT_MAX_CONNS_PER_CLIENT } from "../api/index.js";
export { readExternalEtcdTls, type ExternalEtcdTls } from "./etcd-external.js";
