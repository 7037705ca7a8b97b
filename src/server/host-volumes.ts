import { checkOperator, resolveTarget } from "../scheduler/index.js";
import type { StateStore } from "../state/index.js";
import {
  clientTerminal,
  DEFAULT_HOST_VOLUME_PLUGIN,
  ErrorCode,
  hostVolumeClaims,
  hostVolumeProblems,
  HostVolumeState,
  MKDIR_PLUGIN,
  nodeIsSchedulable,
  pluginAttribute,
  RucheError,
  type Allocation,
  type HostVolume,
  type HostVolumeReport,
  type Node,
} from "../structs/index.js";
import { newId } from "./ids.js";

/** How long `volume create|register|delete` waits for the node's agent to report (Nomad's client RPC timeout). */
export const HOST_VOLUME_WAIT_MS = 30_000;

/**
 * Why the last attempt on a volume failed on its node, kept from the agent's report until the
 * request that waits for it answers with it (a bounded number, the oldest dropped first).
 */
export class HostVolumeFailures {
  private readonly byKey = new Map<string, string>();

  constructor(private readonly max = 1000) {}

  set(ns: string, id: string, why: string): void {
    const key = `${ns}/${id}`;
    this.byKey.delete(key);
    this.byKey.set(key, why);
    for (const k of this.byKey.keys()) {
      if (this.byKey.size <= this.max) break;
      this.byKey.delete(k);
    }
  }

  /** The failure kept for the volume, forgotten once read. */
  take(ns: string, id: string): string | undefined {
    const key = `${ns}/${id}`;
    const why = this.byKey.get(key);
    this.byKey.delete(key);
    return why;
  }
}

/** What a volume request waits with: the failures the agents reported, and for how long. */
export interface HostVolumeWait {
  failures: HostVolumeFailures;
  waitMs: number;
}

/** The plugin a volume's `PluginID` stands for on a Ruche client: "default" is the built-in "mkdir". */
function pluginOf(v: Pick<HostVolume, "PluginID">): string {
  return v.PluginID === "" || v.PluginID === DEFAULT_HOST_VOLUME_PLUGIN ? MKDIR_PLUGIN : v.PluginID;
}

function invalid(v: HostVolume): void {
  const problems = hostVolumeProblems(v);
  const first = problems[0];
  if (first !== undefined) throw new RucheError(ErrorCode.BadRequest, `volume validation failed: ${problems.map((p) => p.message).join("; ")}`, { path: first.path });
}

/** Why `node` cannot take volume `v`, or null (Nomad's `placeHostVolume` feasibility). */
export function nodeRefusesVolume(v: HostVolume, node: Node, plugin: string): string | null {
  if (v.NodePool !== "" && node.NodePool !== v.NodePool) return `node pool ${JSON.stringify(node.NodePool)} is not the volume's ${JSON.stringify(v.NodePool)}`;
  if (!nodeIsSchedulable(node)) return `node is ${node.Status}${node.SchedulingEligibility === "eligible" ? "" : ", ineligible"}${node.DrainStrategy === null ? "" : ", draining"}`;
  if (node.Attributes[pluginAttribute(plugin)] === undefined) return `node has no host volume plugin ${JSON.stringify(plugin)}`;
  const there = node.HostVolumes?.[v.Name];
  if (there !== undefined && (there.ID ?? "") !== v.ID) return `node already has a host volume named ${JSON.stringify(v.Name)}`;
  for (const c of v.Constraints ?? []) {
    if (!checkOperator(c.Operand, resolveTarget(c.LTarget, node), resolveTarget(c.RTarget, node))) return `constraint ${c.LTarget} ${c.Operand} ${c.RTarget} not met`;
  }
  return null;
}

/** The allocations claiming a volume: not yet terminal on its client, on its node, in its namespace, asking for its name. */
export function claimsOf(store: StateStore, v: HostVolume): Allocation[] {
  return hostVolumeClaims(v, store.allocsByNode(v.NodeID), (a) => clientTerminal(a.ClientStatus));
}

/**
 * `volume create` of a host volume (Nomad's `HostVolume.Create`): checked, placed on a node
 * (the one named, or one of the pool whose constraints hold, that has the plugin and no volume
 * of that name), written `pending`, made by the node's agent with its plugin, then `ready` with
 * its path. With an ID, the volume of that ID is updated (not while claimed, not to another
 * node). A plugin the node's agent fails with leaves no volume behind.
 */
export async function createHostVolume(store: StateStore, req: HostVolume, wait: HostVolumeWait, now: number): Promise<{ volume: HostVolume; index: number }> {
  invalid(req);
  const plugin = pluginOf(req);
  if (plugin !== MKDIR_PLUGIN) {
    throw new RucheError(ErrorCode.BadRequest, `plugin_id ${JSON.stringify(req.PluginID)}: Ruche's clients have the built-in "mkdir" plugin only; external host volume plugins (host_volume_plugin_dir) are not built`, { path: "Volume.PluginID" });
  }
  if (store.namespace(req.Namespace) === undefined) throw new RucheError(ErrorCode.NotFound, `namespace ${JSON.stringify(req.Namespace)} does not exist`, { path: "Volume.Namespace" });
  const existing = req.ID === "" ? undefined : store.hostVolume(req.Namespace, req.ID);
  if (req.ID !== "" && existing === undefined) throw new RucheError(ErrorCode.NotFound, `cannot update volume ${JSON.stringify(req.ID)}: volume does not exist`, { path: "Volume.ID" });
  let vol: HostVolume;
  if (existing !== undefined) {
    const claims = claimsOf(store, existing);
    if (claims.length > 0) throw new RucheError(ErrorCode.BadRequest, `cannot update a volume in use: claimed by allocs (${claims.map((a) => a.ID).join(", ")})`);
    if (req.NodeID !== "" && req.NodeID !== existing.NodeID) throw new RucheError(ErrorCode.BadRequest, "node ID cannot be updated", { path: "Volume.NodeID" });
    if (req.NodePool !== "" && req.NodePool !== existing.NodePool) throw new RucheError(ErrorCode.BadRequest, "node pool cannot be updated", { path: "Volume.NodePool" });
    vol = { ...req, PluginID: req.PluginID === "" ? existing.PluginID : req.PluginID, NodeID: existing.NodeID, NodePool: existing.NodePool, CapacityBytes: existing.CapacityBytes, HostPath: existing.HostPath, CreateTime: existing.CreateTime, ...(existing.Constraints === undefined ? {} : { Constraints: existing.Constraints }) };
  } else {
    vol = { ...req, ID: newId(), PluginID: req.PluginID === "" ? DEFAULT_HOST_VOLUME_PLUGIN : req.PluginID, CapacityBytes: 0, HostPath: "", CreateTime: now * 1e6, NodeID: placeVolume(store, req, plugin).ID };
    const node = store.node(vol.NodeID);
    vol.NodePool = node?.NodePool ?? vol.NodePool;
  }
  if (vol.RequestedCapabilities.length === 0) vol.RequestedCapabilities = [{ AttachmentMode: "file-system", AccessMode: "single-node-writer" }];
  vol = { ...vol, State: HostVolumeState.Pending, ModifyTime: now * 1e6 };
  const pending = vol;
  const { index } = await store.write((tx) => {
    tx.put("hostVolumes", { ...pending, CreateIndex: 0, ModifyIndex: 0 });
  });
  return settled(store, vol, index, wait, (why) => new RucheError(ErrorCode.BadGateway, `error creating volume on node ${vol.NodeID}: ${why}`));
}

/**
 * `volume register` (Nomad's `HostVolume.Register`): a volume that is already on a node (its
 * `host_path`) offered as a dynamic host volume; the node and the path are required. Nothing
 * is made, and `volume delete` only takes it away from the node's fingerprint.
 */
export async function registerHostVolume(store: StateStore, req: HostVolume, wait: HostVolumeWait, now: number): Promise<{ volume: HostVolume; index: number }> {
  invalid(req);
  if (req.NodeID === "") throw new RucheError(ErrorCode.BadRequest, "volume validation failed: missing node ID: a registered volume names its node (node_id)", { path: "Volume.NodeID" });
  if (req.HostPath === "" || !req.HostPath.startsWith("/")) throw new RucheError(ErrorCode.BadRequest, "volume validation failed: missing host path: a registered volume names its absolute path on the node (host_path)", { path: "Volume.HostPath" });
  if (store.namespace(req.Namespace) === undefined) throw new RucheError(ErrorCode.NotFound, `namespace ${JSON.stringify(req.Namespace)} does not exist`, { path: "Volume.Namespace" });
  const node = store.node(req.NodeID);
  if (node === undefined) throw new RucheError(ErrorCode.NotFound, `node ${JSON.stringify(req.NodeID)} does not exist`, { path: "Volume.NodeID" });
  const existing = req.ID === "" ? undefined : store.hostVolume(req.Namespace, req.ID);
  if (existing !== undefined && existing.NodeID !== req.NodeID) throw new RucheError(ErrorCode.BadRequest, "node ID cannot be updated", { path: "Volume.NodeID" });
  const there = node.HostVolumes?.[req.Name];
  if (there !== undefined && (there.ID ?? "") !== (existing?.ID ?? "\0")) throw new RucheError(ErrorCode.BadRequest, `node ${node.ID} already has a host volume named ${JSON.stringify(req.Name)}`, { path: "Volume.Name" });
  const vol: HostVolume = {
    ...req,
    ID: existing?.ID ?? (req.ID === "" ? newId() : req.ID),
    NodePool: node.NodePool,
    CreateTime: existing?.CreateTime ?? now * 1e6,
    ModifyTime: now * 1e6,
    State: HostVolumeState.Pending,
    RequestedCapabilities: req.RequestedCapabilities.length > 0 ? req.RequestedCapabilities : [{ AttachmentMode: "file-system", AccessMode: "single-node-writer" }],
  };
  const { index } = await store.write((tx) => {
    tx.put("hostVolumes", { ...vol, CreateIndex: 0, ModifyIndex: 0 });
  });
  return settled(store, vol, index, wait, (why) => new RucheError(ErrorCode.BadRequest, `error registering volume on node ${vol.NodeID}: ${why}`));
}

/**
 * `volume delete -type host` (Nomad's `HostVolume.Delete`): refused while an allocation claims
 * the volume; the node's agent removes it (a created volume's directory with it) and the
 * volume leaves the state.
 */
export async function deleteHostVolume(store: StateStore, namespace: string, id: string, wait: HostVolumeWait): Promise<{ index: number }> {
  const vol = store.hostVolume(namespace, id);
  if (vol === undefined) throw new RucheError(ErrorCode.NotFound, `no such volume: ${id}`);
  const claims = claimsOf(store, vol);
  if (claims.length > 0) throw new RucheError(ErrorCode.BadRequest, `volume ${vol.ID} in use by allocations: [${claims.map((a) => a.ID).join(" ")}]`);
  // A node that is gone has nothing left to remove.
  if (store.node(vol.NodeID) === undefined) {
    const { index } = await store.write((tx) => {
      tx.delete("hostVolumes", `${vol.Namespace}/${vol.ID}`);
    });
    return { index };
  }
  const { index } = await store.write((tx) => {
    tx.put("hostVolumes", { ...vol, State: HostVolumeState.Deleted, CreateIndex: 0, ModifyIndex: 0 });
  });
  const left = await outcome(store, vol, index, wait.waitMs, (v) => v.State !== HostVolumeState.Deleted);
  const why = wait.failures.take(vol.Namespace, vol.ID);
  if (why !== undefined) throw new RucheError(ErrorCode.BadGateway, `error deleting volume ${vol.ID} on node ${vol.NodeID}: ${why}`);
  if (left.volume !== undefined && left.volume.State === HostVolumeState.Deleted) {
    throw new RucheError(ErrorCode.Unavailable, `volume ${vol.ID} is marked for deletion, but node ${vol.NodeID}'s agent has not removed it within ${Math.round(wait.waitMs / 1000)}s; it goes once that agent reports`);
  }
  return { index: left.index };
}

/**
 * Waits (at most `waitMs`) until the volume's row leaves the state it was written in
 * (`moved`) or the state: what it is then, and the index.
 */
async function outcome(store: StateStore, vol: HostVolume, index: number, waitMs: number, moved: (v: HostVolume) => boolean): Promise<{ volume: HostVolume | undefined; index: number }> {
  const deadline = Date.now() + waitMs;
  let seen = index;
  for (;;) {
    const v = store.hostVolume(vol.Namespace, vol.ID);
    const left = deadline - Date.now();
    if (v === undefined || moved(v) || left <= 0) return { volume: v, index: Math.max(seen, store.tableIndex("hostVolumes")) };
    seen = Math.max(seen, await store.waitFor(["hostVolumes"], seen, left));
  }
}

/**
 * The answer to a create or register once the node's agent reported: the ready volume, the
 * failure it reported, or (after `waitMs` without a report) the volume still pending, as
 * Nomad answers when its client RPC times out.
 */
async function settled(store: StateStore, vol: HostVolume, index: number, wait: HostVolumeWait, failed: (why: string) => RucheError): Promise<{ volume: HostVolume; index: number }> {
  const out = await outcome(store, vol, index, wait.waitMs, (v) => v.State !== HostVolumeState.Pending);
  const why = wait.failures.take(vol.Namespace, vol.ID);
  if (why !== undefined) throw failed(why);
  if (out.volume === undefined) throw failed("the volume was removed before its node's agent made it");
  return { volume: out.volume, index: out.index };
}

/**
 * What a node's agent reports of its volumes (`PUT /v1/client/host-volumes/:id`): a pending
 * volume made becomes `ready` with its path and capacity; one that failed is removed, unless
 * the node already offers it (an update that failed: it stays `ready` as it was), its failure
 * kept for the request that waits; a volume marked deleted and removed leaves the state (one
 * that could not be removed is `ready` again). A report of a volume of another node, or in no
 * state that asks for one, changes nothing. Whether a volume became ready.
 */
export async function reportHostVolumes(store: StateStore, nodeId: string, reports: readonly HostVolumeReport[], failures: HostVolumeFailures): Promise<{ index: number; ready: boolean }> {
  const node = store.node(nodeId);
  let ready = false;
  const { index } = await store.write((tx) => {
    for (const r of reports) {
      const v = store.hostVolume(r.Namespace, r.ID);
      if (v === undefined || v.NodeID !== nodeId) continue;
      const key = `${v.Namespace}/${v.ID}`;
      if (v.State === HostVolumeState.Deleted) {
        if (r.Error === undefined) tx.delete("hostVolumes", key);
        else {
          failures.set(v.Namespace, v.ID, r.Error);
          tx.put("hostVolumes", { ...v, State: HostVolumeState.Ready });
        }
      } else if (v.State === HostVolumeState.Pending) {
        if (r.Error !== undefined) {
          failures.set(v.Namespace, v.ID, r.Error);
          if (node?.HostVolumes?.[v.Name]?.ID === v.ID) tx.put("hostVolumes", { ...v, State: HostVolumeState.Ready });
          else tx.delete("hostVolumes", key);
        } else {
          ready = true;
          tx.put("hostVolumes", { ...v, State: HostVolumeState.Ready, HostPath: r.HostPath ?? v.HostPath, CapacityBytes: r.CapacityBytes ?? v.CapacityBytes });
        }
      }
    }
  });
  return { index, ready };
}

/** The node a new volume goes to: the one it names (which must fit), else a random one of those that fit. */
function placeVolume(store: StateStore, v: HostVolume, plugin: string): Node {
  if (v.NodeID !== "") {
    const node = store.node(v.NodeID);
    if (node === undefined) throw new RucheError(ErrorCode.NotFound, `node ${JSON.stringify(v.NodeID)} does not exist`, { path: "Volume.NodeID" });
    const why = nodeRefusesVolume(v, node, plugin);
    if (why !== null) throw new RucheError(ErrorCode.BadRequest, `could not place volume ${JSON.stringify(v.Name)} on node ${node.ID}: ${why}`, { path: "Volume.NodeID" });
    return node;
  }
  const reasons = new Map<string, number>();
  const fit: Node[] = [];
  for (const n of store.nodes()) {
    const why = nodeRefusesVolume(v, n, plugin);
    if (why === null) fit.push(n);
    else reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  const pick = fit[Math.floor(Math.random() * fit.length)];
  if (pick === undefined) {
    const said = [...reasons].map(([why, n]) => `${n} node${n === 1 ? "" : "s"}: ${why}`).join("; ");
    throw new RucheError(ErrorCode.BadRequest, `could not place volume ${JSON.stringify(v.Name)}: no node fits${said === "" ? " (no nodes)" : ` (${said})`}`);
  }
  return pick;
}
