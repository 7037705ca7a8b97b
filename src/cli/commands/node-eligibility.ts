import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient } from "../api.js";
import { shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveNodeOrSelf } from "../resolve.js";

export const usage = `Usage: ruche node eligibility [options] -enable|-disable NODE|-self

  Lets the scheduler place new work on a node (its ID, the start of it, or its name),
  or not. Allocations already on the node keep running; to move them, drain it.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -enable         the node is eligible for new work
  -disable        the node takes no new work
  -self           the node of the agent at -address, instead of NODE
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, enable: { value: false }, disable: { value: false }, self: { value: false } });
  const enable = flagBool(p, "enable");
  if (enable === flagBool(p, "disable")) throw new UsageError("give one of -enable or -disable");
  const api = apiClient(p, io);
  const { node } = await resolveNodeOrSelf(api, p.positional, flagBool(p, "self"));
  await api.eligibility(node.ID, enable);
  io.out(`Node "${shortId(node.ID)}" scheduling eligibility set: ${enable ? "eligible" : "ineligible"} for scheduling\n`);
  return Exit.Ok;
}
