import type { AllocFileInfo, ApiClient } from "../../apiclient/index.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, wholeNumber } from "../api.js";
import { formatBytes, formatTable, formatTime } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";
import { collect, pipe } from "./alloc-logs.js";

export const usage = `Usage: ruche alloc fs [options] ALLOC [PATH]

  Lists a directory of an allocation's directory (ID or the start of one), or prints a
  file of it, as \`nomad alloc fs\`. PATH is relative to the allocation directory
  ("/" by default): alloc/logs, TASK/local, TASK/secrets, ...

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -H              sizes in bytes rather than KiB, MiB...
  -verbose        accepted, as Nomad's
  -stat           show the file's (or directory's) information only
  -f              follow the file: go on printing what is written to it, until interrupted
  -tail           print the end of the file: the last 10 lines, or -n lines, or -c bytes
  -n LINES        with -tail, how many lines
  -c BYTES        with -tail, how many bytes
`;

/** Nomad's estimate of a line's length, to turn -n into bytes to read (command/alloc_fs.go). */
const BYTES_PER_LINE = 120;
const DEFAULT_TAIL_LINES = 10;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, H: { value: false }, verbose: { value: false }, stat: { value: false }, f: { value: false }, tail: { value: false }, n: { value: true }, c: { value: true } });
  const [id, pathArg, extra] = p.positional;
  if (id === undefined) throw new UsageError("An allocation ID is required");
  if (extra !== undefined) throw new UsageError("This command takes one or two arguments: <allocation> [<path>]");
  const path = pathArg ?? "/";
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const machine = flagBool(p, "H");
  const size = (n: number): string => (machine ? String(n) : formatBytes(n));
  const file = await api.allocFsStat(alloc.ID, path);
  const name = (f: AllocFileInfo): string => (f.IsDir ? `${f.Name}/` : f.Name);
  if (flagBool(p, "stat")) {
    io.out(`${formatTable(["Mode", "Size", "Modified Time", "Content Type", "Name"], [[file.FileMode, size(file.Size), formatTime(Date.parse(file.ModTime)), file.ContentType, name(file)]])}\n`);
    return Exit.Ok;
  }
  if (file.IsDir) {
    const files = await api.allocFsList(alloc.ID, path);
    io.out(`${formatTable(["Mode", "Size", "Modified Time", "Name"], files.map((f) => [f.FileMode, size(f.Size), formatTime(Date.parse(f.ModTime)), name(f)]))}\n`);
    return Exit.Ok;
  }
  const lines = flagValues(p, "n").at(-1);
  const bytes = flagValues(p, "c").at(-1);
  if (lines !== undefined && bytes !== undefined) throw new UsageError("Both -n and -c are not allowed");
  if (!flagBool(p, "tail") && (lines !== undefined || bytes !== undefined)) throw new UsageError("-n and -c go with -tail");
  const ac = new AbortController();
  const onSignal = (): void => {
    ac.abort();
  };
  process.once("SIGINT", onSignal);
  try {
    await printFile(api, alloc.ID, path, io, ac.signal, {
      follow: flagBool(p, "f"),
      tail: flagBool(p, "tail"),
      size: file.Size,
      ...(lines === undefined ? {} : { lines: wholeNumber(lines, "-n") }),
      ...(bytes === undefined ? {} : { bytes: wholeNumber(bytes, "-c") }),
    });
  } finally {
    process.off("SIGINT", onSignal);
  }
  return Exit.Ok;
}

async function printFile(api: ApiClient, allocId: string, path: string, io: IO, signal: AbortSignal, o: { follow: boolean; tail: boolean; size: number; lines?: number; bytes?: number }): Promise<void> {
  if (!o.tail) {
    await pipe(o.follow ? await api.allocFsStream(allocId, path, { origin: "start", offset: 0, signal }) : await api.allocFsRead(allocId, path), io, signal);
    return;
  }
  const lines = o.bytes === undefined ? (o.lines ?? DEFAULT_TAIL_LINES) : undefined;
  const offset = Math.min(o.size, o.bytes ?? (lines ?? DEFAULT_TAIL_LINES) * BYTES_PER_LINE);
  if (lines === undefined) {
    await pipe(o.follow ? await api.allocFsStream(allocId, path, { origin: "end", offset, signal }) : await api.allocFsRead(allocId, path, { offset: o.size - offset }), io, signal);
    return;
  }
  // The last N lines: the bytes that may hold them, cut to N lines; then, with -f, what comes after.
  const text = await collect(await api.allocFsRead(allocId, path, { offset: o.size - offset, limit: offset }));
  const parts = text.split("\n");
  const trailing = parts.at(-1) === "" ? parts.pop() : undefined;
  io.out(parts.slice(-lines).join("\n") + (trailing === undefined ? "" : "\n"));
  if (o.follow) await pipe(await api.allocFsStream(allocId, path, { origin: "start", offset: o.size, signal }), io, signal);
}
