export { AllocRunner, type AllocReport, type CheckReport, type SavedAlloc } from "./alloc-runner.js";
export { Client, type ClientConfig } from "./client.js";
export { readLogs, logFiles, type LogStream } from "./logs.js";
export { SimulatedNode, type SimOptions } from "./sim.js";
export { fleetOpenFiles, openFilesLimit, SimFleet, type FleetOptions, type FleetStatus } from "./fleet.js";
export type { CheckStatusUpdate, ClientTransport } from "./transport.js";
export { CheckState, probe, type CheckResult, type CheckStatus } from "./checks.js";
export { fetchPinnedCa, joinCluster, joinFederationCa, keepRenewed, loadNodeTls, nodeTlsPaths, renewAt, renewNodeTls, type FederationCa, type JoinOptions, type NodeTls } from "./join.js";
export { DEFAULT_CNI_CONFIG_DIR, DEFAULT_CNI_PATH, splitCniPath } from "./cni/index.js";
