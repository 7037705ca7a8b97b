import type { Logger, Node } from "../../structs/index.js";
import { loadCniNetworks } from "./config.js";
import { pluginVersions } from "./plugin.js";

/** The attribute prefix of the plugins' versions, Nomad's: `plugins.cni.version.bridge` = `v1.4.0`. */
export const CNI_PLUGIN_ATTRIBUTE = "plugins.cni.version";

/**
 * The node with its CNI networks and plugins in it (Nomad's `CNIFingerprint` and
 * `PluginsCNIFingerprint`): a network mode `cni/<name>` in `Resources.Networks` for each
 * network of the config dir, and `plugins.cni.version.<plugin>` for each plugin of the cni
 * path that says its version. Read when the agent starts, as Nomad's (a static fingerprint).
 */
export async function withCniFingerprint(node: Node, cni: { path: readonly string[]; configDir: string }, log: Logger): Promise<Node> {
  const networks = await loadCniNetworks(cni.configDir, log);
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.Attributes)) if (!k.startsWith(`${CNI_PLUGIN_ATTRIBUTE}.`)) attrs[k] = v;
  for (const [plugin, version] of Object.entries(await pluginVersions(cni.path))) attrs[`${CNI_PLUGIN_ATTRIBUTE}.${plugin}`] = version;
  const modes = [...networks.keys()].sort().map((name) => ({ Mode: `cni/${name}` }));
  for (const m of modes) log.debug({ network: m.Mode }, "detected CNI network");
  const resources = { ...node.Resources };
  if (modes.length > 0) resources.Networks = modes;
  else delete resources.Networks;
  return { ...node, Attributes: attrs, Resources: resources };
}
