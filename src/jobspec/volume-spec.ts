import { ConstraintOperator, type Constraint, type HostVolume, type HostVolumeCapability } from "../structs/index.js";
import { parseHclObject } from "./agent-config.js";
import { formatDiagnostic } from "./diagnostic.js";
import type { Value } from "./hcl/value.js";
import { didYouMean } from "./suggest.js";

/** A volume specification file read: the volume to send (Nomad's `api.HostVolume`), or what is wrong, each line `where: what`. */
export type VolumeSpecResult = { ok: true; volume: HostVolume } | { ok: false; errors: string[] };

const KEYS = ["id", "namespace", "name", "type", "plugin_id", "node_pool", "node_id", "capacity", "capacity_min", "capacity_max", "capability", "constraint", "parameters", "host_path"];
const CAPABILITY_KEYS = ["access_mode", "attachment_mode"];
const CONSTRAINT_KEYS = ["attribute", "operator", "value", "version", "semver", "regexp", "set_contains", "set_contains_any", "set_contains_all", "distinct_hosts", "distinct_property"];

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
};

/** A size as Nomad's volume specs write it (`humanize.ParseBytes`: "10GiB", "500 MB", 1024); null when it is not one. */
export function parseByteSize(v: Value): number | null {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = UNITS[(m?.[2] ?? "").toLowerCase()];
  if (m === null || unit === undefined) return null;
  return Math.round(Number(m[1]) * unit);
}

function blocks(v: Value | undefined): Value[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function isObj(v: Value | undefined): v is { [k: string]: Value } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads a volume specification (`volume create FILE`, `volume register FILE`) as Nomad's
 * `decodeHostVolume` does, in HCL or JSON (the same keys): `type = "host"`, `name`,
 * `plugin_id`, `node_id`, `node_pool`, `capacity_min`/`capacity_max` (sizes such as "1GiB"),
 * `capability { access_mode attachment_mode }` blocks, `constraint` blocks, `parameters`,
 * `host_path` (register), `id` (to update one), `namespace`. A key Nomad does not know is
 * refused with the nearest one; CSI volumes are refused with one line.
 */
export async function parseVolumeSpec(text: string, file: string): Promise<VolumeSpecResult> {
  let doc: { [k: string]: Value };
  if (text.trimStart().startsWith("{")) {
    try {
      const v = JSON.parse(text) as Value;
      if (!isObj(v)) return { ok: false, errors: [`${file}: a volume specification in JSON is one object`] };
      doc = v;
    } catch (err) {
      return { ok: false, errors: [`${file}: not valid JSON: ${(err as Error).message}`] };
    }
  } else {
    const r = await parseHclObject(text, file);
    if (!r.ok) return { ok: false, errors: r.diagnostics.map(formatDiagnostic) };
    doc = r.value;
  }
  const errors: string[] = [];
  const bad = (path: string, message: string): void => {
    errors.push(`${file}: ${path}: ${message}`);
  };
  for (const k of Object.keys(doc)) if (!KEYS.includes(k)) bad(k, `unknown key "${k}" in a volume specification${didYouMean(k, KEYS)}`);
  const str = (k: string): string => {
    const v = doc[k];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") {
      bad(k, "must be a string");
      return "";
    }
    return v;
  };
  const type = str("type");
  if (type === "csi") bad("type", 'type "csi": Ruche does not run CSI plugins; a volume here is a host volume (type = "host")');
  else if (type !== "host") bad("type", type === "" ? 'missing type: a volume specification says type = "host"' : `unknown volume type "${type}"; Ruche has "host"`);
  const size = (k: string): number => {
    const v = doc[k];
    if (v === undefined || v === null) return 0;
    const n = parseByteSize(v);
    if (n === null) bad(k, `invalid ${k}: a size such as "10GiB" or "500MB", got ${JSON.stringify(v)}`);
    return n ?? 0;
  };
  const capabilities: HostVolumeCapability[] = [];
  blocks(doc.capability).forEach((c, i) => {
    const at = `capability[${i}]`;
    if (!isObj(c)) {
      bad(at, "must be a block: capability { access_mode = \"single-node-writer\" attachment_mode = \"file-system\" }");
      return;
    }
    for (const k of Object.keys(c)) if (!CAPABILITY_KEYS.includes(k)) bad(`${at}.${k}`, `invalid capability: unknown key "${k}"${didYouMean(k, CAPABILITY_KEYS)}`);
    const a = c.attachment_mode ?? "";
    const m = c.access_mode ?? "";
    if (typeof a !== "string" || typeof m !== "string") {
      bad(at, "invalid capability: access_mode and attachment_mode are strings");
      return;
    }
    capabilities.push({ AttachmentMode: a, AccessMode: m });
  });
  const constraints: Constraint[] = [];
  blocks(doc.constraint).forEach((c, i) => {
    const at = `constraint[${i}]`;
    if (!isObj(c)) {
      bad(at, "must be a block: constraint { attribute = \"${attr.kernel.name}\" value = \"linux\" }");
      return;
    }
    for (const k of Object.keys(c)) if (!CONSTRAINT_KEYS.includes(k)) bad(`${at}.${k}`, `invalid constraint: unknown key "${k}"${didYouMean(k, CONSTRAINT_KEYS)}`);
    const s = (k: string): string => {
      const v = c[k];
      return v === undefined || v === null ? "" : typeof v === "boolean" || typeof v === "number" ? String(v) : typeof v === "string" ? v : "";
    };
    let operand = s("operator") === "" ? "=" : s("operator");
    let rtarget = s("value");
    for (const short of ["version", "semver", "regexp", "set_contains", "set_contains_any", "set_contains_all"]) {
      if (c[short] !== undefined) {
        operand = short;
        rtarget = s(short);
      }
    }
    if (c.distinct_hosts !== undefined) operand = ConstraintOperator.DistinctHosts;
    if (c.distinct_property !== undefined) operand = ConstraintOperator.DistinctProperty;
    constraints.push({ LTarget: s("attribute"), RTarget: rtarget, Operand: operand as ConstraintOperator });
  });
  let parameters: Record<string, string> | undefined;
  const ps = doc.parameters;
  if (ps !== undefined && ps !== null) {
    const p = Array.isArray(ps) && ps.length === 1 ? ps[0] : ps;
    if (!isObj(p)) bad("parameters", "must be a map of strings: parameters { mode = \"0700\" }");
    else {
      parameters = {};
      for (const [k, v] of Object.entries(p)) {
        if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") parameters[k] = String(v);
        else bad(`parameters.${k}`, "must be a string");
      }
    }
  }
  const volume: HostVolume = {
    Namespace: str("namespace"),
    ID: str("id"),
    Name: str("name"),
    PluginID: str("plugin_id"),
    NodePool: str("node_pool"),
    NodeID: str("node_id"),
    ...(constraints.length > 0 ? { Constraints: constraints } : {}),
    RequestedCapacityMinBytes: size("capacity_min"),
    RequestedCapacityMaxBytes: size("capacity_max"),
    CapacityBytes: size("capacity"),
    RequestedCapabilities: capabilities,
    ...(parameters === undefined ? {} : { Parameters: parameters }),
    HostPath: str("host_path"),
    State: "",
    CreateIndex: 0,
    CreateTime: 0,
    ModifyIndex: 0,
    ModifyTime: 0,
  };
  if (volume.Name === "") bad("name", "missing name: name = \"data\"");
  return errors.length > 0 ? { ok: false, errors } : { ok: true, volume };
}
