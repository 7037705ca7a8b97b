import { parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient } from "../api.js";
import { Exit, type IO } from "../io.js";

/** `ruche system gc`: Nomad's `system gc`. */
export const gc = {
  usage: `Usage: ruche system gc [options]

  Collects garbage now, as "nomad system gc" does, whatever its age: terminal
  evaluations, allocations (but those a live allocation replaced, which it still names)
  and deployments, and the child jobs (periodic launches, dispatches) they leave empty.
  The servers do so on their own every few minutes for what is an hour old. Takes a
  management token.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    if (p.positional.length > 0) throw new UsageError("This command takes no arguments");
    await apiClient(p, io).systemGc();
    return Exit.Ok;
  },
};

/** `ruche system reconcile summaries`: Nomad's, which mends stored job summaries. */
export const reconcileSummaries = {
  usage: `Usage: ruche system reconcile summaries [options]

  Nomad's command to rebuild the job summaries its servers store. Ruche stores none: a
  job's summary is counted from its allocations each time it is read, so it is always
  exact and this command has nothing to do; it is accepted (and answered by the servers)
  so scripts written for Nomad run. Takes a management token.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    if (p.positional.length > 0) throw new UsageError("This command takes no arguments");
    await apiClient(p, io).reconcileSummaries();
    return Exit.Ok;
  },
};
