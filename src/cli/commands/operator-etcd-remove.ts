import { parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, positionals } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche operator etcd remove [options] NAME|ID

  Removes a member from the etcd cluster that holds the servers' state, by its name or
  its hex ID ("ruche operator etcd list" shows both): the cluster shrinks, and its quorum
  with it. To take a whole server out, use "ruche server force-leave", which removes the
  member it runs too.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, API_FLAGS);
  const [member = ""] = positionals(p, "NAME|ID");
  await apiClient(p, io).etcdRemove(member);
  io.out(`Removed etcd member "${member}"\n`);
  return Exit.Ok;
}
