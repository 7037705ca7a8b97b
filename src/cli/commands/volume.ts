import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { ApiClient } from "../../apiclient/index.js";
import { parseVolumeSpec } from "../../jobspec/index.js";
import { errorMessage, type HostVolume, type HostVolumeStub } from "../../structs/index.js";
import { flagBool, flagValues, UsageError, type Parsed } from "../args.js";
import { parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printAs, VERBOSE_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { formatBytes, formatKV, formatTable, shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   an ACL token (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)
  -namespace NS   the volume's namespace (default: $RUCHE_NAMESPACE, else $NOMAD_NAMESPACE, else "default")`;

const TYPE_FLAG = { type: { value: true } } as const;

/** `-type`: Ruche's volumes are host volumes; CSI is refused in one line. */
function hostType(p: Parsed): void {
  const t = flagValues(p, "type").at(-1) ?? "host";
  if (t === "csi") throw new CommandError("-type csi: Ruche does not run CSI plugins; its volumes are dynamic host volumes (-type host)");
  if (t !== "host") throw new UsageError(`-type must be "host", got "${t}"`);
}

async function specOf(file: string, io: IO): Promise<HostVolume> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : errorMessage(err)}`);
  }
  const r = await parseVolumeSpec(text, file);
  if (!r.ok) throw new CommandError(`Error decoding the volume definition:\n${r.errors.join("\n")}`);
  return r.volume;
}

/** The one volume whose ID starts with `prefix` (Nomad's `getHostVolumeByPrefix`). */
async function volumeByPrefix(api: ApiClient, prefix: string): Promise<HostVolumeStub> {
  const { body } = await api.hostVolumes({ prefix });
  const exact = body.find((v) => v.ID === prefix);
  if (exact !== undefined) return exact;
  const [only, ...more] = body;
  if (only === undefined) throw new CommandError(`No volumes with prefix or ID ${JSON.stringify(prefix)} found`);
  if (more.length > 0) throw new CommandError(`Prefix matched multiple volumes\n\n${hostVolumesTable(body, false)}`);
  return only;
}

/** Nomad's `formatHostVolumes`, by ID. */
export function hostVolumesTable(list: readonly HostVolumeStub[], verbose: boolean): string {
  if (list.length === 0) return "No dynamic host volumes";
  return formatTable(
    ["ID", "Name", "Namespace", "Plugin ID", "Node ID", "Node Pool", "State"],
    [...list].sort((a, b) => (a.ID < b.ID ? -1 : 1)).map((v) => [shortId(v.ID, verbose), v.Name, v.Namespace, v.PluginID, shortId(v.NodeID, verbose), v.NodePool, v.State]),
  );
}

type VolumeDetail = HostVolume & { Allocations?: { ID: string; JobID: string; TaskGroup: string; ClientStatus: string; DesiredStatus: string; NodeID?: string }[] };

/** Nomad's `formatHostVolume`: the volume, its capabilities and the allocations that claim it. */
export function hostVolumeDetail(v: VolumeDetail, verbose: boolean): string {
  const out = [
    formatKV([
      ["ID", v.ID],
      ["Name", v.Name],
      ["Namespace", v.Namespace],
      ["Plugin ID", v.PluginID],
      ["Node ID", v.NodeID],
      ["Node Pool", v.NodePool],
      ["Capacity", formatBytes(v.CapacityBytes)],
      ["State", v.State],
      ["Host Path", v.HostPath],
    ]),
    "",
    "Capabilities",
    formatTable(
      ["Access Mode", "Attachment Mode"],
      v.RequestedCapabilities.map((c) => [c.AccessMode, c.AttachmentMode]),
    ),
    "",
    "Allocations",
  ];
  const allocs = v.Allocations ?? [];
  out.push(allocs.length === 0 ? "No allocations placed" : formatTable(["ID", "Job ID", "Task Group", "Desired", "Status"], allocs.map((a) => [shortId(a.ID, verbose), a.JobID, a.TaskGroup, a.DesiredStatus, a.ClientStatus])));
  return out.join("\n");
}

export const create = {
  usage: `Usage: ruche volume create [options] FILE

  Creates a dynamic host volume from a volume specification (HCL or JSON), as Nomad's
  "volume create": type = "host", name, plugin_id ("mkdir", built in), node_id or node_pool,
  constraint and capability blocks, capacity_min/capacity_max, parameters. The servers pick
  a node, whose agent makes the volume; it is then offered to jobs by its name. With an id,
  the volume of that ID is updated.

Options:
${ADDRESS_HELP}
  -detach         return once the volume is created, without waiting for it to be ready
  -type host      the volume's type (host, the only one)
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...TYPE_FLAG, detach: { value: false }, verbose: { value: false } });
    const [file = ""] = positionals(p, "FILE");
    const vol = await specOf(file, io);
    const api = apiClient(p, io);
    const { body } = await api.hostVolumeCreate(vol).catch((err: unknown) => {
      throw new CommandError(`Error creating volume: ${errorMessage(err)}`);
    });
    if (body.Warnings !== "") io.out(`Volume Warnings:\n${body.Warnings}\n\n`);
    io.out(`Created host volume ${body.Volume.Name} with ID ${body.Volume.ID}\n`);
    return Exit.Ok;
  },
};

export const register = {
  usage: `Usage: ruche volume register [options] FILE

  Registers a directory already on a node as a dynamic host volume, as Nomad's "volume
  register": the specification names its node_id and host_path. Nothing is made, and
  "volume delete" leaves the directory in place.

Options:
${ADDRESS_HELP}
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...TYPE_FLAG });
    const [file = ""] = positionals(p, "FILE");
    const vol = await specOf(file, io);
    const { body } = await apiClient(p, io)
      .hostVolumeRegister(vol)
      .catch((err: unknown) => {
        throw new CommandError(`Error registering volume: ${errorMessage(err)}`);
      });
    if (body.Warnings !== "") io.out(`Volume Warnings:\n${body.Warnings}\n\n`);
    io.out(`Registered host volume ${body.Volume.Name} with ID ${body.Volume.ID}\n`);
    return Exit.Ok;
  },
};

export const status = {
  usage: `Usage: ruche volume status [options] [ID]

  Lists the dynamic host volumes, or shows one (by ID or a unique prefix of it): its node,
  path, state, capabilities and the allocations that claim it.

Options:
${ADDRESS_HELP}
  -type host      the volumes' type (host, the only one)
  -node-pool P    only the volumes of that node pool
  -verbose        whole IDs
  -json           print as JSON
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...TYPE_FLAG, ...JSON_FLAG, ...VERBOSE_FLAG, "node-pool": { value: true }, "node-id": { value: true } });
    hostType(p);
    if (p.positional.length > 1) throw new UsageError(`unexpected argument "${p.positional[1] ?? ""}"`);
    const api = apiClient(p, io);
    const verbose = flagBool(p, "verbose");
    const id = p.positional[0];
    if (id === undefined) {
      const pool = flagValues(p, "node-pool").at(-1);
      const node = flagValues(p, "node-id").at(-1);
      const { body } = await api.hostVolumes({ ...(pool === undefined ? {} : { nodePool: pool }), ...(node === undefined ? {} : { nodeId: node }) });
      printAs(io, p, body, (l) => hostVolumesTable(l, verbose));
      return Exit.Ok;
    }
    const stub = await volumeByPrefix(api, id);
    const { body } = await api.hostVolume(stub.ID);
    printAs(io, p, body, (v) => hostVolumeDetail(v, verbose));
    return Exit.Ok;
  },
};

export const del = {
  usage: `Usage: ruche volume delete [options] ID

  Deletes a dynamic host volume (by ID or a unique prefix of it): its node's agent removes
  the directory the "mkdir" plugin made (a registered volume's is left). Refused while an
  allocation claims the volume: stop its job first.

Options:
${ADDRESS_HELP}
  -type host      the volume's type (host, the only one)
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...TYPE_FLAG });
    hostType(p);
    const [id = ""] = positionals(p, "ID");
    const api = apiClient(p, io);
    const stub = await volumeByPrefix(api, id);
    await api.hostVolumeDelete(stub.ID).catch((err: unknown) => {
      throw new CommandError(`Error deleting volume: ${errorMessage(err)}`);
    });
    io.out(`Successfully deleted volume ${JSON.stringify(stub.ID)}!\n`);
    return Exit.Ok;
  },
};
