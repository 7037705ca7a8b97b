import type { AllocNetwork } from "../../drivers/index.js";
import { errorMessage } from "../../structs/index.js";
import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";
import { joinsNetwork } from "./network.js";

/**
 * A task of a bridge group starts in the group's shared network: before its start it waits
 * for the network (made later than the task's spec when the allocation replaces one of this
 * node, whose pause container holds the same ports until it is gone) and joins it when its
 * driver does. A network that could not be made fails the task ("Setup Failure").
 */
export class TaskNetworkHook implements TaskHook {
  readonly name = "network";

  constructor(
    private readonly ctx: TaskHookContext,
    private readonly network: (() => Promise<AllocNetwork | undefined>) | undefined,
  ) {}

  async prestart(): Promise<PrestartResult> {
    if (this.network === undefined) return { ok: true };
    let net: AllocNetwork | undefined;
    try {
      net = await this.network();
    } catch (err) {
      return { ok: false, event: "Setup Failure", reason: `the allocation's network could not be made: ${errorMessage(err)}` };
    }
    if (net !== undefined && joinsNetwork(this.ctx.task.Driver)) this.ctx.spec.network = net;
    return { ok: true };
  }
}
