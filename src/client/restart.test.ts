import { describe, expect, it } from "vitest";
import { NS, type RestartPolicy } from "../structs/index.js";
import { RestartTracker } from "./restart.js";

const policy = (o: Partial<RestartPolicy> = {}): RestartPolicy => ({ Attempts: 2, Interval: 60 * NS.second, Delay: 10 * NS.second, Mode: "fail", ...o });
const crash = { exitCode: 1 };

describe("RestartTracker", () => {
  it("restarts a service task after the delay, up to the attempts in the interval, then fails in mode fail", () => {
    const t = new RestartTracker(policy(), "service");
    expect(t.next(0, crash, 0)).toMatchObject({ restart: true, delayMs: 10_000 });
    expect(t.next(1000, crash, 0)).toMatchObject({ restart: true, delayMs: 10_000 });
    expect(t.next(2000, crash, 0)).toEqual({ restart: false, failed: true, reason: 'Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"' });
  });

  it("in mode delay waits for the interval to end and counts again", () => {
    const t = new RestartTracker(policy({ Mode: "delay" }), "service");
    t.next(0, crash, 0);
    t.next(1000, crash, 0);
    const d = t.next(5000, crash, 0);
    expect(d).toMatchObject({ restart: true, delayMs: 55_000 });
    expect(d.reason).toContain('mode is "delay", thus delaying task restart by 55s');
    // The next window starts when the task comes back: two more attempts there.
    expect(t.next(61_000, crash, 0)).toMatchObject({ restart: true, delayMs: 10_000 });
  });

  it("counts afresh once the interval has passed", () => {
    const t = new RestartTracker(policy(), "service");
    t.next(0, crash, 0);
    t.next(1000, crash, 0);
    expect(t.next(61_000, crash, 0)).toMatchObject({ restart: true });
  });

  it("a batch or sysbatch task that exits 0 is complete; a service task that exits 0 is restarted", () => {
    expect(new RestartTracker(policy(), "batch").next(0, { exitCode: 0 }, 0)).toEqual({ restart: false, failed: false, reason: "task completed successfully" });
    expect(new RestartTracker(policy(), "sysbatch").next(0, { exitCode: 0 }, 0)).toEqual({ restart: false, failed: false, reason: "task completed successfully" });
    expect(new RestartTracker(policy(), "service").next(0, { exitCode: 0 }, 0)).toMatchObject({ restart: true });
  });

  it("adds up to a quarter of the delay as jitter, and says why it restarts", () => {
    const d = new RestartTracker(policy(), "service").next(0, { exitCode: 137, oomKilled: true }, 0.999);
    expect(d).toMatchObject({ restart: true, delayMs: 12_498 });
    expect(d.reason).toBe("Restart within policy: task was killed for using too much memory");
  });

  it("attempts = -1, as Nomad takes it: no restart within the interval; mode delay waits out each interval, mode fail fails", () => {
    const d = new RestartTracker(policy({ Attempts: -1, Mode: "delay" }), "service");
    expect(d.next(0, crash, 0)).toMatchObject({ restart: true, delayMs: 60_000 });
    // Back at 60s, failed again at 61s: the rest of that interval.
    expect(d.next(61_000, crash, 0)).toMatchObject({ restart: true, delayMs: 59_000 });
    const f = new RestartTracker(policy({ Attempts: -1, Mode: "fail" }), "service");
    expect(f.next(0, crash, 0)).toEqual({ restart: false, failed: true, reason: 'Exceeded allowed attempts -1 in interval 1m0s and mode is "fail"' });
  });

  it("keeps its count across an agent restart", () => {
    const a = new RestartTracker(policy(), "service");
    a.next(0, crash, 0);
    a.next(10, crash, 0);
    const b = new RestartTracker(policy(), "service");
    b.restore(a.state);
    expect(b.next(20, crash, 0)).toMatchObject({ restart: false, failed: true });
  });
});
