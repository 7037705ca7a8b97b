import type { AllocDeploymentStatus, Allocation, AllocState, RescheduleEvent, TaskState } from "./allocation.js";
import type { Deployment, DeploymentState } from "./deployment.js";
import type { Evaluation } from "./evaluation.js";
import type { DrainStrategy } from "./node.js";

/**
 * The times of allocations, evaluations and deployments as Nomad's API carries them, and
 * back. Ruche keeps them as unix milliseconds (its clock's unit, which the scheduler and the
 * node agent compute with); Nomad's Go client decodes a `time.Time` only from an RFC 3339
 * string (`Time.UnmarshalJSON: input is not a JSON string`) and reads its `int64` times as
 * unix nanoseconds (milliseconds show as 1970). The public API serves the `…Wire` shapes
 * (`toWire…`); Ruche's own readers of it (the CLI's API client, the dashboard) read them
 * back (`fromWire…`). The node agent's own routes (`/v1/client/…`) keep milliseconds. Nodes
 * too: a drain's deadline and start.
 */

/** Go's zero `time.Time`, which Nomad sends for a time not yet come (a task not yet started). */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** Unix ms → RFC 3339 (UTC); 0 (not yet) → Go's zero time. */
export function rfc3339(ms: number): string {
  return ms > 0 && Number.isFinite(ms) ? new Date(ms).toISOString() : GO_ZERO_TIME;
}

/** RFC 3339 → unix ms; Go's zero time (or anything before 1970, or not a time) → 0. */
export function msOfRfc3339(s: string): number {
  const ms = Date.parse(s);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Unix ms → unix ns (0 stays 0). */
export function nsOfMs(ms: number): number {
  return ms > 0 ? ms * 1_000_000 : 0;
}

/** Unix ns → unix ms (0 stays 0). */
export function msOfNs(ns: number): number {
  return ns > 0 ? Math.floor(ns / 1_000_000) : 0;
}

/** Nomad's `api.TaskState`: `time.Time`s, and `LastRestart`, which Ruche does not record (the zero time); each event's `DisplayMessage` is its message. */
export type TaskStateWire = Omit<TaskState, "StartedAt" | "FinishedAt"> & { StartedAt: string; FinishedAt: string; LastRestart: string };
export type AllocDeploymentStatusWire = Omit<AllocDeploymentStatus, "Timestamp"> & { Timestamp: string };
export type AllocStateWire = Omit<AllocState, "Time"> & { Time: string };

/** An allocation as the API serves it: Nomad's time types (`CreateTime`, `ModifyTime` and `RescheduleTime` in ns). */
export type AllocationWire<A extends Partial<Allocation> = Allocation> = Omit<A, "TaskStates" | "DeploymentStatus" | "AllocStates"> & {
  TaskStates: Record<string, TaskStateWire>;
  DeploymentStatus: AllocDeploymentStatusWire | null;
  AllocStates?: AllocStateWire[];
};

export type EvaluationWire = Omit<Evaluation, "WaitUntil"> & { WaitUntil: string };
export type DeploymentStateWire = Omit<DeploymentState, "RequireProgressBy"> & { RequireProgressBy: string };
export type DeploymentWire = Omit<Deployment, "TaskGroups"> & { TaskGroups: Record<string, DeploymentStateWire> };

function mapValues<A, B>(o: Record<string, A>, f: (a: A) => B): Record<string, B> {
  const out: Record<string, B> = {};
  for (const [k, v] of Object.entries(o)) out[k] = f(v);
  return out;
}

type AllocTimes = Pick<Allocation, "TaskStates" | "DeploymentStatus" | "RescheduleTracker" | "CreateTime" | "ModifyTime"> & { AllocStates?: AllocState[] };

/** An allocation (or a stub of one) in Nomad's time types. */
export function toWireAlloc<A extends AllocTimes>(a: A): AllocationWire<A> {
  const { TaskStates, DeploymentStatus, AllocStates, RescheduleTracker, CreateTime, ModifyTime, ...rest } = a;
  const wire = {
    ...rest,
    // `DisplayMessage` is what `nomad alloc status` shows of an event.
    TaskStates: mapValues(TaskStates, (s) => ({ ...s, StartedAt: rfc3339(s.StartedAt), FinishedAt: rfc3339(s.FinishedAt), LastRestart: GO_ZERO_TIME, Events: s.Events.map((e) => ({ ...e, DisplayMessage: e.Message })) })),
    DeploymentStatus: DeploymentStatus === null ? null : { ...DeploymentStatus, Timestamp: rfc3339(DeploymentStatus.Timestamp) },
    RescheduleTracker: RescheduleTracker === null ? null : { Events: RescheduleTracker.Events.map((e): RescheduleEvent => ({ ...e, RescheduleTime: nsOfMs(e.RescheduleTime) })) },
    CreateTime: nsOfMs(CreateTime),
    ModifyTime: nsOfMs(ModifyTime),
    ...(AllocStates === undefined ? {} : { AllocStates: AllocStates.map((s) => ({ ...s, Time: rfc3339(s.Time) })) }),
  };
  return wire as unknown as AllocationWire<A>;
}

/** An allocation (or a stub) read from the API, in Ruche's milliseconds again. */
export function fromWireAlloc<A extends AllocTimes>(w: AllocationWire<A>): A {
  const { TaskStates, DeploymentStatus, AllocStates, ...rest } = w as AllocationWire<AllocTimes> & Omit<A, keyof AllocTimes>;
  const back = {
    ...rest,
    TaskStates: mapValues(TaskStates, ({ LastRestart: _last, ...s }): TaskState => ({
      ...s,
      StartedAt: msOfRfc3339(s.StartedAt),
      FinishedAt: msOfRfc3339(s.FinishedAt),
      Events: s.Events.map((e) => {
        const { DisplayMessage: _shown, ...rest } = e as typeof e & { DisplayMessage?: string };
        return rest;
      }),
    })),
    DeploymentStatus: DeploymentStatus === null ? null : { ...DeploymentStatus, Timestamp: msOfRfc3339(DeploymentStatus.Timestamp) },
    RescheduleTracker: rest.RescheduleTracker === null ? null : { Events: rest.RescheduleTracker.Events.map((e) => ({ ...e, RescheduleTime: msOfNs(e.RescheduleTime) })) },
    CreateTime: msOfNs(rest.CreateTime),
    ModifyTime: msOfNs(rest.ModifyTime),
    ...(AllocStates === undefined ? {} : { AllocStates: AllocStates.map((s) => ({ ...s, Time: msOfRfc3339(s.Time) })) }),
  };
  return back as unknown as A;
}

/** An evaluation in Nomad's time types: `WaitUntil` a time, `CreateTime` and `ModifyTime` in ns. */
export function toWireEval(e: Evaluation): EvaluationWire {
  return { ...e, WaitUntil: rfc3339(e.WaitUntil), CreateTime: nsOfMs(e.CreateTime), ModifyTime: nsOfMs(e.ModifyTime) };
}

export function fromWireEval(w: EvaluationWire): Evaluation {
  return { ...w, WaitUntil: msOfRfc3339(w.WaitUntil), CreateTime: msOfNs(w.CreateTime), ModifyTime: msOfNs(w.ModifyTime) };
}

/** A deployment in Nomad's time types: each group's `RequireProgressBy` a time. */
export function toWireDeployment(d: Deployment): DeploymentWire {
  return { ...d, IsMultiregion: d.IsMultiregion ?? false, TaskGroups: mapValues(d.TaskGroups, (g) => ({ ...g, RequireProgressBy: rfc3339(g.RequireProgressBy) })) };
}

export function fromWireDeployment(w: DeploymentWire): Deployment {
  // Nomad's `IsMultiregion` is always sent; Ruche keeps it only when true.
  const { IsMultiregion: multiregion, ...rest } = w;
  return { ...rest, ...(multiregion === true ? { IsMultiregion: true } : {}), TaskGroups: mapValues(w.TaskGroups, (g) => ({ ...g, RequireProgressBy: msOfRfc3339(g.RequireProgressBy) })) };
}

/** Nomad's `api.DrainStrategy`: its `DrainSpec` (`Deadline`, `IgnoreSystemJobs`) and two `time.Time`s. */
export type DrainStrategyWire = Omit<DrainStrategy, "ForceDeadline" | "StartedAt"> & { ForceDeadline: string; StartedAt: string };
export type NodeWire<N extends { DrainStrategy: DrainStrategy | null }> = Omit<N, "DrainStrategy"> & { DrainStrategy: DrainStrategyWire | null };

/** A node (or a stub) in Nomad's time types: its drain's `ForceDeadline` and `StartedAt` as times. */
export function toWireNode<N extends { DrainStrategy: DrainStrategy | null }>(n: N): NodeWire<N> {
  const s = n.DrainStrategy;
  return { ...n, DrainStrategy: s === null ? null : { ...s, ForceDeadline: rfc3339(s.ForceDeadline), StartedAt: rfc3339(s.StartedAt) } };
}

export function fromWireNode<N extends { DrainStrategy: DrainStrategy | null }>(w: NodeWire<N>): N {
  const s = w.DrainStrategy;
  return { ...w, DrainStrategy: s === null ? null : { ...s, ForceDeadline: msOfRfc3339(s.ForceDeadline), StartedAt: msOfRfc3339(s.StartedAt) } } as unknown as N;
}
