import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { formatTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche catalog services [options]

  Lists the services of the catalog (from running allocations' service blocks) with
  their tags, as Consul's catalog has them.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
  positionals(p);
  const services = (await apiClient(p, io).catalogServices()).body;
  if (flagBool(p, "json")) printJson(io, services);
  else {
    const names = Object.keys(services).sort();
    io.out(names.length === 0 ? "No services\n" : `${formatTable(["Service", "Tags"], names.map((n) => [n, (services[n] ?? []).join(",")]))}\n`);
  }
  return Exit.Ok;
}
