export { Server, type ServerOptions } from "./server.js";
export { EvalBroker } from "./broker.js";
export { COORDINATE_UPDATE_PERIOD_MS, NodeCoordinates } from "./coordinates.js";
export { PlanApplier } from "./applier.js";
export type { AllocUpdate } from "../structs/index.js";
export { DEFAULT_HEARTBEAT, type HeartbeatOptions } from "./nodes.js";
export { specOf, type PlanResult, type RegisterResult } from "./jobs.js";
export { multiregionStep, peerView, regionalJob, type MultiregionMove, type MultiregionPeers, type PeerState, type PeerView } from "./multiregion.js";
export type { DispatchResult } from "./dispatch.js";
export { silentLogger, type Logger } from "../structs/index.js";
export { storeView } from "./view.js";
export { claimsOf } from "./host-volumes.js";
export { ownRegionOnly, type Federation, type FederationCaller, type FederationJoinResult, type FederationMember } from "./federation.js";
export { FederationGossip, parseFederationAnswer, type FederationAnswer, type FederationGossipOptions, type FederationProbe } from "./federation-gossip.js";
export { soloCluster, type ClusterView, type EtcdMemberStatus, type ServerInfo, type ServerMember } from "./cluster.js";
export { etcdCluster, type EtcdCluster, type EtcdClusterOptions } from "./cluster-etcd.js";
export { inProcessLeases, threadLeases, type KeptLease, type Leases } from "./lease.js";
/** Ruche's version, as servers show it to each other (`Build`). */
export const RUCHE_BUILD = "0.1.0";
