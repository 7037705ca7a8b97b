import { parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, positionals } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche agent reload [-address ADDR]

  Makes the agent read its config dir again (-config-dir): services of definition files
  added or changed are registered, those of files removed are deregistered. When a file is
  wrong, nothing changes and the error says which file and field. Sending the agent SIGHUP
  does the same.

Options:
  -address ADDR   the agent's API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS });
  positionals(p);
  await apiClient(p, io).agentReload();
  io.out("Configuration reload triggered\n");
  return Exit.Ok;
}
