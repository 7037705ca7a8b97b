import type { Deployment } from "../../structs/index.js";
import { shortId } from "./ids.js";
import { formatKV, formatTable } from "./table.js";
import { formatTime } from "./time.js";

/** `ruche deployment list`: newest first. */
export function deploymentsTable(ds: readonly Deployment[], full = false): string {
  const sorted = [...ds].sort((a, b) => b.CreateIndex - a.CreateIndex);
  return formatTable(
    ["ID", "Job ID", "Job Version", "Status", "Description"],
    sorted.map((d) => [shortId(d.ID, full), d.JobID, String(d.JobVersion), d.Status, d.StatusDescription]),
  );
}

/** The head of `ruche deployment status ID`. */
export function deploymentHeader(d: Deployment, full = false): string {
  return formatKV([
    ["ID", shortId(d.ID, full)],
    ["Job ID", d.JobID],
    ["Job Version", String(d.JobVersion)],
    ["Status", d.Status],
    ["Description", d.StatusDescription],
  ]);
}

/** The `Latest Deployment` block of `ruche job status ID`. */
export function latestDeploymentKV(d: Deployment, full = false): string {
  return formatKV([
    ["ID", shortId(d.ID, full)],
    ["Status", d.Status],
    ["Description", d.StatusDescription],
  ]);
}

/**
 * The `Deployed` table. As in Nomad, the canary columns (Promoted, Canaries) appear only
 * when a group has canaries, Auto Revert only when a group reverts on failure, and the
 * progress deadline only when asked for (deployment status shows it, job status does not).
 */
export function deployedTable(d: Deployment, opts: { progressDeadline: boolean }): string {
  const names = Object.keys(d.TaskGroups).sort();
  const states = names.map((n) => d.TaskGroups[n]).filter((s) => s !== undefined);
  const canaries = states.some((s) => s.DesiredCanaries > 0);
  const autoRevert = states.some((s) => s.AutoRevert);
  const deadline = opts.progressDeadline && states.some((s) => s.ProgressDeadline !== 0);
  const header = [
    "Task Group",
    ...(autoRevert ? ["Auto Revert"] : []),
    ...(canaries ? ["Promoted"] : []),
    "Desired",
    ...(canaries ? ["Canaries"] : []),
    "Placed",
    "Healthy",
    "Unhealthy",
    ...(deadline ? ["Progress Deadline"] : []),
  ];
  const rows = names.flatMap((name) => {
    const s = d.TaskGroups[name];
    if (s === undefined) return [];
    return [
      [
        name,
        ...(autoRevert ? [String(s.AutoRevert)] : []),
        ...(canaries ? [s.DesiredCanaries > 0 ? String(s.Promoted) : "N/A"] : []),
        String(s.DesiredTotal),
        ...(canaries ? [String(s.DesiredCanaries)] : []),
        String(s.PlacedAllocs),
        String(s.HealthyAllocs),
        String(s.UnhealthyAllocs),
        // As Nomad: the time whatever the deployment's status, N/A only when it has none.
        ...(deadline ? [s.RequireProgressBy > 0 ? formatTime(s.RequireProgressBy) : "N/A"] : []),
      ],
    ];
  });
  return formatTable(header, rows);
}

/** Groups whose canaries are all healthy and wait for someone to promote them. */
export function awaitingPromotion(d: Deployment): boolean {
  if (d.Status !== "running") return false;
  const groups = Object.values(d.TaskGroups).filter((s) => s.DesiredCanaries > 0 && !s.Promoted);
  return groups.length > 0 && groups.every((s) => !s.AutoPromote && s.HealthyAllocs >= s.DesiredCanaries);
}
