/** A machine that runs allocations, as its client agent fingerprints and reports it. */
export const NodeStatus = { Initializing: "initializing", Ready: "ready", Down: "down", Disconnected: "disconnected" } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

export const NodeEligibility = { Eligible: "eligible", Ineligible: "ineligible" } as const;
export type NodeEligibility = (typeof NodeEligibility)[keyof typeof NodeEligibility];

export interface DriverInfo {
  Detected: boolean;
  Healthy: boolean;
  HealthDescription: string;
  Attributes: Record<string, string>;
}

export interface NodeResources {
  /** Total MHz (cores × MHz). */
  CPU: number;
  Cores: number;
  MemoryMB: number;
  DiskMB: number;
  /** Dynamic host ports are chosen in [MinDynamicPort, MaxDynamicPort]. */
  MinDynamicPort: number;
  MaxDynamicPort: number;
  /** Address tasks are reachable on. */
  IP: string;
}

export interface DrainStrategy {
  /** Nanoseconds; 0 = no deadline; -1 = force now. */
  Deadline: number;
  IgnoreSystemJobs: boolean;
  /** Unix ms at which the deadline falls; 0 when none. */
  ForceDeadline: number;
  StartedAt: number;
}

export interface Node {
  ID: string;
  /** Only the node itself and the servers know it; never returned by the public API. */
  SecretID: string;
  Name: string;
  Datacenter: string;
  NodeClass: string;
  NodePool: string;
  /** Fingerprinted attributes: `kernel.name`, `cpu.arch`, `unique.hostname`, `driver.docker`, ... */
  Attributes: Record<string, string>;
  Meta: Record<string, string>;
  Drivers: Record<string, DriverInfo>;
  Resources: NodeResources;
  /** Held back for the operating system and other programs. */
  Reserved: { CPU: number; MemoryMB: number; DiskMB: number; ReservedHostPorts: string };
  Status: NodeStatus;
  StatusDescription: string;
  SchedulingEligibility: NodeEligibility;
  DrainStrategy: DrainStrategy | null;
  /** Address of the agent's HTTP endpoint (logs, exec). */
  HTTPAddr: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Unix ms of the last heartbeat the servers saw. */
  LastHeartbeat: number;
}

/** Whether the scheduler may place new work on the node. */
export function nodeIsSchedulable(node: Node): boolean {
  return node.Status === "ready" && node.SchedulingEligibility === "eligible" && node.DrainStrategy === null;
}
