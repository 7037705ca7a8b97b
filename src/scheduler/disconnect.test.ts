import { describe, expect, it } from "vitest";
import { mock, NS, type Allocation, type DisconnectStrategy, type Job, type Node, type Plan } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";
import { keepOriginal, runningSince } from "./disconnect.js";

const NOW = 1_700_000_000_000;
const FIVE_MIN_MS = 5 * 60_000;

function placed(plan: Plan): Allocation[] {
  return Object.values(plan.NodeAllocation).flat();
}
function stopped(plan: Plan): Allocation[] {
  return Object.values(plan.NodeUpdate).flat();
}
function run(job: Job, nodes: Node[], allocs: Allocation[]) {
  return schedule(mock.evaluation(job), new MemoryView({ nodes, allocs, jobs: [job], deployments: [] }), NOW);
}
function withDisconnect(job: Job, d: Partial<DisconnectStrategy>): Job {
  job.TaskGroups[0]!.Disconnect = { LostAfter: 5 * NS.minute, Replace: true, Reconcile: "longest_running", ...d };
  return job;
}
/** Running since `startedAt` (unix ms), as its client reported. */
function runningAt(startedAt: number): Pick<Allocation, "TaskStates"> {
  return { TaskStates: { web: { State: "running", Failed: false, Restarts: 0, StartedAt: startedAt, FinishedAt: 0, Events: [] } } };
}
const unknownSince = (t: number): Pick<Allocation, "ClientStatus" | "AllocStates"> => ({ ClientStatus: "unknown", AllocStates: [{ Field: "ClientStatus", Value: "unknown", Time: t }] });

describe("a node that stopped heartbeating (disconnected)", () => {
  it("has its allocations marked unknown, not stopped, and replaced at once under the same name; an evaluation comes back at lost_after", () => {
    const gone = mock.node({ status: "disconnected" });
    const alive = mock.node();
    const job = mock.job({ id: "d", count: 2 });
    const original = mock.alloc(job, gone, 0);
    const r = run(job, [gone, alive], [original, mock.alloc(job, alive, 1)]);
    expect(stopped(r.plan)).toEqual([]);
    expect(r.plan.ClientStatusMarks).toEqual([{ AllocID: original.ID, ClientStatus: "unknown", Time: NOW }]);
    expect(placed(r.plan)).toMatchObject([{ Name: "d.web[0]", NodeID: alive.ID, PreviousAllocation: original.ID }]);
    expect(r.followups).toMatchObject([{ TriggeredBy: "max-disconnect-timeout", WaitUntil: NOW + FIVE_MIN_MS }]);
  });

  it("a down node is treated alike while lost_after runs", () => {
    const gone = mock.node({ status: "down" });
    const job = mock.job({ id: "d", count: 1 });
    const r = run(job, [gone, mock.node()], [mock.alloc(job, gone, 0)]);
    expect(stopped(r.plan)).toEqual([]);
    expect(placed(r.plan)).toHaveLength(1);
  });

  it("once unknown and replaced, a later evaluation changes nothing until lost_after", () => {
    const gone = mock.node({ status: "disconnected" });
    const alive = mock.node();
    const job = mock.job({ id: "d", count: 1 });
    const original = mock.alloc(job, gone, 0, unknownSince(NOW - 60_000));
    const replacement = mock.alloc(job, alive, 0, { PreviousAllocation: original.ID });
    const r = run(job, [gone, alive], [original, replacement]);
    expect(stopped(r.plan)).toEqual([]);
    expect(placed(r.plan)).toEqual([]);
    expect(r.plan.ClientStatusMarks).toBeUndefined();
    expect(r.followups).toEqual([]);
  });

  it("after lost_after the unknown allocation is lost; its replacement stays", () => {
    const gone = mock.node({ status: "disconnected" });
    const alive = mock.node();
    const job = mock.job({ id: "d", count: 1 });
    const original = mock.alloc(job, gone, 0, unknownSince(NOW - FIVE_MIN_MS));
    const replacement = mock.alloc(job, alive, 0, { PreviousAllocation: original.ID });
    const r = run(job, [gone, alive], [original, replacement]);
    expect(stopped(r.plan)).toMatchObject([{ ID: original.ID, ClientStatus: "lost", DesiredStatus: "stop" }]);
    expect(placed(r.plan)).toEqual([]);
  });

  it("replace = false: no replacement while unknown; lost and replaced after lost_after", () => {
    const gone = mock.node({ status: "disconnected" });
    const alive = mock.node();
    const job = withDisconnect(mock.job({ id: "d", count: 1 }), { Replace: false });
    const a = mock.alloc(job, gone, 0);
    const first = run(job, [gone, alive], [a]);
    expect(first.plan.ClientStatusMarks).toMatchObject([{ AllocID: a.ID, ClientStatus: "unknown" }]);
    expect(placed(first.plan)).toEqual([]);
    const later = run(job, [gone, alive], [{ ...a, ...unknownSince(NOW - FIVE_MIN_MS - 1) }]);
    expect(stopped(later.plan)).toMatchObject([{ ID: a.ID, ClientStatus: "lost" }]);
    expect(placed(later.plan)).toMatchObject([{ Name: "d.web[0]", NodeID: alive.ID }]);
  });

  it("lost_after = 0: lost and replaced at once", () => {
    const gone = mock.node({ status: "disconnected" });
    const alive = mock.node();
    const job = withDisconnect(mock.job({ id: "d", count: 1 }), { LostAfter: 0 });
    const r = run(job, [gone, alive], [mock.alloc(job, gone, 0)]);
    expect(stopped(r.plan)).toMatchObject([{ ClientStatus: "lost" }]);
    expect(placed(r.plan)).toHaveLength(1);
    expect(r.plan.ClientStatusMarks).toBeUndefined();
  });
});

describe("a node that comes back (reconnected)", () => {
  function world(reconcile: DisconnectStrategy["Reconcile"], originalStart: number, replacementStart: number) {
    const back = mock.node();
    const other = mock.node();
    const job = withDisconnect(mock.job({ id: "r", count: 1 }), { Reconcile: reconcile });
    const original = mock.alloc(job, back, 0, { ...unknownSince(NOW - 30_000), ClientStatus: "running", ...runningAt(originalStart) });
    const replacement = mock.alloc(job, other, 0, { PreviousAllocation: original.ID, ...runningAt(replacementStart) });
    return { r: run(job, [back, other], [original, replacement]), original, replacement };
  }

  it("longest_running (Ruche's default): the original, running for longer, is kept and its replacement stopped", () => {
    const { r, original, replacement } = world("longest_running", NOW - 3_600_000, NOW - 25_000);
    expect(stopped(r.plan)).toMatchObject([{ ID: replacement.ID, DesiredStatus: "stop" }]);
    expect(stopped(r.plan)[0]?.DesiredDescription).toContain("reconnected");
    expect(r.plan.ClientStatusMarks).toEqual([{ AllocID: original.ID, ClientStatus: null, Time: NOW }]);
    expect(placed(r.plan)).toEqual([]);
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Stop: 1, Place: 0 });
  });

  it("longest_running: a replacement running for longer is kept, the original stopped", () => {
    const { r, original } = world("longest_running", NOW - 1_000, NOW - 25_000);
    expect(stopped(r.plan)).toMatchObject([{ ID: original.ID, DesiredStatus: "stop" }]);
    expect(placed(r.plan)).toEqual([]);
  });

  it("keep_original and keep_replacement", () => {
    const a = world("keep_original", NOW - 1_000, NOW - 25_000);
    expect(stopped(a.r.plan).map((x) => x.ID)).toEqual([a.replacement.ID]);
    const b = world("keep_replacement", NOW - 3_600_000, NOW - 25_000);
    expect(stopped(b.r.plan).map((x) => x.ID)).toEqual([b.original.ID]);
  });

  it("an original not yet reported again keeps its name: nothing more is placed or stopped", () => {
    const back = mock.node();
    const job = withDisconnect(mock.job({ id: "w", count: 1 }), { Replace: false });
    const r = run(job, [back], [mock.alloc(job, back, 0, unknownSince(NOW - 30_000))]);
    expect(placed(r.plan)).toEqual([]);
    expect(stopped(r.plan)).toEqual([]);
  });

  it("the choice itself: longest running, best score, ties to the original", () => {
    const job = mock.job({ id: "c" });
    const n = mock.node();
    const older = mock.alloc(job, n, 0, runningAt(NOW - 100));
    const newer = mock.alloc(job, n, 0, runningAt(NOW - 10));
    const pending = mock.alloc(job, n, 0, { ClientStatus: "pending" });
    expect(runningSince(older)).toBe(NOW - 100);
    expect(runningSince(pending)).toBe(Number.POSITIVE_INFINITY);
    expect(keepOriginal("longest_running", older, [newer])).toBe(true);
    expect(keepOriginal("longest_running", newer, [older])).toBe(false);
    expect(keepOriginal("longest_running", pending, [pending])).toBe(true);
    const scored = (score: number): Allocation => mock.alloc(job, n, 0, { Metrics: { ...emptyMetric(), ScoreMetaData: [{ NodeID: n.ID, Scores: {}, NormScore: score }] } });
    expect(keepOriginal("best_score", scored(0.4), [scored(0.7)])).toBe(false);
    expect(keepOriginal("best_score", scored(0.7), [scored(0.7)])).toBe(true);
  });
});

describe("a system job's allocation on a node that stopped heartbeating", () => {
  it("is unknown, not stopped, until lost_after; then lost; back and reported, it is kept", () => {
    const gone = mock.node({ status: "disconnected" });
    const job = mock.job({ id: "s", type: "system" });
    const a = mock.alloc(job, gone, 0);
    const first = run(job, [gone, mock.node()], [a]);
    expect(first.plan.ClientStatusMarks).toEqual([{ AllocID: a.ID, ClientStatus: "unknown", Time: NOW }]);
    expect(stopped(first.plan)).toEqual([]);
    expect(first.followups).toMatchObject([{ TriggeredBy: "max-disconnect-timeout", WaitUntil: NOW + FIVE_MIN_MS }]);
    const expired = run(job, [gone], [{ ...a, ...unknownSince(NOW - FIVE_MIN_MS) }]);
    expect(stopped(expired.plan)).toMatchObject([{ ID: a.ID, ClientStatus: "lost" }]);
    const back = { ...gone, Status: "ready" as const };
    const waiting = run(job, [back], [{ ...a, ...unknownSince(NOW - 60_000) }]);
    expect(stopped(waiting.plan)).toEqual([]);
    expect(placed(waiting.plan)).toEqual([]);
    const reported = run(job, [back], [{ ...a, ...unknownSince(NOW - 60_000), ClientStatus: "running" }]);
    expect(reported.plan.ClientStatusMarks).toEqual([{ AllocID: a.ID, ClientStatus: null, Time: NOW }]);
    expect(stopped(reported.plan)).toEqual([]);
    expect(placed(reported.plan)).toEqual([]);
  });
});

function emptyMetric(): NonNullable<Allocation["Metrics"]> {
  return { NodesEvaluated: 0, NodesFiltered: 0, NodesAvailable: {}, ConstraintFiltered: {}, NodesExhausted: 0, DimensionExhausted: {}, ClassFiltered: {}, QuotaExhausted: [], ScoreMetaData: [], CoalescedFailures: 0 };
}
