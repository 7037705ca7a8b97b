import { failedGroupHeading, failureReasons, type AllocMetric, type Evaluation } from "../../structs/index.js";
import { shortId } from "./ids.js";
import { reasonBullets } from "./metrics.js";
import { formatKV, formatTable } from "./table.js";
import { formatAgo } from "./time.js";

/**
 * Why groups could not be placed, as `nomad run` and `nomad plan` print it:
 *
 *     Task Group "webs" (failed to place 2 allocations):
 *       * 3 nodes missing drivers
 *
 * one bullet per reason `failureReasons` gives; `indent` is put before each group line.
 */
export function placementFailures(failed: Readonly<Record<string, AllocMetric>>, indent: string): string {
  return Object.keys(failed)
    .sort()
    .map((group) => {
      const m = failed[group];
      if (m === undefined) return "";
      const reasons = failureReasons(m);
      return [`${indent}${failedGroupHeading(group, m)}:`, ...reasonBullets(reasons.length > 0 ? reasons : ["no reason recorded"], `${indent}  `)].join("\n");
    })
    .join("\n");
}

/** `ruche eval status ID`. */
export function evalDetail(ev: Evaluation, nowMs: number, full = false): string {
  const failed = Object.keys(ev.FailedTGAllocs).length > 0;
  const pairs: [string, string][] = [
    ["ID", shortId(ev.ID, full)],
    ["Create Time", formatAgo(ev.CreateTime, nowMs)],
    ["Modify Time", formatAgo(ev.ModifyTime, nowMs)],
    ["Status", ev.Status],
    ["Status Description", ev.StatusDescription === "" ? ev.Status : ev.StatusDescription],
    ["Type", ev.Type],
    ["TriggeredBy", ev.TriggeredBy],
    ["Job ID", ev.JobID],
    ["Namespace", ev.Namespace],
    ["Priority", String(ev.Priority)],
    ["Placement Failures", String(failed)],
  ];
  if (ev.NodeID !== "") pairs.splice(8, 0, ["Node ID", shortId(ev.NodeID, full)]);
  if (ev.DeploymentID !== "") pairs.push(["Deployment ID", shortId(ev.DeploymentID, full)]);
  if (ev.PreviousEval !== "") pairs.push(["Previous Eval", shortId(ev.PreviousEval, full)]);
  if (ev.NextEval !== "") pairs.push(["Next Eval", shortId(ev.NextEval, full)]);
  if (ev.BlockedEval !== "") pairs.push(["Blocked Eval", shortId(ev.BlockedEval, full)]);
  let out = formatKV(pairs);
  if (failed) out += `\n\nFailed Placements\n${placementFailures(ev.FailedTGAllocs, "")}`;
  return out;
}

/** Nomad's "Placement Failures" column: whether the evaluation left groups unplaced; "N/A - In Progress" while blocked. */
export function evalFailureStatus(ev: Pick<Evaluation, "Status" | "FailedTGAllocs">): string {
  return ev.Status === "blocked" ? "N/A - In Progress" : String(Object.keys(ev.FailedTGAllocs).length > 0);
}

/** `ruche eval list`: Nomad's columns, newest first. */
export function evalsTable(evals: readonly Evaluation[], full = false): string {
  const sorted = [...evals].sort((a, b) => b.CreateIndex - a.CreateIndex || (a.ID < b.ID ? -1 : 1));
  return formatTable(
    ["ID", "Priority", "Triggered By", "Job ID", "Namespace", "Node ID", "Status", "Placement Failures"],
    sorted.map((e) => [shortId(e.ID, full), String(e.Priority), e.TriggeredBy, e.JobID, e.Namespace, shortId(e.NodeID, full), e.Status, evalFailureStatus(e)]),
  );
}
