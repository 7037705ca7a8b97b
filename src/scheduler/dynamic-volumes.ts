import { FilterReason, HostVolumeState, volumeSource, VolumeType, type Allocation, type HostVolume, type Node, type TaskGroup, type VolumeRequest } from "../structs/index.js";
import type { StateView } from "./view.js";

/**
 * Dynamic host volumes in placement (Nomad 1.10's `HostVolumeChecker` on a volume with an
 * ID): where a node's volume of the requested name is a dynamic one, it must be in the job's
 * namespace, `ready`, and offer the request's access and attachment modes; a `sticky` request
 * wants a dynamic volume (never a static one), and the replacement of an allocation placed on
 * one (`HostVolumeIDs`) wants that same volume. Per allocation: null when the group asks for no
 * host volume. The verdict is a filter reason, or null when the node fits.
 */
export function dynamicVolumeCheck(tg: TaskGroup, namespace: string, view: StateView): ((allocName: string, sticky: readonly string[]) => (node: Node) => string | null) | null {
  const requests = Object.values(tg.Volumes ?? {}).filter((v) => v.Type === VolumeType.Host);
  if (requests.length === 0) return null;
  return (allocName, sticky) => {
    const wanted = requests.map((r) => ({ r, source: volumeSource(r, allocName) }));
    return (node) => {
      for (const { r, source } of wanted) {
        const offered = node.HostVolumes?.[source];
        if (offered === undefined) continue; // the static check says so
        const id = offered.ID ?? "";
        if (id === "") {
          if (r.Sticky) return FilterReason.MissingHostVolumes; // sticky is for dynamic volumes only
          continue;
        }
        const vol = view.hostVolume?.(namespace, id);
        if (vol === undefined || !volumeServes(vol, r)) return FilterReason.MissingHostVolumes;
        if (r.Sticky && sticky.length > 0 && !sticky.includes(id)) return FilterReason.StickyHostVolume;
      }
      return null;
    };
  };
}

/**
 * Whether a dynamic volume serves a request (Nomad's `hostVolumeIsAvailable`): ready, with a
 * capability of the request's modes (no access mode: single-node-reader-only when read-only,
 * else single-node-writer; no attachment mode: file-system), read-only for a reader.
 */
export function volumeServes(vol: HostVolume, r: Pick<VolumeRequest, "AccessMode" | "AttachmentMode" | "ReadOnly">): boolean {
  if (vol.State !== HostVolumeState.Ready) return false;
  const access = r.AccessMode !== "" ? r.AccessMode : r.ReadOnly ? "single-node-reader-only" : "single-node-writer";
  const attach = r.AttachmentMode !== "" ? r.AttachmentMode : "file-system";
  if (!vol.RequestedCapabilities.some((c) => c.AccessMode === access && c.AttachmentMode === attach)) return false;
  if (access === "single-node-reader-only") return r.ReadOnly;
  if (access === "single-node-writer") return !r.ReadOnly;
  return true;
}

/** Whether the group has a `sticky` host volume request. */
export function hasSticky(tg: TaskGroup): boolean {
  return Object.values(tg.Volumes ?? {}).some((r) => r.Type === VolumeType.Host && r.Sticky);
}

/** The IDs of the dynamic volumes a group's `sticky` requests get on `node`, for the allocation `allocName` (its `HostVolumeIDs`); [] when none. */
export function stickyVolumeIds(tg: TaskGroup, node: Node, allocName: string): string[] {
  const out: string[] = [];
  for (const r of Object.values(tg.Volumes ?? {})) {
    if (r.Type !== VolumeType.Host || !r.Sticky) continue;
    const id = node.HostVolumes?.[volumeSource(r, allocName)]?.ID ?? "";
    if (id !== "" && !out.includes(id)) out.push(id);
  }
  return out;
}

/**
 * The volumes a placement's `sticky` requests must land on: those of the allocation it replaces,
 * else those of the newest allocation of the same name that had some (a job stopped and run
 * again, whose old allocations are not its new ones' previous), as Nomad's volume claims keep them.
 */
export function stickyOf(previous: Allocation | null, allocs: readonly Allocation[], name: string): readonly string[] {
  if ((previous?.HostVolumeIDs?.length ?? 0) > 0) return previous?.HostVolumeIDs ?? [];
  let best: Allocation | undefined;
  for (const a of allocs) if (a.Name === name && (a.HostVolumeIDs?.length ?? 0) > 0 && (best === undefined || a.CreateIndex > best.CreateIndex)) best = a;
  return best?.HostVolumeIDs ?? [];
}
