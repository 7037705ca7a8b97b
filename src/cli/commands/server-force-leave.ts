import { parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, positionals } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche server force-leave [options] NAME

  Removes a server from the region: marks it left, forgets it, and removes the etcd
  member it runs, so that the cluster shrinks (a dead server that will not come back).
  NAME is the server's name, or its member name (name.region) as "ruche server members"
  shows it.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, API_FLAGS);
  const [name = ""] = positionals(p, "NAME");
  await apiClient(p, io).forceLeave(name);
  io.out(`Server "${name}" has left the cluster\n`);
  return Exit.Ok;
}
