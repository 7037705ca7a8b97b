import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals, VERBOSE_FLAG } from "../api.js";
import { Exit, type IO } from "../io.js";
import { monitorEval } from "../monitor.js";
import { resolveDeployment } from "../resolve.js";

/** `ruche deployment pause ID`: Nomad's. */
export const pause = {
  usage: `Usage: ruche deployment pause [options] ID

  Pauses a deployment (ID or the start of one), as "nomad deployment pause" does: it
  places no further allocations of its rollout, and its progress deadline does not run,
  until "ruche deployment resume". Its status reads "paused".

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -verbose        show whole IDs
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    // Pausing starts no evaluation: nothing to follow, so no -detach (Nomad's has none either).
    const p = parseArgs(argv, { ...API_FLAGS, ...VERBOSE_FLAG });
    const [id = ""] = positionals(p, "ID");
    const api = apiClient(p, io);
    const d = await resolveDeployment(api, id);
    await api.pauseDeployment(d.ID, true);
    io.out(`Deployment "${d.ID}" paused\n`);
    return Exit.Ok;
  },
};

/** `ruche deployment resume ID`: Nomad's. */
export const resume = {
  usage: `Usage: ruche deployment resume [options] ID

  Resumes a paused deployment (ID or the start of one), as "nomad deployment resume"
  does: its rollout goes on, its progress deadline counted afresh from now. Then follows
  the evaluation that takes it up.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -detach         return once the deployment is resumed
  -verbose        show whole IDs
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...VERBOSE_FLAG, ...DETACH_FLAG });
    const [id = ""] = positionals(p, "ID");
    const api = apiClient(p, io);
    const d = await resolveDeployment(api, id);
    const res = (await api.pauseDeployment(d.ID, false)).body;
    io.out(`Deployment "${d.ID}" resumed\n`);
    if (flagBool(p, "detach") || res.EvalID === "") return Exit.Ok;
    io.out("\n");
    const r = await monitorEval(api, res.EvalID, io);
    return r.placementFailed ? Exit.PlacementFailed : Exit.Ok;
  },
};
