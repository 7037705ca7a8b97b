import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { serverMembersDetailed, serverMembersTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche server members [options]

  Lists the servers of the region and their status, as the server at -address sees
  them: alive, failed (it stopped renewing its lease) or left (force-leave), which one
  leads, and the etcd member each runs (blank: it runs none, as a server on its embedded
  store or on an external etcd).

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -detailed       show every member's tags
  -json           print the API's answer
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, detailed: { value: false } });
  positionals(p);
  const api = apiClient(p, io);
  const members = (await api.members()).body;
  if (flagBool(p, "json")) printJson(io, members);
  else if (flagBool(p, "detailed")) io.out(`${serverMembersDetailed(members.Members)}\n`);
  else io.out(`${serverMembersTable(members.Members, (await api.leader()).body)}\n`);
  return Exit.Ok;
}
