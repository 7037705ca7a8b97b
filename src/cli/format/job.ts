import type { JobStub } from "../../apiclient/index.js";
import { formatDuration, isParameterized, NS, periodicNext, type Job } from "../../structs/index.js";
import { formatKV, formatTable } from "./table.js";
import { formatTime, nanosToMs } from "./time.js";

/** `ruche job status` without an ID: one line per job. */
export function jobsTable(jobs: readonly JobStub[], withNamespace = false): string {
  const sorted = [...jobs].sort((a, b) => compare(a.ID, b.ID) || compare(a.Namespace, b.Namespace));
  // Nomad's `createStatusListOutput`: a Namespace column when the list spans every namespace (`-namespace "*"`).
  if (withNamespace) {
    return formatTable(
      ["ID", "Namespace", "Type", "Priority", "Status", "Submit Date"],
      sorted.map((j) => [j.ID, j.Namespace, typeString(j), String(j.Priority), jobStatus(j), formatTime(nanosToMs(j.SubmitTime))]),
    );
  }
  return formatTable(
    ["ID", "Type", "Priority", "Status", "Submit Date"],
    sorted.map((j) => [j.ID, typeString(j), String(j.Priority), jobStatus(j), formatTime(nanosToMs(j.SubmitTime))]),
  );
}

/** The type as Nomad's list shows it: "batch/periodic" for a periodic parent, "/parameterized" for a parameterized one. */
function typeString(j: JobStub): string {
  return `${j.Type}${j.Periodic === true ? "/periodic" : ""}${j.ParameterizedJob === true ? "/parameterized" : ""}`;
}

/**
 * A periodic parent's "Next Periodic Launch": the time and how far it is (Nomad's CLI computes
 * it from the job's schedule, as here), "none (job stopped)" for a stopped one.
 */
export function nextPeriodicLaunch(job: Job, nowMs: number): string | null {
  if (job.Periodic === null || (job.ParameterizedJob !== undefined && job.ParameterizedJob !== null)) return null;
  if (job.Stop) return "none (job stopped)";
  const next = periodicNext(job.Periodic, nowMs);
  if (next === null) return null;
  const diff = Math.floor(next / 1000) - Math.floor(nowMs / 1000);
  return `${formatTime(next)} (${formatDuration(diff * NS.second)} from now)`;
}

/** Nomad's "Previously Launched Jobs" of a periodic parent: its children, by ID. */
export function periodicChildrenTable(children: readonly Pick<JobStub, "ID" | "Status" | "Stop">[]): string {
  return formatTable(
    ["ID", "Status"],
    [...children].sort((a, b) => compare(a.ID, b.ID)).map((c) => [c.ID, c.Status]),
  );
}

/** A stopped job reads "dead (stopped)" (its status, then "(stopped)"), as Nomad's getStatusString. */
function jobStatus(j: { Status: string; Stop: boolean }): string {
  return j.Stop ? `${j.Status} (stopped)` : j.Status;
}

/** The head of `ruche job status ID`. */
export function jobHeader(job: Job, nowMs = Date.now()): string {
  const next = nextPeriodicLaunch(job, nowMs);
  return formatKV([
    ["ID", job.ID],
    ["Name", job.Name],
    ["Submit Date", formatTime(nanosToMs(job.SubmitTime))],
    ["Type", job.Type],
    ["Priority", String(job.Priority)],
    ["Datacenters", job.Datacenters.join(",")],
    ["Namespace", job.Namespace],
    ["Status", jobStatus(job)],
    ["Periodic", String(job.Periodic !== null)],
    ["Parameterized", String(isParameterized(job))],
    ...(next === null ? [] : [["Next Periodic Launch", next] as [string, string]]),
  ]);
}

const SUMMARY_COLUMNS = ["Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"] as const;

/** Allocation counts per group; every group of the job has a line, in the job's order. */
export function summaryTable(groups: readonly string[], summary: Readonly<Record<string, Readonly<Record<string, number>>>>): string {
  const names = [...groups, ...Object.keys(summary).filter((g) => !groups.includes(g)).sort(compare)];
  return formatTable(
    ["Task Group", ...SUMMARY_COLUMNS],
    names.map((g) => [g, ...SUMMARY_COLUMNS.map((c) => String(summary[g]?.[c] ?? 0))]),
  );
}

/** One block per version, newest first, as `nomad job history`; `diffs` (by version) adds the change from the version before. */
export function versionsList(versions: readonly Job[], diffs?: ReadonlyMap<number, string>): string {
  return [...versions]
    .sort((a, b) => b.Version - a.Version)
    .map((v) => {
      const pairs: [string, string][] = [
        ["Version", String(v.Version)],
        ["Stable", String(v.Stable)],
        ["Submit Date", formatTime(nanosToMs(v.SubmitTime))],
      ];
      const diff = diffs?.get(v.Version);
      if (diff === undefined) return formatKV(pairs);
      return `${formatKV([...pairs, ["Diff", ""]])}\n${diff}`;
    })
    .join("\n\n");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
