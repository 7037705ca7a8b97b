/**
 * Following a change to its end, with blocking queries: an evaluation until the scheduler
 * has placed what it could, a deployment until it succeeds, fails or waits for promotion,
 * a node drain until its allocations have moved. What to print is decided by the pure
 * functions of `format/progress.ts`; this file only fetches and writes.
 */
import type { ApiClient } from "../apiclient/index.js";
import type { Evaluation } from "../structs/index.js";
import { formatDuration } from "../structs/index.js";
import {
  deploymentProgress,
  drainProgress,
  evalFinished,
  evalOutcome,
  evalProgress,
  newDeploymentWatch,
  newEvalWatch,
  shortId,
  type DeploymentOutcome,
  type DrainWatch,
} from "./format/index.js";
import { Exit, type IO } from "./io.js";

/** How long one blocking query may wait before asking again. */
const WAIT = "30s";

function print(io: IO, lines: readonly string[]): void {
  if (lines.length > 0) io.out(`${lines.join("\n")}\n`);
}

export interface EvalMonitorResult {
  /** The last evaluation of the chain (an evaluation's NextEval is followed). */
  eval: Evaluation;
  /** The deployment the evaluations worked within, if any. */
  deploymentId: string;
  placementFailed: boolean;
}

/** Prints an evaluation's progress, as `nomad run` does, until it is finished. */
export async function monitorEval(api: ApiClient, evalId: string, io: IO, now: () => number = Date.now): Promise<EvalMonitorResult> {
  let id = evalId;
  let deploymentId = "";
  let placementFailed = false;
  io.out(`==> Monitoring evaluation "${shortId(id)}"\n`);
  for (;;) {
    let watch = newEvalWatch();
    let index = 0;
    let ev: Evaluation;
    for (;;) {
      const r = await api.evaluation(id, { index, wait: WAIT });
      index = r.index;
      ev = r.body;
      // Allocations newer than the evaluation as read belong to a later state of it: they
      // are printed with that state, so the lines follow the order things happened in.
      const allocs = (await api.evaluationAllocations(id)).body.filter((a) => a.CreateIndex <= r.index);
      const p = evalProgress(watch, ev, allocs);
      print(io, p.lines);
      watch = p.watch;
      if (evalFinished(ev)) break;
    }
    print(io, evalOutcome(ev));
    if (ev.DeploymentID !== "") deploymentId = ev.DeploymentID;
    if (Object.keys(ev.FailedTGAllocs).length > 0) placementFailed = true;
    if (ev.Status !== "complete" || ev.NextEval === "") return { eval: ev, deploymentId, placementFailed };
    const next = (await api.evaluation(ev.NextEval)).body;
    const wait = next.WaitUntil - now();
    io.out(`==> Monitoring next evaluation "${shortId(next.ID)}"${wait > 0 ? ` in ${formatDuration(Math.round(wait / 1000) * 1_000_000_000)}` : ""}\n`);
    id = next.ID;
  }
}

/**
 * The region the client asks for when it is not the region of the server it talks to (a job of
 * another region, followed through this server): what the promote hint must name. The agent's
 * own `/v1/agent/self` says the server's region; undefined when they are the same or no
 * region is asked for.
 */
async function otherRegion(api: ApiClient): Promise<string | undefined> {
  const asked = api.region;
  if (asked === undefined) return undefined;
  try {
    return (await api.agentSelf()).body.config?.Region === asked ? undefined : asked;
  } catch {
    return asked;
  }
}

/** Prints a deployment's progress until it is successful, failed, cancelled, or waits for promotion. */
export async function followDeployment(api: ApiClient, deploymentId: string, io: IO): Promise<DeploymentOutcome> {
  io.out(`==> Monitoring deployment "${shortId(deploymentId)}"\n`);
  let watch = newDeploymentWatch();
  let index = 0;
  const region = await otherRegion(api);
  for (;;) {
    const r = await api.deployment(deploymentId, { index, wait: WAIT });
    index = r.index;
    const p = deploymentProgress(watch, r.body, region);
    print(io, p.lines);
    watch = p.watch;
    if (p.outcome !== null) return p.outcome;
  }
}

/**
 * After a job was registered, reverted, scaled or promoted: the evaluation, then the
 * deployment it started. Exit code: 2 when allocations could not be placed (as Nomad),
 * 1 when the evaluation or the deployment failed, 0 otherwise.
 */
export async function monitorJobChange(api: ApiClient, evalId: string, io: IO, opts: { deploymentId?: string } = {}): Promise<number> {
  const r = await monitorEval(api, evalId, io);
  if (r.placementFailed) return Exit.PlacementFailed;
  if (r.eval.Status === "failed") return Exit.Error;
  const deploymentId = opts.deploymentId ?? r.deploymentId;
  if (deploymentId === "") return Exit.Ok;
  const outcome = await followDeployment(api, deploymentId, io);
  return outcome === "failed" || outcome === "cancelled" ? Exit.Error : Exit.Ok;
}

/** Prints a node drain's progress until the drain is over and the node's allocations have stopped. */
export async function monitorDrain(api: ApiClient, nodeId: string, start: DrainWatch, io: IO): Promise<void> {
  io.out(`==> Monitoring node "${shortId(nodeId)}" drain (Ctrl-C stops watching, not the drain)\n`);
  let watch = start;
  let index = 0;
  for (;;) {
    const allocs = await api.nodeAllocations(nodeId, { index, wait: "1s" });
    index = allocs.index;
    const node = (await api.node(nodeId)).body;
    const p = drainProgress(watch, node, allocs.body);
    print(io, p.lines);
    watch = p.watch;
    if (p.done) return;
  }
}
