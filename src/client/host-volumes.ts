import type { TaskMount } from "../drivers/index.js";
import { volumeSource, VolumeType, type Node, type Task, type TaskGroup } from "../structs/index.js";

/** A task's host volume mounts on this node: the ones it can have, and the sources the node lacks. */
export interface HostVolumePlan {
  mounts: TaskMount[];
  /** Host volumes (sources) the task's mounts name that the node does not offer. */
  missing: string[];
}

/**
 * The task's `volume_mount` blocks resolved against its group's `volume` requests and the
 * node's host volumes (pure, as Nomad's volume hook's `hostVolumeMountConfigurations`): each
 * mount is the node volume's path at the mount's destination, read-only when the mount, the
 * group's request or the node's volume says so; the destination and propagation mode with
 * the task's variables interpolated (`${NOMAD_TASK_DIR}/data`), as Nomad's hook does. A source the node lacks (its agent started
 * again without it) is listed in `missing`: the task must not start. A `per_alloc` request
 * names the allocation's own volume, `source[N]` for the allocation `allocName` (index N).
 */
export function planHostVolumes(group: TaskGroup, task: Task, node: Node, interpolate: (text: string) => string = (t) => t, allocName = ""): HostVolumePlan {
  const mounts: TaskMount[] = [];
  const missing: string[] = [];
  for (const m of task.VolumeMounts ?? []) {
    const req = group.Volumes?.[m.Volume];
    if (req === undefined || req.Type !== VolumeType.Host) continue;
    const source = volumeSource(req, allocName);
    const host = node.HostVolumes?.[source];
    if (host === undefined) {
      if (!missing.includes(source)) missing.push(source);
      continue;
    }
    mounts.push({
      volume: source,
      hostPath: host.Path,
      taskPath: interpolate(m.Destination),
      readOnly: host.ReadOnly || req.ReadOnly || m.ReadOnly,
      propagationMode: interpolate(m.PropagationMode),
      selinuxLabel: m.SELinuxLabel,
    });
  }
  return { mounts, missing };
}
