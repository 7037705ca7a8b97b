import { mkdir, rm } from "node:fs/promises";
import type { Driver, TaskHandle } from "../drivers/index.js";
import { errorMessage, NS, type Allocation, type Logger, type Node } from "../structs/index.js";
import type { CniConfigurator } from "./cni/index.js";
import { allocPaths, destroyAllocNetwork } from "./hooks/index.js";
import { taskSpec } from "./task-spec.js";

/**
 * An allocation the servers told to stop, which this agent runs no runner for: placed and
 * stopped before the agent heard of it, or one whose saved state the agent lost (a kill -9
 * between starting a task and saving its handle). Whatever a driver still runs of it is
 * found again by the task's id (the docker driver by its labels), stopped with the task's
 * kill signal and timeout, and removed; then its directory. Resolves with how many tasks
 * were found; a driver that cannot tell is logged and passed over.
 */
export async function settleStopped(a: Allocation, d: { node: Node; drivers: ReadonlyMap<string, Driver>; allocRoot: string; log: Logger; cni?: CniConfigurator }): Promise<number> {
  const group = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup);
  if (group === undefined) return 0;
  const paths = allocPaths(d.allocRoot, a.ID);
  let found = 0;
  for (const task of group.Tasks) {
    const driver = d.drivers.get(task.Driver);
    if (driver === undefined) continue;
    try {
      const spec = taskSpec(a, group, task, d.node, paths);
      // A driver that finds the task again copies its output: it needs somewhere to write it.
      await mkdir(paths.logs, { recursive: true });
      const handle: TaskHandle = { driver: driver.name, taskId: spec.id, startedAt: 0, state: {} };
      if (!(await driver.recover(handle, spec))) continue;
      found++;
      d.log.info({ allocId: a.ID, task: task.Name }, "stopping a task of an allocation the servers stopped, which this agent had lost track of");
      await driver.stop(handle, task.KillTimeout / NS.millisecond, task.KillSignal === "" ? "SIGTERM" : task.KillSignal);
      await driver.destroy(handle);
    } catch (err) {
      d.log.warn({ allocId: a.ID, task: task.Name, err }, `could not make sure the task of a stopped allocation is gone: ${errorMessage(err)}`);
    }
  }
  // A bridge group's pause container goes once its tasks are gone; a CNI group's network is undone first (DEL).
  await destroyAllocNetwork(a, group, d.drivers, d.cni).catch((err: unknown) => {
    d.log.warn({ allocId: a.ID, err }, `could not remove the shared network of a stopped allocation: ${errorMessage(err)}`);
  });
  await rm(paths.dir, { recursive: true, force: true });
  return found;
}
