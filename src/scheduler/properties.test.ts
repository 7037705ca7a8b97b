import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocTerminal, assertNever, computeNodeClass, describeFailure, failedGroupHeading, holdsResources, mock, SCORE_META_TOP, type Allocation, type NodeScoreMeta, type Constraint, type Job, type JobType, type Node, type TaskGroup } from "../structs/index.js";
import { MemoryView, schedule, type ScheduleResult } from "./index.js";

/*
 * Properties of `schedule` that must hold for every cluster and every job, checked over
 * random ones with fast-check. The test builds clusters from plain specs (so a shrunk
 * counterexample reads as data) and judges each plan with its own oracle: what a node
 * offers, what a job asks and which constraints hold are computed here from the specs,
 * not with the scheduler's helpers.
 *
 * A failure prints fast-check's seed and path; replay it with
 * `fc.assert(..., { seed, path, endOnFailure: true })`.
 */

const NOW = 1_700_000_000_000;
const RUNS = 200;
// A failure prints its seed; RUCHE_PROPERTY_SEED=<seed> replays the same worlds.
if (process.env.RUCHE_PROPERTY_SEED !== undefined) fc.configureGlobal({ seed: Number(process.env.RUCHE_PROPERTY_SEED) });

const DRIVERS = ["docker", "exec", "raw_exec", "mock"] as const;
const RACKS = ["r1", "r2", "r3", "r4"] as const;
const ROLES = ["worker", "manager", "edge"] as const;
const KERNELS = ["4.19.0-25-amd64", "5.10.0-28-amd64", "6.1.0"] as const;
const OTHER_JOBS = ["other-a", "other-b", "other-c"] as const;
const GROUP_NAMES = ["web", "api", "db"] as const;
/** Host ports that other allocations, nodes and jobs all draw from, so that they collide. */
const PORTS = [80, 8080, 9090, 25_000] as const;
const MIN_DYN = 20_000;
const MAX_DYN = 32_000;

// ---------------------------------------------------------------------------------------
// Specs: the cluster and the job as plain data.

interface OtherAllocSpec {
  job: number;
  cpu: number;
  memory: number;
  state: "running" | "pending" | "complete" | "failed" | "stopped";
  port: number | null;
}

interface NodeSpec {
  cpu: number;
  memory: number;
  status: "ready" | "down" | "initializing" | "disconnected";
  eligible: boolean;
  draining: boolean;
  dc: "dc1" | "dc2" | "edge";
  pool: "default" | "gpu";
  rack: string | null;
  role: string | null;
  kernel: string;
  cores: "4" | "16";
  drivers: string[];
  /** A driver the node detects but reports unhealthy. */
  unhealthy: string | null;
  reservedCpu: number;
  reservedMemory: number;
  reservedPorts: "" | "22" | "22,8080" | "20000-20100";
  others: OtherAllocSpec[];
}

/** A node constraint the test can judge itself, from the node's spec. */
type ConstraintKind =
  | { kind: "rack="; value: string }
  | { kind: "role!="; value: string }
  | { kind: "rack-is-set" }
  | { kind: "role-is-not-set" }
  | { kind: "rack-regexp" }
  | { kind: "role-any" }
  | { kind: "dc1" }
  | { kind: "kernel>=5" }
  | { kind: "cores>=8" }
  | { kind: "name!="; node: number }
  | { kind: "beside"; job: number }
  | { kind: "not-beside"; job: number };

interface ConstraintSpec {
  c: ConstraintKind;
  /** Written on the job rather than on the group. */
  jobLevel: boolean;
}

interface GroupSpec {
  count: number;
  cpu: number;
  memory: number;
  driver: string;
  staticPort: number | null;
  dynamicPorts: number;
  distinctHosts: "none" | "true" | "false";
  /** distinct_property on ${meta.rack}: how many may share a rack (RTarget "" = 1). */
  distinctRack: { limit: "" | "2" | "3" } | null;
}

interface JobSpec {
  type: JobType;
  datacenters: string[];
  pool: "default" | "all";
  placement: "binpack" | "spread" | "random";
  canary: number;
  groups: GroupSpec[];
  constraints: ConstraintSpec[];
  jobDistinctHosts: boolean;
  /** distinct_property on ${meta.rack} written on the job: counts every group. */
  jobDistinctRack: { limit: "" | "2" } | null;
  seed: number;
}

/** An allocation of the job itself, from an earlier evaluation. */
interface OwnAllocSpec {
  node: number;
  group: number;
  index: number;
  version: "same" | "in-place" | "destructive";
  client: "running" | "pending" | "failed" | "complete" | "lost";
  desired: "run" | "stop";
  migrate: boolean;
}

// ---------------------------------------------------------------------------------------
// Arbitraries.

const weighted = <T>(common: fc.Arbitrary<T>, rare: fc.Arbitrary<T>, odds = 6): fc.Arbitrary<T> =>
  fc.oneof({ weight: odds, arbitrary: common }, { weight: 1, arbitrary: rare });

const otherAllocArb: fc.Arbitrary<OtherAllocSpec> = fc.record({
  job: fc.integer({ min: 0, max: OTHER_JOBS.length - 1 }),
  cpu: fc.integer({ min: 10, max: 6000 }),
  memory: fc.integer({ min: 10, max: 24_000 }),
  state: weighted(fc.constantFrom("running" as const, "pending" as const), fc.constantFrom("complete" as const, "failed" as const, "stopped" as const), 3),
  port: fc.option(fc.constantFrom(...PORTS, 20_050, 31_999), { nil: null, freq: 2 }),
});

const nodeArb: fc.Arbitrary<NodeSpec> = fc.record({
  cpu: fc.integer({ min: 500, max: 16_000 }),
  memory: fc.integer({ min: 512, max: 65_536 }),
  status: weighted(fc.constant("ready" as const), fc.constantFrom("down" as const, "initializing" as const, "disconnected" as const), 8),
  eligible: weighted(fc.constant(true), fc.constant(false), 8),
  draining: weighted(fc.constant(false), fc.constant(true), 8),
  dc: weighted(fc.constant("dc1" as const), fc.constantFrom("dc2" as const, "edge" as const), 3),
  pool: weighted(fc.constant("default" as const), fc.constant("gpu" as const), 10),
  rack: fc.option(fc.constantFrom(...RACKS), { nil: null, freq: 6 }),
  role: fc.option(fc.constantFrom(...ROLES), { nil: null, freq: 4 }),
  kernel: fc.constantFrom(...KERNELS),
  cores: fc.constantFrom("4" as const, "16" as const),
  drivers: weighted(fc.constant([...DRIVERS]), fc.subarray([...DRIVERS]), 2),
  unhealthy: weighted(fc.constant(null), fc.constantFrom(...DRIVERS), 8),
  reservedCpu: weighted(fc.constant(0), fc.integer({ min: 0, max: 400 }), 3),
  reservedMemory: weighted(fc.constant(0), fc.integer({ min: 0, max: 512 }), 3),
  reservedPorts: weighted(fc.constant("" as const), fc.constantFrom("22" as const, "22,8080" as const, "20000-20100" as const), 4),
  others: fc.array(otherAllocArb, { maxLength: 4 }),
});

const clusterArb = fc.array(nodeArb, { minLength: 1, maxLength: 60, size: "max" });

const constraintKindArb = (nodes: number): fc.Arbitrary<ConstraintKind> =>
  fc.oneof(
    fc.record({ kind: fc.constant("rack=" as const), value: fc.constantFrom(...RACKS) }),
    fc.record({ kind: fc.constant("role!=" as const), value: fc.constantFrom(...ROLES) }),
    fc.constant({ kind: "rack-is-set" as const }),
    fc.constant({ kind: "role-is-not-set" as const }),
    fc.constant({ kind: "rack-regexp" as const }),
    fc.constant({ kind: "role-any" as const }),
    fc.constant({ kind: "dc1" as const }),
    fc.constant({ kind: "kernel>=5" as const }),
    fc.constant({ kind: "cores>=8" as const }),
    fc.record({ kind: fc.constant("name!=" as const), node: fc.integer({ min: 0, max: Math.max(0, nodes - 1) }) }),
    fc.record({ kind: fc.constant("beside" as const), job: fc.integer({ min: 0, max: OTHER_JOBS.length - 1 }) }),
    fc.record({ kind: fc.constant("not-beside" as const), job: fc.integer({ min: 0, max: OTHER_JOBS.length - 1 }) }),
  );

interface GroupOptions {
  maxCount: number;
  /** distinct_property in this job. */
  distinctRack: boolean;
}

const groupArb = (o: GroupOptions): fc.Arbitrary<GroupSpec> =>
  fc.record({
    count: o.maxCount <= 3 ? weighted(fc.constant(1), fc.integer({ min: 0, max: o.maxCount }), 3) : weighted(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: o.maxCount }), 1),
    cpu: fc.integer({ min: 10, max: 4000 }),
    memory: fc.integer({ min: 10, max: 8192 }),
    driver: weighted(fc.constant("mock"), fc.constantFrom(...DRIVERS), 2),
    staticPort: weighted(fc.constant(null), fc.constantFrom(...PORTS), 4),
    dynamicPorts: weighted(fc.constant(0), fc.integer({ min: 1, max: 3 }), 2),
    distinctHosts: weighted(fc.constant("none" as const), fc.constantFrom("true" as const, "false" as const), 4),
    distinctRack: o.distinctRack ? weighted(fc.constant(null), fc.record({ limit: fc.constantFrom("" as const, "2" as const, "3" as const) }), 5) : fc.constant(null),
  });

interface JobOptions {
  types: readonly JobType[];
  maxGroups: number;
  maxCount: number;
  nodes: number;
  distinctRack: boolean;
  /** Job-level distinct_property across groups. */
  jobDistinctRack?: boolean;
}

const jobArb = (o: JobOptions): fc.Arbitrary<JobSpec> =>
  fc.record({
    type: fc.constantFrom(...o.types),
    datacenters: weighted<string[]>(fc.constant(["dc1"]), fc.constantFrom(["dc1", "dc2"], ["dc*"], ["dc2"], ["*"], ["edge"]), 2),
    pool: weighted(fc.constant("default" as const), fc.constant("all" as const), 6),
    placement: weighted(fc.constant("binpack" as const), fc.constantFrom("spread" as const, "random" as const), 3),
    canary: weighted(fc.constant(0), fc.constant(1), 4),
    groups: fc.array(groupArb({ maxCount: o.maxCount, distinctRack: o.distinctRack }), { minLength: 1, maxLength: o.maxGroups }),
    constraints: weighted(fc.constant([]), fc.array(fc.record({ c: constraintKindArb(o.nodes), jobLevel: fc.boolean() }), { minLength: 1, maxLength: 3 }), 1),
    jobDistinctHosts: weighted(fc.constant(false), fc.constant(true), 6),
    jobDistinctRack: o.jobDistinctRack === true && o.maxGroups > 1 ? weighted(fc.constant(null), fc.record({ limit: fc.constantFrom("" as const, "2" as const) }), 2) : fc.constant(null),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });

const ownAllocArb = (o: { nodes: number; groups: number }): fc.Arbitrary<OwnAllocSpec> =>
  fc.record({
    node: fc.integer({ min: 0, max: Math.max(0, o.nodes - 1) }),
    group: fc.integer({ min: 0, max: Math.max(0, o.groups - 1) }),
    index: fc.integer({ min: 0, max: 25 }),
    version: fc.constantFrom("same" as const, "in-place" as const, "destructive" as const),
    client: weighted(fc.constantFrom("running" as const, "pending" as const), fc.constantFrom("failed" as const, "complete" as const, "lost" as const), 3),
    desired: weighted(fc.constant("run" as const), fc.constant("stop" as const), 6),
    migrate: weighted(fc.constant(false), fc.constant(true), 5),
  });

// ---------------------------------------------------------------------------------------
// Building structs from specs.

function nodeName(i: number): string {
  return `n${i}`;
}

function buildNode(s: NodeSpec, i: number): Node {
  const meta: Record<string, string> = {};
  if (s.rack !== null) meta.rack = s.rack;
  if (s.role !== null) meta.role = s.role;
  const n = mock.node({
    id: `node-${i}`,
    name: nodeName(i),
    datacenter: s.dc,
    cpu: s.cpu,
    memory: s.memory,
    status: s.status,
    eligible: s.eligible,
    drivers: s.drivers,
    meta,
    attributes: { "kernel.version": s.kernel, "cpu.numcores": s.cores },
  });
  const drivers = { ...n.Drivers };
  const sick = s.unhealthy === null ? undefined : drivers[s.unhealthy];
  if (s.unhealthy !== null && sick !== undefined) drivers[s.unhealthy] = { ...sick, Healthy: false, HealthDescription: "unhealthy" };
  const { ComputedClass: _stale, ...rest } = {
    ...n,
    NodePool: s.pool,
    Drivers: drivers,
    Reserved: { CPU: s.reservedCpu, MemoryMB: s.reservedMemory, DiskMB: 0, ReservedHostPorts: s.reservedPorts },
    DrainStrategy: s.draining ? { Deadline: 0, IgnoreSystemJobs: false, ForceDeadline: 0, StartedAt: NOW - 1000 } : null,
  };
  // The class is computed when a node registers; this node changed after mock.node made it.
  return { ...rest, ComputedClass: computeNodeClass(rest) };
}

function reservedPortList(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    if (part === "") continue;
    const [lo, hi] = part.split("-").map(Number);
    if (lo === undefined) continue;
    for (let p = lo; p <= (hi ?? lo); p++) out.push(p);
  }
  return out;
}

function constraintOf(k: ConstraintKind): Constraint {
  switch (k.kind) {
    case "rack=":
      return { LTarget: "${meta.rack}", RTarget: k.value, Operand: "=" };
    case "role!=":
      return { LTarget: "${meta.role}", RTarget: k.value, Operand: "!=" };
    case "rack-is-set":
      return { LTarget: "${meta.rack}", RTarget: "", Operand: "is_set" };
    case "role-is-not-set":
      return { LTarget: "${meta.role}", RTarget: "", Operand: "is_not_set" };
    case "rack-regexp":
      return { LTarget: "${meta.rack}", RTarget: "^r[12]$", Operand: "regexp" };
    case "role-any":
      return { LTarget: "worker,edge", RTarget: "${meta.role}", Operand: "set_contains_any" };
    case "dc1":
      return { LTarget: "${node.datacenter}", RTarget: "dc1", Operand: "=" };
    case "kernel>=5":
      return { LTarget: "${attr.kernel.version}", RTarget: ">= 5.0", Operand: "version" };
    case "cores>=8":
      return { LTarget: "${attr.cpu.numcores}", RTarget: "8", Operand: ">=" };
    case "name!=":
      return { LTarget: "${node.unique.name}", RTarget: nodeName(k.node), Operand: "!=" };
    case "beside":
      return { LTarget: "", RTarget: OTHER_JOBS[k.job] ?? "", Operand: "beside_job" };
    case "not-beside":
      return { LTarget: "", RTarget: OTHER_JOBS[k.job] ?? "", Operand: "not_beside_job" };
    default:
      return assertNever(k, "constraint kind");
  }
}

/** The test's own judgement of a node constraint; `liveJobs` are the other jobs running on the node. */
function holds(k: ConstraintKind, s: NodeSpec, i: number, liveJobs: ReadonlySet<string>): boolean {
  switch (k.kind) {
    case "rack=":
      return s.rack === k.value;
    case "role!=":
      return s.role !== k.value;
    case "rack-is-set":
      return s.rack !== null;
    case "role-is-not-set":
      return s.role === null;
    case "rack-regexp":
      return s.rack === "r1" || s.rack === "r2";
    case "role-any":
      return s.role === "worker" || s.role === "edge";
    case "dc1":
      return s.dc === "dc1";
    case "kernel>=5":
      return s.kernel !== "4.19.0-25-amd64";
    case "cores>=8":
      return s.cores === "16";
    case "name!=":
      return i !== k.node;
    case "beside":
      return liveJobs.has(OTHER_JOBS[k.job] ?? "");
    case "not-beside":
      return !liveJobs.has(OTHER_JOBS[k.job] ?? "");
    default:
      return assertNever(k, "constraint kind");
  }
}

function buildJob(s: JobSpec): Job {
  const base = mock.job({ id: "job", type: s.type, version: 1, placement: s.placement });
  const groups: TaskGroup[] = s.groups.map((g, gi) => {
    const staticPorts: Record<string, number> = g.staticPort === null ? {} : { fixed: g.staticPort };
    const ports = Array.from({ length: g.dynamicPorts }, (_, k) => `dyn${k}`);
    const tg = mock.group({ type: s.type, count: g.count, cpu: g.cpu, memory: g.memory, driver: g.driver, ports, staticPorts, canary: s.canary });
    const constraints: Constraint[] = s.constraints.filter((c) => !c.jobLevel).map((c) => constraintOf(c.c));
    if (g.distinctHosts !== "none") constraints.push({ LTarget: "", RTarget: g.distinctHosts, Operand: "distinct_hosts" });
    if (g.distinctRack !== null) constraints.push({ LTarget: "${meta.rack}", RTarget: g.distinctRack.limit, Operand: "distinct_property" });
    return { ...tg, Name: GROUP_NAMES[gi] ?? `g${gi}`, Constraints: constraints };
  });
  const constraints: Constraint[] = s.constraints.filter((c) => c.jobLevel).map((c) => constraintOf(c.c));
  if (s.jobDistinctHosts) constraints.push({ LTarget: "", RTarget: "true", Operand: "distinct_hosts" });
  if (s.jobDistinctRack !== null) constraints.push({ LTarget: "${meta.rack}", RTarget: s.jobDistinctRack.limit, Operand: "distinct_property" });
  return { ...base, Datacenters: s.datacenters, NodePool: s.pool, TaskGroups: groups, Constraints: constraints };
}

/** An older version of the job: the same (in place) or with more cpu (a replacement). */
function olderJob(job: Job, kind: "in-place" | "destructive"): Job {
  const groups = job.TaskGroups.map((g) => ({
    ...g,
    Tasks: g.Tasks.map((t) => ({ ...t, Resources: { ...t.Resources, CPU: kind === "destructive" ? Math.max(10, t.Resources.CPU - 5) : t.Resources.CPU } })),
  }));
  return { ...job, Version: 0, JobModifyIndex: job.JobModifyIndex - 1, ModifyIndex: job.ModifyIndex - 1, TaskGroups: groups };
}

function otherJob(name: string): Job {
  return mock.job({ id: name, type: "service" });
}

function askOf(tg: TaskGroup): { cpu: number; memory: number; disk: number } {
  return {
    cpu: tg.Tasks.reduce((a, t) => a + t.Resources.CPU, 0),
    memory: tg.Tasks.reduce((a, t) => a + t.Resources.MemoryMB, 0),
    disk: tg.EphemeralDisk.SizeMB,
  };
}

/** What is taken on a node at the start, the node's own reservation included. */
interface Ledger {
  cpu: number;
  memory: number;
  disk: number;
  ports: Set<number>;
  jobs: Set<string>;
}

interface World {
  specs: NodeSpec[];
  nodes: Node[];
  allocs: Allocation[];
  job: Job;
  jobSpec: JobSpec;
  /** Usage at the start, from allocations that hold resources. */
  ledgers: Ledger[];
  view: MemoryView;
  run(view?: MemoryView): ScheduleResult;
}

/**
 * Builds the cluster. Existing allocations are kept only where they fit and their ports are
 * free, so the state a scheduler starts from is one a correct scheduler could have produced.
 */
function build(specs: NodeSpec[], jobSpec: JobSpec, own: OwnAllocSpec[] = []): World {
  const nodes = specs.map(buildNode);
  const job = buildJob(jobSpec);
  const others = new Map(OTHER_JOBS.map((n) => [n, otherJob(n)]));
  const ledgers: Ledger[] = specs.map((s) => ({ cpu: s.reservedCpu, memory: s.reservedMemory, disk: 0, ports: new Set(reservedPortList(s.reservedPorts)), jobs: new Set() }));
  const allocs: Allocation[] = [];
  const admit = (a: Allocation, i: number): void => {
    const l = ledgers[i] as Ledger;
    const n = nodes[i] as Node;
    // What holds resources: until its client is done with it, even when told to stop.
    if (holdsResources(a)) {
      const ports = portsOf(a);
      const fits =
        l.cpu + a.Resources.CPU <= n.Resources.CPU &&
        l.memory + a.Resources.MemoryMB <= n.Resources.MemoryMB &&
        l.disk + a.Resources.DiskMB <= n.Resources.DiskMB &&
        ports.every((p) => !l.ports.has(p)) &&
        new Set(ports).size === ports.length;
      if (!fits) return;
      l.cpu += a.Resources.CPU;
      l.memory += a.Resources.MemoryMB;
      l.disk += a.Resources.DiskMB;
      for (const p of ports) l.ports.add(p);
      // beside_job sees the jobs meant to run there.
      if (!allocTerminal(a)) l.jobs.add(a.JobID);
    }
    allocs.push(a);
  };

  specs.forEach((s, i) => {
    const n = nodes[i] as Node;
    s.others.forEach((o, k) => {
      const j = others.get(OTHER_JOBS[o.job] ?? "other-a") as Job;
      const state = o.state === "stopped" ? { DesiredStatus: "stop" as const, ClientStatus: "running" as const } : { DesiredStatus: "run" as const, ClientStatus: o.state };
      const networks = o.port === null ? [] : [{ Mode: "host" as const, MBits: 0, IP: n.Resources.IP, ReservedPorts: [{ Label: "p", Value: o.port, To: 0, HostNetwork: "default" }], DynamicPorts: [] }];
      admit(mock.alloc(j, n, k, { ID: `other-${i}-${k}`, ...state, Resources: { CPU: o.cpu, MemoryMB: o.memory, DiskMB: 10, Networks: networks } }), i);
    });
  });

  own.forEach((o, k) => {
    const i = o.node % nodes.length;
    const n = nodes[i] as Node;
    const at = o.version === "same" ? job : olderJob(job, o.version);
    const tg = at.TaskGroups[o.group % at.TaskGroups.length] as TaskGroup;
    const ask = askOf(tg);
    const net = tg.Networks[0];
    const networks =
      net === undefined
        ? []
        : [
            {
              ...net,
              IP: n.Resources.IP,
              ReservedPorts: net.ReservedPorts.map((p) => ({ ...p })),
              DynamicPorts: net.DynamicPorts.map((p, d) => ({ ...p, Value: MIN_DYN + 1000 + 10 * k + d })),
            },
          ];
    const status = o.client === "failed" ? { ClientStatus: o.client, ModifyTime: NOW - 3_600_000 } : { ClientStatus: o.client };
    admit(
      mock.alloc(at, n, o.index, {
        ID: `own-${k}`,
        Name: `${job.ID}.${tg.Name}[${o.index}]`,
        TaskGroup: tg.Name,
        DesiredStatus: o.desired,
        DesiredTransition: { Migrate: o.migrate, Reschedule: false, ForceReschedule: false },
        Resources: { CPU: ask.cpu, MemoryMB: ask.memory, DiskMB: ask.disk, Networks: networks },
        ...status,
      }),
      i,
    );
  });

  const evalId = `eval-${jobSpec.seed.toString(16).padStart(8, "0")}`;
  const view = new MemoryView({ nodes, allocs, jobs: [job] });
  return {
    specs,
    nodes,
    allocs,
    job,
    jobSpec,
    ledgers,
    view,
    run: (v = view) => schedule(mock.evaluation(job, { ID: evalId }), v, NOW),
  };
}

function portsOf(a: Allocation): number[] {
  return a.Resources.Networks.flatMap((n) => [...n.ReservedPorts, ...n.DynamicPorts].map((p) => p.Value)).filter((p) => p > 0);
}

// ---------------------------------------------------------------------------------------
// The oracle. Checks throw a plain Error with a message built only on failure: fast-check
// runs a failing property hundreds of times while it shrinks, and a matcher's diff of two
// large plans on each of those runs would turn seconds into minutes.

class PropertyViolation extends Error {}

function ensure(ok: boolean, message: () => string): void {
  if (!ok) throw new PropertyViolation(message());
}

function inDatacenters(dc: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p === dc || (p.includes("*") && new RegExp(`^${p.split("*").join(".*")}$`).test(dc)));
}

function schedulable(s: NodeSpec): boolean {
  return s.status === "ready" && s.eligible && !s.draining;
}

function driverOk(s: NodeSpec, driver: string): boolean {
  return s.drivers.includes(driver) && s.unhealthy !== driver;
}

/** Whether a node may take the group at all: what it is, not what it runs of this job. */
function feasible(w: World, i: number, gi: number): boolean {
  const s = w.specs[i] as NodeSpec;
  const g = w.jobSpec.groups[gi] as GroupSpec;
  const l = w.ledgers[i] as Ledger;
  return (
    schedulable(s) &&
    inDatacenters(s.dc, w.jobSpec.datacenters) &&
    (w.jobSpec.pool === "all" || s.pool === w.jobSpec.pool) &&
    driverOk(s, g.driver) &&
    w.jobSpec.constraints.every((c) => holds(c.c, s, i, l.jobs))
  );
}

/** How many allocations of the group fit on a node beside what runs there at the start. */
function capacity(w: World, i: number, gi: number): number {
  if (!feasible(w, i, gi)) return 0;
  const n = w.nodes[i] as Node;
  const l = w.ledgers[i] as Ledger;
  const g = w.jobSpec.groups[gi] as GroupSpec;
  const ask = askOf(w.job.TaskGroups[gi] as TaskGroup);
  let cap = Math.min(Math.floor((n.Resources.CPU - l.cpu) / ask.cpu), Math.floor((n.Resources.MemoryMB - l.memory) / ask.memory), Math.floor((n.Resources.DiskMB - l.disk) / ask.disk));
  if (g.dynamicPorts > 0) {
    const used = [...l.ports].filter((p) => p >= MIN_DYN && p <= MAX_DYN).length;
    cap = Math.min(cap, Math.floor((MAX_DYN - MIN_DYN + 1 - used) / g.dynamicPorts));
  }
  if (g.staticPort !== null) cap = Math.min(cap, l.ports.has(g.staticPort) ? 0 : 1);
  if (g.distinctHosts === "true" || w.jobSpec.jobDistinctHosts) cap = Math.min(cap, 1);
  return Math.max(0, cap);
}

/**
 * How many allocations of the lone group of a new job the cluster has room for. Its
 * allocations are all alike, so a node takes exactly `capacity` of them whatever the
 * order, and a placer that fails only when no node can take one more (usage only grows
 * within an evaluation) reaches min(count, room): room is the sum of capacities, capped
 * per rack under distinct_property.
 */
function room(w: World, gi: number): number {
  const caps = w.specs.map((_, i) => capacity(w, i, gi));
  const g = w.jobSpec.groups[gi] as GroupSpec;
  if (g.distinctRack === null) return caps.reduce((a, b) => a + b, 0);
  const limit = g.distinctRack.limit === "" ? 1 : Number(g.distinctRack.limit);
  const byRack = new Map<string, number>();
  w.specs.forEach((s, i) => {
    if (s.rack !== null) byRack.set(s.rack, (byRack.get(s.rack) ?? 0) + (caps[i] ?? 0));
  });
  return [...byRack.values()].reduce((a, c) => a + Math.min(limit, c), 0);
}

interface Outcome {
  /** Allocations the plan creates (not in-place updates of existing ones). */
  created: Allocation[];
  /** Per node: what is meant to run once the plan is applied. */
  after: Map<string, Allocation[]>;
  /** Per node: what holds resources once the plan is applied (also what was told to stop earlier and still runs). */
  held: Map<string, Allocation[]>;
  /** Nodes that receive a new allocation. */
  touched: Set<string>;
}

function apply(w: World, r: ScheduleResult): Outcome {
  const existing = new Map(w.allocs.map((a) => [a.ID, a]));
  const stopped = new Set(Object.values(r.plan.NodeUpdate).flatMap((l) => l.map((a) => a.ID)));
  const byId = new Map<string, Allocation>();
  const stopping: Allocation[] = [];
  for (const a of w.allocs) {
    if (!allocTerminal(a) && !stopped.has(a.ID)) byId.set(a.ID, a);
    else if (holdsResources(a) && !stopped.has(a.ID)) stopping.push(a);
  }
  const created: Allocation[] = [];
  for (const [nodeId, list] of Object.entries(r.plan.NodeAllocation)) {
    for (const a of list) {
      ensure(a.NodeID === nodeId, () => `allocation ${a.Name} on ${a.NodeID} filed under node ${nodeId}`);
      if (!existing.has(a.ID)) created.push(a);
      byId.set(a.ID, a);
    }
  }
  const after = new Map<string, Allocation[]>();
  for (const a of byId.values()) after.set(a.NodeID, [...(after.get(a.NodeID) ?? []), a]);
  const held = new Map([...after].map(([k, v]) => [k, [...v]]));
  for (const a of stopping) held.set(a.NodeID, [...(held.get(a.NodeID) ?? []), a]);
  return { created, after, held, touched: new Set(created.map((a) => a.NodeID)) };
}

function nodeIndex(w: World, id: string): number {
  const i = w.nodes.findIndex((n) => n.ID === id);
  ensure(i >= 0, () => `allocation on unknown node ${id}`);
  return i;
}

function describeNode(w: World, i: number, here: readonly Allocation[]): string {
  const held = here.map((a) => `${a.Name}(${a.Resources.CPU}MHz/${a.Resources.MemoryMB}MB, ports ${portsOf(a).join(",")})`).join(", ");
  return `node ${nodeName(i)} ${JSON.stringify(w.specs[i])} holding ${held}`;
}

/** Safety: what must hold of every plan, whatever the cluster. */
/**
 * A placed allocation carries the metric of its placement, from the one scoring path: the
 * best nodes scored (at most SCORE_META_TOP), best first, each final score the mean of its
 * scorers' parts, and for a service or batch job the chosen node among them (only nodes put
 * aside for scoring below zero, at most 3, can outrank it). A system job's placement tries
 * one node and scores none.
 */
function checkPlacementMetric(w: World, a: Allocation, where: () => string): void {
  const m = a.Metrics;
  ensure(m !== undefined, () => `${where()}: no placement metric`);
  if (m === undefined) return;
  const top = m.ScoreMetaData;
  if (w.job.Type === "system") {
    ensure(m.NodesEvaluated === 1 && top.length === 0, () => `${where()}: a system placement's metric ${JSON.stringify(m)}`);
    return;
  }
  ensure(top.length > 0 && top.length <= SCORE_META_TOP && top.length <= m.NodesEvaluated - m.NodesFiltered - m.NodesExhausted, () => `${where()}: ${top.length} scored nodes of ${m.NodesEvaluated} evaluated`);
  top.forEach((e, k) => {
    const parts = Object.values(e.Scores);
    ensure(parts.length > 0 && e.NormScore === parts.reduce((x, y) => x + y, 0) / parts.length, () => `${where()}: final score ${e.NormScore} is not the mean of ${JSON.stringify(e.Scores)}`);
    ensure(k === 0 || (top[k - 1] as NodeScoreMeta).NormScore >= e.NormScore, () => `${where()}: scored nodes not best first: ${JSON.stringify(top)}`);
  });
  ensure(top.some((e) => e.NodeID === a.NodeID), () => `${where()}: the chosen node is not among the best scored ${JSON.stringify(top)}`);
}

function checkSafety(w: World, r: ScheduleResult): Outcome {
  const o = apply(w, r);
  const groupIndex = new Map(w.job.TaskGroups.map((g, gi) => [g.Name, gi]));
  const createdIds = new Set(o.created.map((a) => a.ID));
  const isNew = (a: Allocation): boolean => createdIds.has(a.ID);

  for (const a of o.created) {
    const i = nodeIndex(w, a.NodeID);
    const s = w.specs[i] as NodeSpec;
    const gi = groupIndex.get(a.TaskGroup) ?? -1;
    const where = (): string => `${a.Name} on node ${nodeName(i)} ${JSON.stringify(s)}`;
    ensure(gi >= 0 && a.JobID === w.job.ID && a.DesiredStatus === "run", () => `${where()}: not a running allocation of the job's groups`);
    ensure(schedulable(s), () => `${where()}: the node is not ready, is ineligible or is draining`);
    ensure(inDatacenters(s.dc, w.jobSpec.datacenters), () => `${where()}: outside the job's datacenters ${w.jobSpec.datacenters.join(",")}`);
    ensure(w.jobSpec.pool === "all" || s.pool === w.jobSpec.pool, () => `${where()}: outside the job's node pool`);
    ensure(feasible(w, i, gi), () => `${where()}: violates a constraint or misses its driver (${JSON.stringify(w.jobSpec.constraints)}, driver ${w.jobSpec.groups[gi]?.driver})`);
    const ask = askOf(w.job.TaskGroups[gi] as TaskGroup);
    ensure(a.Resources.CPU === ask.cpu && a.Resources.MemoryMB === ask.memory, () => `${where()}: holds ${a.Resources.CPU}MHz/${a.Resources.MemoryMB}MB, asked ${ask.cpu}/${ask.memory}`);
    for (const net of a.Resources.Networks) {
      for (const p of net.DynamicPorts) ensure(p.Value >= MIN_DYN && p.Value <= MAX_DYN, () => `${where()}: dynamic port ${p.Value} outside [${MIN_DYN}, ${MAX_DYN}]`);
    }
    checkPlacementMetric(w, a, where);
  }

  for (const nodeId of o.touched) {
    const i = nodeIndex(w, nodeId);
    const n = w.nodes[i] as Node;
    const s = w.specs[i] as NodeSpec;
    const here = o.held.get(nodeId) ?? [];
    const what = (): string => describeNode(w, i, here);
    const sum = (f: (a: Allocation) => number): number => here.reduce((x, a) => x + f(a), 0);
    ensure(s.reservedCpu + sum((a) => a.Resources.CPU) <= n.Resources.CPU, () => `cpu over-committed on ${what()}`);
    ensure(s.reservedMemory + sum((a) => a.Resources.MemoryMB) <= n.Resources.MemoryMB, () => `memory over-committed on ${what()}`);
    ensure(sum((a) => a.Resources.DiskMB) <= n.Resources.DiskMB, () => `disk over-committed on ${what()}`);
    const ports = [...reservedPortList(s.reservedPorts), ...here.flatMap(portsOf)];
    ensure(new Set(ports).size === ports.length, () => `a host port given twice (node-reserved ${s.reservedPorts || "none"}) on ${what()}`);

    // distinct_hosts: a new allocation of the group (or of the job) lands only on a node that
    // holds no other. Allocations the cluster already held are not the plan's doing: the
    // scheduler leaves a running allocation where it is, as Nomad does, even when an earlier
    // placement broke the constraint.
    const mine = here.filter((a) => a.JobID === w.job.ID);
    ensure(!w.jobSpec.jobDistinctHosts || !mine.some(isNew) || mine.length <= 1, () => `job-level distinct_hosts broken on ${what()}`);
    w.jobSpec.groups.forEach((g, gi) => {
      const name = w.job.TaskGroups[gi]?.Name;
      const ofGroup = mine.filter((a) => a.TaskGroup === name);
      ensure(g.distinctHosts !== "true" || !ofGroup.some(isNew) || ofGroup.length <= 1, () => `distinct_hosts of group ${name} broken on ${what()}`);
    });
  }

  // distinct_property ${meta.rack}: per rack that received a new allocation, at most `limit`.
  const rackOf = (a: Allocation): string | null => w.specs[nodeIndex(w, a.NodeID)]?.rack ?? null;
  const all = [...o.after.values()].flat().filter((a) => a.JobID === w.job.ID);
  const checkRack = (limitText: string, scope: (a: Allocation) => boolean, label: string): void => {
    const limit = limitText === "" ? 1 : Number(limitText);
    for (const a of o.created.filter(scope)) {
      const rack = rackOf(a);
      ensure(rack !== null, () => `${label}: ${a.Name} placed on a node without a rack`);
      const same = all.filter((b) => scope(b) && rackOf(b) === rack);
      ensure(same.length <= limit, () => `${label} (limit ${limit}): rack ${rack} holds ${same.map((b) => `${b.Name}@${b.NodeName}`).join(", ")}`);
    }
  };
  if (w.jobSpec.jobDistinctRack !== null) checkRack(w.jobSpec.jobDistinctRack.limit, () => true, "job-level distinct_property");
  w.jobSpec.groups.forEach((g, gi) => {
    const name = w.job.TaskGroups[gi]?.Name;
    if (g.distinctRack !== null) checkRack(g.distinctRack.limit, (a) => a.TaskGroup === name, `distinct_property of group ${name}`);
  });

  // Failures explain themselves, and only failures queue.
  const failed = Object.keys(r.failed).sort();
  ensure(JSON.stringify(Object.keys(r.plan.FailedTGAllocs).sort()) === JSON.stringify(failed), () => `plan.FailedTGAllocs ${Object.keys(r.plan.FailedTGAllocs).join(",")} but failed ${failed.join(",")}`);
  ensure(JSON.stringify(Object.keys(r.queued).sort()) === JSON.stringify(failed), () => `queued ${JSON.stringify(r.queued)} but failed ${failed.join(",")}`);
  for (const [group, m] of Object.entries(r.failed)) {
    ensure(describeFailure(m) !== "", () => `group ${group} failed without a reason: ${JSON.stringify(m)}`);
    ensure((r.queued[group] ?? 0) > 0, () => `group ${group} failed with nothing queued`);
    ensure(m.CoalescedFailures + 1 === r.queued[group], () => `group ${group}: its metric stands for ${m.CoalescedFailures + 1} failures, ${r.queued[group]} queued`);
  }
  return o;
}

/**
 * Names: `job.group[i]`. A new name has i in [0, count); a replacement may keep the name of
 * the allocation it replaces (a destructive update of `web[12]` after count went down to
 * 12 stays `web[12]`, as in Nomad). No two allocations the plan creates share a name, and
 * none takes the name of one that keeps running, but a canary, which runs beside the
 * allocation it will replace, and the replacement of an allocation whose node stopped
 * heartbeating (it is unknown, not stopped). A system job's allocations are all `job.group[0]`.
 */
function checkNames(w: World, o: Outcome): void {
  const createdIds = new Set(o.created.map((a) => a.ID));
  for (const tg of w.job.TaskGroups) {
    const created = o.created.filter((a) => a.TaskGroup === tg.Name);
    const before = new Set(w.allocs.filter((a) => a.JobID === w.job.ID && a.TaskGroup === tg.Name).map((a) => a.Name));
    // An allocation of a node that stopped heartbeating is only unknown: its replacement runs beside it until the node comes back.
    const gone = new Set(w.nodes.filter((n) => n.Status === "down" || n.Status === "disconnected").map((n) => n.ID));
    const kept = new Set(
      [...o.after.values()]
        .flat()
        .filter((a) => a.JobID === w.job.ID && a.TaskGroup === tg.Name && !createdIds.has(a.ID) && !gone.has(a.NodeID))
        .map((a) => a.Name),
    );
    const re = new RegExp(`^${w.job.ID}\\.${tg.Name}\\[(\\d+)\\]$`);
    for (const a of created) {
      const m = re.exec(a.Name);
      ensure(m !== null, () => `bad allocation name ${a.Name}`);
      const i = Number(m?.[1]);
      if (w.job.Type === "system") ensure(i === 0, () => `system allocation named ${a.Name}`);
      else ensure(before.has(a.Name) || i < tg.Count, () => `${a.Name} is beyond count ${tg.Count}`);
    }
    if (w.job.Type === "system") continue;
    const names = created.map((a) => a.Name);
    const twice = names.filter((n, k) => names.indexOf(n) !== k);
    ensure(twice.length === 0, () => `names given twice in group ${tg.Name}: ${twice.join(", ")}`);
    for (const a of created) ensure(a.DeploymentStatus?.Canary === true || !kept.has(a.Name), () => `${a.Name} created beside a running ${a.Name}`);
  }
}

function placedOf(r: ScheduleResult, group: string): Allocation[] {
  return Object.values(r.plan.NodeAllocation)
    .flat()
    .filter((a) => a.TaskGroup === group);
}

function summaryOf(r: ScheduleResult): string {
  return `placed ${Object.values(r.plan.NodeAllocation).flat().length}, failed ${JSON.stringify(Object.fromEntries(Object.entries(r.failed).map(([g, m]) => [g, describeFailure(m)])))}, queued ${JSON.stringify(r.queued)}`;
}

// ---------------------------------------------------------------------------------------
// The properties.

/**
 * Any job, but two known defects left out (each has its own failing test below): system
 * jobs with distinct_property, and distinct_property written on the job.
 */
const anyJob = (nodes: number): fc.Arbitrary<JobSpec> =>
  fc.oneof(
    { weight: 3, arbitrary: jobArb({ types: ["service", "batch"], maxGroups: 3, maxCount: 200, nodes, distinctRack: true, jobDistinctRack: true }) },
    { weight: 1, arbitrary: jobArb({ types: ["system"], maxGroups: 3, maxCount: 3, nodes, distinctRack: true }) },
  );

const withOwnAllocs = (specs: NodeSpec[], job: JobSpec): fc.Arbitrary<[NodeSpec[], JobSpec, OwnAllocSpec[]]> =>
  fc.tuple(fc.constant(specs), fc.constant(job), fc.array(ownAllocArb({ nodes: specs.length, groups: job.groups.length }), { maxLength: 30 }));

/** A cluster, a job, and allocations of earlier versions of it in every state. */
const messyWorld = clusterArb.chain((specs) => anyJob(specs.length).chain((job) => withOwnAllocs(specs, job)));

/** A cluster and a new service or batch job of one group. */
const newJobWorld = clusterArb.chain((specs) => fc.tuple(fc.constant(specs), jobArb({ types: ["service", "batch"], maxGroups: 1, maxCount: 200, nodes: specs.length, distinctRack: true })));

describe("scheduler properties", () => {
  it("a plan never over-commits a node, never reuses a host port, never places where the job may not run", () => {
    fc.assert(
      fc.property(messyWorld, ([specs, jobSpec, own]) => {
        const w = build(specs, jobSpec, own);
        checkNames(w, checkSafety(w, w.run()));
      }),
      { numRuns: RUNS },
    );
  });

  it("a new job's group places min(count, room) allocations, named [0, placed), and says why it placed no more", () => {
    fc.assert(
      fc.property(newJobWorld, ([specs, jobSpec]) => {
        const w = build(specs, jobSpec);
        const r = w.run();
        checkNames(w, checkSafety(w, r));
        const tg = w.job.TaskGroups[0] as TaskGroup;
        const want = Math.min(tg.Count, room(w, 0));
        const placed = placedOf(r, tg.Name);
        ensure(placed.length === want, () => `room for ${room(w, 0)}, count ${tg.Count}: ${summaryOf(r)}`);
        const names = new Set(placed.map((a) => a.Name));
        for (let i = 0; i < want; i++) ensure(names.has(`${w.job.ID}.${tg.Name}[${i}]`), () => `${w.job.ID}.${tg.Name}[${i}] missing: ${[...names].join(", ")}`);
        if (want === tg.Count) {
          ensure(Object.keys(r.failed).length === 0 && Object.keys(r.queued).length === 0, () => `everything placed, yet ${summaryOf(r)}`);
        } else {
          const m = r.failed[tg.Name];
          ensure(m !== undefined && describeFailure(m) !== "", () => `placed ${placed.length} of ${tg.Count} without a reason: ${summaryOf(r)}`);
          ensure(r.queued[tg.Name] === tg.Count - placed.length, () => `queued ${r.queued[tg.Name]}, expected ${tg.Count} - ${placed.length}`);
          const heading = m === undefined ? "" : failedGroupHeading(tg.Name, m);
          ensure(heading.includes(`failed to place ${tg.Count - placed.length} allocation`), () => `heading ${heading}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("when the cluster has room for count allocations, all of them are placed and nothing fails", () => {
    // The count is drawn at or below the room the oracle finds, so the room is there by construction.
    const world = newJobWorld.chain(([specs, jobSpec]) => fc.tuple(fc.constant(specs), fc.constant(jobSpec), fc.integer({ min: 0, max: 1000 })));
    fc.assert(
      fc.property(world, ([specs, jobSpec, permille]) => {
        const count = Math.floor((Math.min(200, room(build(specs, jobSpec), 0)) * permille) / 1000);
        const w = build(specs, { ...jobSpec, groups: [{ ...(jobSpec.groups[0] as GroupSpec), count }] });
        const r = w.run();
        checkSafety(w, r);
        ensure(placedOf(r, "web").length === count, () => `room for ${room(w, 0)}, count ${count}: ${summaryOf(r)}`);
        ensure(Object.keys(r.failed).length === 0 && Object.keys(r.queued).length === 0, () => `failures with room: ${summaryOf(r)}`);
        ensure(r.plan.Annotations?.DesiredTGUpdates.web?.Place === count, () => `desired updates ${JSON.stringify(r.plan.Annotations)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it("when every eligible node fits ceil(count / eligible nodes) allocations, count is reached", () => {
    // One node type, the job asking a slice of it: the textbook case of room.
    const arb = fc.record({
      nodes: fc.integer({ min: 1, max: 60 }),
      cpu: fc.integer({ min: 500, max: 16_000 }),
      memory: fc.integer({ min: 512, max: 65_536 }),
      count: fc.integer({ min: 0, max: 200 }),
      type: fc.constantFrom("service" as const, "batch" as const),
      placement: fc.constantFrom("binpack" as const, "spread" as const, "random" as const),
      ineligible: fc.integer({ min: 0, max: 10 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    fc.assert(
      fc.property(arb, (c) => {
        const perNode = Math.ceil(c.count / c.nodes);
        const ask = perNode === 0 ? { cpu: c.cpu, memory: c.memory } : { cpu: Math.floor(c.cpu / perNode), memory: Math.floor(c.memory / perNode) };
        fc.pre(ask.cpu >= 1 && ask.memory >= 1);
        const nodes = [
          ...Array.from({ length: c.nodes }, (_, i) => mock.node({ id: `node-${i}`, name: nodeName(i), cpu: c.cpu, memory: c.memory })),
          ...Array.from({ length: c.ineligible }, (_, i) => mock.node({ id: `off-${i}`, cpu: 100_000, memory: 100_000, eligible: false })),
        ];
        const job = { ...mock.job({ id: "even", type: c.type, count: c.count, cpu: ask.cpu, memory: ask.memory }), Placement: c.placement };
        const r = schedule(mock.evaluation(job, { ID: `eval-${c.seed}` }), new MemoryView({ nodes, jobs: [job] }), NOW);
        const placed = placedOf(r, "web");
        ensure(placed.length === c.count && Object.keys(r.failed).length === 0, () => `${c.nodes} nodes x ${perNode}, count ${c.count}: ${summaryOf(r)}`);
        for (const n of nodes) {
          const here = placed.filter((a) => a.NodeID === n.ID);
          ensure(n.SchedulingEligibility === "eligible" || here.length === 0, () => `placed on ineligible ${n.ID}`);
          ensure(here.reduce((x, a) => x + a.Resources.CPU, 0) <= n.Resources.CPU, () => `cpu over-committed on ${n.ID}`);
          ensure(here.reduce((x, a) => x + a.Resources.MemoryMB, 0) <= n.Resources.MemoryMB, () => `memory over-committed on ${n.ID}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("a system job runs once on every eligible, feasible node with room, and nowhere else", () => {
    const world = clusterArb.chain((specs) => fc.tuple(fc.constant(specs), jobArb({ types: ["system"], maxGroups: 1, maxCount: 3, nodes: specs.length, distinctRack: false })));
    fc.assert(
      fc.property(world, ([specs, jobSpec]) => {
        const w = build(specs, jobSpec);
        const r = w.run();
        checkNames(w, checkSafety(w, r));
        const tg = w.job.TaskGroups[0] as TaskGroup;
        const got = placedOf(r, tg.Name)
          .map((a) => a.NodeID)
          .sort();
        const want = tg.Count === 0 ? [] : w.nodes.filter((_, i) => capacity(w, i, 0) >= 1).map((n) => n.ID);
        const starved = tg.Count === 0 ? [] : w.nodes.filter((_, i) => feasible(w, i, 0) && capacity(w, i, 0) === 0).map((n) => n.ID);
        ensure(JSON.stringify(got) === JSON.stringify(want.sort()), () => `placed on ${got.join(",")}, expected ${want.join(",")}`);
        if (starved.length === 0) ensure(Object.keys(r.failed).length === 0, () => `failures though every feasible node has room: ${summaryOf(r)}`);
        else {
          const m = r.failed[tg.Name];
          ensure(m !== undefined && describeFailure(m) !== "", () => `no reason given for ${starved.join(",")}: ${summaryOf(r)}`);
          ensure(r.queued[tg.Name] === starved.length, () => `queued ${r.queued[tg.Name]}, expected one per node without room: ${starved.join(",")}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("placements and queued allocations add up to what the reconciler asked for", () => {
    const world = clusterArb.chain((specs) => jobArb({ types: ["service", "batch"], maxGroups: 3, maxCount: 200, nodes: specs.length, distinctRack: true }).chain((job) => withOwnAllocs(specs, job)));
    fc.assert(
      fc.property(world, ([specs, jobSpec, own]) => {
        const w = build(specs, jobSpec, own);
        const r = w.run();
        const o = checkSafety(w, r);
        for (const tg of w.job.TaskGroups) {
          const d = r.plan.Annotations?.DesiredTGUpdates[tg.Name];
          const asked = (d?.Place ?? 0) + (d?.Migrate ?? 0) + (d?.DestructiveUpdate ?? 0) + (d?.Canary ?? 0);
          const created = o.created.filter((a) => a.TaskGroup === tg.Name).length;
          ensure(created + (r.queued[tg.Name] ?? 0) === asked, () => `group ${tg.Name}: created ${created} + queued ${r.queued[tg.Name] ?? 0} != asked ${asked} (${JSON.stringify(d)})`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("a replacement may use the room its predecessor frees: full nodes still take a new version that asks no more", () => {
    // Every node is filled with allocations of the old version; the new one asks a little
    // less cpu (a destructive change). Stopping an old allocation frees more than its
    // successor needs, so every name is replaced, in one evaluation: batch jobs replace all
    // at once, and the service here has max_parallel = count.
    const arb = fc.record({
      nodes: fc.integer({ min: 1, max: 20 }),
      cpu: fc.integer({ min: 500, max: 16_000 }),
      memory: fc.integer({ min: 512, max: 65_536 }),
      perNode: fc.integer({ min: 1, max: 10 }),
      less: fc.integer({ min: 1, max: 100 }),
      type: fc.constantFrom("service" as const, "batch" as const),
      down: fc.integer({ min: 0, max: 3 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    fc.assert(
      fc.property(arb, (c) => {
        const oldCpu = Math.floor(c.cpu / c.perNode);
        const memory = Math.floor(c.memory / c.perNode);
        fc.pre(oldCpu > c.less && memory >= 1);
        const count = c.nodes * c.perNode;
        const options = { id: "up", type: c.type, count, memory, maxParallel: count };
        const v0 = mock.job({ ...options, cpu: oldCpu });
        const v1 = mock.job({ ...options, cpu: oldCpu - c.less, version: 1 });
        const nodes = Array.from({ length: c.nodes }, (_, i) => mock.node({ id: `node-${i}`, name: nodeName(i), cpu: c.cpu, memory: c.memory }));
        // Nodes that are down hold nothing the new version could use.
        const gone = Array.from({ length: c.down }, (_, i) => mock.node({ id: `down-${i}`, cpu: 100_000, memory: 100_000, status: "down" }));
        const allocs = nodes.flatMap((n, i) => Array.from({ length: c.perNode }, (_, k) => mock.alloc(v0, n, i * c.perNode + k, { ID: `old-${i}-${k}` })));
        const r = schedule(mock.evaluation(v1, { ID: `eval-${c.seed}` }), new MemoryView({ nodes: [...nodes, ...gone], allocs, jobs: [v1] }), NOW);
        const placed = placedOf(r, "web");
        const stopped = Object.values(r.plan.NodeUpdate).flat();
        ensure(stopped.length === count && placed.length === count, () => `stopped ${stopped.length} and placed ${placed.length} of ${count}: ${summaryOf(r)}`);
        ensure(Object.keys(r.failed).length === 0, () => `failures though every stop frees room: ${summaryOf(r)}`);
        for (const n of nodes) {
          const here = placed.filter((a) => a.NodeID === n.ID);
          ensure(here.reduce((x, a) => x + a.Resources.CPU, 0) <= n.Resources.CPU, () => `cpu over-committed on ${n.ID}`);
          ensure(here.reduce((x, a) => x + a.Resources.MemoryMB, 0) <= n.Resources.MemoryMB, () => `memory over-committed on ${n.ID}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("is deterministic: the same evaluation over the same cluster gives the same plan", () => {
    const digest = (r: ScheduleResult): string =>
      JSON.stringify({
        placed: Object.values(r.plan.NodeAllocation)
          .flat()
          .map((a) => [a.ID, a.Name, a.NodeID, portsOf(a)]),
        stopped: Object.values(r.plan.NodeUpdate)
          .flat()
          .map((a) => [a.ID, a.NodeID, a.DesiredDescription]),
        failed: r.failed,
        queued: r.queued,
        followups: r.followups,
        deployment: r.plan.Deployment,
        annotations: r.plan.Annotations,
      });
    fc.assert(
      fc.property(messyWorld, ([specs, jobSpec, own]) => {
        const w = build(specs, jobSpec, own);
        const first = digest(w.run());
        ensure(digest(w.run()) === first, () => "a second run over the same view planned differently");
        ensure(digest(w.run(new MemoryView({ nodes: w.nodes, allocs: w.allocs, jobs: [w.job] }))) === first, () => "a run over a fresh view of the same cluster planned differently");
      }),
      { numRuns: RUNS / 2 },
    );
  });
});

/*
 * Defects the properties above found, each kept as the smallest case that showed it.
 */
describe("distinct_property counts the plan's own placements", () => {
  // Found by the first property (seed 253216090): every placer of the plan now hears of every placement.
  it("a job-level distinct_property counts the plan's placements of every group", () => {
    const nodes = [mock.node({ id: "n0", meta: { rack: "r1" } }), mock.node({ id: "n1", meta: { rack: "r1" } })];
    const base = mock.job({ id: "j", count: 1 });
    const web = base.TaskGroups[0] as TaskGroup;
    const job: Job = { ...base, TaskGroups: [web, { ...web, Name: "api" }], Constraints: [{ LTarget: "${meta.rack}", RTarget: "", Operand: "distinct_property" }] };
    const r = schedule(mock.evaluation(job, { ID: "eval-job-distinct-property" }), new MemoryView({ nodes, jobs: [job] }), NOW);
    // One rack, one allocation of the job on it: the other group waits.
    expect(Object.values(r.plan.NodeAllocation).flat()).toHaveLength(1);
    expect(Object.values(r.queued).reduce((a, b) => a + b, 0)).toBe(1);
  });

  // Found by the first property with system jobs (seed 559260774).
  it("a system job's distinct_property counts the plan's placements", () => {
    const nodes = [0, 1, 2].map((i) => mock.node({ id: `n${i}`, meta: { rack: "r1" } }));
    const job = mock.job({ id: "agent", type: "system" });
    (job.TaskGroups[0] as TaskGroup).Constraints = [{ LTarget: "${meta.rack}", RTarget: "", Operand: "distinct_property" }];
    const r = schedule(mock.evaluation(job, { ID: "eval-system-distinct-property" }), new MemoryView({ nodes, jobs: [job] }), NOW);
    expect(Object.values(r.plan.NodeAllocation).flat()).toHaveLength(1);
  });

  it("a job-level distinct_property with a single group", () => {
    const nodes = [0, 1, 2].map((i) => mock.node({ id: `n${i}`, meta: { rack: "r1" } }));
    const job = mock.job({ id: "one", count: 3 });
    job.Constraints = [{ LTarget: "${meta.rack}", RTarget: "", Operand: "distinct_property" }];
    const r = schedule(mock.evaluation(job, { ID: "eval-one-group" }), new MemoryView({ nodes, jobs: [job] }), NOW);
    expect(Object.values(r.plan.NodeAllocation).flat()).toHaveLength(1);
    expect(r.queued).toEqual({ web: 2 });
    expect(describeFailure(r.failed.web!)).toContain("distinct_property");
  });
});
