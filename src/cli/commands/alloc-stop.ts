import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, VERBOSE_FLAG } from "../api.js";
import { Exit, type IO } from "../io.js";
import { monitorEval } from "../monitor.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc stop [options] ALLOC

  Stops an allocation (its ID or the start of one) and has the scheduler place a
  replacement, as "nomad alloc stop" does, then follows the evaluation that does it.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -detach         print the evaluation's ID and return
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, ...VERBOSE_FLAG });
  const [id] = p.positional;
  if (id === undefined || p.positional.length !== 1) throw new UsageError("This command takes one argument: <alloc-id>");
  if (id.length === 1) throw new UsageError("Alloc ID must contain at least two characters.");
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const res = (await api.allocStop(alloc.ID)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  const r = await monitorEval(api, res.EvalID, io);
  return r.placementFailed ? Exit.PlacementFailed : Exit.Ok;
}
