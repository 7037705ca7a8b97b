import { flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, wholeNumber } from "../api.js";
import type { IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";
import { pickTask } from "./alloc-logs.js";

export const usage = `Usage: ruche alloc exec [options] ALLOC [TASK] COMMAND [ARGS...]

  Runs a command inside a running task of an allocation (ID or the start of one) — the
  same filesystem, environment and limits as the task — and prints its output. The exit
  code is the command's. Options go before ALLOC; everything after the command is its
  own. TASK may be left out when the allocation has one task.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -task NAME      the task (instead of the TASK argument)
  -timeout SECS   stop the command after this many seconds (default 60)
`;

const SPEC = { ...API_FLAGS, task: { value: true }, timeout: { value: true } } as const;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  // Options end at ALLOC: what follows belongs to the command, dashes and all.
  let i = 0;
  while (i < argv.length && (argv[i] ?? "").startsWith("-")) {
    const name = (argv[i] ?? "").replace(/^--?/, "").split("=")[0] ?? "";
    i += name in SPEC && !(argv[i] ?? "").includes("=") ? 2 : 1;
  }
  const p = parseArgs(argv.slice(0, i), SPEC);
  const [id, ...rest] = argv.slice(i);
  if (id === undefined || rest.length === 0) throw new UsageError("this command needs ALLOC and a COMMAND");
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const tasks = Object.keys(alloc.TaskResources);
  let named = flagValues(p, "task").at(-1);
  let cmd = rest;
  if (named === undefined && rest.length > 1 && tasks.includes(rest[0] ?? "")) {
    named = rest[0];
    cmd = rest.slice(1);
  }
  const task = pickTask(named, tasks);
  const timeout = flagValues(p, "timeout").at(-1);
  const r = (await api.allocExec(alloc.ID, { Task: task, Cmd: cmd, TimeoutMs: (timeout === undefined ? 60 : wholeNumber(timeout, "-timeout")) * 1000 })).body;
  io.out(Buffer.from(r.Stdout, "base64").toString("utf8"));
  const err = Buffer.from(r.Stderr, "base64").toString("utf8");
  if (err !== "") io.err(err);
  if (r.TimedOut) {
    io.err(`the command was stopped after ${timeout ?? 60}s\n`);
    return 124;
  }
  return r.ExitCode;
}
