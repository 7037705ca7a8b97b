import type { Allocation, AllocUpdate, Node } from "../structs/index.js";

/** What a client needs of the servers. Over HTTP in the agent (`httpTransport`); in-process in tests. */
export interface ClientTransport {
  register(node: Node): Promise<{ HeartbeatTTL: number }>;
  heartbeat(nodeId: string, secret: string): Promise<{ HeartbeatTTL: number }>;
  /** The node's allocations once the state has moved past `minIndex` (a blocking query). */
  allocations(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; allocs: readonly Allocation[] }>;
  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<unknown>;
}
