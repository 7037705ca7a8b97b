import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { serverMembersDetailed, serverMembersTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { errorMessage } from "../../structs/index.js";

export const usage = `Usage: ruche server members [options]

  Lists the servers of every region and their status, as the server at -address sees
  them: alive, failed (it stopped renewing its lease; another region's: it stopped
  answering) or left (force-leave), which one leads each region, and the etcd member each
  runs (blank: it runs none, as a server on its embedded store or on an external etcd).

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
  else {
    // Each region's leader, as Nomad's CLI asks it (`regionLeaders`): this region's here, another's through this server; one that cannot be asked is said after the table.
    const regions = [...new Set(members.Members.filter((m) => m.Status !== "left").map((m) => m.Tags.region ?? ""))].sort();
    const leaders: Record<string, string> = {};
    const errors: string[] = [];
    for (const region of regions) {
      try {
        leaders[region] = (await (region === members.ServerRegion ? api.leader() : api.regionLeader(region))).body;
      } catch (err) {
        errors.push(`Region ${JSON.stringify(region)}: ${errorMessage(err)}`);
      }
    }
    io.out(`${serverMembersTable(members.Members, leaders)}\n`);
    if (errors.length > 0) {
      io.err(`\nError determining leaders: ${errors.join("; ")}\n`);
      return Exit.Error;
    }
  }
  return Exit.Ok;
}
