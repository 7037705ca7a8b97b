import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { errorMessage, type Logger } from "../../structs/index.js";

/** Where the node finds its CNI plugins and networks (the agent's `client { cni_path cni_config_dir }`). */
export interface CniSettings {
  /** Directories searched for a plugin's executable, in order (Nomad's `cni_path`, split on ":"). */
  path: string[];
  /** The directory of the network configurations (Nomad's `cni_config_dir`). */
  configDir: string;
  /** Where the result of each network's ADD is kept for its CHECK and DEL, as libcni's cache (`<data dir>/client/cni`). */
  cacheDir: string;
}

/** Nomad's defaults: `cni_path = "/opt/cni/bin"`, `cni_config_dir = "/opt/cni/config"`. */
export const DEFAULT_CNI_PATH = "/opt/cni/bin";
export const DEFAULT_CNI_CONFIG_DIR = "/opt/cni/config";

/** `cni_path` as the agent config writes it: directories separated by ":" (Go's `filepath.SplitList`). */
export function splitCniPath(path: string): string[] {
  return path.split(":").filter((p) => p !== "");
}

/** One plugin's configuration in a network's list: at least its `type`, the executable's name. */
export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/**
 * A network as a config file defines it (libcni's `NetworkConfigList`): a `.conflist` holds
 * `plugins`; a `.conf` or `.json` holds one plugin's config, read as a list of one.
 */
export interface CniNetwork {
  name: string;
  cniVersion: string;
  plugins: CniPluginConf[];
  /** The file it was read from. */
  file: string;
}

/** The file extensions libcni's `ConfFiles` is asked for by Nomad. */
const EXTENSIONS = [".conf", ".conflist", ".json"];

/**
 * Reads one config file (pure but for the text given): a conflist needs `name` and a
 * non-empty `plugins` whose entries each name a `type`; a single conf needs `name` and
 * `type`. Throws saying what is wrong.
 */
export function parseCniConfig(text: string, file: string): CniNetwork {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${file}: a CNI config is a JSON object`);
  const o = raw as Record<string, unknown>;
  if (typeof o.name !== "string" || o.name === "") throw new Error(`${file}: the network has no "name"`);
  const cniVersion = typeof o.cniVersion === "string" ? o.cniVersion : "0.1.0";
  if (file.endsWith(".conflist")) {
    if (!Array.isArray(o.plugins) || o.plugins.length === 0) throw new Error(`${file}: a .conflist needs a non-empty "plugins" list`);
    const plugins = o.plugins.map((p: unknown, i): CniPluginConf => {
      if (p === null || typeof p !== "object" || Array.isArray(p) || typeof (p as { type?: unknown }).type !== "string" || (p as { type: string }).type === "") {
        throw new Error(`${file}: plugins[${i}] needs a "type" (the plugin's executable)`);
      }
      return p as CniPluginConf;
    });
    return { name: o.name, cniVersion, plugins, file };
  }
  if (typeof o.type !== "string" || o.type === "") throw new Error(`${file}: the network needs a "type" (the plugin's executable)`);
  return { name: o.name, cniVersion, plugins: [o as CniPluginConf], file };
}

/**
 * The networks of a config dir by name, as Nomad reads them: the `*.conf`, `*.conflist` and
 * `*.json` files in name order; a file that cannot be read is logged and skipped, and so is
 * a second file with a name already seen. A dir that does not exist holds none.
 */
export async function loadCniNetworks(dir: string, log: Logger): Promise<Map<string, CniNetwork>> {
  const out = new Map<string, CniNetwork>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") log.warn({ cniConfigDir: dir, err: errorMessage(err) }, "cannot read the CNI config dir");
    return out;
  }
  for (const name of names.filter((n) => EXTENSIONS.includes(extname(n))).sort()) {
    const file = join(dir, name);
    let net: CniNetwork;
    try {
      net = parseCniConfig(await readFile(file, "utf8"), file);
    } catch (err) {
      log.warn({ file, err: errorMessage(err) }, "skipping a CNI config file that cannot be read");
      continue;
    }
    if (out.has(net.name)) {
      log.warn({ file, name: net.name }, "duplicate CNI config names found, ignoring file");
      continue;
    }
    out.set(net.name, net);
  }
  return out;
}

/** The network of that name in the config dir, or an error as Nomad's: `CNI network config not found for name "x"`. */
export async function findCniNetwork(dir: string, name: string, log: Logger): Promise<CniNetwork> {
  const net = (await loadCniNetworks(dir, log)).get(name);
  if (net === undefined) throw new Error(`failed to load CNI config: CNI network config not found for name "${name}" in ${dir}`);
  return net;
}
