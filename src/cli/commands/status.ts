import { parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, VERBOSE_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import type { IO } from "../io.js";
import * as allocStatus from "./alloc-status.js";
import * as deploymentStatus from "./deployment-status.js";
import * as evalStatus from "./eval-status.js";
import * as jobStatus from "./job-status.js";
import * as nodeStatus from "./node-status.js";

export const usage = `Usage: ruche status [options] [ID]

  Without an ID, lists the jobs (as "ruche job status"). With one, finds what the ID
  or the start of one names, a job, an allocation, a node, an evaluation or a
  deployment, and shows it as that kind's status command does, as "nomad status"
  does; the options go to that command.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answers
  -short          (a job) show only the job's header
  -verbose        show whole IDs
`;

/** The kinds an ID may name, in Nomad's words (its search contexts), each with the command that shows one. */
const KINDS = [
  { name: "jobs", command: jobStatus },
  { name: "allocs", command: allocStatus },
  { name: "nodes", command: nodeStatus },
  { name: "evals", command: evalStatus },
  { name: "deployments", command: deploymentStatus },
] as const;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG, ...jobStatus.SHORT_FLAG });
  if (p.positional.length > 1) throw new UsageError(`this command takes at most one ID, got ${p.positional.length} arguments`);
  const id = p.positional[0];
  if (id === undefined) return jobStatus.run(argv, io);
  const api = apiClient(p, io);
  const [jobs, allocs, nodes, evals, deployments] = await Promise.all([api.jobs(), api.allocations(), api.nodes(), api.evaluations(), api.deployments()]);
  const ids: Record<(typeof KINDS)[number]["name"], string[]> = {
    jobs: jobs.body.map((x) => x.ID),
    allocs: allocs.body.map((x) => x.ID),
    nodes: nodes.body.map((x) => x.ID),
    evals: evals.body.map((x) => x.ID),
    deployments: deployments.body.map((x) => x.ID),
  };
  const matches = KINDS.map((k) => ({ kind: k, ids: ids[k.name].filter((x) => x.startsWith(id)).sort() })).filter((m) => m.ids.length > 0);
  const exact = matches.filter((m) => m.ids.includes(id));
  const chosen = exact.length === 1 ? exact : exact.length > 1 ? [] : matches.length === 1 && matches[0]?.ids.length === 1 ? matches : [];
  const [one] = chosen;
  if (one !== undefined) return one.kind.command.run(argv, io);
  if (matches.length === 0) throw new CommandError(`Unable to resolve ID: "${id}"`);
  const title = (name: string): string => `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
  throw new CommandError(`Multiple matches found for id "${id}"\n${matches.map((m) => `\n${title(m.kind.name)}:\n${m.ids.join(", ")}`).join("\n")}`);
}
