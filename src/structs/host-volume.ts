import { CONSTRAINT_OPERATORS, ConstraintOperator, type Constraint } from "./constraint.js";
import type { Allocation } from "./allocation.js";
import { volumeSource, VolumeType, type Job } from "./job.js";

/**
 * Dynamic host volumes (Nomad 1.10's `HostVolume`): a directory a node's agent makes with a
 * plugin when `volume create` asks for it (or one already there, `volume register`), offered to
 * jobs of its namespace by name beside the agent config's static `host_volume`s.
 */
export const HostVolumeState = {
  Pending: "pending",
  Ready: "ready",
  Unavailable: "unavailable",
  /** Marked for deletion: the node's agent removes it, then the servers drop it (Nomad's `deleted`). */
  Deleted: "deleted",
} as const;
export type HostVolumeState = (typeof HostVolumeState)[keyof typeof HostVolumeState];

/** The access modes a volume's capability (and a job's `volume` request) names, as Nomad's `HostVolumeAccessMode*`. */
export const HOST_VOLUME_ACCESS_MODES = ["single-node-reader-only", "single-node-writer", "single-node-single-writer", "single-node-multi-writer"] as const;
export const HOST_VOLUME_ATTACHMENT_MODES = ["file-system", "block-device"] as const;

/** The plugin built into every Ruche client (Nomad's "mkdir"): a directory under the client's host volumes dir. */
export const MKDIR_PLUGIN = "mkdir";
/** The plugin a create without `plugin_id` asks for (Nomad's `DefaultHostVolumePlugin`). */
export const DEFAULT_HOST_VOLUME_PLUGIN = "default";

/** The node attribute a client sets for each host volume plugin it has (Nomad's `plugins.host_volume.<id>.version`). */
export function pluginAttribute(pluginId: string): string {
  return `plugins.host_volume.${pluginId}.version`;
}

export interface HostVolumeCapability {
  AttachmentMode: string;
  AccessMode: string;
}

/** A dynamic host volume, field for field Nomad's `api.HostVolume` (times in unix ns). */
export interface HostVolume {
  Namespace: string;
  ID: string;
  Name: string;
  PluginID: string;
  NodePool: string;
  NodeID: string;
  Constraints?: Constraint[];
  RequestedCapacityMinBytes: number;
  RequestedCapacityMaxBytes: number;
  CapacityBytes: number;
  RequestedCapabilities: HostVolumeCapability[];
  Parameters?: Record<string, string>;
  HostPath: string;
  State: HostVolumeState | "";
  CreateIndex: number;
  CreateTime: number;
  ModifyIndex: number;
  ModifyTime: number;
}

/**
 * What a node's agent reports of a volume of its node it was asked to make (`pending`) or
 * remove (`deleted`): the path and capacity it made, or why it could not.
 */
export interface HostVolumeReport {
  ID: string;
  Namespace: string;
  HostPath?: string;
  CapacityBytes?: number;
  /** Set when the plugin (or the check of a registered path, or the removal) failed. */
  Error?: string;
}

/** What the list route answers for each volume (Nomad's `HostVolumeStub`). */
export type HostVolumeStub = Pick<HostVolume, "Namespace" | "ID" | "Name" | "PluginID" | "NodePool" | "NodeID" | "CapacityBytes" | "State" | "CreateIndex" | "CreateTime" | "ModifyIndex" | "ModifyTime">;

export function hostVolumeStub(v: HostVolume): HostVolumeStub {
  return {
    Namespace: v.Namespace,
    ID: v.ID,
    Name: v.Name,
    PluginID: v.PluginID,
    NodePool: v.NodePool,
    NodeID: v.NodeID,
    CapacityBytes: v.CapacityBytes,
    State: v.State,
    CreateIndex: v.CreateIndex,
    CreateTime: v.CreateTime,
    ModifyIndex: v.ModifyIndex,
    ModifyTime: v.ModifyTime,
  };
}

export interface HostVolumeProblem {
  path: string;
  message: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A host volume from a request body's `Volume` (Nomad's `api.HostVolume`, as the Go client and
 * `volume create` send it): absent, null and zero fields are their defaults, unknown ones are
 * ignored as Nomad's decoder ignores them; a field of the wrong type is a problem at its path.
 * Paths are `Volume.<Field>`.
 */
export function hostVolumeFromWire(body: unknown): { ok: true; volume: HostVolume } | { ok: false; problems: HostVolumeProblem[] } {
  const problems: HostVolumeProblem[] = [];
  const fail = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!isObj(body)) return { ok: false, problems: [{ path: "Volume", message: 'must be an object: {"Volume": {"Name": "data", ...}}' }] };
  const str = (k: string): string => {
    const v = body[k];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") {
      fail(`Volume.${k}`, "must be a string");
      return "";
    }
    return v;
  };
  const int = (k: string): number => {
    const v = body[k];
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      fail(`Volume.${k}`, "must be a whole number of bytes, 0 or more");
      return 0;
    }
    return v;
  };
  const list = (k: string): unknown[] => {
    const v = body[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      fail(`Volume.${k}`, "must be a list");
      return [];
    }
    return v;
  };
  const constraints: Constraint[] = [];
  list("Constraints").forEach((c, i) => {
    const at = `Volume.Constraints[${i}]`;
    if (!isObj(c)) {
      fail(at, "must be an object with LTarget, RTarget and Operand");
      return;
    }
    const field = (k: string): string => {
      const v = c[k];
      if (v === undefined || v === null) return "";
      if (typeof v !== "string") {
        fail(`${at}.${k}`, "must be a string");
        return "";
      }
      return v;
    };
    const operand = field("Operand");
    constraints.push({ LTarget: field("LTarget"), RTarget: field("RTarget"), Operand: (operand === "" ? "=" : operand) as ConstraintOperator });
  });
  const caps: HostVolumeCapability[] = [];
  list("RequestedCapabilities").forEach((c, i) => {
    const at = `Volume.RequestedCapabilities[${i}]`;
    if (!isObj(c)) {
      fail(at, "must be an object with AttachmentMode and AccessMode");
      return;
    }
    const a = c.AttachmentMode ?? "";
    const m = c.AccessMode ?? "";
    if (typeof a !== "string") fail(`${at}.AttachmentMode`, "must be a string");
    if (typeof m !== "string") fail(`${at}.AccessMode`, "must be a string");
    caps.push({ AttachmentMode: typeof a === "string" ? a : "", AccessMode: typeof m === "string" ? m : "" });
  });
  let parameters: Record<string, string> | undefined;
  const p = body.Parameters;
  if (p !== undefined && p !== null) {
    if (!isObj(p)) fail("Volume.Parameters", "must be an object of strings");
    else {
      parameters = {};
      for (const [k, v] of Object.entries(p)) {
        if (typeof v !== "string") fail(`Volume.Parameters.${k}`, "must be a string");
        else parameters[k] = v;
      }
    }
  }
  const volume: HostVolume = {
    Namespace: str("Namespace"),
    ID: str("ID"),
    Name: str("Name"),
    PluginID: str("PluginID"),
    NodePool: str("NodePool"),
    NodeID: str("NodeID"),
    ...(constraints.length > 0 ? { Constraints: constraints } : {}),
    RequestedCapacityMinBytes: int("RequestedCapacityMinBytes"),
    RequestedCapacityMaxBytes: int("RequestedCapacityMaxBytes"),
    CapacityBytes: int("CapacityBytes"),
    RequestedCapabilities: caps,
    ...(parameters === undefined ? {} : { Parameters: parameters }),
    HostPath: str("HostPath"),
    State: "",
    CreateIndex: 0,
    CreateTime: 0,
    ModifyIndex: 0,
    ModifyTime: 0,
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, volume };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What is wrong with a volume asked for, in Nomad's words (`HostVolume.Validate`), each at its path. */
export function hostVolumeProblems(v: HostVolume): HostVolumeProblem[] {
  const out: HostVolumeProblem[] = [];
  if (v.ID !== "" && !UUID.test(v.ID)) out.push({ path: "Volume.ID", message: `invalid ID ${JSON.stringify(v.ID)}` });
  if (v.Name === "") out.push({ path: "Volume.Name", message: "missing name" });
  if (v.RequestedCapacityMaxBytes < v.RequestedCapacityMinBytes && v.RequestedCapacityMaxBytes !== 0) {
    out.push({ path: "Volume.RequestedCapacityMaxBytes", message: `capacity_max (${v.RequestedCapacityMaxBytes}) must be larger than capacity_min (${v.RequestedCapacityMinBytes})` });
  }
  v.RequestedCapabilities.forEach((c, i) => {
    const at = `Volume.RequestedCapabilities[${i}]`;
    if (!(HOST_VOLUME_ATTACHMENT_MODES as readonly string[]).includes(c.AttachmentMode)) out.push({ path: `${at}.AttachmentMode`, message: `invalid attachment mode: ${JSON.stringify(c.AttachmentMode)}` });
    else if (c.AttachmentMode === "block-device") out.push({ path: `${at}.AttachmentMode`, message: 'attachment mode "block-device": Ruche mounts host volumes as a file-system only' });
    if (!(HOST_VOLUME_ACCESS_MODES as readonly string[]).includes(c.AccessMode)) out.push({ path: `${at}.AccessMode`, message: `invalid access mode: ${JSON.stringify(c.AccessMode)}` });
  });
  (v.Constraints ?? []).forEach((c, i) => {
    const at = `Volume.Constraints[${i}]`;
    if (!CONSTRAINT_OPERATORS.includes(c.Operand)) out.push({ path: `${at}.Operand`, message: `invalid constraint: unknown operator "${c.Operand}"` });
    else if (c.Operand === ConstraintOperator.DistinctHosts || c.Operand === ConstraintOperator.DistinctProperty) {
      out.push({ path: `${at}.Operand`, message: `invalid constraint ${c.Operand}: host volumes of the same name are always on distinct hosts` });
    } else if (c.Operand === ConstraintOperator.JobAffinity || c.Operand === ConstraintOperator.JobAntiAffinity) {
      out.push({ path: `${at}.Operand`, message: `invalid constraint ${c.Operand}: a volume is placed by its node's attributes, not beside jobs` });
    } else if (c.LTarget === "") out.push({ path: `${at}.LTarget`, message: "invalid constraint: missing attribute" });
  });
  return out;
}

/**
 * The claims on a volume: the allocations not yet terminal on its node, in its namespace,
 * whose group asks for a host volume of its name (Nomad's denormalized `HostVolume.Allocations`).
 */
export function hostVolumeClaims(v: Pick<HostVolume, "Namespace" | "Name" | "NodeID">, allocsOnNode: readonly Allocation[], terminal: (a: Allocation) => boolean): Allocation[] {
  return allocsOnNode.filter((a) => a.Namespace === v.Namespace && !terminal(a) && groupAsksFor(a.Job, a.TaskGroup, v.Name, a.Name));
}

function groupAsksFor(job: Job, group: string, name: string, allocName: string): boolean {
  const tg = job.TaskGroups.find((g) => g.Name === group);
  for (const req of Object.values(tg?.Volumes ?? {})) {
    if (req.Type !== VolumeType.Host) continue;
    if (volumeSource(req, allocName) === name) return true;
  }
  return false;
}
