import type { AllocStub, ApiClient } from "../../apiclient/index.js";
import { errorMessage, formatDuration, NS, parseDuration, sleep, type Job } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError, type Parsed } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, positionals, VERBOSE_FLAG, YES_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { formatTime, shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job restart [options] JOB

  Restarts or reschedules a job's running allocations, in batches, as "nomad job restart"
  (Nomad 1.6) does. By default each allocation's running tasks are restarted in place
  (the alloc restart route); with -reschedule each allocation is stopped and the command
  waits for its replacement to run before going on. Refused while the job has an active
  deployment, which a restart would get in the way of.

Options:
  -address ADDR      the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -group G           only allocations of this group; may be repeated
  -task T            only this task of each allocation (restarted even if not running); may
                     be repeated
  -all-tasks         every task of the allocation, not only the running ones
  -batch-size N      allocations restarted at once: a number, or a percent of them ("25%");
                     default 1
  -batch-wait D      how long to wait between batches ("10s"), or "ask" on a terminal;
                     default 0s
  -on-error ask|fail what to do when a batch had errors: ask (the default, on a terminal)
                     or stop; with -yes, go on unless the error will happen again
  -reschedule        stop each allocation and wait for its replacement, instead of
                     restarting its tasks in place
  -yes               answer yes to every question
  -verbose           show whole IDs, and the allocations passed over
`;

interface Options {
  groups: Set<string>;
  tasks: Set<string>;
  allTasks: boolean;
  batchSize: number;
  batchPercent: boolean;
  batchWaitNs: number;
  batchWaitAsk: boolean;
  onError: "ask" | "fail";
  reschedule: boolean;
  yes: boolean;
  verbose: boolean;
}

function options(p: Parsed, io: IO): Options {
  const sizeText = flagValues(p, "batch-size").at(-1) ?? "1";
  const m = /^(\d+)%?$/.exec(sizeText);
  if (m === null) throw new UsageError(`Invalid -batch-size value "${sizeText}": batch size must be an integer or a percentage`);
  const batchSize = Number(m[1]);
  if (batchSize === 0) throw new UsageError(`Invalid -batch-size value "${sizeText}": number value must be greater than zero`);
  const yes = flagBool(p, "yes");
  const interactive = io.ask !== undefined;
  const waitText = flagValues(p, "batch-wait").at(-1) ?? "0s";
  let batchWaitNs = 0;
  const batchWaitAsk = waitText.toLowerCase() === "ask";
  if (batchWaitAsk) {
    if (!interactive && !yes) throw new UsageError(`Invalid -batch-wait value "ask": "ask" cannot be used when terminal is not interactive`);
  } else {
    const ns = parseDuration(waitText);
    if (ns === undefined || ns < 0) throw new UsageError(`Invalid -batch-wait value "${waitText}": a duration such as "10s" or "1m"`);
    batchWaitNs = ns;
  }
  const onError = flagValues(p, "on-error").at(-1) ?? "ask";
  if (onError !== "ask" && onError !== "fail") throw new UsageError(`Invalid -on-error value "${onError}": valid options are "ask" and "fail"`);
  if (onError === "ask" && !interactive && !yes) throw new UsageError(`Invalid -on-error value "ask": "ask" cannot be used when terminal is not interactive; pass -yes or -on-error fail`);
  const tasks = new Set(flagValues(p, "task"));
  const allTasks = flagBool(p, "all-tasks");
  const reschedule = flagBool(p, "reschedule");
  if (allTasks && tasks.size > 0) throw new UsageError("The -all-tasks option cannot be used with -task");
  if (reschedule && tasks.size > 0) throw new UsageError("The -reschedule option cannot be used with -task");
  return { groups: new Set(flagValues(p, "group")), tasks, allTasks, batchSize, batchPercent: sizeText.endsWith("%"), batchWaitNs, batchWaitAsk, onError, reschedule, yes, verbose: flagBool(p, "verbose") };
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, {
    ...API_FLAGS,
    ...VERBOSE_FLAG,
    ...YES_FLAG,
    group: { value: true },
    task: { value: true },
    "all-tasks": { value: false },
    "batch-size": { value: true },
    "batch-wait": { value: true },
    "on-error": { value: true },
    reschedule: { value: false },
  });
  const [jobId = ""] = positionals(p, "JOB");
  const o = options(p, io);
  const api = apiClient(p, io);
  const job = await resolveJob(api, jobId.trim());
  const versions = new Map((await api.versions(job.ID)).body.Versions.map((v) => [v.Version, v]));
  const allocs = restartable((await api.jobAllocations(job.ID)).body, versions, o, io);
  if (allocs.length === 0) {
    io.out("No allocations to restart\n");
    return Exit.Ok;
  }
  const batchSize = o.batchPercent ? Math.ceil((allocs.length * o.batchSize) / 100) : o.batchSize;
  const say = (text: string): void => {
    io.out(`==> ${formatTime(Date.now())}: ${text}\n`);
  };
  say(`Restarting ${allocs.length} allocation${allocs.length === 1 ? "" : "s"}`);
  const errors: string[] = [];
  let canceled = false;
  let waitNs = o.batchWaitNs;
  let waitAsk = o.batchWaitAsk;
  for (let start = 0; start < allocs.length; start += batchSize) {
    const batch = allocs.slice(start, start + batchSize);
    const active = await activeDeployment(api, job.ID, o.verbose);
    if (active !== undefined) {
      errors.push(active);
      break;
    }
    if (batchSize > 1) say(`Restarting ${ordinal(start / batchSize + 1)} batch of ${batch.length} allocations`);
    const results = await Promise.all(batch.map((a) => handleAlloc(api, a, versions, o, io).then(() => [], (err: unknown) => [errorMessage(err)])));
    const batchErrors = results.flat();
    errors.push(...batchErrors);
    if (start + batchSize >= allocs.length) break;
    if (batchErrors.length > 0) {
      const recoverable = !batchErrors.some((e) => e.includes("could not be placed") || e.includes("Permission denied"));
      if (o.onError === "fail") {
        say("Stopping job restart due to error");
        break;
      }
      if (o.yes && !recoverable) {
        say("Stopping job restart due to unrecoverable error");
        break;
      }
    }
    if (!o.yes && (waitAsk || (o.onError === "ask" && batchErrors.length > 0)) && io.ask !== undefined) {
      if (batchErrors.length > 0) say(`${batchErrors.length} error${batchErrors.length === 1 ? "" : "s"} occurred while restarting job:\n${batchErrors.map((e) => `* ${e}`).join("\n")}`);
      const question = batchErrors.length === 0 ? "Proceed with the next batch?" : "Ignore the errors above and proceed with the next batch?";
      const answer = (await io.ask(`${question} [${batchErrors.length === 0 ? "Y/n" : "y/N"}${waitAsk ? "/<wait duration>" : ""}]`)).trim().toLowerCase();
      const asWait = waitAsk ? parseDuration(answer) : undefined;
      if (asWait !== undefined && answer !== "") {
        waitAsk = false;
        waitNs = asWait;
        say(`Proceeding restarts with new wait time of ${formatDuration(waitNs)}`);
      } else if (!(answer === "y" || answer === "yes" || (answer === "" && batchErrors.length === 0))) {
        say("Job restart canceled");
        canceled = true;
        break;
      }
    }
    if (waitNs > 0) {
      say(`Waiting ${formatDuration(waitNs)} before restarting the next batch`);
      await sleep(waitNs / NS.millisecond);
    }
  }
  if (errors.length > 0) {
    if (!canceled) say("Job restart finished with errors");
    io.err(`\n${errors.length} error${errors.length === 1 ? "" : "s"} occurred while restarting job:\n${errors.map((e) => `* ${e}`).join("\n")}\n`);
    return Exit.Error;
  }
  if (!canceled) {
    say("Job restart finished");
    io.out("\nJob restarted successfully!\n");
  }
  return Exit.Ok;
}

/** The allocations to restart, oldest first: running (or meant to run), of the groups and with the tasks asked for. */
function restartable(stubs: readonly AllocStub[], versions: ReadonlyMap<number, Job>, o: Options, io: IO): AllocStub[] {
  const skip = (a: AllocStub, why: string): void => {
    if (o.verbose) io.out(`    ${formatTime(Date.now())}: Skipping allocation "${shortId(a.ID, o.verbose)}" because ${why}\n`);
  };
  return [...stubs]
    .sort((a, b) => a.CreateIndex - b.CreateIndex || (a.ID < b.ID ? -1 : 1))
    .filter((a) => {
      if (a.ClientStatus !== "running" && a.DesiredStatus !== "run") {
        skip(a, `desired status is "${a.DesiredStatus}" and client status is "${a.ClientStatus}"`);
        return false;
      }
      if (o.groups.size > 0 && !o.groups.has(a.TaskGroup)) {
        skip(a, "it doesn't have any of requested groups");
        return false;
      }
      if (o.tasks.size > 0 && ![...o.tasks].some((t) => hasTask(a, versions, t))) {
        skip(a, "it doesn't have any of requested tasks");
        return false;
      }
      return true;
    });
}

function hasTask(a: AllocStub, versions: ReadonlyMap<number, Job>, task: string): boolean {
  if (a.TaskStates[task] !== undefined) return true;
  return versions.get(a.JobVersion)?.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks.some((t) => t.Name === task) === true;
}

/** Why the restart may not go on: the job's deployment still running; undefined when none is. */
async function activeDeployment(api: ApiClient, jobId: string, verbose: boolean): Promise<string | undefined> {
  const ds = (await api.jobDeployments(jobId)).body;
  const d = ds.find((x) => x.Status !== "failed" && x.Status !== "successful" && x.Status !== "cancelled");
  return d === undefined ? undefined : `Deployment "${shortId(d.ID, verbose)}" is "${d.Status}"`;
}

async function handleAlloc(api: ApiClient, a: AllocStub, versions: ReadonlyMap<number, Job>, o: Options, io: IO): Promise<void> {
  const id = shortId(a.ID, o.verbose);
  const line = (text: string): void => {
    io.out(`    ${formatTime(Date.now())}: ${text}\n`);
  };
  if (o.reschedule) {
    line(`Rescheduling allocation "${id}" for group "${a.TaskGroup}"`);
    await reschedule(api, a, o.verbose, line);
    return;
  }
  if (o.tasks.size === 0) {
    line(`Restarting ${o.allTasks ? "all" : "running"} tasks in allocation "${id}" for group "${a.TaskGroup}"`);
    await api.allocRestart(a.ID, o.allTasks ? { AllTasks: true } : {});
    return;
  }
  const failures: string[] = [];
  await Promise.all(
    [...o.tasks]
      .filter((t) => hasTask(a, versions, t))
      .map(async (t) => {
        line(`Restarting task "${t}" in allocation "${id}" for group "${a.TaskGroup}"`);
        await api.allocRestart(a.ID, { TaskName: t }).catch((err: unknown) => failures.push(`Failed to restart task "${t}": ${errorMessage(err)}`));
      }),
  );
  if (failures.length > 0) throw new CommandError(failures.join("\n* "));
}

/** Stops the allocation and waits for its replacement to run (following replacements of replacements), or for the scheduler to say it cannot place one. */
async function reschedule(api: ApiClient, a: AllocStub, verbose: boolean, line: (text: string) => void): Promise<void> {
  let stopped: number;
  try {
    stopped = (await api.allocStop(a.ID)).index;
  } catch (err) {
    throw new CommandError(`Failed to stop allocation: ${errorMessage(err)}`, { cause: err });
  }
  let current = a.ID;
  let index = 0;
  for (;;) {
    const r = await api.allocation(current, { index, wait: "5s" });
    index = r.index;
    const alloc = r.body;
    if (alloc.NextAllocation !== "") {
      line(`Allocation "${shortId(alloc.ID, verbose)}" replaced by "${shortId(alloc.NextAllocation, verbose)}", waiting for "${shortId(alloc.NextAllocation, verbose)}" to start running`);
      current = alloc.NextAllocation;
      index = 0;
      continue;
    }
    if (alloc.ClientStatus === "running" && alloc.ID !== a.ID) {
      line(`Allocation "${shortId(alloc.ID, verbose)}" is "running"`);
      return;
    }
    const blocked = (await api.jobEvaluations(a.JobID)).body.find((e) => e.CreateIndex >= stopped && e.Status === "blocked" && e.FailedTGAllocs[a.TaskGroup] !== undefined);
    if (blocked !== undefined) throw new CommandError(`Evaluation "${shortId(blocked.ID, verbose)}" has placement failures for group "${a.TaskGroup}": the replacement could not be placed`);
  }
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
  return `${n}${suffix}`;
}
