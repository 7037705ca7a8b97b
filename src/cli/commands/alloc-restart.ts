import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, VERBOSE_FLAG } from "../api.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";
import { allocAndTask } from "./alloc-signal.js";

export const usage = `Usage: ruche alloc restart [options] ALLOC [TASK]

  Restarts an allocation's task (ID or the start of one), or each of its running
  tasks when no task is named, in place on its node, as "nomad alloc restart" does:
  the task is stopped with its kill signal and started again at once, and the
  restart does not count against its restart policy.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -task TASK      the task, instead of the second argument
  -all-tasks      every running task (the same as naming none)
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...VERBOSE_FLAG, task: { value: true }, "all-tasks": { value: false } });
  const { alloc, task } = allocAndTask(p.positional, flagValues(p, "task").at(-1), "This command takes one or two arguments: <alloc-id> <task-name>");
  const all = flagBool(p, "all-tasks");
  if (all && task !== undefined) throw new UsageError("The -all-tasks option is not allowed when restarting a specific task.");
  const api = apiClient(p, io);
  const a = await resolveAlloc(api, alloc);
  await api.allocRestart(a.ID, task === undefined ? { AllTasks: all } : { TaskName: task });
  return Exit.Ok;
}
