/**
 * What a template reads (consul-template's "dependencies"), each with the name
 * consul-template and Nomad show for it: `kv.block(app/port)` in "Missing: kv.block(app/port)".
 * A template's functions ask the brain for a dependency's value; one not fetched yet is
 * "missing", and the render waits for it.
 */
export type Dep =
  /** `key`: the key's value; waits while the key does not exist. */
  | { kind: "kv.block"; key: string }
  /** `keyOrDefault`, `keyExists`: the key's value or null. */
  | { kind: "kv.get"; key: string }
  /** `ls`, `tree`: every key under a prefix. */
  | { kind: "kv.list"; prefix: string }
  /** `service`: a service's instances (healthy ones, or by `|status` filter). */
  | { kind: "health.service"; name: string; tag: string; dc: string; filter: string }
  /** `services`: every service's name and tags. */
  | { kind: "catalog.services"; dc: string }
  /** `nomadService`: a service's instances as Nomad's service API shows them. */
  | { kind: "nomad.service"; name: string; tag: string; choose: string }
  /** `nomadServices`: every service's name and tags. */
  | { kind: "nomad.service.list" }
  /** `nomadVar`: a variable's items; waits while the variable does not exist. */
  | { kind: "nomad.var.block"; path: string }
  /** `nomadVarList`: variables' metadata under a prefix. */
  | { kind: "nomad.var.list"; prefix: string }
  /** `file`: a file's content, relative to the task's directory. */
  | { kind: "file"; path: string };

/** The dependency's name, as consul-template prints it (and Nomad's "Missing:" event). */
export function depName(d: Dep): string {
  switch (d.kind) {
    case "kv.block":
    case "kv.get":
      return `${d.kind}(${d.key})`;
    case "kv.list":
      return `kv.list(${d.prefix})`;
    case "health.service":
      return `health.service(${d.tag === "" ? "" : `${d.tag}.`}${d.name}${d.dc === "" ? "" : `@${d.dc}`}|${d.filter})`;
    case "catalog.services":
      return `catalog.services${d.dc === "" ? "" : `(@${d.dc})`}`;
    case "nomad.service":
      return `nomad.service(${d.tag === "" ? "" : `${d.tag}.`}${d.name}${d.choose === "" ? "" : `?choose=${d.choose}`})`;
    case "nomad.service.list":
      return "nomad.service.list";
    case "nomad.var.block":
      return `nomad.var.block(${d.path})`;
    case "nomad.var.list":
      return `nomad.var.list(${d.prefix})`;
    case "file":
      return `file(${d.path})`;
    default: {
      const _: never = d;
      return _;
    }
  }
}

/** A consul-template `KeyPair`, `Key` relative to the listed prefix. */
export interface KeyPair {
  Path: string;
  Key: string;
  Value: string;
  Exists: boolean;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Flags: number;
  Session: string;
}

/** A consul-template `HealthService`: one healthy (or filtered) instance of a service. */
export interface HealthService {
  Node: string;
  NodeID: string;
  Kind: string;
  Address: string;
  NodeAddress: string;
  NodeDatacenter: string;
  NodeTaggedAddresses: Record<string, string>;
  NodeMeta: Record<string, string>;
  ServiceMeta: Record<string, string>;
  ID: string;
  Name: string;
  Namespace: string;
  Tags: string[];
  Checks: unknown[];
  Status: string;
  Port: number;
  Weights: { Passing: number; Warning: number };
}

/** A consul-template `NomadService`. */
export interface NomadService {
  ID: string;
  Name: string;
  Namespace: string;
  Node: string;
  Datacenter: string;
  JobID: string;
  AllocID: string;
  Tags: string[];
  Address: string;
  Port: number;
}

/** A service's name and tags, as `services` and `nomadServices` list them. */
export interface ServiceSnippet {
  Name: string;
  Tags: string[];
}

/** One item of a Nomad variable: printed, it is its value (consul-template's `NomadVarItem`). */
export class NomadVarItem {
  constructor(
    readonly Key: string,
    readonly Value: string,
    readonly Path: string,
  ) {}
  toString(): string {
    return this.Value;
  }
}

/** A Nomad variable's metadata, as `nomadVarList` lists them. */
export interface NomadVarMeta {
  Namespace: string;
  Path: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}
