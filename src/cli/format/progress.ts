/**
 * What the monitors print as state moves: pure functions from what was seen before and
 * what is seen now to the lines to print, so the loops in `../monitor.ts` only fetch.
 * Lines starting "==> " are milestones; the others are indented by four spaces, as
 * Nomad's monitor prints them.
 */
import type { AllocStub } from "../../apiclient/index.js";
import type { Deployment, Evaluation, Node } from "../../structs/index.js";
import { allocTerminal, assertNever } from "../../structs/index.js";
import { awaitingPromotion } from "./deployment.js";
import { placementFailures } from "./eval.js";
import { shortId } from "./ids.js";

// Evaluations

export interface EvalWatch {
  /** Nomad starts from "pending": the first status seen that is not pending is a change. */
  status: string;
  headerWritten: boolean;
  deploymentWritten: boolean;
  /** Allocation ID → client status last seen. */
  allocs: ReadonlyMap<string, string>;
}

export function newEvalWatch(): EvalWatch {
  return { status: "pending", headerWritten: false, deploymentWritten: false, allocs: new Map() };
}

export type MonitoredAlloc = Pick<AllocStub, "ID" | "NodeID" | "TaskGroup" | "DesiredStatus" | "ClientStatus" | "ClientDescription" | "CreateIndex">;

/** The lines for what changed in an evaluation and its allocations since `w` (Nomad's `monitor.update`). */
export function evalProgress(w: EvalWatch, ev: Evaluation, allocs: readonly MonitoredAlloc[]): { lines: string[]; watch: EvalWatch } {
  const lines: string[] = [];
  let { headerWritten, deploymentWritten } = w;
  if (!headerWritten) {
    lines.push(ev.NodeID !== "" ? `    Evaluation triggered by node "${shortId(ev.NodeID)}"` : `    Evaluation triggered by job "${ev.JobID}"`);
    headerWritten = true;
  }
  if (!deploymentWritten && ev.DeploymentID !== "") {
    lines.push(`    Evaluation within deployment: "${shortId(ev.DeploymentID)}"`);
    deploymentWritten = true;
  }
  const seen = new Map(w.allocs);
  for (const a of [...allocs].sort((x, y) => x.CreateIndex - y.CreateIndex || (x.ID < y.ID ? -1 : 1))) {
    const before = w.allocs.get(a.ID);
    if (before === undefined) {
      if (a.CreateIndex < ev.CreateIndex) lines.push(`    Allocation "${shortId(a.ID)}" modified: node "${shortId(a.NodeID)}", group "${a.TaskGroup}"`);
      else if (a.DesiredStatus === "run") lines.push(`    Allocation "${shortId(a.ID)}" created: node "${shortId(a.NodeID)}", group "${a.TaskGroup}"`);
    } else if (before !== a.ClientStatus) {
      const desc = a.ClientDescription === "" ? "" : ` (${a.ClientDescription})`;
      lines.push(`    Allocation "${shortId(a.ID)}" status changed: "${before}" -> "${a.ClientStatus}"${desc}`);
    }
    seen.set(a.ID, a.ClientStatus);
  }
  if (ev.Status !== "pending" && ev.Status !== w.status) lines.push(`    Evaluation status changed: "${w.status}" -> "${ev.Status}"`);
  return { lines, watch: { status: ev.Status, headerWritten, deploymentWritten, allocs: seen } };
}

/** Whether the monitor is done with this evaluation. A blocked evaluation waits for capacity: nothing more to see now. */
export function evalFinished(ev: Evaluation): boolean {
  return ev.Status === "complete" || ev.Status === "failed" || ev.Status === "canceled" || ev.Status === "blocked";
}

/** The closing lines of a finished evaluation: its status, and what could not be placed and why. */
export function evalOutcome(ev: Evaluation): string[] {
  const id = shortId(ev.ID);
  if (Object.keys(ev.FailedTGAllocs).length === 0) return [`==> Evaluation "${id}" finished with status "${ev.Status}"`];
  const lines = [`==> Evaluation "${id}" finished with status "${ev.Status}" but failed to place all allocations:`, placementFailures(ev.FailedTGAllocs, "    ")];
  if (ev.BlockedEval !== "") lines.push(`    Evaluation "${shortId(ev.BlockedEval)}" waiting for additional capacity to place remainder`);
  return lines;
}

// Deployments

export type DeploymentOutcome = "successful" | "awaiting-promotion" | "failed" | "cancelled";

export interface DeploymentWatch {
  status: string;
  /** Group → the progress line last printed for it. */
  groups: ReadonlyMap<string, string>;
}

export function newDeploymentWatch(): DeploymentWatch {
  return { status: "", groups: new Map() };
}

function groupProgress(name: string, s: Deployment["TaskGroups"][string]): string {
  const unhealthy = s.UnhealthyAllocs > 0 ? `, ${s.UnhealthyAllocs} unhealthy` : "";
  if (s.DesiredCanaries > 0 && !s.Promoted) {
    return `    "${name}": ${s.HealthyAllocs} of ${s.DesiredCanaries} ${s.DesiredCanaries === 1 ? "canary" : "canaries"} healthy${unhealthy}`;
  }
  return `    "${name}": ${s.HealthyAllocs} of ${s.DesiredTotal} healthy${unhealthy}`;
}

/** The lines for what changed in a deployment since `w`, and how it ended if it did. */
export function deploymentProgress(w: DeploymentWatch, d: Deployment, region?: string): { lines: string[]; watch: DeploymentWatch; outcome: DeploymentOutcome | null } {
  const id = shortId(d.ID);
  const lines: string[] = [];
  if (d.Status !== w.status) {
    if (d.Status === "running") lines.push(`    Deployment "${id}" in progress...`);
    else if (d.Status === "paused" || d.Status === "pending" || d.Status === "blocked") lines.push(`    Deployment "${id}" is ${d.Status}`);
  }
  const groups = new Map(w.groups);
  for (const name of Object.keys(d.TaskGroups).sort()) {
    const s = d.TaskGroups[name];
    if (s === undefined) continue;
    const line = groupProgress(name, s);
    if (groups.get(name) !== line) lines.push(line);
    groups.set(name, line);
  }
  let outcome: DeploymentOutcome | null = null;
  switch (d.Status) {
    case "successful":
      outcome = "successful";
      lines.push(`==> Deployment "${id}" successful`);
      break;
    case "failed":
    case "cancelled":
      outcome = d.Status;
      lines.push(`==> Deployment "${id}" ${d.Status}: ${d.StatusDescription}`);
      break;
    case "running":
    case "paused":
    case "pending":
    case "blocked":
      if (awaitingPromotion(d)) {
        outcome = "awaiting-promotion";
        lines.push(`==> Deployment "${id}" waiting for promotion`, `    Promote it with "ruche deployment promote${region === undefined ? "" : ` -region ${region}`} ${id}"`);
      }
      break;
    default:
      return assertNever(d.Status, "deployment status");
  }
  return { lines, watch: { status: d.Status, groups }, outcome };
}

// Node drains

export interface DrainWatch {
  draining: boolean;
  /** Allocation ID → what was last seen of it. */
  allocs: ReadonlyMap<string, { migrate: boolean; desired: string; client: string }>;
}

export type DrainedAlloc = Pick<AllocStub, "ID" | "DesiredStatus" | "ClientStatus" | "DesiredTransition">;

/** The watch before the drain starts: the node's allocations as they are, nothing printed for them. */
export function newDrainWatch(allocs: readonly DrainedAlloc[]): DrainWatch {
  return { draining: true, allocs: new Map(allocs.map((a) => [a.ID, { migrate: a.DesiredTransition.Migrate, desired: a.DesiredStatus, client: a.ClientStatus }])) };
}

/** The lines for a drain's progress; done once the drain is over and every allocation has stopped. */
export function drainProgress(w: DrainWatch, node: Pick<Node, "ID" | "DrainStrategy">, allocs: readonly DrainedAlloc[]): { lines: string[]; watch: DrainWatch; done: boolean } {
  const lines: string[] = [];
  const seen = new Map(w.allocs);
  for (const a of allocs) {
    const before = w.allocs.get(a.ID);
    const id = shortId(a.ID);
    if (before === undefined) {
      // Placed on the node after the drain began (a system job): seen from here on.
      seen.set(a.ID, { migrate: a.DesiredTransition.Migrate, desired: a.DesiredStatus, client: a.ClientStatus });
      continue;
    }
    if (a.DesiredTransition.Migrate && !before.migrate) lines.push(`    Allocation "${id}" marked for migration`);
    if (a.DesiredStatus !== "run" && before.desired === "run") lines.push(`    Allocation "${id}" draining`);
    if (a.ClientStatus !== before.client) lines.push(`    Allocation "${id}" status changed: "${before.client}" -> "${a.ClientStatus}"`);
    seen.set(a.ID, { migrate: a.DesiredTransition.Migrate, desired: a.DesiredStatus, client: a.ClientStatus });
  }
  const draining = node.DrainStrategy !== null;
  if (w.draining && !draining) lines.push(`==> Drain complete for node "${shortId(node.ID)}"`);
  const stopped = allocs.every((a) => allocTerminal(a) && a.ClientStatus !== "running" && a.ClientStatus !== "pending");
  const done = !draining && stopped;
  if (done) lines.push(`==> All allocations on node "${shortId(node.ID)}" have stopped`);
  return { lines, watch: { draining, allocs: seen }, done };
}
