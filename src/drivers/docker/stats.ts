import type { TaskStats } from "../../structs/index.js";

/** The part of the engine's `GET /containers/{id}/stats?stream=false` answer a task's stats are read from. */
export interface EngineStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; usage_in_kernelmode?: number; usage_in_usermode?: number }; system_cpu_usage?: number; online_cpus?: number; throttling_data?: { throttled_periods?: number; throttled_time?: number } };
  precpu_stats?: { cpu_usage?: { total_usage?: number; usage_in_kernelmode?: number; usage_in_usermode?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; max_usage?: number; stats?: Record<string, number | undefined> };
}

/**
 * A container's stats as Nomad's docker driver reads them (`drivers/docker/util/stats_posix.go`):
 * memory RSS and cache from the cgroup's counters (v1's `rss`/`cache`, v2's `anon`/`file`), usage
 * and max usage (v1 only) as the engine says; CPU percent from the engine's two readings (`precpu_stats`
 * and `cpu_stats`) as `docker stats` computes it (a percent of one core), kernel and user mode
 * likewise, ticks as that percent of one core of `coreMHz`.
 */
export function engineTaskStats(s: EngineStats, coreMHz: number, nowMs: number): TaskStats {
  const m = s.memory_stats ?? {};
  const st = m.stats ?? {};
  const v2 = st.anon !== undefined || st.file !== undefined;
  const rss = (v2 ? st.anon : st.rss) ?? 0;
  const cache = (v2 ? st.file : st.cache) ?? 0;
  const swap = st.swap ?? 0;
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  // Without an earlier reading (a container just started) there is no span to measure CPU over.
  const systemDelta = (pre.system_cpu_usage ?? 0) > 0 ? (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0) : 0;
  const cores = cpu.online_cpus ?? 1;
  const pct = (now: number | undefined, before: number | undefined): number => {
    const delta = (now ?? 0) - (before ?? 0);
    return systemDelta > 0 && delta > 0 ? (delta / systemDelta) * cores * 100 : 0;
  };
  const percent = pct(cpu.cpu_usage?.total_usage, pre.cpu_usage?.total_usage);
  const read = s.read === undefined ? NaN : Date.parse(s.read);
  return {
    memory: {
      rss,
      cache,
      swap,
      usage: m.usage ?? 0,
      maxUsage: m.max_usage ?? 0,
      measured: v2 ? ["RSS", "Cache", "Swap", "Usage"] : ["RSS", "Cache", "Swap", "Usage", "Max Usage"],
    },
    cpu: {
      percent,
      userMode: pct(cpu.cpu_usage?.usage_in_usermode, pre.cpu_usage?.usage_in_usermode),
      systemMode: pct(cpu.cpu_usage?.usage_in_kernelmode, pre.cpu_usage?.usage_in_kernelmode),
      totalTicks: (percent / 100) * coreMHz,
      throttledPeriods: cpu.throttling_data?.throttled_periods ?? 0,
      throttledTime: cpu.throttling_data?.throttled_time ?? 0,
      measured: ["Throttled Periods", "Throttled Time", "Percent"],
    },
    at: Number.isFinite(read) && read > 0 ? read : nowMs,
  };
}
