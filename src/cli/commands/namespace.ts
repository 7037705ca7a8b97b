import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ApiError } from "../../apiclient/index.js";
import type { Namespace } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printAs } from "../api.js";
import { CommandError } from "../errors.js";
import { formatKV, formatTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   an ACL token (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)`;

/** Nomad's `namespace list` table. */
export function namespacesTable(list: readonly Namespace[]): string {
  if (list.length === 0) return "No namespaces found";
  return formatTable(
    ["Name", "Description"],
    list.map((n) => [n.Name, n.Description]),
  );
}

/** Nomad's `namespace status` (`formatNamespaceBasics`, then its metadata and node pool configuration). */
export function namespaceDetail(ns: Namespace): string {
  const caps = ns.Capabilities;
  const enabled = caps === null || caps.EnabledTaskDrivers.length === 0 ? "*" : caps.EnabledTaskDrivers.join(",");
  const disabled = caps === null ? "" : caps.DisabledTaskDrivers.join(",");
  const out = [
    formatKV([
      ["Name", ns.Name],
      ["Description", ns.Description],
      ["Quota", ns.Quota],
      ["EnabledDrivers", enabled],
      ["DisabledDrivers", disabled],
    ]),
  ];
  const meta = Object.entries(ns.Meta ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (meta.length > 0) out.push(`Metadata\n${formatKV(meta)}`);
  const pools = ns.NodePoolConfiguration;
  if (pools !== null) {
    out.push(
      `Node Pool Configuration\n${formatKV([
        ["Default", pools.Default],
        ...(pools.Allowed.length > 0 ? [["Allowed", pools.Allowed.join(", ")] as const] : []),
        ...(pools.Denied.length > 0 ? [["Denied", pools.Denied.join(", ")] as const] : []),
      ])}`,
    );
  }
  return out.join("\n\n");
}

export const list = {
  usage: `Usage: ruche namespace list [options]

  Lists the namespaces (those the token has a capability in).

Options:
${ADDRESS_HELP}
  -json           print the list as JSON
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    positionals(p);
    const { body } = await apiClient(p, io).namespaces();
    printAs(io, p, body, namespacesTable);
    return Exit.Ok;
  },
};

export const status = {
  usage: `Usage: ruche namespace status [options] NAME

  Shows a namespace: its description, quota, drivers, metadata.

Options:
${ADDRESS_HELP}
  -json           print the namespace as JSON
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    const [name = ""] = positionals(p, "NAME");
    const { body } = await apiClient(p, io).namespace(name);
    printAs(io, p, body, namespaceDetail);
    return Exit.Ok;
  },
};

export const apply = {
  usage: `Usage: ruche namespace apply [options] NAME

  Creates or updates the namespace NAME, as Nomad's "namespace apply". Updating keeps what
  a flag does not name.

Options:
${ADDRESS_HELP}
  -description D  what the namespace is for
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, description: { value: true }, quota: { value: true }, json: { value: false } });
    const [name = ""] = positionals(p, "NAME");
    if (flagValues(p, "quota").length > 0) throw new CommandError("-quota: resource quotas are a Nomad Enterprise feature that Ruche does not have");
    if (flagBool(p, "json") || existsSync(resolve(io.cwd, name))) {
      throw new CommandError(`namespace specification files are not read: give the namespace's name and -description ("${name}" is a file)`);
    }
    const api = apiClient(p, io);
    const current = await api.namespace(name).then(
      (r) => r.body,
      (err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      },
    );
    const description = flagValues(p, "description").at(-1);
    await api.namespaceApply({ ...(current ?? {}), Name: name, ...(description === undefined ? {} : { Description: description }) });
    io.out(`Successfully applied namespace "${name}"!\n`);
    return Exit.Ok;
  },
};

export const del = {
  usage: `Usage: ruche namespace delete [options] NAME

  Deletes a namespace. "default" cannot be deleted, nor a namespace a job that is not dead
  is in: stop (or purge) its jobs first.

Options:
${ADDRESS_HELP}
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    const [name = ""] = positionals(p, "NAME");
    await apiClient(p, io).namespaceDelete(name);
    io.out(`Successfully deleted namespace "${name}"!\n`);
    return Exit.Ok;
  },
};
