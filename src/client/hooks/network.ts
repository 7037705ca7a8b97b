import type { AllocNetwork, Driver } from "../../drivers/index.js";
import type { Allocation, TaskGroup } from "../../structs/index.js";
import { allocPorts, interpolate, taskEnv } from "../env.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/** Drivers whose tasks join a bridge group's shared network namespace (the mock driver's keep theirs). */
const JOINS_NETWORK: ReadonlySet<string> = new Set(["docker", "exec", "raw_exec"]);

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
  if (group.Networks[0]?.Mode !== "bridge") return undefined;
  for (const t of group.Tasks) {
    const d = drivers.get(t.Driver);
    if (d?.createNetwork !== undefined) return d;
  }
  return undefined;
}

/** Removes a bridge group's shared network, for an allocation no runner holds any more (the client's settle path). */
export async function destroyAllocNetwork(alloc: Allocation, group: TaskGroup, drivers: ReadonlyMap<string, Driver>): Promise<void> {
  await networkDriver(group, drivers)?.destroyNetwork?.(alloc.ID);
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

  constructor(
    private readonly ctx: AllocHookContext,
    private readonly drivers: ReadonlyMap<string, Driver>,
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
    if (this.after === undefined) {
      this.pending = Promise.resolve(await make());
      return;
    }
    // Made once the replaced allocation is gone; the tasks wait for it (the task hook `network`).
    this.pending = this.after.then(make);
    this.pending.catch(() => undefined);
  }

  async destroy(): Promise<void> {
    // A network still waiting for the allocation this one replaces is never made.
    this.destroyed = true;
    await destroyAllocNetwork(this.ctx.alloc(), this.ctx.group(), this.drivers);
    this.made = undefined;
  }
}
