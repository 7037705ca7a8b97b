import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { cniNetworkName, errorMessage, sleep, type Allocation, type AllocNetworkStatus, type Logger, type Node, type TaskGroup } from "../../structs/index.js";
import { allocPorts, interpolate, taskEnv } from "../env.js";
import { findCniNetwork, type CniSettings } from "./config.js";
import { allocNetworkStatus, cniAdd, cniCheck, cniDel, readCniCache, removeCniCache, writeCniCache, type CniAttachment, type CniPortMapping } from "./network.js";

const run = promisify(execFile);

/** The interface the network is given in the namespace (go-cni's prefix "eth" and index 0). */
export const CNI_IFNAME = "eth0";

/**
 * CNI_ARGS of an allocation (pure; Nomad's `Setup`): `IgnoreUnknown=true`, the group
 * network's `cni { args }` (interpolated as the group's first task sees its variables), then
 * the allocation's NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_JOB_ID, NOMAD_GROUP_NAME and
 * NOMAD_ALLOC_ID; a value holding ";" cannot be passed and is left out.
 */
export function cniArgs(alloc: Allocation, group: TaskGroup, node: Node): [string, string][] {
  const args = new Map<string, string>([["IgnoreUnknown", "true"]]);
  const first = group.Tasks[0];
  const env = first === undefined ? {} : taskEnv(alloc, group, first, node, { alloc: "", local: "", secrets: "" });
  for (const [k, v] of Object.entries(group.Networks[0]?.CNI?.Args ?? {})) args.set(k, interpolate(v, { env, node }));
  const own: [string, string][] = [
    ["NOMAD_REGION", alloc.Job.Region],
    ["NOMAD_NAMESPACE", alloc.Namespace],
    ["NOMAD_JOB_ID", alloc.JobID],
    ["NOMAD_GROUP_NAME", alloc.TaskGroup],
    ["NOMAD_ALLOC_ID", alloc.ID],
  ];
  for (const [k, v] of own) args.set(k, v);
  return [...args].filter(([, v]) => !v.includes(";"));
}

/**
 * The allocation's ports for the `portMappings` capability (pure; Nomad's `getPortMapping`):
 * each port twice, tcp and udp, from its host port to its `to` (its host port when unset),
 * on the address it was placed on.
 */
export function cniPortMappings(alloc: Allocation): CniPortMapping[] {
  return allocPorts(alloc).flatMap((p) =>
    (["tcp", "udp"] as const).map((protocol): CniPortMapping => ({ hostPort: p.value, containerPort: p.to > 0 ? p.to : p.value, protocol, ...(p.ip === "" ? {} : { hostIP: p.ip }) })),
  );
}

/** How many times ADD is tried before the allocation's network is said to have failed, and the pause between (Nomad's). */
const CNI_ADD_ATTEMPTS = 3;
const CNI_RETRY_PAUSE_MS = 1_000;

/**
 * The node's CNI networks for its allocations (Nomad's `cniNetworkConfigurator`): `setup`
 * attaches a group's `cni/<name>` network to the allocation's namespace by running the
 * network's plugins (ADD), keeps what it did in the cache, and says the allocation's
 * address; `teardown` undoes it (DEL) from the cache, also after an agent restart.
 */
export class CniConfigurator {
  /**
   * `retryPauseMs`: the pause before ADD is tried again, plus up to as much again at random
   * (Nomad's 1 s and up to 1 s of jitter; tests pass less).
   */
  constructor(
    readonly settings: CniSettings,
    private readonly log: Logger,
    private readonly retryPauseMs = CNI_RETRY_PAUSE_MS,
  ) {}

  /**
   * Attaches the allocation's namespace to its group's CNI network, or, when that namespace
   * is attached already (an agent restart), says what it was given. A namespace made anew
   * (its holder was restarted) is attached again, after the old attachment is undone.
   */
  async setup(alloc: Allocation, group: TaskGroup, node: Node, netns: string): Promise<AllocNetworkStatus> {
    const name = cniNetworkName(group.Networks[0]?.Mode ?? "");
    if (name === undefined) throw new Error(`group ${group.Name} is in no CNI network`);
    const cached = await readCniCache(this.settings.cacheDir, name, alloc.ID, CNI_IFNAME);
    if (cached !== undefined) {
      if (cached.attachment.netns === netns) {
        // Found again (an agent restart): as Nomad, with a bridge plugin of 1.3.0 or later the
        // plugins check it is still as they left it (CHECK; older plugins' CHECK is unreliable,
        // portmap's fails on IPv6 chains it never made) and one that is not is wired again.
        if (!supportsCheck(node)) return allocNetworkStatus(cached.result);
        try {
          await cniCheck(cached.network, cached.attachment, this.settings.path, cached.result);
          return allocNetworkStatus(cached.result);
        } catch (err) {
          this.log.warn({ allocId: alloc.ID, network: name, err: errorMessage(err) }, "the allocation's CNI network failed its check; wiring it again");
        }
      }
      await this.undo(cached.network, cached.attachment, cached.result).catch((err: unknown) => {
        this.log.warn({ allocId: alloc.ID, network: name, err: errorMessage(err) }, "undoing the allocation's old CNI attachment failed");
      });
    }
    const net = await findCniNetwork(this.settings.configDir, name, this.log);
    const att: CniAttachment = { containerId: alloc.ID, netns, ifName: CNI_IFNAME, args: cniArgs(alloc, group, node), capabilityArgs: { portMappings: cniPortMappings(alloc) } };
    let result: unknown;
    let first: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        result = await cniAdd(net, att, this.settings.path);
        break;
      } catch (err) {
        // What the plugins before the failing one did is undone: no veth, lease or rule is left.
        await cniDel(net, att, this.settings.path, null).catch(() => undefined);
        this.log.warn({ allocId: alloc.ID, network: name, attempt, err: errorMessage(err) }, "failed to configure network");
        first ??= err;
        // Tried three times, as Nomad does (two allocations racing to make one bridge fail
        // one of them once); the first error is the one said, the last one is its cause.
        if (attempt === CNI_ADD_ATTEMPTS) throw new Error(`failed to configure network: ${errorMessage(first)}`, { cause: err });
        await sleep(this.retryPauseMs + Math.floor(Math.random() * this.retryPauseMs));
      }
    }
    await writeCniCache(this.settings.cacheDir, { kind: "cniCacheV1", network: net, attachment: att, result });
    const status = allocNetworkStatus(result);
    this.log.info({ allocId: alloc.ID, network: name, address: status.Address }, "attached the allocation to its CNI network");
    return status;
  }

  /** Detaches the allocation from its CNI network (DEL, from the cache); nothing cached is nothing to do. */
  async teardown(allocId: string, group: TaskGroup): Promise<void> {
    const name = cniNetworkName(group.Networks[0]?.Mode ?? "");
    if (name === undefined) return;
    const cached = await readCniCache(this.settings.cacheDir, name, allocId, CNI_IFNAME);
    if (cached === undefined) return;
    await this.undo(cached.network, cached.attachment, cached.result);
  }

  private async undo(net: CniAttachmentNetwork, att: CniAttachment, result: unknown): Promise<void> {
    // A namespace that is gone (its holder removed) is given as it was: the plugins clean up what they can without it.
    await cniDel(net, att, this.settings.path, result);
    await removeCniCache(this.settings.cacheDir, net.name, att.containerId, att.ifName);
    this.log.info({ allocId: att.containerId, network: net.name }, "detached the allocation from its CNI network");
  }
}

type CniAttachmentNetwork = Parameters<typeof cniDel>[0];

/** Whether the node's bridge plugin is 1.3.0 or later (Nomad's `supportsCNICheck` on `plugins.cni.version.bridge`). */
export function supportsCheck(node: Pick<Node, "Attributes">): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(node.Attributes["plugins.cni.version.bridge"] ?? "");
  if (m === null) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 1 || (maj === 1 && min >= 3);
}

/** The name of the namespace made for an allocation none of whose drivers makes one (`/var/run/netns/<name>`). */
function netnsName(allocId: string): string {
  return `ruche-${allocId}`.replace(/[^A-Za-z0-9_.-]/g, "_");
}

/**
 * A network namespace of its own for an allocation none of whose tasks' drivers makes one
 * (exec and raw_exec tasks), as Nomad's client makes one (`/var/run/netns/<name>`, loopback
 * up); found again when it is there. Needs the agent to run as root.
 */
export async function makeNetns(allocId: string): Promise<string> {
  const name = netnsName(allocId);
  const path = `/var/run/netns/${name}`;
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  try {
    if (!exists) await run("ip", ["netns", "add", name]);
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    throw new Error(`making the allocation's network namespace ${path} failed (the agent must run as root, with iproute2's ip): ${errorMessage(err)}`, { cause: err });
  }
  return path;
}

/** Removes the namespace `makeNetns` made; none there is not an error. */
export async function removeNetns(allocId: string): Promise<void> {
  const name = netnsName(allocId);
  const exists = await stat(`/var/run/netns/${name}`).then(
    () => true,
    () => false,
  );
  if (exists) await run("ip", ["netns", "delete", name]);
}
