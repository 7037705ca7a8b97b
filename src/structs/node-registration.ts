import { NodeEligibility, NodeStatus, type ClientHostVolumeConfig, type ClientHostNetworkConfig, type DriverInfo, type Node, type NodeNetworkMode, type NodeNetworkResource } from "./node.js";

/** One thing wrong with a registration: the field's path (`Node.Resources.IP`) and what is wrong with it. */
export interface FieldProblem {
  path: string;
  message: string;
}

/**
 * Reads a node registration (`PUT /v1/client/register`'s `Node`) field by field, as Nomad's
 * decoder reads its `Node` struct: a field Ruche does not know (`NodeResources`, `Links`,
 * `Events`, ...) is ignored and not kept; a field it knows that is absent or
 * null takes its zero value; a field of another type, or out of its range, is an error that
 * names its path. Required, as Nomad's `Node.Register` requires them: `ID`, `SecretID`,
 * `Name`, `Datacenter`, at least one attribute; and what Ruche places work with:
 * `Resources` with the node's `IP`. The servers' own fields (status, eligibility, drain,
 * computed class, indexes, last heartbeat) are checked for their type and then left to the
 * servers. Every problem is listed, not only the first.
 */
export function parseNode(raw: unknown, at = "Node"): { ok: true; node: Node } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const r = new Reader(problems);
  const o = r.object(raw, at, true);
  if (o === null) return { ok: false, problems };

  const ID = r.string(o, at, "ID", { required: true });
  const SecretID = r.string(o, at, "SecretID", { required: true });
  const Name = r.string(o, at, "Name", { required: true });
  const Datacenter = r.string(o, at, "Datacenter", { required: true });
  const NodeClass = r.string(o, at, "NodeClass");
  const NodePool = r.string(o, at, "NodePool") || "default";
  if (NodePool === "all") problems.push({ path: `${at}.NodePool`, message: 'a node may not register in the node pool "all"' });
  else if (!/^[a-zA-Z0-9_-]{1,128}$/.test(NodePool)) problems.push({ path: `${at}.NodePool`, message: "must be 1 to 128 letters, digits, '-' or '_'" });
  const Attributes = r.stringMap(o.Attributes, `${at}.Attributes`);
  const noAttributes = o.Attributes === undefined || o.Attributes === null || (Attributes !== null && Object.keys(o.Attributes).length === 0);
  if (noAttributes) {
    problems.push({ path: `${at}.Attributes`, message: "required: at least one attribute (the node's fingerprint)" });
  }
  const Meta = r.stringMap(o.Meta, `${at}.Meta`);
  const Drivers = r.drivers(o.Drivers, `${at}.Drivers`);
  const HostVolumes = r.hostVolumes(o.HostVolumes, `${at}.HostVolumes`);
  const HostNetworks = r.hostNetworks(o.HostNetworks, `${at}.HostNetworks`);
  // Ruche's client sends its interfaces as `NodeNetworks`; Nomad's sends them in `NodeResources.NodeNetworks`.
  const nomadResources = o.NodeResources !== null && typeof o.NodeResources === "object" && !Array.isArray(o.NodeResources) ? (o.NodeResources as Record<string, unknown>) : null;
  const NodeNetworks = o.NodeNetworks !== undefined || nomadResources === null ? r.nodeNetworks(o.NodeNetworks, `${at}.NodeNetworks`) : r.nodeNetworks(nomadResources.NodeNetworks, `${at}.NodeResources.NodeNetworks`);
  const HTTPAddr = r.string(o, at, "HTTPAddr");

  const res = r.object(o.Resources, `${at}.Resources`, true, "required: Ruche's node resources (CPU, Cores, MemoryMB, DiskMB, MinDynamicPort, MaxDynamicPort, IP); Nomad's NodeResources is not read");
  const Resources: Node["Resources"] = {
    CPU: res === null ? 0 : r.count(res, `${at}.Resources`, "CPU"),
    Cores: res === null ? 0 : r.count(res, `${at}.Resources`, "Cores"),
    MemoryMB: res === null ? 0 : r.count(res, `${at}.Resources`, "MemoryMB"),
    DiskMB: res === null ? 0 : r.count(res, `${at}.Resources`, "DiskMB"),
    MinDynamicPort: res === null ? 0 : r.port(res, `${at}.Resources`, "MinDynamicPort"),
    MaxDynamicPort: res === null ? 0 : r.port(res, `${at}.Resources`, "MaxDynamicPort"),
    IP: res === null ? "" : r.string(res, `${at}.Resources`, "IP", { required: "required: the address the node's tasks are reached on" }),
  };
  const networks = res === null ? null : r.networks(res.Networks, `${at}.Resources.Networks`);
  if (networks !== null && networks.length > 0) Resources.Networks = networks;
  if (Resources.MinDynamicPort > 0 && Resources.MaxDynamicPort > 0 && Resources.MinDynamicPort > Resources.MaxDynamicPort) {
    problems.push({ path: `${at}.Resources.MaxDynamicPort`, message: `must not be below MinDynamicPort (${Resources.MinDynamicPort})` });
  }

  const rsv = r.object(o.Reserved, `${at}.Reserved`, false);
  const Reserved: Node["Reserved"] = {
    CPU: rsv === null ? 0 : r.count(rsv, `${at}.Reserved`, "CPU"),
    MemoryMB: rsv === null ? 0 : r.count(rsv, `${at}.Reserved`, "MemoryMB"),
    DiskMB: rsv === null ? 0 : r.count(rsv, `${at}.Reserved`, "DiskMB"),
    ReservedHostPorts: rsv === null ? "" : r.string(rsv, `${at}.Reserved`, "ReservedHostPorts"),
  };
  if (!/^\s*(\d+(\s*-\s*\d+)?\s*(,\s*\d+(\s*-\s*\d+)?\s*)*)?$/.test(Reserved.ReservedHostPorts)) {
    problems.push({ path: `${at}.Reserved.ReservedHostPorts`, message: 'must be a list of ports and ranges such as "22,80,8000-8100"' });
  }

  // The servers' fields: their type is checked, their value is the servers' to set.
  const status = r.string(o, at, "Status");
  if (status !== "" && !(Object.values(NodeStatus) as string[]).includes(status)) problems.push({ path: `${at}.Status`, message: `must be one of ${Object.values(NodeStatus).join(", ")}` });
  const StatusDescription = r.string(o, at, "StatusDescription");
  const eligibility = r.string(o, at, "SchedulingEligibility") || NodeEligibility.Eligible;
  if (eligibility !== NodeEligibility.Eligible && eligibility !== NodeEligibility.Ineligible) problems.push({ path: `${at}.SchedulingEligibility`, message: "must be eligible or ineligible" });
  r.object(o.DrainStrategy, `${at}.DrainStrategy`, false);
  r.string(o, at, "ComputedClass");
  for (const f of ["CreateIndex", "ModifyIndex", "LastHeartbeat"]) r.count(o, at, f);

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    node: {
      ID,
      SecretID,
      Name,
      Datacenter,
      NodeClass,
      NodePool,
      Attributes: Attributes ?? {},
      Meta: Meta ?? {},
      Drivers: Drivers ?? {},
      ...(HostVolumes === null || Object.keys(HostVolumes).length === 0 ? {} : { HostVolumes }),
      ...(HostNetworks === null || Object.keys(HostNetworks).length === 0 ? {} : { HostNetworks }),
      ...(NodeNetworks === null || NodeNetworks.length === 0 ? {} : { NodeNetworks }),
      Resources,
      Reserved,
      ComputedClass: "",
      Status: (status === "" ? NodeStatus.Initializing : status) as NodeStatus,
      StatusDescription,
      SchedulingEligibility: eligibility as NodeEligibility,
      DrainStrategy: null,
      HTTPAddr,
      CreateIndex: 0,
      ModifyIndex: 0,
      LastHeartbeat: 0,
    },
  };
}

/** Names the field a path reaches: `Meta.role`, or `Attributes["cpu.numcores"]` when the key is not a plain word. */
function child(at: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

/** Reads fields of decoded JSON, recording each problem with its path. */
class Reader {
  constructor(private readonly problems: FieldProblem[]) {}

  private fail(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** A JSON object, or null when absent or null (recorded when required) or of another type (recorded). */
  object(v: unknown, path: string, required: boolean, missing = "required"): Record<string, unknown> | null {
    if (v === undefined || v === null) {
      if (required) this.fail(path, missing);
      return null;
    }
    if (typeof v !== "object" || Array.isArray(v)) {
      this.fail(path, "must be an object");
      return null;
    }
    return v as Record<string, unknown>;
  }

  /** A string field; absent or null reads as "" (an error when required, as is ""). */
  string(o: Record<string, unknown>, at: string, key: string, opts: { required?: true | string } = {}): string {
    const v = o[key];
    const path = `${at}.${key}`;
    if (v === undefined || v === null || v === "") {
      if (opts.required !== undefined) this.fail(path, opts.required === true ? "required" : opts.required);
      return "";
    }
    if (typeof v !== "string") {
      this.fail(path, "must be a string");
      return "";
    }
    return v;
  }

  /** A whole number >= 0; absent or null reads as 0. */
  count(o: Record<string, unknown>, at: string, key: string): number {
    const v = o[key];
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`${at}.${key}`, "must be a whole number >= 0");
      return 0;
    }
    return v;
  }

  /** A port number, or 0 for none; absent or null reads as 0. */
  port(o: Record<string, unknown>, at: string, key: string): number {
    const v = o[key];
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
      this.fail(`${at}.${key}`, "must be a port number (1-65535), or 0 for the default");
      return 0;
    }
    return v;
  }

  /** An object of strings; absent or null reads as null (the caller's empty map). */
  stringMap(v: unknown, path: string): Record<string, string> | null {
    const o = this.object(v, path, false);
    if (o === null) return null;
    const out: Record<string, string> = {};
    for (const [key, x] of Object.entries(o)) {
      if (typeof x !== "string") this.fail(child(path, key), "must be a string");
      else out[key] = x;
    }
    return out;
  }

  boolean(o: Record<string, unknown>, at: string, key: string): boolean {
    const v = o[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") {
      this.fail(`${at}.${key}`, "must be a boolean");
      return false;
    }
    return v;
  }

  /** The host volumes by name, each as Nomad's `ClientHostVolumeConfig` (`Name`, `Path` absolute, `ReadOnly`; `ID` a dynamic volume's, "" or absent for a static one). */
  hostVolumes(v: unknown, path: string): Record<string, ClientHostVolumeConfig> | null {
    const o = this.object(v, path, false);
    if (o === null) return null;
    const out: Record<string, ClientHostVolumeConfig> = {};
    for (const [name, x] of Object.entries(o)) {
      const at = child(path, name);
      const h = this.object(x, at, true);
      if (h === null) continue;
      const Path = this.string(h, at, "Path", { required: "required: the volume's absolute path on the node" });
      if (Path !== "" && !Path.startsWith("/")) this.fail(`${at}.Path`, `must be an absolute path, got "${Path}"`);
      const ID = this.string(h, at, "ID");
      out[name] = { Name: name, Path, ReadOnly: this.boolean(h, at, "ReadOnly"), ...(ID === "" ? {} : { ID }) };
    }
    return out;
  }

  /** The network modes a node offers (`[{"Mode": "cni/mynet"}]`), each mode a non-empty string. */
  networks(v: unknown, path: string): NodeNetworkMode[] | null {
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) {
      this.fail(path, "must be a list of networks ({\"Mode\": \"cni/NAME\"})");
      return null;
    }
    const out: NodeNetworkMode[] = [];
    v.forEach((x: unknown, i) => {
      const at = `${path}[${i}]`;
      const n = this.object(x, at, true);
      if (n === null) return;
      const Mode = this.string(n, at, "Mode", { required: "required: the network mode the node offers" });
      if (Mode !== "") out.push({ Mode });
    });
    return out;
  }

  /** The host networks by name, each as Nomad's `ClientHostNetworkConfig` (`CIDR`, `Interface`, `ReservedPorts`, strings). */
  hostNetworks(v: unknown, path: string): Record<string, ClientHostNetworkConfig> | null {
    const o = this.object(v, path, false);
    if (o === null) return null;
    const out: Record<string, ClientHostNetworkConfig> = {};
    for (const [name, x] of Object.entries(o)) {
      const at = child(path, name);
      const h = this.object(x, at, true);
      if (h === null) continue;
      out[name] = { Name: name, CIDR: this.string(h, at, "CIDR"), Interface: this.string(h, at, "Interface"), ReservedPorts: this.string(h, at, "ReservedPorts") };
    }
    return out;
  }

  /** The node's interfaces and their labelled addresses, as Nomad's `NodeNetworkResource` (each address's `Alias` and `Address` required). */
  nodeNetworks(v: unknown, path: string): NodeNetworkResource[] | null {
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) {
      this.fail(path, 'must be a list of interfaces ({"Device": "eth0", "Addresses": [{"Alias": "default", "Address": "10.0.0.1"}]})');
      return null;
    }
    const out: NodeNetworkResource[] = [];
    v.forEach((x: unknown, i) => {
      const at = `${path}[${i}]`;
      const n = this.object(x, at, true);
      if (n === null) return;
      // Nomad's client lists its bridge and CNI networks here too; only host interfaces carry host networks.
      const mode = this.string(n, at, "Mode");
      if (mode !== "" && mode !== "host") return;
      const addrs = n.Addresses;
      if (addrs !== undefined && addrs !== null && !Array.isArray(addrs)) this.fail(`${at}.Addresses`, "must be a list of addresses");
      const Addresses = (Array.isArray(addrs) ? (addrs as unknown[]) : []).flatMap((y, j) => {
        const aAt = `${at}.Addresses[${j}]`;
        const a = this.object(y, aAt, true);
        if (a === null) return [];
        const Address = this.string(a, aAt, "Address", { required: true });
        const family = this.string(a, aAt, "Family");
        if (family !== "" && family !== "ipv4" && family !== "ipv6") this.fail(`${aAt}.Family`, 'must be "ipv4" or "ipv6"');
        return [{ Family: family === "ipv6" || (family === "" && Address.includes(":")) ? ("ipv6" as const) : ("ipv4" as const), Alias: this.string(a, aAt, "Alias", { required: true }), Address, ReservedPorts: this.string(a, aAt, "ReservedPorts"), Gateway: this.string(a, aAt, "Gateway") }];
      });
      out.push({ Mode: "host", Device: this.string(n, at, "Device"), MacAddress: this.string(n, at, "MacAddress"), Speed: this.count(n, at, "Speed"), Addresses });
    });
    return out;
  }

  /** The drivers by name, each as Nomad's `DriverInfo` (its `UpdateTime` ignored). */
  drivers(v: unknown, path: string): Record<string, DriverInfo> | null {
    const o = this.object(v, path, false);
    if (o === null) return null;
    const out: Record<string, DriverInfo> = {};
    for (const [name, x] of Object.entries(o)) {
      const at = child(path, name);
      if (x === null || typeof x !== "object" || Array.isArray(x)) {
        this.fail(at, "must be an object");
        continue;
      }
      const d = x as Record<string, unknown>;
      out[name] = { Detected: this.boolean(d, at, "Detected"), Healthy: this.boolean(d, at, "Healthy"), HealthDescription: this.string(d, at, "HealthDescription"), Attributes: this.stringMap(d.Attributes, `${at}.Attributes`) ?? {} };
    }
    return out;
  }
}
