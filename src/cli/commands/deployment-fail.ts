import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals } from "../api.js";
import { shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { monitorEval } from "../monitor.js";
import { resolveDeployment } from "../resolve.js";

export const usage = `Usage: ruche deployment fail [options] ID

  Marks a running deployment (ID or the start of one) as failed: its rollout stops,
  and a job with auto_revert goes back to its last stable version. Then follows the
  evaluation that makes it so.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -detach         return once the deployment is failed, printing the evaluation ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const d = await resolveDeployment(api, id);
  const res = (await api.failDeployment(d.ID)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  io.out(`Deployment "${shortId(d.ID)}" failed\n`);
  if (res.EvalID === "") return Exit.Ok;
  const r = await monitorEval(api, res.EvalID, io);
  return r.eval.Status === "failed" ? Exit.Error : Exit.Ok;
}
