import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { formatDiagnostic, MAX_JOB_FILE_BYTES, parseJob, type JobFormat, type ParseJobResult } from "../jobspec/index.js";
import { errorMessage } from "../structs/index.js";
import { flagValues, UsageError, type Parsed } from "./args.js";
import type { IO } from "./io.js";

export const JOB_FILE_FLAGS = {
  var: { value: true, repeat: true },
  "var-file": { value: true, repeat: true },
} as const;

/** Reads and parses the job file named on the command line, with its -var and -var-file flags; `format` when the command line says it (`job run -json`). */
export async function loadJobFile(p: Parsed, io: IO, format?: JobFormat): Promise<ParseJobResult> {
  const file = p.positional[0];
  if (file === undefined) throw new UsageError("this command needs a job file");
  if (p.positional.length > 1) throw new UsageError(`this command takes one job file, got ${p.positional.length} arguments`);
  const vars: Record<string, string> = {};
  for (const kv of flagValues(p, "var")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new UsageError(`-var takes name=value, got "${kv}"`);
    vars[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const varFiles: { file: string; text: string }[] = [];
  for (const f of flagValues(p, "var-file")) varFiles.push({ file: f, text: await readText(f, io) });
  const bytes = await readBytes(file, io);
  // file() and its kin read beside the job file, as Nomad's CLI reads them (its BaseDir); from the working directory for stdin.
  const fileBase = file === "-" ? io.cwd : dirname(resolve(io.cwd, file));
  return parseJob(bytes, { file, vars, varFiles, env: io.env, fileBase, ...(format === undefined ? {} : { format }) });
}

async function readBytes(file: string, io: IO): Promise<Uint8Array> {
  try {
    const buf = await readFile(resolve(io.cwd, file));
    return buf.length > MAX_JOB_FILE_BYTES ? buf : new Uint8Array(buf);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : errorMessage(err)}`);
  }
}

async function readText(file: string, io: IO): Promise<string> {
  return new TextDecoder().decode(await readBytes(file, io));
}

export function printDiagnostics(result: Extract<ParseJobResult, { ok: false }>, io: IO): void {
  const n = result.diagnostics.length;
  io.err(`Job validation errors (${n}):\n${result.diagnostics.map((d) => `  ${formatDiagnostic(d)}\n`).join("")}`);
}
