import { chmod, chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_HOST_VOLUME_PLUGIN, errorMessage, MKDIR_PLUGIN, type ClientHostVolumeConfig, type HostVolume } from "../structs/index.js";

/** The version the built-in "mkdir" plugin shows as `plugins.host_volume.mkdir.version` (Nomad's). */
export const MKDIR_PLUGIN_VERSION = "0.0.1";

/** What the client keeps of a dynamic host volume it offers (`<data dir>/client/host_volumes/<id>.json`). */
export interface KeptHostVolume {
  ID: string;
  Name: string;
  Namespace: string;
  HostPath: string;
  /** Made by the "mkdir" plugin (its directory goes with a delete), or registered (left as it is). */
  Created: boolean;
}

/** The mkdir plugin's parameters (Nomad's): `mode` (octal, default 0755), `uid`, `gid`. */
function mkdirParameters(p: Record<string, string>): { mode: number; uid: number | undefined; gid: number | undefined } {
  const known = ["mode", "uid", "gid"];
  for (const k of Object.keys(p)) if (!known.includes(k)) throw new Error(`the mkdir plugin takes the parameters mode, uid and gid; not ${JSON.stringify(k)}`);
  const mode = p.mode === undefined ? 0o755 : /^0?[0-7]{3,4}$/.test(p.mode) ? parseInt(p.mode, 8) : NaN;
  if (Number.isNaN(mode)) throw new Error(`parameter mode: an octal file mode such as "0755", got ${JSON.stringify(p.mode)}`);
  const id = (k: "uid" | "gid"): number | undefined => {
    const v = p[k];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`parameter ${k}: a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  return { mode, uid: id("uid"), gid: id("gid") };
}

/**
 * The node's dynamic host volumes (Nomad's client `hostvolumemanager`): the built-in "mkdir"
 * plugin makes `<volumesDir>/<id>` (Nomad's `host_volumes_dir`, `<data dir>/host_volumes` by
 * default); a registered volume is a directory already there. Each one offered is kept in the
 * client's state, so that a restarted agent offers it again.
 */
export class DynamicHostVolumes {
  private readonly stateDir: string;

  constructor(
    private readonly volumesDir: string,
    clientStateDir: string,
  ) {
    this.stateDir = join(clientStateDir, "host_volumes");
  }

  /** The volumes kept from before, as the node offers them (a kept volume whose directory is gone is left out). */
  async restore(): Promise<Record<string, ClientHostVolumeConfig>> {
    const out: Record<string, ClientHostVolumeConfig> = {};
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch {
      return out;
    }
    for (const n of names.filter((x) => x.endsWith(".json"))) {
      try {
        const k = JSON.parse(await readFile(join(this.stateDir, n), "utf8")) as KeptHostVolume;
        if ((await stat(k.HostPath)).isDirectory()) out[k.Name] = { Name: k.Name, Path: k.HostPath, ReadOnly: false, ID: k.ID };
      } catch {
        // A volume whose record or directory is gone is offered no more.
      }
    }
    return out;
  }

  /** What is kept here of the volume, if anything. */
  async kept(id: string): Promise<KeptHostVolume | undefined> {
    try {
      return JSON.parse(await readFile(join(this.stateDir, `${id}.json`), "utf8")) as KeptHostVolume;
    } catch {
      return undefined;
    }
  }

  /** Every volume kept here. */
  async keptAll(): Promise<KeptHostVolume[]> {
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch {
      return [];
    }
    const out: KeptHostVolume[] = [];
    for (const n of names.filter((x) => x.endsWith(".json"))) {
      const k = await this.kept(n.slice(0, -".json".length));
      if (k !== undefined) out.push(k);
    }
    return out;
  }

  /** Makes the volume with its plugin; the path it is at and its capacity (the mkdir plugin's: 0, unbounded). */
  async create(vol: HostVolume): Promise<{ HostPath: string; CapacityBytes: number }> {
    const plugin = vol.PluginID === "" || vol.PluginID === DEFAULT_HOST_VOLUME_PLUGIN ? MKDIR_PLUGIN : vol.PluginID;
    if (plugin !== MKDIR_PLUGIN) throw new Error(`no such plugin: ${JSON.stringify(vol.PluginID)} (this client has the built-in "mkdir" only)`);
    const p = mkdirParameters(vol.Parameters ?? {});
    const path = join(this.volumesDir, vol.ID);
    await mkdir(this.volumesDir, { recursive: true, mode: 0o711 });
    await mkdir(path, { recursive: true });
    await chmod(path, p.mode);
    if (p.uid !== undefined || p.gid !== undefined) await chown(path, p.uid ?? -1, p.gid ?? -1);
    await this.keep({ ID: vol.ID, Name: vol.Name, Namespace: vol.Namespace, HostPath: path, Created: true });
    return { HostPath: path, CapacityBytes: 0 };
  }

  /** Offers a directory already on the node (`volume register`): it must be there. */
  async register(vol: HostVolume): Promise<void> {
    const s = await stat(vol.HostPath).catch((err: unknown) => {
      throw new Error(`host_path ${vol.HostPath} cannot be used: ${errorMessage(err)}`, { cause: err });
    });
    if (!s.isDirectory()) throw new Error(`host_path ${vol.HostPath} is not a directory`);
    await this.keep({ ID: vol.ID, Name: vol.Name, Namespace: vol.Namespace, HostPath: vol.HostPath, Created: false });
  }

  /** Takes the volume away: a created one's directory is removed, a registered one's left. */
  async delete(vol: HostVolume): Promise<void> {
    const file = join(this.stateDir, `${vol.ID}.json`);
    let kept: KeptHostVolume | undefined;
    try {
      kept = JSON.parse(await readFile(file, "utf8")) as KeptHostVolume;
    } catch {
      kept = undefined;
    }
    const created = kept?.Created ?? (vol.HostPath === join(this.volumesDir, vol.ID));
    if (created) await rm(join(this.volumesDir, vol.ID), { recursive: true, force: true });
    await rm(file, { force: true });
  }

  private async keep(k: KeptHostVolume): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const file = join(this.stateDir, `${k.ID}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(k), { mode: 0o600 });
    await rename(tmp, file);
  }
}
