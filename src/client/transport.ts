import type { Allocation, AllocUpdate, Coordinate, CoordinateSample, HostVolume, HostVolumeReport, Node } from "../structs/index.js";

/** What a client needs of the servers. Over HTTP in the agent (`httpTransport`); in-process in tests. */
export interface ClientTransport {
  register(node: Node): Promise<{ HeartbeatTTL: number }>;
  /** A heartbeat, with the node's network coordinate when it has one; the answer carries the server's (Consul's coordinates, measured on heartbeats). */
  heartbeat(nodeId: string, secret: string, sample?: CoordinateSample): Promise<{ HeartbeatTTL: number; Coord?: Coordinate }>;
  /** The node's allocations once the state has moved past `minIndex` (a blocking query). */
  allocations(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; allocs: readonly Allocation[] }>;
  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<unknown>;
  /** Statuses of checks of services registered directly on the node (Consul's agent API through its server); absent, the node sends none. */
  updateChecks?(nodeId: string, secret: string, updates: CheckStatusUpdate[]): Promise<unknown>;
  /** The node's dynamic host volumes once the state has moved past `minIndex` (a blocking query); absent, the node makes none. */
  hostVolumes?(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; volumes: readonly HostVolume[] }>;
  /** What the node made or removed of the volumes it was asked to. */
  reportHostVolumes?(nodeId: string, secret: string, reports: HostVolumeReport[]): Promise<unknown>;
}

/** A check's new status, as its node's agent probed it (`PUT /v1/client/checks/:id`). */
export interface CheckStatusUpdate {
  CheckID: string;
  Status: "passing" | "warning" | "critical";
  Output: string;
}
