/**
 * Small factories for tests and benchmarks: a node, a job, an evaluation, an allocation,
 * each complete and valid, with what a test cares about given as overrides.
 */
import type { Allocation } from "./allocation.js";
import {
  defaultEphemeralDisk,
  defaultLogConfig,
  defaultMigrateStrategy,
  defaultReschedulePolicy,
  defaultRestartPolicy,
  defaultUpdateStrategy,
  DEFAULT_KILL_TIMEOUT,
} from "./defaults.js";
import { newEvaluation, type Evaluation } from "./evaluation.js";
import type { Job, JobType, Task, TaskGroup } from "./job.js";
import { computeNodeClass, type Node } from "./node.js";
import { groupTotal } from "./resources.js";

let seq = 0;
/** A UUID-shaped id that starts with a counter (distinct first 8 characters) and ends with what it names. */
function id(prefix: string): string {
  seq++;
  return `${seq.toString(16).padStart(8, "0")}-0000-4000-8000-${Buffer.from(prefix).toString("hex").padEnd(12, "0").slice(0, 12)}`;
}

export interface NodeOptions {
  id?: string;
  name?: string;
  datacenter?: string;
  cpu?: number;
  memory?: number;
  disk?: number;
  meta?: Record<string, string>;
  attributes?: Record<string, string>;
  drivers?: string[];
  status?: Node["Status"];
  eligible?: boolean;
  nodeClass?: string;
  /** Host volumes by name: the path, true when read-only, and a dynamic volume's ID. */
  hostVolumes?: Record<string, { path: string; readOnly?: boolean; id?: string }>;
  /** Network modes the node offers besides host and bridge (`cni/NAME`). */
  networks?: string[];
}

export function node(o: NodeOptions = {}): Node {
  const nid = o.id ?? id("node");
  const name = o.name ?? `node-${nid.slice(0, 8)}`;
  const drivers = o.drivers ?? ["docker", "exec", "raw_exec", "mock"];
  const n: Node = {
    ID: nid,
    SecretID: `secret-${nid}`,
    Name: name,
    Datacenter: o.datacenter ?? "dc1",
    NodeClass: o.nodeClass ?? "",
    NodePool: "default",
    Attributes: {
      "kernel.name": "linux",
      "kernel.version": "6.1.0",
      "cpu.arch": "amd64",
      "os.name": "debian",
      "unique.hostname": name,
      ...Object.fromEntries(drivers.map((d) => [`driver.${d}`, "1"])),
      ...o.attributes,
    },
    Meta: { ...o.meta },
    Drivers: Object.fromEntries(drivers.map((d) => [d, { Detected: true, Healthy: true, HealthDescription: "healthy", Attributes: {} }])),
    Resources: { CPU: o.cpu ?? 4000, Cores: 4, MemoryMB: o.memory ?? 8192, DiskMB: o.disk ?? 100_000, MinDynamicPort: 20000, MaxDynamicPort: 32000, IP: "10.0.0.1" },
    Reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" },
    ComputedClass: "",
    Status: o.status ?? "ready",
    StatusDescription: "",
    SchedulingEligibility: o.eligible === false ? "ineligible" : "eligible",
    DrainStrategy: null,
    HTTPAddr: "127.0.0.1:4646",
    CreateIndex: 1,
    ModifyIndex: 1,
    LastHeartbeat: 0,
  };
  if (o.hostVolumes !== undefined) n.HostVolumes = Object.fromEntries(Object.entries(o.hostVolumes).map(([v, h]) => [v, { Name: v, Path: h.path, ReadOnly: h.readOnly ?? false, ...(h.id === undefined ? {} : { ID: h.id }) }]));
  if (o.networks !== undefined) n.Resources.Networks = o.networks.map((Mode) => ({ Mode }));
  // Set in place: a spread copy of an object this wide ends up with slow, dictionary-mode properties.
  n.ComputedClass = computeNodeClass(n);
  return n;
}

export interface JobOptions {
  id?: string;
  type?: JobType;
  count?: number;
  cpu?: number;
  memory?: number;
  driver?: string;
  datacenters?: string[];
  canary?: number;
  maxParallel?: number;
  ports?: string[];
  staticPorts?: Record<string, number>;
  version?: number;
  placement?: Job["Placement"];
}

export function task(o: JobOptions = {}): Task {
  return {
    Name: "web",
    Driver: o.driver ?? "mock",
    User: "",
    Config: {},
    Env: {},
    Services: [],
    Resources: { CPU: o.cpu ?? 100, Cores: 0, MemoryMB: o.memory ?? 128, MemoryMaxMB: 0, DiskMB: 0 },
    Constraints: [],
    Affinities: [],
    Meta: {},
    KillTimeout: DEFAULT_KILL_TIMEOUT,
    KillSignal: "",
    LogConfig: defaultLogConfig(),
    Leader: false,
  };
}

export function group(o: JobOptions = {}): TaskGroup {
  const type = o.type ?? "service";
  const dynamic = o.ports ?? [];
  const reserved = Object.entries(o.staticPorts ?? {});
  const update = type === "batch" || type === "sysbatch" ? null : { ...defaultUpdateStrategy(), Canary: o.canary ?? 0, MaxParallel: o.maxParallel ?? 1 };
  return {
    Name: "web",
    Count: o.count ?? 1,
    Constraints: [],
    Affinities: [],
    Spreads: [],
    RestartPolicy: defaultRestartPolicy(type),
    ReschedulePolicy: defaultReschedulePolicy(type),
    Update: update,
    Migrate: type === "service" ? defaultMigrateStrategy() : null,
    EphemeralDisk: { ...defaultEphemeralDisk(), SizeMB: 10 },
    Networks:
      dynamic.length + reserved.length > 0
        ? [
            {
              Mode: "host",
              MBits: 0,
              IP: "",
              ReservedPorts: reserved.map(([Label, Value]) => ({ Label, Value, To: 0, HostNetwork: "default" })),
              DynamicPorts: dynamic.map((Label) => ({ Label, Value: 0, To: 0, HostNetwork: "default" })),
            },
          ]
        : [],
    Services: [],
    Tasks: [task(o)],
    Meta: {},
  };
}

export function job(o: JobOptions = {}): Job {
  const type = o.type ?? "service";
  return {
    ID: o.id ?? id("job"),
    Name: o.id ?? "job",
    Namespace: "default",
    Region: "global",
    Type: type,
    Priority: 50,
    AllAtOnce: false,
    Datacenters: o.datacenters ?? ["dc1"],
    NodePool: "default",
    Constraints: [],
    Affinities: [],
    Spreads: [],
    Placement: o.placement ?? "binpack",
    FullScan: false,
    Update: null,
    Periodic: null,
    TaskGroups: [group(o)],
    Meta: {},
    Stop: false,
    Status: "pending",
    Version: o.version ?? 0,
    Stable: false,
    CreateIndex: 10,
    ModifyIndex: 10 + (o.version ?? 0),
    JobModifyIndex: 10 + (o.version ?? 0),
    SubmitTime: 0,
  };
}

export function evaluation(j: Job, o: Partial<Evaluation> = {}): Evaluation {
  return newEvaluation(id("eval"), j, "job-register", 0, { CreateIndex: 1, ModifyIndex: 1, ...o });
}

/** A running allocation of a job's first group on a node. */
export function alloc(j: Job, n: Node, index: number, o: Partial<Allocation> = {}): Allocation {
  const tg = j.TaskGroups[0] as TaskGroup;
  const { CPU: cpu, MemoryMB: mem } = groupTotal(tg.Tasks);
  return {
    ID: id("alloc"),
    Namespace: j.Namespace,
    EvalID: "",
    Name: `${j.ID}.${tg.Name}[${index}]`,
    NodeID: n.ID,
    NodeName: n.Name,
    JobID: j.ID,
    Job: j,
    TaskGroup: tg.Name,
    Resources: { CPU: cpu, MemoryMB: mem, DiskMB: tg.EphemeralDisk.SizeMB, Networks: [] },
    TaskResources: {},
    DesiredStatus: "run",
    DesiredDescription: "",
    DesiredTransition: { Migrate: false, Reschedule: false, ForceReschedule: false },
    ClientStatus: "running",
    ClientDescription: "",
    TaskStates: {},
    DeploymentID: "",
    DeploymentStatus: null,
    PreviousAllocation: "",
    NextAllocation: "",
    RescheduleTracker: null,
    FollowupEvalID: "",
    CreateIndex: 5,
    ModifyIndex: 5,
    AllocModifyIndex: 5,
    CreateTime: 0,
    ModifyTime: 0,
    ...o,
  };
}
