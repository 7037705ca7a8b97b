import { NS, type Allocation, type RescheduleEvent, type ReschedulePolicy } from "../structs/index.js";

/**
 * The reschedule policy, as Nomad's `Allocation.NextRescheduleTime`, `NextDelay` and
 * `RescheduleTracker.RescheduleEligible` (nomad/structs/structs.go) and the scheduler's
 * `updateRescheduleTracker`. Pure. Times are unix ms (`RescheduleEvent.RescheduleTime`
 * too); delays are nanoseconds, as in the job (`RescheduleEvent.Delay`).
 */

/** Reschedule events an unlimited policy keeps on a new allocation (Nomad's `maxPastRescheduleEvents`). */
export const MAX_PAST_RESCHEDULE_EVENTS = 5;

/** When an allocation failed (Nomad's `LastEventTime`): the latest of its tasks' finish times, else its last change. */
export function failedAt(a: Pick<Allocation, "TaskStates" | "ModifyTime">): number {
  let t = 0;
  for (const s of Object.values(a.TaskStates)) t = Math.max(t, s.FinishedAt);
  return t > 0 ? t : a.ModifyTime;
}

/**
 * The delay (ns) before the next reschedule of an allocation, from the delays of the
 * earlier ones in its tracker: the policy's delay the first time; then `constant` keeps it,
 * `exponential` doubles the last one, `fibonacci` adds the last two; capped at `max_delay`,
 * and back to `delay` once the allocation ran longer than `max_delay` since its last
 * reschedule (the series starts again).
 */
export function nextDelay(a: Pick<Allocation, "RescheduleTracker" | "TaskStates" | "ModifyTime">, policy: ReschedulePolicy | null): number {
  if (policy === null) return 0;
  let delay = policy.Delay;
  const events = a.RescheduleTracker?.Events ?? [];
  const last = events.at(-1);
  if (last === undefined) return delay;
  switch (policy.DelayFunction) {
    case "exponential":
      delay = last.Delay * 2;
      break;
    case "fibonacci": {
      const before = events.at(-2);
      if (before !== undefined) {
        // A reset of the ceiling starts a new series.
        delay = before.Delay === policy.MaxDelay && last.Delay === policy.Delay ? last.Delay : last.Delay + before.Delay;
      }
      break;
    }
    case "constant":
      return delay;
    default: {
      const never: never = policy.DelayFunction;
      return never;
    }
  }
  if (policy.MaxDelay > 0 && delay > policy.MaxDelay) {
    delay = policy.MaxDelay;
    // Ran longer than max_delay since the last reschedule: start again from delay.
    if ((failedAt(a) - last.RescheduleTime) * NS.millisecond > delay) delay = policy.Delay;
  }
  return delay;
}

/**
 * How many reschedules the policy allows and how many of them were used within its
 * interval before `failTime` (unix ms). Unlimited or disabled policies: `{0, 0}`.
 */
export function rescheduleAttempts(events: readonly RescheduleEvent[], policy: ReschedulePolicy, failTime: number): { attempted: number; attempts: number } {
  if (policy.Unlimited || policy.Attempts <= 0) return { attempted: 0, attempts: 0 };
  let attempted = 0;
  for (const e of events) if ((failTime - e.RescheduleTime) * NS.millisecond < policy.Interval) attempted++;
  return { attempted, attempts: policy.Attempts };
}

/**
 * When a failed allocation may be rescheduled (unix ms), and whether it may at all: an
 * unlimited policy always; a limited one while fewer than `attempts` reschedules fell within
 * `interval` before the failure and the next delay is shorter than the interval; a policy
 * of 0 attempts and not unlimited never. `null` when it may not.
 */
export function nextReschedule(a: Pick<Allocation, "RescheduleTracker" | "TaskStates" | "ModifyTime">, policy: ReschedulePolicy | null): number | null {
  if (policy === null || (policy.Attempts <= 0 && !policy.Unlimited)) return null;
  const failTime = failedAt(a);
  if (failTime <= 0) return null;
  const delay = nextDelay(a, policy);
  const events = a.RescheduleTracker?.Events ?? [];
  let eligible = policy.Unlimited || (policy.Attempts > 0 && events.length === 0);
  if (policy.Attempts > 0 && events.length > 0) {
    const { attempted, attempts } = rescheduleAttempts(events, policy, failTime);
    eligible = attempted < attempts && delay < policy.Interval;
  }
  return eligible ? failTime + delay / NS.millisecond : null;
}

/**
 * The reschedule tracker of the allocation that replaces `prev` at `now` (unix ms): the
 * earlier events still within the interval (limited policy) or the last few (unlimited),
 * and one more recording the delay that was waited.
 */
export function nextRescheduleTracker(prev: Pick<Allocation, "ID" | "NodeID" | "RescheduleTracker" | "TaskStates" | "ModifyTime">, policy: ReschedulePolicy | null, now: number): { Events: RescheduleEvent[] } {
  const old = prev.RescheduleTracker?.Events ?? [];
  let kept: RescheduleEvent[];
  if (policy !== null && policy.Attempts > 0) kept = old.filter((e) => policy.Interval > 0 && (now - e.RescheduleTime) * NS.millisecond <= policy.Interval);
  else kept = old.slice(-MAX_PAST_RESCHEDULE_EVENTS);
  return { Events: [...kept.map((e) => ({ ...e })), { RescheduleTime: now, PrevAllocID: prev.ID, PrevNodeID: prev.NodeID, Delay: nextDelay(prev, policy) }] };
}
