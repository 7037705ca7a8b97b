import type { ApiClient } from "../../apiclient/index.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, wholeNumber } from "../api.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc logs [options] ALLOC [TASK]

  Prints what a task of an allocation (ID or the start of one) wrote to its standard
  output, or with -stderr its standard error, from the files the node agent keeps
  (rotated by the task's logs { max_files, max_file_size }). TASK may be left out when
  the allocation has one task.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -stderr         standard error instead of standard output
  -f              follow: go on printing what the task writes, until interrupted
  -tail           start near the end: the last 10 lines, or -n lines, or -c bytes
  -n LINES        with -tail, how many lines
  -c BYTES        with -tail, how many bytes
  -task NAME      the task (instead of the TASK argument)
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, stderr: { value: false }, f: { value: false }, tail: { value: false }, n: { value: true }, c: { value: true }, task: { value: true } });
  const [id, taskArg, extra] = p.positional;
  if (id === undefined) throw new UsageError("this command needs ALLOC");
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const task = pickTask(flagValues(p, "task").at(-1) ?? taskArg, Object.keys(alloc.TaskResources));
  const tail = flagBool(p, "tail");
  const lines = flagValues(p, "n").at(-1);
  const bytes = flagValues(p, "c").at(-1);
  if (!tail && (lines !== undefined || bytes !== undefined)) throw new UsageError("-n and -c go with -tail");
  const nLines = lines === undefined ? (bytes === undefined ? 10 : undefined) : wholeNumber(lines, "-n");
  const ac = new AbortController();
  const onSignal = (): void => {
    ac.abort();
  };
  process.once("SIGINT", onSignal);
  try {
    await printLogs(api, alloc.ID, task, io, {
      stderr: flagBool(p, "stderr"),
      follow: flagBool(p, "f"),
      signal: ac.signal,
      ...(tail ? (nLines !== undefined ? { lines: nLines } : { bytes: wholeNumber(bytes ?? "0", "-c") }) : {}),
    });
  } finally {
    process.off("SIGINT", onSignal);
  }
  return Exit.Ok;
}

/** The task named, or the allocation's only one. */
export function pickTask(named: string | undefined, tasks: readonly string[]): string {
  if (named !== undefined) {
    if (tasks.length > 0 && !tasks.includes(named)) throw new UsageError(`the allocation has no task "${named}"; its tasks are ${tasks.join(", ")}`);
    return named;
  }
  const [only, ...more] = tasks;
  if (only === undefined) throw new UsageError("the allocation has no task");
  if (more.length > 0) throw new UsageError(`the allocation has several tasks (${tasks.join(", ")}); name one`);
  return only;
}

async function printLogs(api: ApiClient, allocId: string, task: string, io: IO, o: { stderr: boolean; follow: boolean; signal: AbortSignal; lines?: number; bytes?: number }): Promise<void> {
  const base = { task, stderr: o.stderr, signal: o.signal };
  if (o.lines !== undefined) {
    // The last N lines: a generous tail in bytes, cut to N lines; then, with -f, what comes after.
    const text = await collect(await api.allocLogs(allocId, { ...base, tailBytes: Math.max(4096, o.lines * 512) }));
    const parts = text.split("\n");
    const trailing = parts.at(-1) === "" ? parts.pop() : undefined;
    io.out(parts.slice(-o.lines).join("\n") + (trailing === undefined ? "" : "\n"));
    if (o.follow) await pipe(await api.allocLogs(allocId, { ...base, follow: true, tailBytes: 0 }), io, o.signal);
    return;
  }
  await pipe(await api.allocLogs(allocId, { ...base, follow: o.follow, ...(o.bytes === undefined ? {} : { tailBytes: o.bytes }) }), io, o.signal);
}

/** The whole of a streamed body, as text (`alloc fs` reads a file so too). */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** A streamed body printed as it comes, until it ends or `signal` stops it. */
export async function pipe(body: AsyncIterable<Uint8Array>, io: IO, signal: AbortSignal): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) io.out(decoder.decode(chunk, { stream: true }));
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  const rest = decoder.decode();
  if (rest !== "") io.out(rest);
}
