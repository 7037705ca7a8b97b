/** A service a task or group offers, registered in the catalog while it runs. */
export const CheckType = {
  HTTP: "http",
  TCP: "tcp",
  Script: "script",
  TTL: "ttl",
} as const;
export type CheckType = (typeof CheckType)[keyof typeof CheckType];
export const CHECK_TYPES: readonly string[] = Object.values(CheckType);

/** Where a service or check is reached: `alloc` and `alloc_ipv6` are the allocation's own address (a CNI network's), as Nomad's. */
export const AddressMode = { Auto: "auto", Host: "host", Driver: "driver", Alloc: "alloc", AllocIPv6: "alloc_ipv6" } as const;
export type AddressMode = (typeof AddressMode)[keyof typeof AddressMode];
export const ADDRESS_MODES: readonly string[] = Object.values(AddressMode);

export interface ServiceCheck {
  Name: string;
  Type: CheckType;
  /** For script checks: the command and its arguments, run inside the task. */
  Command: string;
  Args: string[];
  /** For http checks. */
  Path: string;
  Method: string;
  Protocol: string;
  Header: Record<string, string[]>;
  /** Port label; empty means the service's port. */
  PortLabel: string;
  AddressMode: AddressMode;
  /** Nanoseconds. */
  Interval: number;
  Timeout: number;
  InitialStatus: string;
  /** For a group service's script check: the task it runs in. */
  TaskName: string;
  SuccessBeforePassing: number;
  FailuresBeforeCritical: number;
  TLSSkipVerify: boolean;
  /** How the check counts toward a deployment's health: require_healthy, ignore_warnings, ignore; absent: require_healthy. */
  OnUpdate?: OnUpdate;
  /** Nomad's `check_restart`, kept with the job; the client does not restart tasks on failing checks yet. */
  CheckRestart?: CheckRestart | null;
}

/** Nomad's `on_update` of a service or a check. */
export const OnUpdate = { RequireHealthy: "require_healthy", IgnoreWarnings: "ignore_warnings", Ignore: "ignore" } as const;
export type OnUpdate = (typeof OnUpdate)[keyof typeof OnUpdate];
export const ON_UPDATE_MODES: readonly string[] = Object.values(OnUpdate);

/** Nomad's `check_restart { limit grace ignore_warnings }`; Grace in nanoseconds. */
export interface CheckRestart {
  Limit: number;
  Grace: number;
  IgnoreWarnings: boolean;
}

export interface Service {
  /** Defaults to `JOB-GROUP-TASK` for a task's service, `JOB-GROUP` for a group's. */
  Name: string;
  /** Port label, or a number for a fixed port; empty for none. */
  PortLabel: string;
  AddressMode: AddressMode;
  /**
   * Nomad's custom advertise address (`address`, with address_mode "auto"): the catalogs show
   * the instance there, on its port as usual; `${attr.*}`, `${node.*}`, `${meta.*}` read on its node.
   */
  Address?: string;
  Tags: string[];
  CanaryTags: string[];
  Meta: Record<string, string>;
  /** For a group service: the task whose lifecycle it follows. */
  TaskName: string;
  Checks: ServiceCheck[];
  /** As a check's, for the checks that set none; absent: require_healthy. */
  OnUpdate?: OnUpdate;
}

/** Consul's health states, as its API spells them. */
export type HealthStatus = "passing" | "warning" | "critical";

/** A check of a service registered through the agent API or a definition file. */
export interface RegisteredCheck {
  CheckID: string;
  Name: string;
  /**
   * "external": a check registered through `/v1/catalog/register`, whose status its registrant sets; "maintenance":
   * Consul's `_node_maintenance` / `_service_maintenance:ID`, critical while maintenance is on. Nothing runs either.
   */
  Type: "http" | "tcp" | "ttl" | "script" | "external" | "maintenance";
  HTTP: string;
  Method: string;
  TCP: string;
  Args: string[];
  Interval: number;
  Timeout: number;
  TTL: number;
  DeregisterCriticalServiceAfter: number;
  SuccessBeforePassing: number;
  FailuresBeforeCritical: number;
  Status: HealthStatus;
  Output: string;
  Notes?: string;
  /** Unix ms of the last status change (for DeregisterCriticalServiceAfter). */
  StatusTime: number;
  /** Unix ms a TTL check was last updated (pass, warn or fail), for its expiry. */
  LastUpdate?: number;
}

/** Consul's weights of an instance in DNS SRV answers and the router: Passing when its checks pass, Warning when one warns. */
export interface ServiceWeights {
  Passing: number;
  Warning: number;
}

/** An address of an instance by tag (`lan`, `wan`, `lan_ipv4`, ...), as Consul's `ServiceAddress`. */
export interface TaggedServiceAddress {
  Address: string;
  Port: number;
}

/** What Consul keeps of a service registration beside its name, tags, address, port and meta. */
export interface ServiceDetails {
  /** "" for a typical service; "connect-proxy", "mesh-gateway", ... for Consul's proxies and gateways. */
  Kind?: string;
  Weights?: ServiceWeights;
  EnableTagOverride?: boolean;
  TaggedAddresses?: Record<string, TaggedServiceAddress>;
  /** A proxy's configuration (`AgentServiceConnectProxyConfig`), kept as registered: Ruche runs no proxy. */
  Proxy?: Record<string, unknown>;
}

/** A node registered through `/v1/catalog/register` that no Ruche agent runs (an external service's). */
export interface ExternalNode {
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
}

/** A service registered directly, not from an allocation. */
export interface RegisteredService {
  ID: string;
  Name: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  /** The node (id) of the agent it was registered with. */
  NodeID: string;
  /** "config" when it comes from a definition file in the agent's config dir: reloads add, change and remove those. */
  Source?: "config";
  /** Consul's service details, kept and answered as registered (`ServiceDetails`); absent: Consul's defaults. */
  Details?: ServiceDetails;
  /** Registered through `/v1/catalog/register` on a node Ruche does not run (Consul's external services): that node; NodeID is then `external:<node name>`. */
  ExternalNode?: ExternalNode;
  /** Not a service but the node's own checks (Consul's node-level checks, `_node_maintenance`): ID `_node`, shown as the node's checks. */
  NodeLevel?: true;
  Checks: RegisteredCheck[];
  CreateIndex: number;
  ModifyIndex: number;
}

/** The allocation's own address a mode `alloc` / `alloc_ipv6` service or check uses, "" when its node reported none (or the mode is another). */
export function allocModeAddress(mode: string, status: { Address: string; AddressIPv6: string } | undefined): string {
  if (status === undefined) return "";
  if (mode === AddressMode.Alloc) return status.Address;
  if (mode === AddressMode.AllocIPv6) return status.AddressIPv6;
  return "";
}
