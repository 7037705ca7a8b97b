/**
 * Finds the object an ID on the command line names. As in Nomad, an ID may be given by a
 * prefix (the 8 characters the tables show): the exact ID is asked for first, and when the
 * API does not know it, the list is searched for IDs that start with it.
 */
import { ApiError, type AllocStub, type ApiClient, type JobStub } from "../apiclient/index.js";
import type { Allocation, Deployment, Evaluation, Job } from "../structs/index.js";
import { UsageError } from "./args.js";
import { CommandError } from "./errors.js";
import { allocationsTable, deploymentsTable, formatTable, jobsTable, nodesTable, type PublicNode } from "./format/index.js";

/** The one item whose ID is `id` or starts with it; several is an error that lists them. */
export function pickByPrefix<T>(items: readonly T[], id: string, idOf: (t: T) => string, kind: string, list: (ts: readonly T[]) => string): T {
  const exact = items.find((t) => idOf(t) === id);
  if (exact !== undefined) return exact;
  const matches = items.filter((t) => idOf(t).startsWith(id));
  const [first] = matches;
  if (first === undefined) throw new CommandError(`No ${kind} with prefix or id "${id}" found`);
  if (matches.length > 1) throw new CommandError(`Prefix "${id}" matched ${matches.length} ${kind}s; give more of the ID:\n\n${list(matches)}`);
  return first;
}

async function orNotFound<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

export async function resolveJob(api: ApiClient, id: string): Promise<Job> {
  const direct = await orNotFound(async () => (await api.job(id)).body);
  if (direct !== undefined) return direct;
  const stub = pickByPrefix<JobStub>((await api.jobs()).body, id, (j) => j.ID, "job", (js) => jobsTable(js));
  return (await api.job(stub.ID)).body;
}

export async function resolveDeployment(api: ApiClient, id: string): Promise<Deployment> {
  const direct = await orNotFound(async () => (await api.deployment(id)).body);
  if (direct !== undefined) return direct;
  return pickByPrefix((await api.deployments()).body, id, (d) => d.ID, "deployment", (ds) => deploymentsTable(ds, true));
}

export async function resolveEval(api: ApiClient, id: string): Promise<Evaluation> {
  const direct = await orNotFound(async () => (await api.evaluation(id)).body);
  if (direct !== undefined) return direct;
  return pickByPrefix((await api.evaluations()).body, id, (e) => e.ID, "evaluation", (es) =>
    formatTable(
      ["ID", "Job ID", "Triggered By", "Status"],
      es.map((e) => [e.ID, e.JobID, e.TriggeredBy, e.Status]),
    ),
  );
}

export async function resolveAlloc(api: ApiClient, id: string): Promise<Allocation> {
  const direct = await orNotFound(async () => (await api.allocation(id)).body);
  if (direct !== undefined) return direct;
  const stub = pickByPrefix<AllocStub>((await api.allocations()).body, id, (a) => a.ID, "allocation", (as) => allocationsTable(as, Date.now(), true));
  return (await api.allocation(stub.ID)).body;
}

/**
 * A node by ID, ID prefix or, failing those, its exact name. `exact` says whether the ID
 * was given whole, so a command can confirm before acting on a guess, as Nomad does.
 */
export async function resolveNode(api: ApiClient, id: string): Promise<{ node: PublicNode; exact: boolean }> {
  const direct = await orNotFound(async () => (await api.node(id)).body);
  if (direct !== undefined) return { node: direct, exact: true };
  const nodes = (await api.nodes()).body;
  if (!nodes.some((n) => n.ID.startsWith(id))) {
    const named = nodes.filter((n) => n.Name === id);
    const [only] = named;
    if (only !== undefined && named.length === 1) return { node: only, exact: false };
  }
  return { node: pickByPrefix(nodes, id, (n) => n.ID, "node", (ns) => nodesTable(ns, true)), exact: false };
}

/**
 * The node `-self` names (Nomad's `node drain|eligibility|status -self`): the node of the agent
 * the command talks to, from its `/v1/agent/self` (`stats.client.node_id`); an agent that runs
 * no node is refused.
 */
export async function resolveSelfNode(api: ApiClient): Promise<{ node: PublicNode; exact: boolean }> {
  const self = (await api.agentSelf()).body;
  const id = self.stats?.client?.node_id ?? "";
  if (id === "") throw new CommandError("Error determining local node ID: the agent at the address is not running a client (no node of its own); name the node instead of -self");
  return { node: (await api.node(id)).body, exact: true };
}

/** The node of a command that takes NODE or `-self`: one of them, not both. */
export async function resolveNodeOrSelf(api: ApiClient, positional: readonly string[], self: boolean): Promise<{ node: PublicNode; exact: boolean }> {
  if (self && positional.length > 0) throw new UsageError("give either -self or a node ID, not both");
  if (self) return resolveSelfNode(api);
  const [id] = positional;
  if (id === undefined || positional.length !== 1) throw new UsageError("This command takes one argument: <node-id> (or -self, the node of the agent at -address)");
  return resolveNode(api, id);
}
