import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, VERBOSE_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { formatKV, shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { monitorJobChange } from "../monitor.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job dispatch [options] JOB [INPUT]

  Dispatches a parameterized job: makes a child job of it, JOB/dispatch-<time>-<id>,
  with the metadata given, and runs it. INPUT is the payload, a file's path or "-" for
  standard input; the job's tasks find it where their dispatch_payload block says.
  Then follows the child's evaluation, unless -detach.

Options:
  -address ADDR              the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -meta KEY=VALUE            metadata merged into the child job's; may be repeated. Only
                             the keys the job's meta_required and meta_optional name
  -id-prefix-template TEXT   put TEXT before the time in the child job's ID
  -detach                    return once the job is dispatched
  -verbose                   show full IDs
`;

/** A `-meta k=v` flag, as Nomad splits it: at the first "=". */
export function metaOf(values: readonly string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const m of values) {
    const eq = m.indexOf("=");
    if (eq < 0) throw new UsageError(`Error parsing meta value: ${m}`);
    meta[m.slice(0, eq)] = m.slice(eq + 1);
  }
  return meta;
}

async function readInput(source: string, io: IO): Promise<Uint8Array> {
  try {
    if (source !== "-") return new Uint8Array(await readFile(resolve(io.cwd, source)));
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  } catch (err) {
    throw new CommandError(`Error reading input data: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, ...VERBOSE_FLAG, meta: { value: true, repeat: true }, "id-prefix-template": { value: true } });
  const args = p.positional;
  if (args.length < 1 || args.length > 2) throw new UsageError("This command takes one or two arguments: JOB [INPUT]");
  const meta = metaOf(flagValues(p, "meta"));
  const input = args[1];
  const payload = input === undefined ? new Uint8Array() : await readInput(input, io);
  const api = apiClient(p, io);
  const job = await resolveJob(api, args[0] ?? "");
  const res = (await api.dispatch(job.ID, { payload, meta, idPrefixTemplate: flagValues(p, "id-prefix-template").at(-1) ?? "" })).body;
  const id = (s: string): string => (flagBool(p, "verbose") ? s : shortId(s));
  const lines: [string, string][] = [["Dispatched Job ID", res.DispatchedJobID]];
  if (res.EvalID !== "") lines.push(["Evaluation ID", id(res.EvalID)]);
  io.out(`${formatKV(lines)}\n`);
  if (flagBool(p, "detach") || res.EvalID === "") return Exit.Ok;
  io.out("\n");
  // As Nomad's: a placement that failed or an evaluation that did is exit code 1 here.
  return (await monitorJobChange(api, res.EvalID, io)) === Exit.Ok ? Exit.Ok : Exit.Error;
}
