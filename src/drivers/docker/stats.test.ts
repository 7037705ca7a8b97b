import { describe, expect, it } from "vitest";
import { engineTaskStats } from "./stats.js";

/** Answers of the engine's `GET /containers/{id}/stats?stream=false`, trimmed to what is read (Docker Engine API 1.43). */
const V1 = {
  read: "2026-12-07T06:00:01.5Z",
  cpu_stats: { cpu_usage: { total_usage: 3_000_000_000, usage_in_kernelmode: 1_000_000_000, usage_in_usermode: 2_000_000_000 }, system_cpu_usage: 40_000_000_000, online_cpus: 2, throttling_data: { throttled_periods: 3, throttled_time: 400 } },
  precpu_stats: { cpu_usage: { total_usage: 2_500_000_000, usage_in_kernelmode: 900_000_000, usage_in_usermode: 1_600_000_000 }, system_cpu_usage: 38_000_000_000 },
  memory_stats: { usage: 9_000_000, max_usage: 12_000_000, stats: { rss: 6_000_000, cache: 2_000_000, swap: 0 } },
};

describe("a container's stats as Nomad's docker driver reads them", () => {
  it("cgroup v1: RSS and cache from the cgroup's counters, CPU percent from the two readings over the system's", () => {
    const s = engineTaskStats(V1, 2000, 0);
    expect(s.memory).toEqual({ rss: 6_000_000, cache: 2_000_000, swap: 0, usage: 9_000_000, maxUsage: 12_000_000, measured: ["RSS", "Cache", "Swap", "Usage", "Max Usage"] });
    // 0.5 s of CPU over 2 s of the system's two cores: 50 % of one core; 1000 MHz of a 2000 MHz core.
    expect(s.cpu.percent).toBeCloseTo(50);
    expect(s.cpu.userMode).toBeCloseTo(40);
    expect(s.cpu.systemMode).toBeCloseTo(10);
    expect(s.cpu.totalTicks).toBeCloseTo(1000);
    expect([s.cpu.throttledPeriods, s.cpu.throttledTime]).toEqual([3, 400]);
    expect(s.at).toBe(Date.parse("2026-12-07T06:00:01.5Z"));
  });

  it("cgroup v2: anon memory is the RSS, file the cache; a first reading without a previous one uses no CPU", () => {
    const s = engineTaskStats({ read: V1.read, cpu_stats: { cpu_usage: { total_usage: 10 }, system_cpu_usage: 10, online_cpus: 1 }, memory_stats: { usage: 5_000_000, stats: { anon: 3_000_000, file: 1_000_000 } } }, 1000, 7);
    expect(s.memory.rss).toBe(3_000_000);
    expect(s.memory.cache).toBe(1_000_000);
    expect(s.memory.measured).toEqual(["RSS", "Cache", "Swap", "Usage"]);
    expect(s.cpu.percent).toBe(0);
  });
});
