import { cronNext, parseCron, timeZoneProblem } from "./cron.js";
import type { Job, PeriodicConfig } from "./job.js";

/** What a periodic child's ID puts between its parent's ID and its launch time (Nomad's `PeriodicLaunchSuffix`). */
export const PERIODIC_LAUNCH_SUFFIX = "/periodic-";

/**
 * The last launch of a periodic job, kept in the state (`periodicLaunches`, key "ns/id") so a
 * new leader neither launches a time twice nor forgets one it missed (Nomad's `PeriodicLaunch`).
 * Until the first launch, `Launch` is the time the job was registered.
 */
export interface PeriodicLaunch {
  /** The parent job's ID. */
  ID: string;
  Namespace: string;
  /** Unix milliseconds of the last launch (a whole second). */
  Launch: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A periodic parent: it runs nothing itself (Nomad's `IsPeriodic`). */
export function isPeriodic(job: Pick<Job, "Periodic">): boolean {
  return job.Periodic !== null;
}

/** A periodic parent whose launches are on: enabled and not stopped (Nomad's `IsPeriodicActive`). */
export function isPeriodicActive(job: Pick<Job, "Periodic" | "Stop">): boolean {
  return job.Periodic !== null && job.Periodic.Enabled && !job.Stop;
}

/** The expressions of a periodic block: `cron`'s, or those of `crons`. */
export function periodicSpecs(p: PeriodicConfig): string[] {
  return p.Spec !== "" ? [p.Spec] : p.Specs;
}

/**
 * The next launch after `fromMs` (ms since the epoch): the earliest of its expressions', on
 * the wall clock of its time zone; null when none comes or an expression does not parse.
 */
export function periodicNext(p: PeriodicConfig, fromMs: number): number | null {
  let best: number | null = null;
  for (const spec of periodicSpecs(p)) {
    const parsed = parseCron(spec);
    if (!parsed.ok) return null;
    const t = cronNext(parsed.cron, fromMs, p.TimeZone);
    if (t !== null && (best === null || t < best)) best = t;
  }
  return best;
}

/** What is wrong with a periodic block, as Nomad's `PeriodicConfig.Validate` says, each with its field. */
export function periodicProblems(p: PeriodicConfig): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (p.Spec !== "" && p.Specs.length > 0) out.push({ path: "Periodic.Specs", message: "Only cron or crons may be used" });
  if (p.Spec === "" && p.Specs.length === 0) out.push({ path: "Periodic.Spec", message: 'Must specify a spec: cron = "..." or crons = ["...", ...]' });
  if (p.SpecType !== "cron") out.push({ path: "Periodic.SpecType", message: `Unknown periodic specification type "${p.SpecType}"; only "cron" is supported` });
  const tz = timeZoneProblem(p.TimeZone);
  if (tz !== null) out.push({ path: "Periodic.TimeZone", message: tz });
  if (p.Spec !== "") {
    const r = parseCron(p.Spec);
    if (!r.ok) out.push({ path: "Periodic.Spec", message: r.reason });
  }
  p.Specs.forEach((spec, i) => {
    const r = parseCron(spec);
    if (!r.ok) out.push({ path: `Periodic.Specs[${i}]`, message: r.reason });
  });
  return out;
}

/** A periodic child's ID: `<parent>/periodic-<unix seconds of its launch>`. */
export function periodicChildId(parentId: string, launchMs: number): string {
  return `${parentId}${PERIODIC_LAUNCH_SUFFIX}${Math.floor(launchMs / 1000)}`;
}

/** The launch time (ms) a periodic child's ID carries, or null when the ID is not one. */
export function periodicLaunchOf(childId: string): number | null {
  const at = childId.lastIndexOf(PERIODIC_LAUNCH_SUFFIX);
  if (at < 0) return null;
  const rest = childId.slice(at + PERIODIC_LAUNCH_SUFFIX.length);
  return /^\d+$/.test(rest) ? Number(rest) * 1000 : null;
}

/**
 * The child a periodic parent launches at `launchMs`: a copy without the periodic block, its
 * ID and name `<parent>/periodic-<unix>`, `ParentID` the parent's (Nomad's `deriveJob`).
 */
export function periodicChild(parent: Job, launchMs: number): Job {
  const id = periodicChildId(parent.ID, launchMs);
  return { ...parent, ID: id, Name: id, ParentID: parent.ID, Periodic: null, Status: "pending", Stop: false, Version: 0, Stable: false };
}
