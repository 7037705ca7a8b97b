import type { Allocation, Job } from "../../structs/index.js";
import { CommandError } from "../errors.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS } from "../api.js";
import type { IO } from "../io.js";
import { resolveAlloc, resolveJob } from "../resolve.js";
import { run as allocExec } from "./alloc-exec.js";

export const usage = `Usage: ruche job action [options] ACTION      (alias: ruche action)

  Runs an action — a command the job file declares in a task's \`action "NAME"\` block —
  inside a running allocation of the job, as "nomad action" does: with -alloc in that
  allocation, or with -group and -task in one of the group's running allocations, picked
  at random. Its output is printed and the exit code is the command's.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -job JOB        the job that declares the action (required)
  -alloc ALLOC    the allocation to run it in (an ID or the start of one)
  -group NAME     the group, when no -alloc is given
  -task NAME      the task that declares the action (required without -alloc, or when
                  the allocation has several tasks)
  -i, -t          as "alloc exec": pass stdin, allocate a terminal
`;

const SPEC = { ...API_FLAGS, job: { value: true }, alloc: { value: true }, group: { value: true }, task: { value: true }, i: { value: false }, t: { value: false } } as const;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, SPEC);
  const [name] = p.positional;
  if (name === undefined || p.positional.length !== 1) throw new UsageError("This command takes one argument: <action>");
  const jobFlag = flagValues(p, "job").at(-1);
  if (jobFlag === undefined || jobFlag === "") throw new UsageError("A job ID is required (-job)");
  const allocFlag = flagValues(p, "alloc").at(-1);
  let group = flagValues(p, "group").at(-1);
  let task = flagValues(p, "task").at(-1);
  const api = apiClient(p, io);
  const job = await resolveJob(api, jobFlag);
  let alloc: Allocation;
  if (allocFlag === undefined) {
    if (group === undefined) throw new UsageError("A group name is required if no allocation is provided (-group)");
    if (task === undefined) throw new UsageError("A task name is required if no allocation is provided (-task)");
    const g = group;
    const running = (await api.jobAllocations(job.ID)).body.filter((a) => a.TaskGroup === g && a.ClientStatus === "running");
    const pick = running[Math.floor(Math.random() * running.length)];
    if (pick === undefined) throw new CommandError(`Error fetching allocations: job "${job.ID}" has no running allocation of group "${g}"`);
    alloc = await resolveAlloc(api, pick.ID);
  } else {
    alloc = await resolveAlloc(api, allocFlag);
    if (alloc.JobID !== job.ID) throw new CommandError(`allocation ${alloc.ID.slice(0, 8)} belongs to job "${alloc.JobID}", not "${job.ID}"`);
    group ??= alloc.TaskGroup;
  }
  const tasks = Object.keys(alloc.TaskResources);
  if (task === undefined) {
    if (tasks.length !== 1) throw new UsageError(`Allocation ${alloc.ID.slice(0, 8)} has several tasks (${tasks.join(", ")}): name one with -task`);
    task = tasks[0] ?? "";
  } else if (!tasks.includes(task)) {
    throw new CommandError(`Could not find task named: ${task}, found:\n* ${tasks.join("\n* ")}`);
  }
  const action = findAction(job, group, task, name);
  const execArgs = ["-task", task];
  for (const f of Object.keys(API_FLAGS)) for (const v of flagValues(p, f)) execArgs.push(`-${f}`, v);
  if (p.flags.has("i")) execArgs.push(`-i=${String(flagBool(p, "i"))}`);
  if (p.flags.has("t")) execArgs.push(`-t=${String(flagBool(p, "t"))}`);
  return allocExec([...execArgs, alloc.ID, action.Command, ...action.Args], io);
}

function findAction(job: Job, group: string, task: string, name: string): { Command: string; Args: string[] } {
  const t = job.TaskGroups.find((g) => g.Name === group)?.Tasks.find((x) => x.Name === task);
  if (t === undefined) throw new CommandError(`job "${job.ID}" has no task "${task}" in group "${group}"`);
  const a = (t.Actions ?? []).find((x) => x.Name === name);
  if (a === undefined) {
    const names = (t.Actions ?? []).map((x) => x.Name);
    throw new CommandError(`action "${name}" not found in task "${task}"${names.length === 0 ? " (it declares none)" : `; its actions are ${names.join(", ")}`}`);
  }
  return a;
}
