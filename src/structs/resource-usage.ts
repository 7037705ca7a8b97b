/**
 * What an allocation's tasks use of the node, in the shape of Nomad's `api.AllocResourceUsage`
 * (`/v1/client/allocation/:id/stats`, what `alloc status` and the dashboard show): memory in
 * bytes, CPU as ticks (MHz of the node's clock) and a percent of one core; `Timestamp` in
 * nanoseconds. `Measured` names what the source could measure; a figure it could not is 0.
 */
export interface MemoryStats {
  RSS: number;
  Cache: number;
  Swap: number;
  Usage: number;
  MaxUsage: number;
  KernelUsage: number;
  KernelMaxUsage: number;
  Measured: string[];
}

export interface CpuStats {
  SystemMode: number;
  UserMode: number;
  TotalTicks: number;
  ThrottledPeriods: number;
  ThrottledTime: number;
  Percent: number;
  Measured: string[];
}

export interface ResourceUsage {
  MemoryStats: MemoryStats;
  CpuStats: CpuStats;
  DeviceStats: unknown[];
}

/** One task's usage (`api.TaskResourceUsage`); `Pids` is null, as Nomad's drivers mostly leave it. */
export interface TaskResourceUsage {
  ResourceUsage: ResourceUsage;
  Timestamp: number;
  Pids: null;
}

/** An allocation's usage (`api.AllocResourceUsage`): the sum of its tasks', and each task's. */
export interface AllocResourceUsage {
  ResourceUsage: ResourceUsage;
  Tasks: Record<string, TaskResourceUsage>;
  Timestamp: number;
}

/** A driver's one-shot reading of a task: memory in bytes, CPU as a percent of one core and in MHz. */
export interface TaskStats {
  memory: { rss: number; cache: number; swap: number; usage: number; maxUsage: number; measured: string[] };
  cpu: { percent: number; userMode: number; systemMode: number; totalTicks: number; throttledPeriods: number; throttledTime: number; measured: string[] };
  /** Unix ms of the reading. */
  at: number;
}

function usageOf(s: TaskStats): ResourceUsage {
  return {
    MemoryStats: { RSS: s.memory.rss, Cache: s.memory.cache, Swap: s.memory.swap, Usage: s.memory.usage, MaxUsage: s.memory.maxUsage, KernelUsage: 0, KernelMaxUsage: 0, Measured: s.memory.measured },
    CpuStats: {
      SystemMode: s.cpu.systemMode,
      UserMode: s.cpu.userMode,
      TotalTicks: s.cpu.totalTicks,
      ThrottledPeriods: s.cpu.throttledPeriods,
      ThrottledTime: s.cpu.throttledTime,
      Percent: s.cpu.percent,
      Measured: s.cpu.measured,
    },
    DeviceStats: [],
  };
}

/** The allocation's usage from its tasks' readings (tasks not running are left out), summed as Nomad sums them. */
export function allocResourceUsage(tasks: Readonly<Record<string, TaskStats>>, nowMs: number): AllocResourceUsage {
  const out: Record<string, TaskResourceUsage> = {};
  const total = usageOf({ memory: { rss: 0, cache: 0, swap: 0, usage: 0, maxUsage: 0, measured: [] }, cpu: { percent: 0, userMode: 0, systemMode: 0, totalTicks: 0, throttledPeriods: 0, throttledTime: 0, measured: [] }, at: nowMs });
  let latest = 0;
  for (const [name, s] of Object.entries(tasks)) {
    const u = usageOf(s);
    out[name] = { ResourceUsage: u, Timestamp: s.at * 1_000_000, Pids: null };
    latest = Math.max(latest, s.at);
    const m = total.MemoryStats;
    m.RSS += u.MemoryStats.RSS;
    m.Cache += u.MemoryStats.Cache;
    m.Swap += u.MemoryStats.Swap;
    m.Usage += u.MemoryStats.Usage;
    m.MaxUsage += u.MemoryStats.MaxUsage;
    m.Measured = [...new Set([...m.Measured, ...u.MemoryStats.Measured])];
    const c = total.CpuStats;
    c.SystemMode += u.CpuStats.SystemMode;
    c.UserMode += u.CpuStats.UserMode;
    c.TotalTicks += u.CpuStats.TotalTicks;
    c.ThrottledPeriods += u.CpuStats.ThrottledPeriods;
    c.ThrottledTime += u.CpuStats.ThrottledTime;
    c.Percent += u.CpuStats.Percent;
    c.Measured = [...new Set([...c.Measured, ...u.CpuStats.Measured])];
  }
  return { ResourceUsage: total, Tasks: out, Timestamp: (latest === 0 ? nowMs : latest) * 1_000_000 };
}

/**
 * One Nomad service check's latest result on its node (`api.AllocCheckStatus`, the values of
 * `/v1/client/allocation/:id/checks`, keyed by `ID`): `Status` "success", "failure" or
 * "pending"; `Mode` "healthiness", or "readiness" for a check with `on_update = "ignore"`;
 * `Timestamp` in Unix seconds; `Task` "" for a group service's check.
 */
export interface AllocCheckStatus {
  ID: string;
  Check: string;
  Group: string;
  Mode: "healthiness" | "readiness";
  Output: string;
  Service: string;
  Status: "success" | "failure" | "pending";
  StatusCode: number;
  Task: string;
  Timestamp: number;
}
