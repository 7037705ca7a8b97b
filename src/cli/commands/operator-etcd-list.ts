import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { etcdMembersTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche operator etcd list [options]

  Lists the members of the etcd cluster that holds the servers' state: which one leads,
  whether each answers, its database size, revision, raft index and version, and its peer
  URLs. A server on its embedded store (one server, SQLite) has no etcd members and says so.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
  positionals(p);
  const { Members } = (await apiClient(p, io).etcdMembers()).body;
  if (flagBool(p, "json")) printJson(io, Members);
  else io.out(`${etcdMembersTable(Members)}\n`);
  return Exit.Ok;
}
