import { describe, expect, it } from "vitest";
import { defaultReschedulePolicy, mock, NS, type Allocation, type RescheduleEvent, type ReschedulePolicy } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";
import { failedAt, MAX_PAST_RESCHEDULE_EVENTS, nextDelay, nextReschedule, nextRescheduleTracker, rescheduleAttempts } from "./reschedule.js";

const T = 1_700_000_000_000;
const s = NS.second;

type Failed = Pick<Allocation, "ID" | "NodeID" | "RescheduleTracker" | "TaskStates" | "ModifyTime">;

/** A failed allocation whose task finished at `failed` (unix ms), after reschedules that waited `delays` (ns), the last one `lastAgo` ms before it failed. */
function failedAlloc(failed: number, delays: number[] = [], lastAgo = 1000): Failed {
  const events: RescheduleEvent[] = delays.map((d, i) => ({ RescheduleTime: failed - lastAgo - (delays.length - 1 - i) * 1000, PrevAllocID: `a${i}`, PrevNodeID: "n", Delay: d }));
  return {
    ID: "cur",
    NodeID: "n1",
    RescheduleTracker: events.length === 0 ? null : { Events: events },
    TaskStates: { t: { State: "dead", Failed: true, Restarts: 0, StartedAt: failed - 5000, FinishedAt: failed, Events: [] } },
    ModifyTime: failed + 50,
  };
}

function policy(o: Partial<ReschedulePolicy>): ReschedulePolicy {
  return { Attempts: 0, Interval: 0, Delay: 5 * s, DelayFunction: "constant", MaxDelay: 0, Unlimited: true, ...o };
}

describe("the reschedule delay (Nomad's NextDelay)", () => {
  it("constant: the policy's delay every time", () => {
    const p = policy({ Delay: 5 * s });
    expect(nextDelay(failedAlloc(T), p)).toBe(5 * s);
    expect(nextDelay(failedAlloc(T, [5 * s, 5 * s, 5 * s]), p)).toBe(5 * s);
  });

  it("exponential: doubles the last delay, up to max_delay", () => {
    const p = policy({ Delay: 30 * s, DelayFunction: "exponential", MaxDelay: NS.hour });
    expect(nextDelay(failedAlloc(T), p)).toBe(30 * s);
    expect(nextDelay(failedAlloc(T, [30 * s]), p)).toBe(60 * s);
    expect(nextDelay(failedAlloc(T, [30 * s, 60 * s]), p)).toBe(120 * s);
    expect(nextDelay(failedAlloc(T, [40 * NS.minute]), p)).toBe(NS.hour);
    expect(nextDelay(failedAlloc(T, [NS.hour]), p)).toBe(NS.hour);
  });

  it("fibonacci: the sum of the last two delays, up to max_delay", () => {
    const p = policy({ Delay: 5 * s, DelayFunction: "fibonacci", MaxDelay: 60 * s });
    expect(nextDelay(failedAlloc(T), p)).toBe(5 * s);
    expect(nextDelay(failedAlloc(T, [5 * s]), p)).toBe(5 * s);
    expect(nextDelay(failedAlloc(T, [5 * s, 5 * s]), p)).toBe(10 * s);
    expect(nextDelay(failedAlloc(T, [5 * s, 5 * s, 10 * s]), p)).toBe(15 * s);
    expect(nextDelay(failedAlloc(T, [10 * s, 15 * s]), p)).toBe(25 * s);
    expect(nextDelay(failedAlloc(T, [25 * s, 40 * s]), p)).toBe(60 * s);
  });

  it("starts again from delay once the allocation ran longer than max_delay since its last reschedule", () => {
    const exp = policy({ Delay: 30 * s, DelayFunction: "exponential", MaxDelay: 120 * s });
    // Capped, and failed 121 s after its last reschedule: back to 30 s.
    expect(nextDelay(failedAlloc(T, [120 * s], 121_000), exp)).toBe(30 * s);
    // Capped, failed 119 s after: stays at the ceiling.
    expect(nextDelay(failedAlloc(T, [120 * s], 119_000), exp)).toBe(120 * s);
    const fib = policy({ Delay: 5 * s, DelayFunction: "fibonacci", MaxDelay: 60 * s });
    expect(nextDelay(failedAlloc(T, [40 * s, 60 * s], 61_000), fib)).toBe(5 * s);
    // After a reset (ceiling, then delay) the series starts again: 5 s, not 65 s capped.
    expect(nextDelay(failedAlloc(T, [60 * s, 5 * s]), fib)).toBe(5 * s);
  });

  it("is 0 without a policy", () => {
    expect(nextDelay(failedAlloc(T, [5 * s]), null)).toBe(0);
  });
});

describe("when a failed allocation is rescheduled (Nomad's NextRescheduleTime)", () => {
  it("at its failure time plus the delay; the failure time is the last task's finish, else the allocation's last change", () => {
    const a = failedAlloc(T);
    expect(failedAt(a)).toBe(T);
    expect(failedAt({ TaskStates: {}, ModifyTime: T + 7 })).toBe(T + 7);
    expect(nextReschedule(a, defaultReschedulePolicy("service"))).toBe(T + 30_000);
    expect(nextReschedule(a, defaultReschedulePolicy("batch"))).toBe(T + 5_000);
  });

  it("unlimited: always, with the growing delay", () => {
    const p = defaultReschedulePolicy("service");
    expect(nextReschedule(failedAlloc(T, [30 * s, 60 * s, 120 * s, 240 * s, 480 * s, 960 * s]), p)).toBe(T + 1_920_000);
  });

  it("attempts within interval: once used up, never; events older than the interval before the failure do not count", () => {
    const batch = defaultReschedulePolicy("batch"); // 1 attempt in 24 h, 5 s constant
    expect(nextReschedule(failedAlloc(T, [5 * s], 1000), batch)).toBeNull();
    expect(nextReschedule(failedAlloc(T, [5 * s], 25 * 3_600_000), batch)).toBe(T + 5_000);
    const three = policy({ Attempts: 3, Interval: 10 * NS.minute, Unlimited: false });
    expect(nextReschedule(failedAlloc(T, [5 * s, 5 * s]), three)).toBe(T + 5_000);
    expect(nextReschedule(failedAlloc(T, [5 * s, 5 * s, 5 * s]), three)).toBeNull();
    expect(rescheduleAttempts(failedAlloc(T, [5 * s, 5 * s, 5 * s]).RescheduleTracker!.Events, three, T)).toEqual({ attempted: 3, attempts: 3 });
  });

  it("never when the next delay is not shorter than the interval", () => {
    const p = policy({ Attempts: 5, Interval: 60 * s, Unlimited: false, DelayFunction: "exponential", Delay: 20 * s, MaxDelay: NS.hour });
    expect(nextReschedule(failedAlloc(T, [20 * s]), p)).toBe(T + 40_000);
    expect(nextReschedule(failedAlloc(T, [20 * s, 40 * s]), p)).toBeNull(); // 80 s ≥ 60 s
  });

  it("never with 0 attempts and not unlimited, or without a policy", () => {
    expect(nextReschedule(failedAlloc(T), policy({ Attempts: 0, Unlimited: false }))).toBeNull();
    expect(nextReschedule(failedAlloc(T), null)).toBeNull();
  });
});

describe("the tracker of a replacement (Nomad's updateRescheduleTracker)", () => {
  it("records the delay waited, and keeps the events within the interval of a limited policy", () => {
    const p = policy({ Attempts: 3, Interval: 60 * s, Unlimited: false });
    const prev = failedAlloc(T, [5 * s, 5 * s], 1000);
    prev.RescheduleTracker!.Events[0]!.RescheduleTime = T - 120_000; // outside the interval at T
    const t = nextRescheduleTracker(prev, p, T);
    expect(t.Events.map((e) => e.RescheduleTime)).toEqual([T - 1000, T]);
    expect(t.Events.at(-1)).toEqual({ RescheduleTime: T, PrevAllocID: "cur", PrevNodeID: "n1", Delay: 5 * s });
  });

  it("keeps the last 5 events of an unlimited policy", () => {
    const p = defaultReschedulePolicy("service");
    const prev = failedAlloc(T, [30 * s, 60 * s, 120 * s, 240 * s, 480 * s, 960 * s, 1920 * s]);
    const t = nextRescheduleTracker(prev, p, T);
    expect(t.Events).toHaveLength(MAX_PAST_RESCHEDULE_EVENTS + 1);
    expect(t.Events.map((e) => e.Delay)).toEqual([120 * s, 240 * s, 480 * s, 960 * s, 1920 * s, NS.hour]);
  });
});

describe("the reconciler's delayed reschedules (Nomad's follow-up evaluations)", () => {
  const NOW = T + 10_000;
  /** Failed at T, never rescheduled. */
  const failedAt0 = (): Pick<Allocation, "TaskStates" | "ModifyTime"> => {
    const { TaskStates, ModifyTime } = failedAlloc(T);
    return { TaskStates, ModifyTime };
  };
  function world(followup: string) {
    const nodes = [mock.node(), mock.node()];
    const job = mock.job({ id: "f", count: 1 });
    const failed = mock.alloc(job, nodes[0]!, 0, { ...failedAt0(), ClientStatus: "failed", FollowupEvalID: followup });
    const ev = mock.evaluation(job);
    return { failed, ev, r: schedule(ev, new MemoryView({ nodes, allocs: [failed], jobs: [job], deployments: [] }), NOW) };
  }

  it("a failed allocation due later gets one follow-up evaluation, named on it", () => {
    const { failed, r } = world("");
    expect(r.followups).toMatchObject([{ TriggeredBy: "alloc-failure", WaitUntil: T + 30_000, AllocIDs: [failed.ID] }]);
    expect(Object.values(r.plan.NodeAllocation).flat()).toEqual([]);
  });

  it("an evaluation in between makes no second one", () => {
    const { r } = world("an-earlier-follow-up");
    expect(r.followups).toEqual([]);
    expect(Object.values(r.plan.NodeAllocation).flat()).toEqual([]);
  });

  it("its own follow-up reschedules it, even a little before the time", () => {
    const nodes = [mock.node(), mock.node()];
    const job = mock.job({ id: "f", count: 1 });
    const ev = mock.evaluation(job);
    const failed = mock.alloc(job, nodes[0]!, 0, { ...failedAt0(), ClientStatus: "failed", FollowupEvalID: ev.ID });
    const r = schedule(ev, new MemoryView({ nodes, allocs: [failed], jobs: [job], deployments: [] }), NOW);
    expect(Object.values(r.plan.NodeAllocation).flat()).toMatchObject([{ PreviousAllocation: failed.ID, NodeID: nodes[1]!.ID }]);
  });
});
