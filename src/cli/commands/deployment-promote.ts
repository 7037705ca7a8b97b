import type { ApiClient } from "../../apiclient/index.js";
import { flagBool, flagValues, parseArgs, type Parsed } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals } from "../api.js";
import { Exit, type IO } from "../io.js";
import { monitorJobChange } from "../monitor.js";
import { resolveDeployment } from "../resolve.js";

export const usage = `Usage: ruche deployment promote [options] ID

  Promotes the canaries of a deployment (ID or the start of one): the rollout of the
  new version goes on. Then follows the evaluation and the deployment to its end.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -group NAME     promote only this group's canaries; may be repeated
  -detach         return once the promotion is accepted, printing the evaluation ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, group: { value: true, repeat: true } });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const d = await resolveDeployment(api, id);
  return promote(api, d.ID, flagValues(p, "group"), p, io);
}

/** Promotes a deployment's canaries (those of `groups`, or all), then follows it unless -detach. */
export async function promote(api: ApiClient, deploymentId: string, groups: string[], p: Parsed, io: IO): Promise<number> {
  const res = (await api.promote(deploymentId, groups.length > 0 ? groups : undefined)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  return monitorJobChange(api, res.EvalID, io, { deploymentId });
}
