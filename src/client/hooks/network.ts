import type { AllocNetwork, Driver } from "../../drivers/index.js";
import { cniNetworkName, type Allocation, type AllocNetworkStatus, type TaskGroup } from "../../structs/index.js";
import { allocPorts, interpolate, taskEnv } from "../env.js";
import { makeNetns, removeNetns, type CniConfigurator } from "../cni/index.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/** Drivers whose tasks join a bridge group's shared network namespace (the mock driver's keep theirs). */
const JOINS_NETWORK: ReadonlySet<string> = new Set(["docker", "podman", "exec", "java", "raw_exec", "containerd-driver"]);

/** Whether a task of this driver joins a bridge group's shared network. */
export function joinsNetwork(driver: string): boolean {
  return JOINS_NETWORK.has(driver);
}

/**
 * The driver that makes a bridge group's shared network, as Nomad's network hook picks it:
 * the first of the group's tasks whose driver can make one (docker). None: the group's
 * tasks keep their drivers' own networks.
 */
export function networkDriver(group: TaskGroup, drivers: ReadonlyMap<string, Driver>): Driver | undefined {
  const mode = group.Networks[0]?.Mode;
  if (mode !== "bridge" && cniNetworkName(mode ?? "") === undefined) return undefined;
  for (const t of group.Tasks) {
    const d = drivers.get(t.Driver);
    if (d?.createNetwork !== undefined) return d;
  }
  return undefined;
}

/**
 * Removes a bridge or CNI group's shared network, for an allocation no runner holds any more
 * (the client's settle path) as on destroy: the CNI network's plugins undo their part (DEL)
 * while the namespace is still there, then the namespace goes.
 */
export async function destroyAllocNetwork(alloc: Allocation, group: TaskGroup, drivers: ReadonlyMap<string, Driver>, cni?: CniConfigurator): Promise<void> {
  const isCni = cniNetworkName(group.Networks[0]?.Mode ?? "") !== undefined;
  let failed: Error | undefined;
  if (isCni) await cni?.teardown(alloc.ID, group).catch((err: unknown) => (failed = err instanceof Error ? err : new Error(String(err))));
  const driver = networkDriver(group, drivers);
  if (driver?.createNetwork !== undefined) await driver.destroyNetwork?.(alloc.ID);
  else if (isCni) await removeNetns(alloc.ID);
  if (failed !== undefined) throw failed;
}

/**
 * `network { mode = "bridge" }`: the network namespace the allocation's tasks share, so that
 * they reach each other on localhost, with the group's ports published on the host once
 * (Nomad's `network_hook`). Made before the tasks start, found again after an agent restart
 * (the driver's `createNetwork` is idempotent); left alone when the agent shuts down, as the
 * tasks are; removed when the allocation is destroyed, after its tasks.
 */
export class NetworkHook implements AllocHook {
  readonly name = "network";
  private made: AllocNetwork | undefined;
  private pending: Promise<AllocNetwork | undefined> = Promise.resolve(undefined);
  /**
   * Set before `prerun`: the allocation of this node this one replaces, gone when this
   * settles. Its network holds the same static ports until then, so this one is made after.
   */
  after: Promise<void> | undefined;
  private destroyed = false;

  private status: AllocNetworkStatus | undefined;

  constructor(
    private readonly ctx: AllocHookContext,
    private readonly drivers: ReadonlyMap<string, Driver>,
    /** The node's CNI networks; absent: a group in mode `cni/<name>` cannot start here. */
    private readonly cni?: CniConfigurator,
  ) {}

  /** The shared network once made; undefined outside bridge mode and until it is made. */
  get network(): AllocNetwork | undefined {
    return this.made;
  }

  /** The shared network, once made (undefined outside bridge mode); rejects when it could not be made. */
  ready(): Promise<AllocNetwork | undefined> {
    return this.pending;
  }

  async prerun(): Promise<void> {
    if (cniNetworkName(this.ctx.group().Networks[0]?.Mode ?? "") !== undefined) {
      await this.prerunCni();
      return;
    }
    const driver = networkDriver(this.ctx.group(), this.drivers);
    if (driver?.createNetwork === undefined) return;
    const a = this.ctx.alloc();
    const group = this.ctx.group();
    const hostname = group.Networks[0]?.Hostname;
    const first = group.Tasks[0];
    // `${NOMAD_ALLOC_INDEX}` and the like: the allocation's variables, as its first task sees them.
    const name = hostname === undefined || first === undefined ? hostname : interpolate(hostname, { env: taskEnv(a, group, first, this.ctx.node, { alloc: "", local: "", secrets: "" }), node: this.ctx.node });
    const req = { allocId: a.ID, jobId: a.JobID, group: a.TaskGroup, namespace: a.Namespace, ports: allocPorts(a), ...(name === undefined ? {} : { hostname: name }) };
    const make = async (): Promise<AllocNetwork> => {
      if (this.destroyed) throw new Error("the allocation was destroyed before its network was made");
      const made = await driver.createNetwork?.(req);
      if (made === undefined) throw new Error(`driver ${driver.name} made no network`);
      this.made = made;
      return made;
    };
    await this.begin(make);
  }

  /** Makes the network now, or once the replaced allocation is gone; the tasks wait for it (the task hook `network`). */
  private async begin(make: () => Promise<AllocNetwork>): Promise<void> {
    if (this.after === undefined) {
      this.pending = Promise.resolve(await make());
      return;
    }
    this.pending = this.after.then(make);
    this.pending.catch(() => undefined);
  }

  /**
   * `network { mode = "cni/<name>" }` (Nomad's network hook with its CNI configurator): the
   * allocation's namespace, made empty (docker: the pause container with network "none";
   * a group without a docker task: a namespace of its own, `/var/run/netns/ruche-<alloc>`),
   * then wired by the network's plugins (`../cni/`), whose result is the allocation's
   * address (`status`). Both made once the allocation this one replaces is gone.
   */
  private async prerunCni(): Promise<void> {
    const cni = this.cni;
    const a = this.ctx.alloc();
    const group = this.ctx.group();
    const mode = group.Networks[0]?.Mode ?? "";
    if (cni === undefined) throw new Error(`network mode "${mode}": this node runs no CNI plugins (its agent has no cni_path / cni_config_dir)`);
    // A task left out of the namespace would run on the host's network unseen: refused, loudly.
    const outside = group.Tasks.filter((t) => !joinsNetwork(t.Driver));
    if (outside.length > 0) {
      throw new Error(`network mode "${mode}": ${outside.map((t) => `task "${t.Name}" (driver ${t.Driver})`).join(", ")} cannot join the allocation's network namespace; the drivers whose tasks do are ${[...JOINS_NETWORK].join(", ")}`);
    }
    const driver = networkDriver(group, this.drivers);
    const req = { allocId: a.ID, jobId: a.JobID, group: a.TaskGroup, namespace: a.Namespace, ports: allocPorts(a), networkMode: "none" as const };
    const make = async (): Promise<AllocNetwork> => {
      if (this.destroyed) throw new Error("the allocation was destroyed before its network was made");
      const made = driver?.createNetwork !== undefined ? await driver.createNetwork(req) : { containerId: "", netnsPath: await makeNetns(a.ID) };
      this.made = made;
      this.status = await cni.setup(a, group, this.ctx.node, made.netnsPath);
      this.ctx.changed();
      return made;
    };
    await this.begin(make);
  }

  /** The allocation's own network (mode `cni/<name>`) once its plugins wired it: its address, reported to the servers. */
  get networkStatus(): AllocNetworkStatus | undefined {
    return this.status;
  }

  async destroy(): Promise<void> {
    // A network still waiting for the allocation this one replaces is never made.
    this.destroyed = true;
    await destroyAllocNetwork(this.ctx.alloc(), this.ctx.group(), this.drivers, this.cni);
    this.made = undefined;
  }
}
