import type { Job } from "./job.js";
import type { AllocMetric } from "./metrics.js";
import type { AllocatedResources } from "./resources.js";

/** What the servers want of an allocation. */
export const AllocDesiredStatus = { Run: "run", Stop: "stop", Evict: "evict" } as const;
export type AllocDesiredStatus = (typeof AllocDesiredStatus)[keyof typeof AllocDesiredStatus];

/** What the client reports of it. */
export const AllocClientStatus = {
  Pending: "pending",
  Running: "running",
  Complete: "complete",
  Failed: "failed",
  Lost: "lost",
  /** Set by the servers, never by a client: its node stopped heartbeating and what runs there is not known. */
  Unknown: "unknown",
} as const;
export type AllocClientStatus = (typeof AllocClientStatus)[keyof typeof AllocClientStatus];

export const TaskStateName = { Pending: "pending", Running: "running", Dead: "dead" } as const;
export type TaskStateName = (typeof TaskStateName)[keyof typeof TaskStateName];

export interface TaskEvent {
  Type: string;
  /** Unix ns, as Nomad reports it. */
  Time: number;
  Message: string;
  Details: Record<string, string>;
  ExitCode: number;
  Signal: number;
  KillTimeout: number;
  RestartReason: string;
}

export interface TaskState {
  State: TaskStateName;
  Failed: boolean;
  Restarts: number;
  /** Unix ms; 0 when not yet. */
  StartedAt: number;
  FinishedAt: number;
  Events: TaskEvent[];
}

export interface AllocDeploymentStatus {
  /** null until the health of the allocation is known. */
  Healthy: boolean | null;
  Timestamp: number;
  Canary: boolean;
  ModifyIndex: number;
}

/** The DNS a network's plugins gave the allocation (Nomad's `DNSConfig`). */
export interface DNSConfig {
  Servers: string[];
  Searches: string[];
  Options: string[];
}

/**
 * The allocation's own network, as its node made it (Nomad's `AllocNetworkStatus`): for a
 * group in mode `cni/<name>`, the interface the CNI plugins put in the namespace and its
 * address, which services with `address_mode = "alloc"` advertise.
 */
export interface AllocNetworkStatus {
  InterfaceName: string;
  Address: string;
  /** The first IPv6 address, when the interface has one; "" otherwise. */
  AddressIPv6: string;
  DNS: DNSConfig | null;
}

/** One change of an allocation's client status that the servers recorded (Nomad's `AllocState`). */
export interface AllocState {
  Field: "ClientStatus";
  Value: AllocClientStatus;
  /** Unix ms. */
  Time: number;
}

export interface RescheduleEvent {
  RescheduleTime: number;
  PrevAllocID: string;
  PrevNodeID: string;
  Delay: number;
}

export interface Allocation {
  ID: string;
  Namespace: string;
  EvalID: string;
  /** `job.group[index]` */
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  /** The job as it was when the allocation was placed or last updated in place. */
  Job: Job;
  TaskGroup: string;
  Resources: AllocatedResources;
  /** Per task. */
  TaskResources: Record<string, AllocatedResources>;
  DesiredStatus: AllocDesiredStatus;
  DesiredDescription: string;
  /** Set when the allocation must move (drain) or be rescheduled. */
  DesiredTransition: { Migrate: boolean; Reschedule: boolean; ForceReschedule: boolean };
  ClientStatus: AllocClientStatus;
  ClientDescription: string;
  TaskStates: Record<string, TaskState>;
  /** The latest result of each service check the node agent runs for this allocation. */
  Checks?: AllocCheck[];
  DeploymentID: string;
  DeploymentStatus: AllocDeploymentStatus | null;
  PreviousAllocation: string;
  /**
   * The dynamic host volumes the allocation's `sticky` requests were placed on (Nomad's
   * `HostVolumeIDs`): its replacement must go where they are. Absent: none.
   */
  HostVolumeIDs?: string[];
  NextAllocation: string;
  RescheduleTracker: { Events: RescheduleEvent[] } | null;
  FollowupEvalID: string;
  /** The allocation's own network (mode `cni/<name>`), as its node reported it; absent: none. */
  NetworkStatus?: AllocNetworkStatus;
  /** Client status changes the servers recorded: the moves to `unknown` and back of a disconnected node. */
  AllocStates?: AllocState[];
  /** What the scheduler saw when it placed the allocation: nodes looked at, turned down, and the best scored. */
  Metrics?: AllocMetric;
  /**
   * The workload identities' JWTs, by `signedIdentityKey(task, name)`: set only in what the
   * servers send the allocation's node (`GET /v1/client/allocations/:node`), never stored.
   */
  SignedIdentities?: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  AllocModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

/** When the allocation last turned `unknown` (unix ms), or 0. */
export function lastUnknown(a: Pick<Allocation, "AllocStates">): number {
  const states = a.AllocStates ?? [];
  for (let i = states.length - 1; i >= 0; i--) {
    const s = states[i] as AllocState;
    if (s.Value === "unknown") return s.Time;
  }
  return 0;
}

/**
 * Whether the allocation was marked `unknown` and has not been reconciled since: the last
 * client status the servers recorded is `unknown` (Nomad's `NeedsToReconnect`).
 */
export function needsToReconnect(a: Pick<Allocation, "AllocStates">): boolean {
  const last = a.AllocStates?.at(-1);
  return last !== undefined && last.Value === "unknown";
}

/** Whether the client is done with the allocation: it completed, failed or was lost. */
export function clientTerminal(status: AllocClientStatus): boolean {
  return status === "complete" || status === "failed" || status === "lost";
}

/** Whether the allocation is done with: told to stop, or finished on its own. */
export function allocTerminal(a: Pick<Allocation, "DesiredStatus" | "ClientStatus">): boolean {
  return a.DesiredStatus !== "run" || clientTerminal(a.ClientStatus);
}

/** The index in `job.group[index]`, or -1 if the name does not carry one. */
export function allocIndex(name: string): number {
  const open = name.lastIndexOf("[");
  if (open < 0 || !name.endsWith("]")) return -1;
  const n = Number(name.slice(open + 1, -1));
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

export function allocName(jobId: string, group: string, index: number): string {
  return `${jobId}.${group}[${index}]`;
}

/** A service check's status, as the node agent last saw it. */
export interface AllocCheck {
  Service: string;
  Name: string;
  Task: string;
  Status: "passing" | "warning" | "critical";
  Output: string;
}

/** What a client reports of one of its allocations. */
export interface AllocUpdate {
  ID: string;
  ClientStatus: Allocation["ClientStatus"];
  ClientDescription?: string;
  TaskStates?: Record<string, TaskState>;
  DeploymentStatus?: AllocDeploymentStatus | null;
  Checks?: AllocCheck[];
  NetworkStatus?: AllocNetworkStatus;
}
