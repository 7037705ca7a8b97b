import type { AllocNetwork, TaskSpec } from "../drivers/index.js";
import { exposedIdentities, identityEnvName, signedIdentityKey, type Allocation, type Node, type Task, type TaskGroup } from "../structs/index.js";
import { allocPorts, interpolate, interpolateConfig, taskEnv, type TaskDirs } from "./env.js";
import { joinsNetwork, taskPaths, type AllocPaths } from "./hooks/index.js";
import { planHostVolumes } from "./host-volumes.js";
import { logPath } from "./logs.js";

/** Drivers whose tasks see the allocation's directories at `/alloc`, `/local` and `/secrets`. */
const ISOLATED = new Set(["exec", "java", "docker", "containerd-driver"]);

/**
 * What a driver is given to start one task of an allocation (pure): its config and
 * environment with the node's and the allocation's values interpolated, its resources,
 * the allocation's ports, where its files and output go, and the allocation's shared network
 * (`network { mode = "bridge" }`, made by the network hook) when its driver joins one.
 */
export function taskSpec(alloc: Allocation, group: TaskGroup, task: Task, node: Node, paths: AllocPaths, network?: AllocNetwork): TaskSpec {
  const own = taskPaths(paths.dir, task.Name);
  const hostDirs: TaskDirs = { alloc: paths.shared, local: own.local, secrets: own.secrets };
  const seen: TaskDirs = ISOLATED.has(task.Driver) ? { alloc: "/alloc", local: "/local", secrets: "/secrets" } : hostDirs;
  const env = taskEnv(alloc, group, task, node, seen);
  // `identity { env = true }`: the JWT the servers signed for the task (Nomad's NOMAD_TOKEN).
  for (const w of exposedIdentities(task)) {
    const jwt = alloc.SignedIdentities?.[signedIdentityKey(task.Name, w.Name)];
    if (w.Env && jwt !== undefined) env[identityEnvName(w.Name)] = jwt;
  }
  const config = interpolateConfig(task.Config, { env, node }) as Record<string, unknown>;
  const { mounts } = planHostVolumes(group, task, node, (text) => interpolate(text, { env, node }), alloc.Name);
  const spec: TaskSpec = {
    id: `${alloc.ID}/${task.Name}`,
    allocId: alloc.ID,
    taskName: task.Name,
    jobId: alloc.JobID,
    jobName: alloc.Job.Name,
    parentJobId: alloc.Job.ParentID ?? "",
    group: group.Name,
    namespace: alloc.Namespace,
    nodeId: node.ID,
    nodeName: node.Name,
    config,
    env,
    user: task.User,
    cpu: alloc.TaskResources[task.Name]?.CPU ?? task.Resources.CPU,
    memoryMB: alloc.TaskResources[task.Name]?.MemoryMB ?? task.Resources.MemoryMB,
    ports: allocPorts(alloc),
    allocDir: paths.dir,
    taskDir: own.dir,
    stdoutPath: logPath(paths.logs, task.Name, "stdout"),
    stderrPath: logPath(paths.logs, task.Name, "stderr"),
    logLimits: { maxFiles: Math.max(1, task.LogConfig.MaxFiles), maxFileBytes: Math.max(1, task.LogConfig.MaxFileSizeMB) * 1024 * 1024 },
    ...(mounts.length === 0 ? {} : { mounts }),
  };
  const memoryMaxMB = alloc.TaskResources[task.Name]?.MemoryMaxMB;
  if (memoryMaxMB !== undefined) spec.memoryMaxMB = memoryMaxMB;
  if (network !== undefined && joinsNetwork(task.Driver)) spec.network = network;
  return spec;
}
