import { errorMessage, type AllocResourceUsage } from "../../structs/index.js";
import { ApiError } from "../../apiclient/index.js";
import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson, VERBOSE_FLAG } from "../api.js";
import { allocDetail } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc status [options] ID

  Shows an allocation (ID or the start of one): where it runs, what the servers
  want of it and what its client reports, its deployment health, and each task's
  resources — with what a running allocation's tasks use now, as its node reads them
  (CPU in MHz, memory; the reservations alone when its node's agent does not answer)
  — and recent events.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
  -verbose        show whole IDs, and the placement metrics: the nodes the
                  scheduler looked at and turned down, and the best nodes it
                  scored, each scorer's score and the final one
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const a = await resolveAlloc(api, id);
  if (flagBool(p, "json")) {
    printJson(io, a);
    return Exit.Ok;
  }
  // As Nomad: the figures of a running allocation, read from its node; a node that cannot say is not an error of the command.
  let usage: AllocResourceUsage | undefined;
  if (a.ClientStatus === "running") {
    try {
      usage = (await api.allocStats(a.ID)).body;
    } catch (err) {
      // A node whose agent does not answer (down, or simulated) shows its reservations alone, as Nomad omits a down node's statistics.
      if (!(err instanceof ApiError && err.status === 502)) io.err(`Couldn't retrieve stats: ${errorMessage(err)}\n`);
    }
  }
  io.out(`${allocDetail(a, Date.now(), flagBool(p, "verbose"), usage)}\n`);
  return Exit.Ok;
}
