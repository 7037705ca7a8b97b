import { flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, VERBOSE_FLAG } from "../api.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc signal [options] ALLOC [TASK]

  Sends a signal to an allocation's task (ID or the start of one), or to each of its
  running tasks when no task is named, where it runs, as "nomad alloc signal" does.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -s SIGNAL       the signal to send (default: SIGKILL, as Nomad's)
  -task TASK      the task, instead of the second argument
  -verbose        show whole IDs
`;

/** The allocation's ID and the task the command line names (`TASK` or `-task`), checked as Nomad checks them. */
export function allocAndTask(positional: readonly string[], taskFlag: string | undefined, shape: string): { alloc: string; task: string | undefined } {
  const [alloc, taskArg] = positional;
  if (alloc === undefined || positional.length > 2) throw new UsageError(shape);
  if (alloc.length === 1) throw new UsageError("Alloc ID must contain at least two characters.");
  if (taskArg !== undefined && taskFlag !== undefined && taskArg !== taskFlag) throw new UsageError(`the task is named twice, "${taskArg}" and -task "${taskFlag}"`);
  return { alloc, task: taskArg ?? taskFlag };
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...VERBOSE_FLAG, s: { value: true }, task: { value: true } });
  const { alloc, task } = allocAndTask(p.positional, flagValues(p, "task").at(-1), "This command takes up to two arguments: <alloc-id> <task>");
  const api = apiClient(p, io);
  const a = await resolveAlloc(api, alloc);
  await api.allocSignal(a.ID, { Signal: flagValues(p, "s").at(-1) ?? "SIGKILL", ...(task === undefined ? {} : { Task: task }) });
  return Exit.Ok;
}
