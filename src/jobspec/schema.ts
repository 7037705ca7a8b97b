/**
 * The shape of a job file, once for both of its forms: each field has its name in our
 * JSON API (PascalCase, as in Nomad's) and, where it has one, its name in HCL. The HCL
 * decoder and the JSON decoder walk these tables; neither knows a field by heart.
 */
export type Kind =
  | { t: "string" }
  | { t: "int" }
  | { t: "number" }
  | { t: "bool" }
  /** nanoseconds in JSON, "30s" in HCL */
  | { t: "duration" }
  | { t: "strings" }
  | { t: "stringMap" }
  | { t: "stringListMap" }
  /** Driver configuration: any value, checked by the driver. */
  | { t: "any" }
  | { t: "object"; schema: ObjSchema }
  | { t: "list"; schema: ObjSchema }
  /** A Nomad field Ruche does not offer yet: an error that says so, never silence. */
  | { t: "unsupported" };

export interface Field {
  /** Name in the JSON form; empty for a field that exists only in HCL. */
  api: string;
  /** Name in HCL; empty for a field that exists only in JSON. */
  hcl: string;
  kind: Kind;
  /** In HCL the field is written as a block (`restart { ... }`) rather than `name = value`. */
  block?: boolean;
  /** The block's label fills this field (`group "webs"` → Name). */
  label?: boolean;
  /** For an unsupported field Ruche refuses on purpose: the one line that says why. */
  why?: string;
  /** A list of labelled blocks that JSON writes as a map by label (Nomad's `map[string]*VolumeRequest`); a list is read too. */
  keyed?: boolean;
}

export interface ObjSchema {
  /** What a user calls this block. */
  name: string;
  fields: Field[];
}

const string = { t: "string" } as const;
const int = { t: "int" } as const;

const bool = { t: "bool" } as const;
const duration = { t: "duration" } as const;
const strings = { t: "strings" } as const;
const stringMap = { t: "stringMap" } as const;
const any = { t: "any" } as const;
const unsupported = { t: "unsupported" } as const;

function f(api: string, hcl: string, kind: Kind, extra: Partial<Field> = {}): Field {
  return { api, hcl, kind, ...extra };
}
function blocks(api: string, hcl: string, schema: ObjSchema): Field {
  return { api, hcl, kind: { t: "list", schema }, block: true };
}
function one(api: string, hcl: string, schema: ObjSchema): Field {
  return { api, hcl, kind: { t: "object", schema }, block: true };
}
function notYet(...names: string[]): Field[] {
  return names.map((n) => ({ api: "", hcl: n, kind: unsupported, block: true }));
}
/** A Nomad field whose meaning Ruche cannot honour: refused with the reason, never "unknown". */
function refused(hcl: string, why: string, api = ""): Field {
  return { api, hcl, kind: unsupported, block: true, why };
}

const VAULT = "Ruche does not run Vault: give the task its secrets another way (env, a file in the image)";
const CONNECT = "Ruche does not run Consul Connect (no sidecar proxies or service mesh): reach services at their registered address and port";

export const constraintSchema: ObjSchema = {
  name: "constraint",
  fields: [f("LTarget", "attribute", string), f("Operand", "operator", string), f("RTarget", "value", string)],
};

/** Constraint shorthands: `distinct_hosts = true`, `regexp = "..."`, `version = ">= 1.2"`. */
export const CONSTRAINT_SHORTHANDS = [
  "distinct_hosts",
  "distinct_property",
  "regexp",
  "version",
  "semver",
  "set_contains",
  "set_contains_any",
  "set_contains_all",
] as const;

export const affinitySchema: ObjSchema = {
  name: "affinity",
  fields: [...constraintSchema.fields, f("Weight", "weight", int)],
};

const spreadTargetSchema: ObjSchema = {
  name: "target",
  fields: [f("Value", "", string, { label: true }), f("Percent", "percent", int)],
};

export const spreadSchema: ObjSchema = {
  name: "spread",
  fields: [f("Attribute", "attribute", string), f("Weight", "weight", int), blocks("SpreadTarget", "target", spreadTargetSchema)],
};

export const updateSchema: ObjSchema = {
  name: "update",
  fields: [
    f("Stagger", "stagger", duration),
    f("MaxParallel", "max_parallel", int),
    f("HealthCheck", "health_check", string),
    f("MinHealthyTime", "min_healthy_time", duration),
    f("HealthyDeadline", "healthy_deadline", duration),
    f("ProgressDeadline", "progress_deadline", duration),
    f("AutoRevert", "auto_revert", bool),
    f("AutoPromote", "auto_promote", bool),
    f("Canary", "canary", int),
  ],
};

export const migrateSchema: ObjSchema = {
  name: "migrate",
  fields: [
    f("MaxParallel", "max_parallel", int),
    f("HealthCheck", "health_check", string),
    f("MinHealthyTime", "min_healthy_time", duration),
    f("HealthyDeadline", "healthy_deadline", duration),
  ],
};

export const restartSchema: ObjSchema = {
  name: "restart",
  fields: [f("Attempts", "attempts", int), f("Interval", "interval", duration), f("Delay", "delay", duration), f("Mode", "mode", string), f("RenderTemplates", "render_templates", bool)],
};

export const rescheduleSchema: ObjSchema = {
  name: "reschedule",
  fields: [
    f("Attempts", "attempts", int),
    f("Interval", "interval", duration),
    f("Delay", "delay", duration),
    f("DelayFunction", "delay_function", string),
    f("MaxDelay", "max_delay", duration),
    f("Unlimited", "unlimited", bool),
  ],
};

/** Nomad 1.8's `disconnect` block; `stop_on_client_after` is not offered yet. */
export const disconnectSchema: ObjSchema = {
  name: "disconnect",
  fields: [
    f("LostAfter", "lost_after", duration),
    f("Replace", "replace", bool),
    f("Reconcile", "reconcile", string),
    f("StopOnClientAfter", "stop_on_client_after", unsupported, { block: true }),
  ],
};

const ephemeralDiskSchema: ObjSchema = {
  name: "ephemeral_disk",
  fields: [f("SizeMB", "size", int), f("Migrate", "migrate", bool), f("Sticky", "sticky", bool)],
};

export const portSchema: ObjSchema = {
  name: "port",
  fields: [f("Label", "", string, { label: true }), f("Value", "static", int), f("To", "to", int), f("HostNetwork", "host_network", string)],
};

const cniSchema: ObjSchema = { name: "cni", fields: [f("Args", "args", stringMap)] };

export const networkSchema: ObjSchema = {
  name: "network",
  fields: [
    f("Mode", "mode", string),
    f("MBits", "mbits", int),
    /** HCL's `port "label" {}` blocks; split into reserved and dynamic ports by canonicalize. */
    blocks("Ports", "port", portSchema),
    f("ReservedPorts", "", { t: "list", schema: portSchema }),
    f("DynamicPorts", "", { t: "list", schema: portSchema }),
    f("IP", "", string),
    /** Bridge mode: the hostname of the allocation's network namespace (its docker tasks'), interpolated on the node. */
    f("Hostname", "hostname", string),
    /** Mode `cni/<name>`: `cni { args = {...} }`, extra CNI_ARGS for the network's plugins (Nomad's `CNIConfig`). */
    one("CNI", "cni", cniSchema),
    ...notYet("dns"),
  ],
};

/** Nomad's `check_restart`: kept with the job; Ruche's client does not restart a task on failing checks yet. */
const checkRestartSchema: ObjSchema = {
  name: "check_restart",
  fields: [f("Limit", "limit", int), f("Grace", "grace", duration), f("IgnoreWarnings", "ignore_warnings", bool)],
};

const checkSchema: ObjSchema = {
  name: "check",
  fields: [
    f("Name", "name", string),
    f("Type", "type", string),
    f("Command", "command", string),
    f("Args", "args", strings),
    f("Path", "path", string),
    f("Method", "method", string),
    f("Protocol", "protocol", string),
    f("Header", "header", { t: "stringListMap" }),
    f("PortLabel", "port", string),
    f("AddressMode", "address_mode", string),
    f("Interval", "interval", duration),
    f("Timeout", "timeout", duration),
    f("InitialStatus", "initial_status", string),
    f("TaskName", "task", string),
    f("SuccessBeforePassing", "success_before_passing", int),
    f("FailuresBeforeCritical", "failures_before_critical", int),
    f("TLSSkipVerify", "tls_skip_verify", bool),
    /** How the check's state counts toward a deployment: require_healthy (default), ignore_warnings, ignore. */
    f("OnUpdate", "on_update", string),
    one("CheckRestart", "check_restart", checkRestartSchema),
    refused("expose", CONNECT, "Expose"),
  ],
};

export const serviceSchema: ObjSchema = {
  name: "service",
  fields: [
    f("Name", "name", string),
    f("PortLabel", "port", string),
    f("AddressMode", "address_mode", string),
    f("Tags", "tags", strings),
    f("CanaryTags", "canary_tags", strings),
    f("Meta", "meta", stringMap),
    f("TaskName", "task", string),
    /** Where the service is registered: Ruche's own catalog serves Consul's API, so both mean the same. */
    f("Provider", "provider", string),
    blocks("Checks", "check", checkSchema),
    f("OnUpdate", "on_update", string),
    /** For each of the service's checks that has none of its own. */
    one("CheckRestart", "check_restart", checkRestartSchema),
    refused("connect", CONNECT, "Connect"),
    /** A custom address the service is registered at (address_mode "auto" only, as Nomad). */
    f("Address", "address", string),
    ...notYet("identity"),
  ],
};

const resourcesSchema: ObjSchema = {
  name: "resources",
  fields: [
    f("CPU", "cpu", int),
    f("Cores", "cores", int),
    f("MemoryMB", "memory", int),
    f("MemoryMaxMB", "memory_max", int),
    f("DiskMB", "disk", int),
    /** Older job files declare the network inside the task's resources. */
    blocks("Networks", "network", networkSchema),
    refused("device", "Ruche runs no device plugins (Nomad's GPU and USB device plugins): give a docker task a host device with its config's devices"),
    refused("numa", "NUMA-aware scheduling requires Nomad Enterprise (as Nomad's community edition, Ruche refuses the block)"),
  ],
};

const logsSchema: ObjSchema = {
  name: "logs",
  fields: [f("MaxFiles", "max_files", int), f("MaxFileSizeMB", "max_file_size", int)],
};

/** A task's `identity` block (Nomad's workload identity): an unnamed one is the API token, `Identity` in JSON; named ones are `Identities`. */
const identitySchema: ObjSchema = {
  name: "identity",
  fields: [
    f("Name", "name", string),
    f("Audience", "aud", strings),
    f("Env", "env", bool),
    f("File", "file", bool),
    f("ChangeMode", "change_mode", string),
    f("ChangeSignal", "change_signal", string),
    f("TTL", "ttl", duration),
    f("Filepath", "filepath", string),
    { api: "ServiceName", hcl: "service_name", kind: unsupported, block: true },
  ],
};

/** Where a dispatched job's payload is written, under the task's `local/`. */
const dispatchPayloadSchema: ObjSchema = {
  name: "dispatch_payload",
  fields: [f("File", "file", string)],
};

/** A task's `artifact` block (Nomad's `TaskArtifact`): `options` and `headers` are maps, written as blocks in HCL. */
const artifactSchema: ObjSchema = {
  name: "artifact",
  fields: [
    f("GetterSource", "source", string),
    f("GetterOptions", "options", stringMap),
    f("GetterHeaders", "headers", stringMap),
    f("GetterMode", "mode", string),
    f("GetterInsecure", "insecure", bool),
    f("RelativeDest", "destination", string),
    f("Chown", "chown", bool),
  ],
};

/** A task's `lifecycle { hook, sidecar }`: when it runs relative to its group's main tasks. */
const lifecycleSchema: ObjSchema = {
  name: "lifecycle",
  fields: [f("Hook", "hook", string), f("Sidecar", "sidecar", bool)],
};

/** What Nomad's servers add to a scaling policy: read in JSON (`nomad job inspect`'s output) and dropped; Ruche's servers do not keep them. */
const scalingServerFields: Field[] = [f("ID", "", string), f("Namespace", "", string), f("Target", "", stringMap), f("CreateIndex", "", int), f("ModifyIndex", "", int)];

/**
 * A group's `scaling` block (Nomad's horizontal policy for its autoscaler): kept with the
 * job, checked as Nomad checks it; `policy { ... }` is the autoscaler's, stored as written.
 */
const groupScalingSchema: ObjSchema = {
  name: "scaling",
  fields: [f("Min", "min", int), f("Max", "max", int), f("Enabled", "enabled", bool), f("Type", "type", string), f("Policy", "policy", any), ...scalingServerFields],
};

/** A task's `scaling "cpu"` / `scaling "mem"` blocks (vertical policies): the label gives the type. */
const taskScalingSchema: ObjSchema = {
  name: "scaling",
  fields: [f("Type", "", string, { label: true }), f("Min", "min", int), f("Max", "max", int), f("Enabled", "enabled", bool), f("Policy", "policy", any), ...scalingServerFields],
};

/** A template's `change_script`: run inside the task when the template's output changes. */
const changeScriptSchema: ObjSchema = {
  name: "change_script",
  fields: [f("Command", "command", string), f("Args", "args", strings), f("Timeout", "timeout", duration), f("FailOnError", "fail_on_error", bool)],
};

/** A task's `template` block (Nomad's `api.Template`): rendered on the node by the client's template hook. */
const templateSchema: ObjSchema = {
  name: "template",
  fields: [
    f("SourcePath", "source", string),
    f("DestPath", "destination", string),
    f("EmbeddedTmpl", "data", string),
    f("ChangeMode", "change_mode", string),
    f("ChangeSignal", "change_signal", string),
    one("ChangeScript", "change_script", changeScriptSchema),
    f("Splay", "splay", duration),
    f("Perms", "perms", string),
    f("Uid", "uid", int),
    f("Gid", "gid", int),
    f("LeftDelim", "left_delimiter", string),
    f("RightDelim", "right_delimiter", string),
    f("Envvars", "env", bool),
    /** Vault's alone: read and kept, nothing uses it. */
    f("VaultGrace", "vault_grace", duration),
    one("Wait", "wait", { name: "wait", fields: [f("Min", "min", duration), f("Max", "max", duration)] }),
    f("ErrMissingKey", "error_on_missing_key", bool),
    f("Once", "once", bool),
  ],
};

const CSI = "Ruche does not run CSI plugins: a volume it mounts is a host path (docker volumes) or the allocation's directory";

/** A group's `volume "name" { ... }` (Nomad's `api.VolumeRequest`); in JSON a map by name, as Nomad's `TaskGroup.Volumes`. */
export const volumeSchema: ObjSchema = {
  name: "volume",
  fields: [
    f("Name", "", string, { label: true }),
    f("Type", "type", string),
    f("Source", "source", string),
    f("ReadOnly", "read_only", bool),
    f("Sticky", "sticky", bool),
    f("AccessMode", "access_mode", string),
    f("AttachmentMode", "attachment_mode", string),
    f("PerAlloc", "per_alloc", bool),
    refused("mount_options", `mount_options are for CSI volumes; ${CSI}`, "MountOptions"),
  ],
};

/** A task's `volume_mount` (Nomad's `api.VolumeMount`): one of its group's volumes, mounted in the task. */
const volumeMountSchema: ObjSchema = {
  name: "volume_mount",
  fields: [f("Volume", "volume", string), f("Destination", "destination", string), f("ReadOnly", "read_only", bool), f("PropagationMode", "propagation_mode", string), f("SELinuxLabel", "selinux_label", string)],
};

/** A task's `action "name" { command args }`: a command kept with the job, run inside the task when asked. */
const actionSchema: ObjSchema = {
  name: "action",
  fields: [f("Name", "", string, { label: true }), f("Command", "command", string), f("Args", "args", strings)],
};

export const taskSchema: ObjSchema = {
  name: "task",
  fields: [
    f("Name", "", string, { label: true }),
    f("Driver", "driver", string),
    f("User", "user", string),
    f("Config", "config", any),
    f("Env", "env", stringMap),
    f("Meta", "meta", stringMap),
    f("KillTimeout", "kill_timeout", duration),
    f("KillSignal", "kill_signal", string),
    /** Time between the task's services leaving the catalog and its kill signal. */
    f("ShutdownDelay", "shutdown_delay", duration),
    /** The group's restart policy with this block's fields over it. */
    one("RestartPolicy", "restart", restartSchema),
    blocks("ScalingPolicies", "scaling", taskScalingSchema),
    f("Leader", "leader", bool),
    one("Resources", "resources", resourcesSchema),
    blocks("Services", "service", serviceSchema),
    blocks("Constraints", "constraint", constraintSchema),
    blocks("Affinities", "affinity", affinitySchema),
    one("LogConfig", "logs", logsSchema),
    /** JSON only: in HCL every `identity` block is read into `Identities`, and the unnamed one moved here. */
    one("Identity", "", identitySchema),
    blocks("Identities", "identity", identitySchema),
    one("DispatchPayload", "dispatch_payload", dispatchPayloadSchema),
    one("Lifecycle", "lifecycle", lifecycleSchema),
    blocks("VolumeMounts", "volume_mount", volumeMountSchema),
    blocks("Artifacts", "artifact", artifactSchema),
    blocks("Templates", "template", templateSchema),
    refused("vault", VAULT, "Vault"),
    refused("schedule", "task schedules require Nomad Enterprise (as Nomad's community edition, Ruche refuses the block)", "Schedule"),
    refused("csi_plugin", CSI, "CSIPluginConfig"),
    /** Commands an operator runs in the task on demand (`ruche action`), Nomad's task actions. */
    blocks("Actions", "action", actionSchema),
    ...notYet("consul", "kind"),
  ],
};

export const groupSchema: ObjSchema = {
  name: "group",
  fields: [
    f("Name", "", string, { label: true }),
    f("Count", "count", int),
    f("Meta", "meta", stringMap),
    blocks("Constraints", "constraint", constraintSchema),
    blocks("Affinities", "affinity", affinitySchema),
    blocks("Spreads", "spread", spreadSchema),
    one("RestartPolicy", "restart", restartSchema),
    one("ReschedulePolicy", "reschedule", rescheduleSchema),
    one("Update", "update", updateSchema),
    one("Migrate", "migrate", migrateSchema),
    one("Disconnect", "disconnect", disconnectSchema),
    /** Before Nomad 1.8: `disconnect { lost_after }`, with `replace` and `reconcile` at their defaults. */
    f("MaxClientDisconnect", "max_client_disconnect", duration),
    one("EphemeralDisk", "ephemeral_disk", ephemeralDiskSchema),
    blocks("Networks", "network", networkSchema),
    blocks("Services", "service", serviceSchema),
    blocks("Tasks", "task", taskSchema),
    { ...blocks("Volumes", "volume", volumeSchema), keyed: true },
    one("Scaling", "scaling", groupScalingSchema),
    /** Time between the group's services leaving the catalog and its tasks' kill signal. */
    f("ShutdownDelay", "shutdown_delay", duration),
    /** Batch and sysbatch: the allocation is stopped this long after it was placed (complete, "allocation exceeded max_run_duration"). */
    f("MaxRunDuration", "max_run_duration", duration),
    refused("vault", VAULT, "Vault"),
    ...notYet("consul", "stop_after_client_disconnect", "prevent_reschedule_on_lost"),
  ],
};

const periodicSchema: ObjSchema = {
  name: "periodic",
  fields: [
    f("Enabled", "enabled", bool),
    f("Spec", "cron", string),
    /** Several expressions; the next launch is the earliest of theirs. */
    f("Specs", "crons", strings),
    /** JSON only: Nomad's api sends "cron". */
    f("SpecType", "", string),
    f("ProhibitOverlap", "prohibit_overlap", bool),
    f("TimeZone", "time_zone", string),
  ],
};

/** A parameterized job: a template that runs once per `ruche job dispatch`. */
const parameterizedSchema: ObjSchema = {
  name: "parameterized",
  fields: [f("Payload", "payload", string), f("MetaRequired", "meta_required", strings), f("MetaOptional", "meta_optional", strings)],
};

/** The job's `ui` block: a description and links shown with the job, as Nomad's web UI does. */
const uiSchema: ObjSchema = {
  name: "ui",
  fields: [f("Description", "description", string), blocks("Links", "link", { name: "link", fields: [f("Label", "label", string), f("URL", "url", string)] })],
};

/** Nomad's `multiregion`: the regions a job runs in, each with what its copy takes instead of the job's own, and how their deployments roll out. */
const multiregionSchema: ObjSchema = {
  name: "multiregion",
  fields: [
    one("Strategy", "strategy", { name: "strategy", fields: [f("MaxParallel", "max_parallel", int), f("OnFailure", "on_failure", string)] }),
    blocks("Regions", "region", {
      name: "region",
      fields: [f("Name", "", string, { label: true }), f("Count", "count", int), f("Datacenters", "datacenters", strings), f("NodePool", "node_pool", string), f("Meta", "meta", stringMap)],
    }),
  ],
};

/** Ruche's own: how nodes are ranked (Swarm's strategies) and whether every node is scored. */
const placementSchema: ObjSchema = {
  name: "placement",
  fields: [f("Placement", "strategy", string), f("FullScan", "full_scan", bool)],
};

/** Where the HCL decoder puts the tasks written directly in a job, until they get their groups (`groupJobTasks`). */
export const JOB_TASKS = "JobTasks";

export const jobSchema: ObjSchema = {
  name: "job",
  fields: [
    f("ID", "", string, { label: true }),
    f("Name", "name", string),
    f("Namespace", "namespace", string),
    f("Region", "region", string),
    f("Type", "type", string),
    f("Priority", "priority", int),
    f("AllAtOnce", "all_at_once", bool),
    f("Datacenters", "datacenters", strings),
    f("NodePool", "node_pool", string),
    f("Meta", "meta", stringMap),
    f("Placement", "", string),
    f("FullScan", "", bool),
    /** In HCL, `placement { strategy = "spread" }` fills Placement and FullScan. */
    one("", "placement", placementSchema),
    blocks("Constraints", "constraint", constraintSchema),
    blocks("Affinities", "affinity", affinitySchema),
    blocks("Spreads", "spread", spreadSchema),
    one("Update", "update", updateSchema),
    one("Migrate", "migrate", migrateSchema),
    one("ReschedulePolicy", "reschedule", rescheduleSchema),
    one("Periodic", "periodic", periodicSchema),
    blocks("TaskGroups", "group", groupSchema),
    f("Stop", "", bool),
    f("Version", "", int),
    f("Stable", "", bool),
    f("Status", "", string),
    f("CreateIndex", "", int),
    f("ModifyIndex", "", int),
    f("JobModifyIndex", "", int),
    // Unix nanoseconds (past 2^53): set by the server, whatever a client sends back.
    f("SubmitTime", "", { t: "any" }),
    one("ParameterizedJob", "parameterized", parameterizedSchema),
    one("UI", "ui", uiSchema),
    /** HCL only: a task written directly in the job runs in a group of its own, named after it, placed before the job's groups (Nomad's `normalizeJob`). */
    blocks(JOB_TASKS, "task", taskSchema),
    one("Multiregion", "multiregion", multiregionSchema),
    refused("vault", VAULT, "Vault"),
    ...notYet("consul"),
  ],
};


