export { DEFAULT_CNI_CONFIG_DIR, DEFAULT_CNI_PATH, findCniNetwork, loadCniNetworks, parseCniConfig, splitCniPath, type CniNetwork, type CniPluginConf, type CniSettings } from "./config.js";
export { CNI_IFNAME, cniArgs, CniConfigurator, cniPortMappings, makeNetns, removeNetns } from "./configurator.js";
export { CNI_PLUGIN_ATTRIBUTE, withCniFingerprint } from "./fingerprint.js";
export { allocNetworkStatus, cniAdd, cniCheck, cniDel, pluginStdin, readCniCache, type CniAttachment, type CniPortMapping } from "./network.js";
export { CniCommand, CniPluginError, execPlugin, findPlugin, pluginEnv, pluginVersions, type CniInvocation } from "./plugin.js";
