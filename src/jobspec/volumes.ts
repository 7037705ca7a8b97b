import { VOLUME_MOUNT_PROPAGATIONS, VolumeType, type Task, type TaskGroup, type VolumeRequest } from "../structs/index.js";
import { didYouMean } from "./suggest.js";

type Report = (path: string, message: string, missing?: boolean) => void;

/** Access modes a host volume request may name (Nomad's `HostVolumeAccessMode*`); "" is any. */
const HOST_ACCESS_MODES = ["", "single-node-reader-only", "single-node-writer", "single-node-single-writer", "single-node-multi-writer"];
const HOST_ATTACHMENT_MODES = ["", "file-system"];
const SELINUX_LABELS = ["", "z", "Z"];

const CSI = 'type "csi": Ruche does not run CSI plugins; offer the directory as a host volume of the nodes (client { host_volume "NAME" { path = "..." } }) and use type = "host"';

/**
 * A group's `volume` blocks, checked as Nomad's `VolumeRequest.Validate` checks a host
 * volume; what Ruche does not do (CSI volumes) is refused with its reason. `sticky` (the
 * replacement of an allocation goes where its dynamic host volume is, `volume create`) as Nomad
 * allows it: not with `per_alloc`. `per_alloc` (each allocation its own host volume, `source[N]`) as Nomad allows
 * it: not for system or sysbatch jobs, not with canaries. Paths are `TaskGroups[i].Volumes.NAME`.
 */
export function volumeProblems(g: TaskGroup, at: string, p: Report, jobType = ""): void {
  for (const [name, v] of Object.entries(g.Volumes ?? {})) {
    const vAt = `${at}.Volumes.${name}`;
    if (name === "") p(vAt, 'a volume block needs a name: volume "data" { type = "host" source = "data" }');
    request(v, vAt, p);
    if (v.PerAlloc) {
      if (jobType === "system" || jobType === "sysbatch") p(`${vAt}.PerAlloc`, `volume cannot be per_alloc for system or sysbatch jobs (a ${jobType} job's allocations all have index 0)`);
      if ((g.Update?.Canary ?? 0) > 0) p(`${vAt}.PerAlloc`, "volume cannot be per_alloc when canaries are in use (a canary has the index of the allocation it replaces)");
    }
  }
}

function request(v: VolumeRequest, at: string, p: Report): void {
  if (v.Type === VolumeType.CSI) {
    p(`${at}.Type`, CSI);
    return;
  }
  if (v.Type === "") {
    p(`${at}.Type`, `volume "${v.Name}" needs a type: type = "host" (a directory the node's agent config offers as host_volume)`, true);
    return;
  }
  if (v.Type !== VolumeType.Host) {
    p(`${at}.Type`, `volume "${v.Name}" has unrecognized type "${v.Type}"; Ruche has "host"${didYouMean(v.Type, [VolumeType.Host, VolumeType.CSI])}`);
    return;
  }
  if (v.Source === "") p(`${at}.Source`, `volume "${v.Name}" has an empty source: source names the host_volume of the nodes' agent config`, true);
  if (v.Sticky && v.PerAlloc) p(`${at}.Sticky`, "volume cannot be per_alloc and sticky at the same time");
  if (!HOST_ACCESS_MODES.includes(v.AccessMode)) p(`${at}.AccessMode`, `host volumes cannot be mounted with ${v.AccessMode} access mode; use one of ${HOST_ACCESS_MODES.filter((m) => m !== "").join(", ")}`);
  else if (v.AccessMode === "single-node-reader-only" && !v.ReadOnly) p(`${at}.ReadOnly`, `${v.AccessMode} volumes must be read-only: add read_only = true`);
  if (!HOST_ATTACHMENT_MODES.includes(v.AttachmentMode)) p(`${at}.AttachmentMode`, `a host volume is attached as a file-system, not "${v.AttachmentMode}"`);
}

/**
 * A task's `volume_mount` blocks, as Nomad's `VolumeMount.Validate` and its task check
 * ("references undefined volume"): each names one of the group's volumes, goes to an
 * absolute path in the task, with a known propagation mode (an exec task's only private) and
 * SELinux label. A raw_exec
 * task mounts nothing: Nomad's raw_exec refuses host volumes when the task starts; Ruche
 * says so here.
 */
export function volumeMountProblems(g: TaskGroup, t: Task, at: string, p: Report): void {
  const volumes = Object.keys(g.Volumes ?? {});
  const destinations = new Map<string, number>();
  (t.VolumeMounts ?? []).forEach((m, i) => {
    const mAt = `${at}.VolumeMounts[${i}]`;
    if (m.Volume === "") p(`${mAt}.Volume`, "volume_mount needs volume: the name of one of the group's volume blocks", true);
    else if (!volumes.includes(m.Volume)) {
      p(`${mAt}.Volume`, `volume_mount names volume "${m.Volume}", which group "${g.Name}" does not declare (volume "${m.Volume}" { type = "host" source = "..." })${didYouMean(m.Volume, volumes)}`);
    }
    if (m.Destination === "") p(`${mAt}.Destination`, "volume_mount needs destination: the absolute path where the volume appears in the task", true);
    // With variables (`${NOMAD_TASK_DIR}/data`, which Nomad interpolates on the node), the client checks it once it is read.
    else if (!m.Destination.startsWith("/") && !m.Destination.includes("${")) p(`${mAt}.Destination`, `volume_mount destination must be an absolute path in the task, got "${m.Destination}"`);
    else if (m.Destination.split("/").includes("..")) p(`${mAt}.Destination`, `volume_mount destination must not climb with "..", got "${m.Destination}"`);
    else {
      const first = destinations.get(m.Destination);
      if (first !== undefined) p(`${mAt}.Destination`, `volume_mount destination "${m.Destination}" is already the destination of volume_mount ${first}`);
      destinations.set(m.Destination, i);
    }
    if (!VOLUME_MOUNT_PROPAGATIONS.includes(m.PropagationMode)) {
      p(`${mAt}.PropagationMode`, `volume_mount propagation_mode must be one of ${VOLUME_MOUNT_PROPAGATIONS.join(", ")}, got "${m.PropagationMode}"${didYouMean(m.PropagationMode, VOLUME_MOUNT_PROPAGATIONS)}`);
    }
    else if ((t.Driver === "exec" || t.Driver === "java") && m.PropagationMode !== "private") {
      p(`${mAt}.PropagationMode`, `${t.Driver === "java" ? "a java" : "an exec"} task's mounts are private to its own mount namespace: propagation_mode "${m.PropagationMode}" is offered to docker tasks only`);
    }
    if (!SELINUX_LABELS.includes(m.SELinuxLabel)) p(`${mAt}.SELinuxLabel`, `volume_mount selinux_label must be "z" (shared) or "Z" (private), got "${m.SELinuxLabel}"`);
  });
  if ((t.VolumeMounts ?? []).length > 0 && t.Driver === "raw_exec") {
    p(`${at}.VolumeMounts`, 'task driver "raw_exec" does not support host volumes (as in Nomad): a raw_exec task runs on the host, so it reads the volume\'s path there; remove the volume_mount or use exec or docker');
  }
}
