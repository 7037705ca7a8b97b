import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { formatTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche catalog service [options] NAME

  Shows a service's instances: node, address and port, tags, and health (passing only
  when every check of the instance and of its node passes).

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
  const [name = ""] = positionals(p, "NAME");
  const entries = (await apiClient(p, io).healthService(name)).body;
  if (flagBool(p, "json")) {
    printJson(io, entries);
    return Exit.Ok;
  }
  if (entries.length === 0) {
    io.out(`No instances of service "${name}"\n`);
    return Exit.Ok;
  }
  const health = (statuses: string[]): string => (statuses.includes("critical") ? "critical" : statuses.includes("warning") ? "warning" : "passing");
  io.out(
    `${formatTable(
      ["Node", "Address", "Health", "Tags", "ID"],
      entries.map((e) => [e.Node.Node, `${e.Service.Address === "" ? e.Node.Address : e.Service.Address}:${e.Service.Port}`, health(e.Checks.map((c) => c.Status)), e.Service.Tags.join(","), e.Service.ID]),
    )}\n`,
  );
  return Exit.Ok;
}
