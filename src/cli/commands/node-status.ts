import type { ApiClient } from "../../apiclient/index.js";
import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, VERBOSE_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { allocationsTable, nodeDetail, nodesTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveNode } from "../resolve.js";

export const usage = `Usage: ruche node status [options] [NODE]

  Without NODE, lists the nodes. With one (its ID, the start of it, or its name),
  shows the node, what its allocations hold of it, and its allocations.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answers
  -verbose        show whole IDs
  -self           show the node of the agent at -address
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG, self: { value: false } });
  if (p.positional.length > 1) throw new UsageError(`this command takes at most one node, got ${p.positional.length} arguments`);
  const self = flagBool(p, "self");
  if (self && p.positional.length > 0) throw new UsageError("-self names the node; give no NODE with it");
  const api = apiClient(p, io);
  const json = flagBool(p, "json");
  const full = flagBool(p, "verbose");
  const id = self ? await selfNodeId(api) : p.positional[0];
  if (id === undefined) {
    const nodes = (await api.nodes()).body;
    if (json) printJson(io, nodes);
    else io.out(nodes.length === 0 ? "No nodes registered\n" : `${nodesTable(nodes, full)}\n`);
    return Exit.Ok;
  }
  const { node } = await resolveNode(api, id);
  const allocs = (await api.nodeAllocations(node.ID)).body;
  if (json) {
    printJson(io, { Node: node, Allocations: allocs });
    return Exit.Ok;
  }
  const now = Date.now();
  const list = allocs.length === 0 ? "No allocations placed" : allocationsTable(allocs, now, full);
  io.out(`${nodeDetail(node, allocs, full)}\n\nAllocations\n${list}\n`);
  return Exit.Ok;
}

/**
 * The ID of the node the agent at the address runs, from `/v1/agent/self` as Nomad's CLI reads
 * it (`stats.client.node_id`), or the Consul-shaped answer's `Config.NodeID`.
 */
export async function selfNodeId(api: ApiClient): Promise<string> {
  const self = (await api.request<AgentSelf | undefined>("GET", "/v1/agent/self")).body;
  const id = self?.stats?.client?.node_id ?? self?.Stats?.client?.node_id ?? self?.Config?.NodeID ?? "";
  if (id === "") throw new CommandError(`the agent at ${api.address} runs no node: -self needs a client agent's address`);
  return id;
}

interface AgentSelf {
  stats?: { client?: { node_id?: string } };
  Stats?: { client?: { node_id?: string } };
  Config?: { NodeID?: string };
}
