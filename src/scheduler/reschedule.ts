import { NS, type Allocation, type ReschedulePolicy } from "../structs/index.js";

/** When an allocation finished: the last of its tasks' finish times, or its last change. */
export function failedAt(a: Allocation): number {
  let t = 0;
  for (const s of Object.values(a.TaskStates)) t = Math.max(t, s.FinishedAt);
  return t > 0 ? t : a.ModifyTime;
}

/**
 * Whether a failed allocation may be rescheduled, and from when (unix ms): the policy's
 * attempts within its interval, and its delay growing as the function says
 * (constant, exponential, fibonacci) up to max_delay. `null` when it may not.
 */
export function nextReschedule(a: Allocation, policy: ReschedulePolicy | null, now: number): number | null {
  if (policy === null) return null;
  if (!policy.Unlimited && policy.Attempts <= 0) return null;
  const events = a.RescheduleTracker?.Events ?? [];
  if (!policy.Unlimited) {
    const since = now - policy.Interval / NS.millisecond;
    const recent = events.filter((e) => e.RescheduleTime >= since).length;
    if (recent >= policy.Attempts) return null;
  }
  return failedAt(a) + rescheduleDelay(policy, events.length) / NS.millisecond;
}

/** The delay in nanoseconds before the attempt that follows `previous` earlier ones. */
export function rescheduleDelay(policy: ReschedulePolicy, previous: number): number {
  let d: number;
  switch (policy.DelayFunction) {
    case "exponential":
      d = policy.Delay * 2 ** Math.min(previous, 40);
      break;
    case "fibonacci": {
      let a = policy.Delay;
      let b = policy.Delay;
      for (let i = 1; i < previous && b < Number.MAX_SAFE_INTEGER / 2; i++) [a, b] = [b, a + b];
      d = previous === 0 ? a : b;
      break;
    }
    default:
      d = policy.Delay;
  }
  return policy.MaxDelay > 0 && policy.DelayFunction !== "constant" ? Math.min(d, policy.MaxDelay) : d;
}
