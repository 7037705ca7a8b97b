/** The network hook for a group in a CNI network, where it refuses before making anything. */
import { afterEach, describe, expect, it } from "vitest";
import { mock, silentLogger, type Job } from "../../structs/index.js";
import { CniConfigurator } from "../cni/index.js";
import { NetworkHook } from "./network.js";
import { hookBed, tempDirPerTest, type HookBed } from "./testing.js";

const dir = tempDirPerTest("ruche-network-cni-");
let bed: HookBed | undefined;
afterEach(async () => {
  await bed?.close();
  bed = undefined;
});

function cniJob(driver: string): Job {
  const job = mock.job({ id: "web", driver });
  const group = job.TaskGroups[0];
  if (group === undefined) throw new Error("mock job without a group");
  group.Networks = [{ Mode: "cni/mynet", MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [] }];
  return job;
}

describe("the network hook in a CNI network", () => {
  it("refuses on a node that runs no CNI plugins, saying so", async () => {
    bed = hookBed(cniJob("exec"), dir());
    const hook = new NetworkHook(bed.ctx, new Map());
    await expect(hook.prerun()).rejects.toThrow('network mode "cni/mynet": this node runs no CNI plugins (its agent has no cni_path / cni_config_dir)');
  });

  it("refuses a group with a task whose driver cannot join the namespace, rather than run it on the host's network", async () => {
    bed = hookBed(cniJob("mock"), dir());
    const cni = new CniConfigurator({ path: ["/usr/lib/cni"], configDir: dir(), cacheDir: dir() }, silentLogger);
    const hook = new NetworkHook(bed.ctx, new Map(), cni);
    await expect(hook.prerun()).rejects.toThrow(/network mode "cni\/mynet": task "\w+" \(driver mock\) cannot join the allocation's network namespace; the drivers whose tasks do are docker, .*exec/);
    expect(hook.networkStatus).toBeUndefined();
  });
});
