import { flagValues, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals } from "../api.js";
import { CommandError } from "../errors.js";
import type { IO } from "../io.js";
import { resolveJob } from "../resolve.js";
import { promote } from "./deployment-promote.js";

export const usage = `Usage: ruche job promote [options] JOB

  Promotes the canaries of the job's latest deployment: the rollout of the new version
  goes on. Then follows the evaluation and the deployment to its end. The same as
  "ruche deployment promote" with that deployment's ID.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -group NAME     promote only this group's canaries; may be repeated
  -detach         return once the promotion is accepted, printing the evaluation ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, group: { value: true, repeat: true } });
  const [id = ""] = positionals(p, "JOB");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  const d = (await api.latestDeployment(job.ID)).body;
  if (d === null) throw new CommandError(`Job "${job.ID}" has no deployment to promote`);
  return promote(api, d.ID, flagValues(p, "group"), p, io);
}
