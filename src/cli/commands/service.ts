import type { ServiceRegistration, ServiceRegistrationListStub } from "../../structs/index.js";
import { flagBool, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, printJson, scopeQuery, VERBOSE_FLAG } from "../api.js";
import { formatKV, formatTable, shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";

/**
 * Nomad's native service discovery from the command line, as Nomad's `service
 * list|info|delete` (`command/service_*.go`): the same tables and messages. Ruche's one catalog
 * answers, so the services of `provider = "consul"` blocks are listed beside those of
 * `provider = "nomad"`.
 */

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   an ACL token (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)
  -namespace NS   the namespace (default: $RUCHE_NAMESPACE, else $NOMAD_NAMESPACE, else "default"; "*": every one)`;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Nomad's `formatServiceListOutput`: Service Name, (Namespace with "*"), Tags. */
export function servicesTable(list: readonly ServiceRegistrationListStub[], allNamespaces: boolean): string {
  const rows: string[][] = [];
  for (const ns of [...list].sort((a, b) => byString(a.Namespace, b.Namespace))) {
    for (const s of [...ns.Services].sort((a, b) => byString(a.ServiceName, b.ServiceName))) {
      const tags = `[${[...s.Tags].sort().join(",")}]`;
      rows.push(allNamespaces ? [s.ServiceName, ns.Namespace, tags] : [s.ServiceName, tags]);
    }
  }
  return formatTable(allNamespaces ? ["Service Name", "Namespace", "Tags"] : ["Service Name", "Tags"], rows);
}

/** Nomad's `net.JoinHostPort`, the port left out when 0. */
function address(host: string, port: number): string {
  if (port === 0) return host;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Nomad's `service info` table (Job ID, Address, Tags, Node ID, Alloc ID, by job), or with -verbose each instance's fields. */
export function serviceInfoText(regs: readonly ServiceRegistration[], verbose: boolean): string {
  const sorted = [...regs].sort((a, b) => byString(a.JobID, b.JobID));
  if (verbose) {
    return sorted
      .map((s) =>
        formatKV([
          ["ID", s.ID],
          ["Service Name", s.ServiceName],
          ["Namespace", s.Namespace],
          ["Job ID", s.JobID],
          ["Alloc ID", s.AllocID],
          ["Node ID", s.NodeID],
          ["Datacenter", s.Datacenter],
          ["Address", `${s.Address}:${s.Port}`],
          ["Tags", `[${s.Tags.join(",")}]`],
        ]),
      )
      .join("\n\n");
  }
  return formatTable(
    ["Job ID", "Address", "Tags", "Node ID", "Alloc ID"],
    sorted.map((s) => [s.JobID, address(s.Address, s.Port), `[${s.Tags.join(",")}]`, shortId(s.NodeID), shortId(s.AllocID)]),
  );
}

export const list = {
  usage: `Usage: ruche service list [options]

  Lists the services of a namespace (with -namespace "*", of every one) and their tags.

Options:
${ADDRESS_HELP}
  -json           print the list as JSON (Nomad's []ServiceRegistrationListStub)
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    if (p.positional.length > 0) throw new UsageError("This command takes no arguments");
    const { body } = await apiClient(p, io).nomadServices();
    if (body.length === 0) {
      io.out("No service registrations found\n");
      return Exit.Ok;
    }
    if (flagBool(p, "json")) printJson(io, body);
    else io.out(`${servicesTable(body, scopeQuery(p, io).namespace === "*")}\n`);
    return Exit.Ok;
  },
};

export const info = {
  usage: `Usage: ruche service info [options] <service_name>

  Shows the instances of a service: the job, address, tags, node and allocation of each.

Options:
${ADDRESS_HELP}
  -json           print the instances as JSON (Nomad's []ServiceRegistration)
  -verbose        every field of each instance, IDs in full
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
    if (p.positional.length !== 1) throw new UsageError("This command takes one argument: <service_name>");
    const { body } = await apiClient(p, io).nomadService(p.positional[0] ?? "");
    if (body.length === 0) {
      io.out("No service registrations found\n");
      return Exit.Ok;
    }
    if (flagBool(p, "json")) printJson(io, body);
    else io.out(`${serviceInfoText(body, flagBool(p, "verbose"))}\n`);
    return Exit.Ok;
  },
};

export const del = {
  usage: `Usage: ruche service delete [options] <service_name> <service_id>

  Deletes one instance of a service: one registered directly (Consul's agent API). An
  allocation's instance is the allocation's, and leaves the catalog when it stops.

Options:
${ADDRESS_HELP}
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS });
    if (p.positional.length !== 2) throw new UsageError("This command takes two arguments: <service_name> and <service_id>");
    await apiClient(p, io).nomadServiceDelete(p.positional[0] ?? "", p.positional[1] ?? "");
    io.out("Successfully deleted service registration\n");
    return Exit.Ok;
  },
};
