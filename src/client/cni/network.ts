import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, type AllocNetworkStatus } from "../../structs/index.js";
import type { CniNetwork, CniPluginConf } from "./config.js";
import { CniCommand, execPlugin, type CniInvocation } from "./plugin.js";

/** A port the `portmap` plugin publishes (the CNI `portMappings` capability's entry). */
export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  hostIP?: string;
}

/** What one attachment of a network to a namespace is run with (libcni's `RuntimeConf`). */
export interface CniAttachment {
  containerId: string;
  netns: string;
  ifName: string;
  args: [string, string][];
  /** Capability arguments, passed in `runtimeConfig` to the plugins that declare the capability. */
  capabilityArgs: { portMappings?: CniPortMapping[] };
}

/**
 * One plugin's stdin (pure; libcni's `buildOneConfig`): its config with the network's `name`
 * and `cniVersion`, the previous plugin's result as `prevResult`, and `runtimeConfig` holding
 * the capability arguments its `capabilities` ask for.
 */
export function pluginStdin(net: Pick<CniNetwork, "name" | "cniVersion">, plugin: CniPluginConf, att: CniAttachment, prevResult: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: net.name, cniVersion: net.cniVersion };
  if (prevResult !== null && prevResult !== undefined) conf.prevResult = prevResult;
  else delete conf.prevResult;
  const runtime: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    const v = (att.capabilityArgs as Record<string, unknown>)[cap];
    if (on && v !== undefined) runtime[cap] = v;
  }
  if (Object.keys(runtime).length > 0) conf.runtimeConfig = { ...(plugin.runtimeConfig ?? {}), ...runtime };
  return conf;
}

function invocation(command: CniInvocation["command"], att: CniAttachment, path: readonly string[]): CniInvocation {
  return { command, containerId: att.containerId, netns: att.netns, ifName: att.ifName, args: att.args, path };
}

/** Whether a config version passes a cached result to DEL and has CHECK (CNI 0.4.0 and later). */
function atLeast040(version: string): boolean {
  const [maj = 0, min = 0] = version.split(".").map(Number);
  return maj > 0 || min >= 4;
}

/** ADD: each plugin in order, each given the result of the one before; resolves with the last one's result. */
export async function cniAdd(net: CniNetwork, att: CniAttachment, path: readonly string[]): Promise<unknown> {
  let prev: unknown = null;
  for (const p of net.plugins) prev = await execPlugin(p.type, invocation(CniCommand.Add, att, path), pluginStdin(net, p, att, prev));
  return prev;
}

/** CHECK (CNI 0.4.0+): each plugin in order, given the cached ADD result; rejects with the first that finds the network wrong. */
export async function cniCheck(net: CniNetwork, att: CniAttachment, path: readonly string[], cached: unknown): Promise<void> {
  if (!atLeast040(net.cniVersion)) return;
  for (const p of net.plugins) await execPlugin(p.type, invocation(CniCommand.Check, att, path), pluginStdin(net, p, att, cached));
}

/**
 * DEL: each plugin in reverse order (the cached ADD result as `prevResult` from CNI 0.4.0 on).
 * Every plugin is asked even when one before it failed, so none leaves its part behind
 * (a veth, an address lease, iptables rules); the first failure is then thrown.
 */
export async function cniDel(net: CniNetwork, att: CniAttachment, path: readonly string[], cached: unknown): Promise<void> {
  const failed: string[] = [];
  let cause: unknown;
  for (const p of [...net.plugins].reverse()) {
    try {
      await execPlugin(p.type, invocation(CniCommand.Del, att, path), pluginStdin(net, p, att, atLeast040(net.cniVersion) ? cached : null));
    } catch (err) {
      failed.push(errorMessage(err));
      cause ??= err;
    }
  }
  if (failed.length > 0) throw new Error(`removing network ${net.name} of ${att.containerId}: ${failed.join("; ")}`, { cause });
}

/**
 * The allocation's network from an ADD result (pure; Nomad's `cniToAllocNet`): the first
 * interface, by name, that is in the namespace (has a `sandbox`) and has an address (any
 * interface when none in the namespace has); its first IPv4 address is the allocation's
 * (its IPv6 one when it has no IPv4); the result's DNS when it names servers.
 */
export function allocNetworkStatus(result: unknown): AllocNetworkStatus {
  const r = (result ?? {}) as {
    interfaces?: { name?: string; sandbox?: string }[];
    ips?: { address?: string; interface?: number }[];
    ip4?: { ip?: string };
    ip6?: { ip?: string };
    dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
  };
  const ifaces = r.interfaces ?? [];
  // Each interface's addresses; a result of CNI 0.2 (ip4/ip6, no interfaces) is one unnamed interface.
  const byIface = new Map<string, { sandbox: boolean; ips: string[] }>();
  const ips = r.ips ?? [];
  if (ips.length === 0 && (r.ip4?.ip !== undefined || r.ip6?.ip !== undefined)) {
    byIface.set("", { sandbox: true, ips: [r.ip4?.ip, r.ip6?.ip].filter((x): x is string => x !== undefined) });
  }
  for (const ip of ips) {
    if (ip.address === undefined) continue;
    const iface = ip.interface === undefined ? undefined : ifaces[ip.interface];
    const name = iface?.name ?? "";
    const entry = byIface.get(name) ?? { sandbox: (iface?.sandbox ?? "") !== "", ips: [] };
    entry.ips.push(ip.address);
    byIface.set(name, entry);
  }
  if (byIface.size === 0) throw new Error("failed to configure network: no interfaces found");
  const names = [...byIface.keys()].sort();
  const pick = (requireSandbox: boolean): AllocNetworkStatus | undefined => {
    for (const name of names) {
      const e = byIface.get(name);
      if (e === undefined || (requireSandbox && !e.sandbox)) continue;
      const bare = e.ips.map((a) => a.split("/")[0] ?? a);
      const v4 = bare.find((a) => !a.includes(":")) ?? "";
      const v6 = bare.find((a) => a.includes(":")) ?? "";
      if (v4 !== "" || v6 !== "") return { InterfaceName: name, Address: v4 !== "" ? v4 : v6, AddressIPv6: v6, DNS: null };
    }
    return undefined;
  };
  const status = pick(true) ?? pick(false);
  if (status === undefined) throw new Error("failed to configure network: no interface with an address");
  const dns = r.dns;
  if (dns?.nameservers !== undefined && dns.nameservers.length > 0) status.DNS = { Servers: dns.nameservers, Searches: dns.search ?? [], Options: dns.options ?? [] };
  return status;
}

/** What is kept of an attachment between ADD and DEL (libcni's cache): enough to undo it after an agent restart. */
export interface CniCacheEntry {
  kind: "cniCacheV1";
  network: CniNetwork;
  attachment: CniAttachment;
  result: unknown;
}

/** The cache file of an attachment, as libcni names it: `<network>-<container id>-<ifname>.json`. */
function cacheFile(dir: string, network: string, containerId: string, ifName: string): string {
  return join(dir, `${network}-${containerId}-${ifName}.json`.replace(/[/\\]/g, "_"));
}

export async function writeCniCache(dir: string, entry: CniCacheEntry): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = cacheFile(dir, entry.network.name, entry.attachment.containerId, entry.attachment.ifName);
  await writeFile(`${file}.tmp`, JSON.stringify(entry), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function readCniCache(dir: string, network: string, containerId: string, ifName: string): Promise<CniCacheEntry | undefined> {
  try {
    const e = JSON.parse(await readFile(cacheFile(dir, network, containerId, ifName), "utf8")) as Partial<CniCacheEntry> | null;
    return e?.kind === "cniCacheV1" && e.network !== undefined && e.attachment !== undefined ? (e as CniCacheEntry) : undefined;
  } catch {
    return undefined;
  }
}

export async function removeCniCache(dir: string, network: string, containerId: string, ifName: string): Promise<void> {
  await rm(cacheFile(dir, network, containerId, ifName), { force: true });
}
