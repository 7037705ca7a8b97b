import type { Allocation, AllocUpdate, Coordinate, CoordinateSample, Node } from "../structs/index.js";

/** What a client needs of the servers. Over HTTP in the agent (`httpTransport`); in-process in tests. */
export interface ClientTransport {
  register(node: Node): Promise<{ HeartbeatTTL: number }>;
  /** A heartbeat, with the node's network coordinate when it has one; the answer carries the server's (Consul's coordinates, measured on heartbeats). */
  heartbeat(nodeId: string, secret: string, sample?: CoordinateSample): Promise<{ HeartbeatTTL: number; Coord?: Coordinate }>;
  /** The node's allocations once the state has moved past `minIndex` (a blocking query). */
  allocations(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; allocs: readonly Allocation[] }>;
  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<unknown>;
}
