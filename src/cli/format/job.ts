import type { JobStub } from "../../apiclient/index.js";
import type { Job } from "../../structs/index.js";
import { formatKV, formatTable } from "./table.js";
import { formatTime } from "./time.js";

/** `ruche job status` without an ID: one line per job. */
export function jobsTable(jobs: readonly JobStub[]): string {
  const sorted = [...jobs].sort((a, b) => compare(a.ID, b.ID));
  return formatTable(
    ["ID", "Type", "Priority", "Status", "Submit Date"],
    sorted.map((j) => [j.ID, j.Type, String(j.Priority), jobStatus(j), formatTime(j.SubmitTime)]),
  );
}

/** A stopped job reads "dead" whatever its last status was, as in Nomad. */
function jobStatus(j: { Status: string; Stop: boolean }): string {
  return j.Stop ? "dead" : j.Status;
}

/** The head of `ruche job status ID`. */
export function jobHeader(job: Job): string {
  return formatKV([
    ["ID", job.ID],
    ["Name", job.Name],
    ["Submit Date", formatTime(job.SubmitTime)],
    ["Type", job.Type],
    ["Priority", String(job.Priority)],
    ["Datacenters", job.Datacenters.join(",")],
    ["Namespace", job.Namespace],
    ["Status", jobStatus(job)],
    ["Periodic", String(job.Periodic?.Enabled === true)],
    ["Parameterized", "false"],
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
        ["Submit Date", formatTime(v.SubmitTime)],
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
