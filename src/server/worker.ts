import { schedule, SchedulerMemo, type ScheduleResult } from "../scheduler/index.js";
import type { Evaluation, JobType } from "../structs/index.js";
import type { StateStore, Txn } from "../state/index.js";
import type { PlanApplier } from "./applier.js";
import type { EvalBroker } from "./broker.js";
import { newEval } from "./evals.js";
import type { Logger } from "../structs/index.js";
import { storeView } from "./view.js";

/** Plans refused this many times in a row fail the evaluation (Nomad's max-plan-attempts). */
const MAX_PLAN_ATTEMPTS = 5;

/**
 * A scheduler worker: takes an evaluation from the broker, runs the scheduler on the
 * current state, hands the plan to the applier, retries with fresh state what the applier
 * refused, and records the outcome on the evaluation.
 */
export class Worker {
  /** What the scheduler derives from the state (ready nodes, compiled patterns), kept from one evaluation to the next. */
  private readonly memo = new SchedulerMemo();

  constructor(
    private readonly store: StateStore,
    private readonly broker: EvalBroker,
    private readonly applier: PlanApplier,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const got = await this.broker.dequeue(signal);
      if (got === null) return;
      try {
        await this.process(got.ev);
        this.broker.ack(got.ev.ID, got.token);
      } catch (err) {
        this.log.warn({ evalId: got.ev.ID, jobId: got.ev.JobID, err }, "evaluation failed; it will be retried");
        this.broker.nack(got.ev.ID, got.token);
      }
    }
  }

  async process(ev: Evaluation): Promise<ScheduleResult> {
    let result: ScheduleResult | undefined;
    let refusals = 0;
    for (let attempt = 0; attempt < MAX_PLAN_ATTEMPTS; attempt++) {
      result = schedule(ev, storeView(this.store), this.now(), this.memo);
      const plan = result.plan;
      const empty =
        Object.keys(plan.NodeUpdate).length === 0 && Object.keys(plan.NodeAllocation).length === 0 && plan.Deployment === null && plan.DeploymentUpdates.length === 0;
      const final = result;
      const applied = await this.applier.apply(plan, (tx, res) => {
        if (res.refused.length > 0 && attempt + 1 < MAX_PLAN_ATTEMPTS) return;
        this.finish(tx, ev, final, res.refused.length > 0);
      });
      if (empty || applied.refused.length === 0) return result;
      refusals++;
      this.log.debug({ evalId: ev.ID, refused: applied.refused.length }, "plan partly refused; scheduling again on fresh state");
    }
    if (result === undefined) throw new Error("no scheduling attempt was made");
    this.log.warn({ evalId: ev.ID, refusals }, "evaluation gave up after repeated plan refusals");
    return result;
  }

  /** Records the outcome on the evaluation, and the evaluations it leaves behind. */
  private finish(tx: Txn, ev: Evaluation, r: ScheduleResult, gaveUp: boolean): void {
    const now = this.now();
    const done: Evaluation = {
      ...(tx.get("evals", ev.ID) ?? ev),
      Status: gaveUp ? "failed" : "complete",
      StatusDescription: gaveUp ? "maximum attempts reached (plans kept being refused)" : "",
      FailedTGAllocs: r.failed,
      QueuedAllocations: r.queued,
      DeploymentID: r.plan.Deployment?.ID ?? ev.DeploymentID,
      ModifyTime: now,
    };
    const fromEval = { ID: ev.JobID, Namespace: ev.Namespace, Priority: ev.Priority, Type: ev.Type as JobType, JobModifyIndex: ev.JobModifyIndex };
    const job = r.followups.length > 0 ? (this.store.job(ev.Namespace, ev.JobID) ?? fromEval) : fromEval;
    for (const f of r.followups) {
      const follow = newEval(job, f.TriggeredBy, now, {
        ID: f.ID,
        WaitUntil: f.WaitUntil,
        PreviousEval: ev.ID,
      });
      tx.put("evals", follow);
      for (const id of f.AllocIDs ?? []) {
        const a = tx.get("allocs", id);
        if (a !== undefined) tx.put("allocs", { ...a, FollowupEvalID: follow.ID });
      }
      if (done.NextEval === "") done.NextEval = follow.ID;
    }
    if (Object.keys(r.failed).length > 0 && !gaveUp) {
      // Placements that found no room wait in a blocked evaluation; the server takes it up when capacity changes.
      const blocked = newEval(fromEval, "queued-allocs", now, { Status: "blocked", PreviousEval: ev.ID });
      tx.put("evals", blocked);
      done.BlockedEval = blocked.ID;
    }
    tx.put("evals", done);
  }
}
