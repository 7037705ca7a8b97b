import {
  defaultDisconnect,
  defaultEphemeralDisk,
  defaultLogConfig,
  defaultMigrateStrategy,
  defaultReschedulePolicy,
  defaultResources,
  defaultRestartPolicy,
  defaultUpdateStrategy,
  DEFAULT_KILL_TIMEOUT,
  JOB_DEFAULTS,
  JOB_TYPES,
  type Affinity,
  type Constraint,
  type DispatchPayloadMode,
  type Job,
  type JobType,
  type MultiregionOnFailure,
  type CheckRestart,
  type NetworkResource,
  type OnUpdate,
  type Port,
  type ScalingPolicy,
  type Service,
  type ServiceCheck,
  type Spread,
  type Task,
  type TaskArtifact,
  type TaskGroup,
  type Template,
  type VolumeMount,
  type VolumeRequest,
  type WorkloadIdentity,
  NS,
  DEFAULT_IDENTITY_AUDIENCE,
  DEFAULT_IDENTITY_NAME,
} from "../structs/index.js";
import { isPlainObject } from "./coerce.js";

/** A problem found while filling defaults, at an API path. */
export interface Problem {
  path: string;
  message: string;
  /** Something required is absent; not worth saying when a misspelt neighbour is the likely cause. */
  missing?: boolean;
}

export interface Canonical {
  job: Job;
  /** API path in the canonical job → API path where the user wrote it (network moved from a task to its group, ...). */
  aliases: Map<string, string>;
  problems: Problem[];
}

type Raw = Record<string, unknown>;

function obj(v: unknown): Raw | undefined {
  return isPlainObject(v) ? v : undefined;
}
function list(v: unknown): Raw[] {
  return Array.isArray(v) ? v.filter(isPlainObject) : [];
}
function s(v: unknown, d: string): string {
  return typeof v === "string" ? v : d;
}
function n(v: unknown, d: number): number {
  return typeof v === "number" ? v : d;
}
function b(v: unknown, d: boolean): boolean {
  return typeof v === "boolean" ? v : d;
}
function smap(v: unknown): Record<string, string> {
  return isPlainObject(v) ? { ...(v as Record<string, string>) } : {};
}
function strs(v: unknown): string[] {
  return Array.isArray(v) ? [...(v as string[])] : [];
}
/** Fields given in `over` replace those of `base`; what is absent keeps its default. */
function merge<T extends object>(base: T, ...overs: (Raw | undefined)[]): T {
  const out = { ...base } as Record<string, unknown>;
  for (const over of overs) {
    if (over === undefined) continue;
    for (const k of Object.keys(base)) if (over[k] !== undefined) out[k] = over[k];
  }
  return out as T;
}

/** A restart policy with `over`'s fields; Nomad 1.6's `render_templates` only where written (a policy that does not say it keeps its shape). */
function restartPolicy(base: TaskGroup["RestartPolicy"], over: Raw | undefined): TaskGroup["RestartPolicy"] {
  const { RenderTemplates, ...rest } = base;
  const p: TaskGroup["RestartPolicy"] = merge(rest, over);
  const written = over?.RenderTemplates;
  if (typeof written === "boolean") p.RenderTemplates = written;
  else if (RenderTemplates !== undefined) p.RenderTemplates = RenderTemplates;
  return p;
}

/** Batch and sysbatch jobs run to completion: no rolling updates. */
function runsOnce(type: JobType): boolean {
  return type === "batch" || type === "sysbatch";
}
/** System and sysbatch jobs run on every node: never rescheduled elsewhere. */
function onEveryNode(type: JobType): boolean {
  return type === "system" || type === "sysbatch";
}

/** Raw job in the API's shape (types already checked) → the canonical Job with every default. */
export function canonicalize(raw: Raw): Canonical {
  const aliases = new Map<string, string>();
  const problems: Problem[] = [];
  const typeText = s(raw.Type, "service");
  const type: JobType = (JOB_TYPES.includes(typeText) ? typeText : "service") as JobType;
  const id = s(raw.ID, "");

  const jobUpdate = obj(raw.Update);
  const jobMigrate = obj(raw.Migrate);
  const jobReschedule = obj(raw.ReschedulePolicy);
  const periodic = obj(raw.Periodic);
  const parameterized = obj(raw.ParameterizedJob);

  const job: Job = {
    ID: id,
    Name: s(raw.Name, id),
    Namespace: s(raw.Namespace, JOB_DEFAULTS.Namespace),
    Region: s(raw.Region, JOB_DEFAULTS.Region),
    Type: typeText as JobType,
    Priority: n(raw.Priority, JOB_DEFAULTS.Priority),
    AllAtOnce: b(raw.AllAtOnce, false),
    Datacenters: raw.Datacenters === undefined ? [...JOB_DEFAULTS.Datacenters] : strs(raw.Datacenters),
    NodePool: s(raw.NodePool, JOB_DEFAULTS.NodePool),
    Constraints: list(raw.Constraints).map(constraint),
    Affinities: list(raw.Affinities).map(affinity),
    Spreads: list(raw.Spreads).map(spread),
    Placement: s(raw.Placement, "binpack") as Job["Placement"],
    FullScan: b(raw.FullScan, false),
    Update: jobUpdate === undefined ? null : merge(defaultUpdateStrategy(), jobUpdate),
    Periodic:
      periodic === undefined
        ? null
        : {
            Enabled: b(periodic.Enabled, true),
            Spec: s(periodic.Spec, ""),
            Specs: strs(periodic.Specs),
            SpecType: s(periodic.SpecType, "") === "" ? "cron" : s(periodic.SpecType, ""),
            ProhibitOverlap: b(periodic.ProhibitOverlap, false),
            TimeZone: s(periodic.TimeZone, "") === "" ? "UTC" : s(periodic.TimeZone, ""),
          },
    TaskGroups: [],
    Meta: smap(raw.Meta),
    Stop: b(raw.Stop, false),
    Status: "pending",
    Version: n(raw.Version, 0),
    Stable: b(raw.Stable, false),
    CreateIndex: n(raw.CreateIndex, 0),
    ModifyIndex: n(raw.ModifyIndex, 0),
    JobModifyIndex: n(raw.JobModifyIndex, 0),
    SubmitTime: n(raw.SubmitTime, 0),
  };

  const ui = obj(raw.UI);
  if (ui !== undefined) job.UI = { Description: s(ui.Description, ""), Links: list(ui.Links).map((l) => ({ Label: s(l.Label, ""), URL: s(l.URL, "") })) };
  const multiregion = obj(raw.Multiregion);
  if (multiregion !== undefined) {
    const strategy = obj(multiregion.Strategy);
    job.Multiregion = {
      Strategy: { MaxParallel: n(strategy?.MaxParallel, 0), OnFailure: s(strategy?.OnFailure, "") as MultiregionOnFailure },
      // Nomad's api: a region's count is 1 when not given.
      Regions: list(multiregion.Regions).map((r) => ({ Name: s(r.Name, ""), Count: n(r.Count, 1), Datacenters: strs(r.Datacenters), NodePool: s(r.NodePool, ""), Meta: smap(r.Meta) })),
    };
  }
  if (parameterized !== undefined) {
    job.ParameterizedJob = { Payload: s(parameterized.Payload, "") === "" ? "optional" : (s(parameterized.Payload, "") as DispatchPayloadMode), MetaRequired: strs(parameterized.MetaRequired), MetaOptional: strs(parameterized.MetaOptional) };
  }
  if (runsOnce(type) && jobUpdate !== undefined) problems.push({ path: "Update", message: `${type} jobs are not updated in rolling fashion; remove the update block` });
  if (type !== "service" && jobMigrate !== undefined) problems.push({ path: "Migrate", message: `a migrate block is only for service jobs, not ${type} jobs` });
  if (onEveryNode(type) && jobReschedule !== undefined) problems.push({ path: "ReschedulePolicy", message: `${type} jobs run on every node and are never rescheduled elsewhere; remove the reschedule block` });

  list(raw.TaskGroups).forEach((g, gi) => {
    job.TaskGroups.push(group(job, type, g, `TaskGroups[${gi}]`, { jobUpdate, jobMigrate, jobReschedule }, aliases, problems));
  });
  return { job, aliases, problems };
}

function constraint(c: Raw): Constraint {
  return { LTarget: s(c.LTarget, ""), RTarget: s(c.RTarget, ""), Operand: s(c.Operand, "=") as Constraint["Operand"] };
}
function affinity(a: Raw): Affinity {
  return { ...constraint(a), Weight: n(a.Weight, 50) };
}
function spread(sp: Raw): Spread {
  return {
    Attribute: s(sp.Attribute, ""),
    Weight: n(sp.Weight, 50),
    SpreadTarget: list(sp.SpreadTarget).map((t) => ({ Value: s(t.Value, ""), Percent: n(t.Percent, 0) })),
  };
}

function port(p: Raw): Port {
  return { Label: s(p.Label, ""), Value: n(p.Value, 0), To: n(p.To, 0), HostNetwork: s(p.HostNetwork, "default") };
}

/** A network as written (HCL's `port` blocks, or the API's reserved and dynamic lists). */
function network(raw: Raw, at: string, writtenAt: string, aliases: Map<string, string>): NetworkResource {
  const net: NetworkResource = { Mode: s(raw.Mode, "host") as NetworkResource["Mode"], MBits: n(raw.MBits, 0), ReservedPorts: [], DynamicPorts: [], IP: s(raw.IP, "") };
  if (s(raw.Hostname, "") !== "") net.Hostname = s(raw.Hostname, "");
  const cni = raw.CNI as Raw | null | undefined;
  if (cni !== undefined && cni !== null) net.CNI = { Args: { ...((cni.Args ?? {}) as Record<string, string>) } };
  // A port with a static value is reserved, whatever the value (0 is refused by validation).
  const add = (p: Raw, reserved: boolean, from: string): void => {
    const cp = port(p);
    const into = reserved ? net.ReservedPorts : net.DynamicPorts;
    aliases.set(`${at}.${reserved ? "ReservedPorts" : "DynamicPorts"}[${into.length}]`, from);
    into.push(cp);
  };
  list(raw.Ports).forEach((p, i) => {
    add(p, p.Value !== undefined, `${writtenAt}.Ports[${i}]`);
  });
  list(raw.ReservedPorts).forEach((p, i) => {
    add(p, true, `${writtenAt}.ReservedPorts[${i}]`);
  });
  list(raw.DynamicPorts).forEach((p, i) => {
    add({ ...p, Value: 0 }, false, `${writtenAt}.DynamicPorts[${i}]`);
  });
  return net;
}

interface JobLevel {
  jobUpdate: Raw | undefined;
  jobMigrate: Raw | undefined;
  jobReschedule: Raw | undefined;
}

function group(job: Job, type: JobType, g: Raw, at: string, up: JobLevel, aliases: Map<string, string>, problems: Problem[]): TaskGroup {
  const name = s(g.Name, "");
  const gUpdate = obj(g.Update);
  const gMigrate = obj(g.Migrate);
  const gReschedule = obj(g.ReschedulePolicy);
  if (runsOnce(type) && gUpdate !== undefined) problems.push({ path: `${at}.Update`, message: `${type} jobs are not updated in rolling fashion; remove the update block` });
  if (type !== "service" && gMigrate !== undefined) problems.push({ path: `${at}.Migrate`, message: `a migrate block is only for service jobs, not ${type} jobs` });
  if (onEveryNode(type) && gReschedule !== undefined) problems.push({ path: `${at}.ReschedulePolicy`, message: `${type} jobs run on every node and are never rescheduled elsewhere; remove the reschedule block` });
  if (gUpdate === undefined && up.jobUpdate !== undefined) aliases.set(`${at}.Update`, "Update");
  if (gMigrate === undefined && up.jobMigrate !== undefined) aliases.set(`${at}.Migrate`, "Migrate");
  if (gReschedule === undefined && up.jobReschedule !== undefined) aliases.set(`${at}.ReschedulePolicy`, "ReschedulePolicy");

  const reschedule = defaultReschedulePolicy(type);
  // max_client_disconnect (before Nomad 1.8) is disconnect's lost_after; the two together are refused.
  const gDisconnect = obj(g.Disconnect);
  const maxClientDisconnect = typeof g.MaxClientDisconnect === "number" ? g.MaxClientDisconnect : undefined;
  if (gDisconnect !== undefined && maxClientDisconnect !== undefined) {
    problems.push({ path: `${at}.MaxClientDisconnect`, message: "using both max_client_disconnect and disconnect is not allowed; write disconnect { lost_after = ... } alone" });
  }
  const tg: TaskGroup = {
    Name: name,
    // As Nomad's api: without a count, a scaling policy's min is the count.
    Count: n(g.Count, n(obj(g.Scaling)?.Min, 1)),
    Constraints: list(g.Constraints).map(constraint),
    Affinities: list(g.Affinities).map(affinity),
    Spreads: list(g.Spreads).map(spread),
    RestartPolicy: restartPolicy(defaultRestartPolicy(type), obj(g.RestartPolicy)),
    ReschedulePolicy: reschedule === null ? null : merge(reschedule, up.jobReschedule, gReschedule),
    Update: runsOnce(type) ? null : merge(defaultUpdateStrategy(), up.jobUpdate, gUpdate),
    Migrate: type === "service" ? merge(defaultMigrateStrategy(), up.jobMigrate, gMigrate) : null,
    Disconnect: merge(defaultDisconnect(), maxClientDisconnect === undefined ? undefined : { LostAfter: maxClientDisconnect }, gDisconnect),
    EphemeralDisk: merge(defaultEphemeralDisk(), obj(g.EphemeralDisk)),
    Networks: list(g.Networks).map((nw, i) => network(nw, `${at}.Networks[${i}]`, `${at}.Networks[${i}]`, aliases)),
    Services: [],
    Tasks: [],
    Meta: smap(g.Meta),
  };
  const gScaling = obj(g.Scaling);
  if (gScaling !== undefined) tg.Scaling = scaling(gScaling, "horizontal", tg.Count);
  if (typeof g.ShutdownDelay === "number") tg.ShutdownDelay = g.ShutdownDelay;
  if (typeof g.MaxRunDuration === "number") tg.MaxRunDuration = g.MaxRunDuration;
  const volumes = volumesOf(g, at, aliases, problems);
  if (volumes !== undefined) tg.Volumes = volumes;

  const rawTasks = list(g.Tasks);
  /**
   * Each task's own ports that took another name in the group: in Nomad each task's network
   * holds its own labels, so two tasks may each declare port "http"; in the group the later
   * one is `<task>_http` (Nomad's name for another task's port, NOMAD_PORT_<task>_<label>),
   * and the task still sees it as NOMAD_PORT_http (client env), its services and `ports` too.
   */
  const ownNames = new Map<number, Map<string, string>>();
  // Older job files declare the network inside a task's resources: it moves to the group.
  const oldNets = rawTasks.flatMap((t, ti) => list(obj(t.Resources)?.Networks).map((nw, ni) => ({ nw, ti, ni })));
  if (oldNets.length > 0) {
    // Beside a group network, a task's network of bandwidth alone (`network { mbits = 10 }`,
    // no port) is taken, as Nomad takes it with a deprecation warning: its mbits join the group's.
    const first = oldNets.find(({ nw }) => {
      const one = network(nw, "", "", new Map());
      return one.ReservedPorts.length + one.DynamicPorts.length > 0;
    });
    const hadGroupNetwork = tg.Networks.length > 0;
    if (hadGroupNetwork && first !== undefined) {
      problems.push({
        path: `${at}.Tasks[${first.ti}].Resources.Networks[${first.ni}]`,
        message: "the network is declared both in the group and in a task's resources; declare it once, in the group",
      });
    }
    // Even when both are declared, the task's ports join the group's, so nothing else is reported as undeclared.
    {
      const netAt = `${at}.Networks[0]`;
      const merged: NetworkResource = tg.Networks[0] ?? { Mode: "host", MBits: 0, ReservedPorts: [], DynamicPorts: [], IP: "" };
      // Who declared each label first: a task's index, or -1 for the group's own network.
      const declaredBy = new Map<string, number>([...merged.ReservedPorts, ...merged.DynamicPorts].map((p) => [p.Label, -1]));
      for (const { nw, ti, ni } of oldNets) {
        const written = `${at}.Tasks[${ti}].Resources.Networks[${ni}]`;
        if (!hadGroupNetwork) aliases.set(netAt, written);
        const one = network(nw, `${netAt}.tmp`, written, aliases);
        merged.MBits += one.MBits;
        for (const [kind, ports] of [["ReservedPorts", one.ReservedPorts], ["DynamicPorts", one.DynamicPorts]] as const) {
          ports.forEach((p, i) => {
            const from = aliases.get(`${netAt}.tmp.${kind}[${i}]`);
            if (from !== undefined) aliases.set(`${netAt}.${kind}[${merged[kind].length}]`, from);
            const by = declaredBy.get(p.Label);
            if (by !== undefined && by >= 0 && by !== ti) {
              const as = `${s(rawTasks[ti]?.Name, "")}_${p.Label}`;
              let names = ownNames.get(ti);
              if (names === undefined) ownNames.set(ti, (names = new Map<string, string>()));
              names.set(p.Label, as);
              merged[kind].push({ ...p, Label: as });
              return;
            }
            if (by === undefined) declaredBy.set(p.Label, ti);
            merged[kind].push(p);
          });
        }
      }
      for (const k of [...aliases.keys()]) if (k.startsWith(`${netAt}.tmp`)) aliases.delete(k);
      tg.Networks = [merged];
    }
  }

  rawTasks.forEach((t, ti) => {
    const tAt = `${at}.Tasks[${ti}]`;
    const task = taskOf(job, tg, t, tAt, aliases, problems);
    const names = ownNames.get(ti);
    const groupName = (label: string): string => names?.get(label) ?? label;
    if (names !== undefined) {
      const listed = task.Config.ports;
      if (Array.isArray(listed)) task.Config = { ...task.Config, ports: listed.map((l: unknown) => (typeof l === "string" ? groupName(l) : l)) };
      for (const sv of task.Services) {
        sv.PortLabel = groupName(sv.PortLabel);
        for (const c of sv.Checks) c.PortLabel = groupName(c.PortLabel);
      }
    }
    // The old docker `port_map` becomes the port's `to`, and the task uses the ports its network declared.
    // Repeated `port_map { ... }` blocks (or the JSON list of maps) are one map, as in Nomad's docker driver.
    const written = task.Config.port_map;
    const portMap: unknown = Array.isArray(written) && written.every(isPlainObject) ? Object.assign({}, ...(written as Raw[])) : written;
    // The podman driver takes both as Nomad's podman plugin does.
    const containerDriver = task.Driver === "docker" || task.Driver === "podman";
    if (containerDriver && portMap !== undefined) {
      const net = tg.Networks[0];
      if (!isPlainObject(portMap)) {
        problems.push({ path: `${tAt}.Config.port_map`, message: "port_map must map port labels to container ports, as in port_map = { http = 80 }" });
      } else {
        for (const [label, to] of Object.entries(portMap)) {
          const p = net === undefined ? undefined : [...net.DynamicPorts, ...net.ReservedPorts].find((x) => x.Label === groupName(label));
          const num = typeof to === "number" ? to : typeof to === "string" && /^\d+$/.test(to) ? Number(to) : NaN;
          if (p === undefined) {
            problems.push({ path: `${tAt}.Config.port_map`, message: `port_map names port "${label}", which no network block declares` });
          } else if (!Number.isInteger(num) || num < 1 || num > 65535) {
            problems.push({ path: `${tAt}.Config.port_map`, message: `port_map: ${label} must be a port number between 1 and 65535, got ${JSON.stringify(to)}` });
          } else {
            p.To = num;
          }
        }
        const { port_map: _, ...rest } = task.Config;
        const ownPorts = list(obj(t.Resources)?.Networks).flatMap((nw) => [...list(nw.Ports), ...list(nw.ReservedPorts), ...list(nw.DynamicPorts)].map((p) => groupName(s(p.Label, ""))));
        task.Config = { ...rest, ports: rest.ports ?? (ownPorts.length > 0 ? ownPorts : Object.keys(portMap)) };
        aliases.set(`${tAt}.Config.ports`, `${tAt}.Config.port_map`);
      }
    } else if (containerDriver && task.Config.ports === undefined) {
      // As Nomad's docker driver: a task that declares its network in its own resources
      // publishes those ports (each on its own number inside) without listing them.
      const ownPorts = list(obj(t.Resources)?.Networks).flatMap((nw) => [...list(nw.Ports), ...list(nw.ReservedPorts), ...list(nw.DynamicPorts)].map((p) => groupName(s(p.Label, ""))));
      if (ownPorts.length > 0) {
        task.Config = { ...task.Config, ports: ownPorts };
        const first = list(obj(t.Resources)?.Networks).length > 0 ? `${tAt}.Resources.Networks[0]` : undefined;
        if (first !== undefined) aliases.set(`${tAt}.Config.ports`, first);
      }
    }
    tg.Tasks.push(task);
  });

  tg.Services = list(g.Services).map((sv, si) => service(sv, `${job.ID}-${name}`, { job: job.ID, group: name, task: "" }, `${at}.Services[${si}]`, problems));
  return tg;
}

function taskOf(job: Job, tg: TaskGroup, t: Raw, at: string, aliases: Map<string, string>, problems: Problem[]): Task {
  const name = s(t.Name, "");
  const { Networks: _nets, ...res } = obj(t.Resources) ?? {};
  const task: Task = {
    Name: name,
    Driver: s(t.Driver, ""),
    User: s(t.User, ""),
    Config: isPlainObject(t.Config) ? { ...t.Config } : {},
    Env: smap(t.Env),
    Services: list(t.Services).map((sv, si) =>
      service(sv, `${job.ID}-${tg.Name}-${name}`, { job: job.ID, group: tg.Name, task: name }, `${at}.Services[${si}]`, problems, name),
    ),
    Resources: merge(defaultResources(), res),
    Constraints: list(t.Constraints).map(constraint),
    Affinities: list(t.Affinities).map(affinity),
    Meta: smap(t.Meta),
    KillTimeout: n(t.KillTimeout, DEFAULT_KILL_TIMEOUT),
    KillSignal: s(t.KillSignal, ""),
    LogConfig: merge(defaultLogConfig(), obj(t.LogConfig)),
    Leader: b(t.Leader, false),
  };
  identitiesOf(task, t, at, aliases, problems);
  const actions = list(t.Actions).map((a) => ({ Name: s(a.Name, ""), Command: s(a.Command, ""), Args: Array.isArray(a.Args) ? (a.Args as unknown[]).map(String) : [] }));
  if (actions.length > 0) task.Actions = actions;
  const dispatchPayload = obj(t.DispatchPayload);
  if (dispatchPayload !== undefined) task.DispatchPayload = { File: s(dispatchPayload.File, "") };
  const lifecycle = obj(t.Lifecycle);
  if (lifecycle !== undefined) task.Lifecycle = { Hook: s(lifecycle.Hook, ""), Sidecar: b(lifecycle.Sidecar, false) };
  if (typeof t.ShutdownDelay === "number") task.ShutdownDelay = t.ShutdownDelay;
  const restart = obj(t.RestartPolicy);
  if (restart !== undefined) task.RestartPolicy = restartPolicy(tg.RestartPolicy, restart);
  const policies = list(t.ScalingPolicies);
  if (policies.length > 0) task.ScalingPolicies = policies.map((p) => scaling(p, "", tg.Count));
  const artifacts = list(t.Artifacts);
  if (artifacts.length > 0) task.Artifacts = artifacts.map(artifact);
  const mounts = list(t.VolumeMounts);
  if (mounts.length > 0) task.VolumeMounts = mounts.map(volumeMount);
  const templates = list(t.Templates);
  if (templates.length > 0) task.Templates = templates.map(template);
  return task;
}

/**
 * A group's `volume` blocks as Nomad's `TaskGroup.Volumes`, a map by name; each name's path
 * (`Volumes.data`) points back where it was written (`Volumes[0]`). A name given twice is refused.
 */
function volumesOf(g: Raw, at: string, aliases: Map<string, string>, problems: Problem[]): Record<string, VolumeRequest> | undefined {
  const written = list(g.Volumes);
  if (written.length === 0) return undefined;
  const out: Record<string, VolumeRequest> = {};
  written.forEach((v, i) => {
    const name = s(v.Name, "");
    if (Object.hasOwn(out, name)) {
      problems.push({ path: `${at}.Volumes[${i}]`, message: `volume "${name}" is declared twice in this group` });
      return;
    }
    aliases.set(`${at}.Volumes.${name}`, `${at}.Volumes[${i}]`);
    out[name] = {
      Name: name,
      Type: s(v.Type, ""),
      Source: s(v.Source, ""),
      ReadOnly: b(v.ReadOnly, false),
      Sticky: b(v.Sticky, false),
      AccessMode: s(v.AccessMode, ""),
      AttachmentMode: s(v.AttachmentMode, ""),
      MountOptions: null,
      PerAlloc: b(v.PerAlloc, false),
    };
  });
  return out;
}

/** A `volume_mount` with Nomad's defaults (`api.VolumeMount.Canonicalize`): read-write, propagation private, no SELinux label. */
function volumeMount(m: Raw): VolumeMount {
  return {
    Volume: s(m.Volume, ""),
    Destination: s(m.Destination, ""),
    ReadOnly: b(m.ReadOnly, false),
    PropagationMode: s(m.PropagationMode, "private"),
    SELinuxLabel: s(m.SELinuxLabel, ""),
  };
}

/** A `template` block with Nomad's defaults (`api.Template.Canonicalize`): restart on change, splay 5 s, perms 0644, `{{ }}`. */
function template(t: Raw): Template {
  const script = obj(t.ChangeScript);
  const wait = obj(t.Wait);
  return {
    SourcePath: s(t.SourcePath, ""),
    DestPath: s(t.DestPath, ""),
    EmbeddedTmpl: s(t.EmbeddedTmpl, ""),
    ChangeMode: s(t.ChangeMode, "restart"),
    ChangeSignal: s(t.ChangeSignal, ""),
    ChangeScript: script === undefined ? null : { Command: s(script.Command, ""), Args: strs(script.Args), Timeout: n(script.Timeout, 5 * NS.second), FailOnError: b(script.FailOnError, false) },
    Splay: n(t.Splay, 5 * NS.second),
    Perms: s(t.Perms, "0644"),
    Uid: n(t.Uid, -1),
    Gid: n(t.Gid, -1),
    LeftDelim: s(t.LeftDelim, "{{"),
    RightDelim: s(t.RightDelim, "}}"),
    Envvars: b(t.Envvars, false),
    VaultGrace: n(t.VaultGrace, 0),
    Wait: wait === undefined ? null : { Min: n(wait.Min, 0), Max: n(wait.Max, 0) },
    ErrMissingKey: b(t.ErrMissingKey, false),
    Once: b(t.Once, false),
  };
}

/** Go's `path.Base`: the last element of a slash-separated path, trailing slashes dropped. */
function baseName(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  if (trimmed === "") return p === "" ? "." : "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/**
 * An `artifact` block with Nomad's defaults (`api.TaskArtifact.Canonicalize`): mode "any";
 * the destination `local/`, or in mode "file" `local/<the source's last path segment>`;
 * empty maps are null.
 */
function artifact(a: Raw): TaskArtifact {
  const source = s(a.GetterSource, "");
  const mode = s(a.GetterMode, "") === "" ? "any" : s(a.GetterMode, "");
  const options = smap(a.GetterOptions);
  const headers = smap(a.GetterHeaders);
  const dest = s(a.RelativeDest, "") !== "" ? s(a.RelativeDest, "") : mode === "file" ? `local/${baseName(source)}` : "local/";
  return {
    GetterSource: source,
    GetterOptions: Object.keys(options).length === 0 ? null : options,
    GetterHeaders: Object.keys(headers).length === 0 ? null : headers,
    GetterMode: mode,
    GetterInsecure: b(a.GetterInsecure, false),
    RelativeDest: dest,
    Chown: b(a.Chown, false),
  };
}

/**
 * A task's `identity` blocks, as Nomad canonicalizes them: the one without a name (or named
 * "default") is `Identity`, the API token, its audience always `nomadproject.io`; the others
 * stay in `Identities`. HCL puts every block in `Identities`; JSON may use either field.
 */
function identitiesOf(task: Task, t: Raw, at: string, aliases: Map<string, string>, problems: Problem[]): void {
  const one = (w: Raw): WorkloadIdentity => {
    const name = s(w.Name, "") === "" ? DEFAULT_IDENTITY_NAME : s(w.Name, "");
    const filepath = s(w.Filepath, "");
    return {
      ...(filepath === "" ? {} : { Filepath: filepath }),
      Name: name,
      Audience: name === DEFAULT_IDENTITY_NAME ? [DEFAULT_IDENTITY_AUDIENCE] : Array.isArray(w.Audience) ? (w.Audience as string[]).slice() : [],
      Env: b(w.Env, false),
      File: b(w.File, false),
      ChangeMode: s(w.ChangeMode, ""),
      ChangeSignal: s(w.ChangeSignal, "").toUpperCase(),
      TTL: n(w.TTL, 0),
    };
  };
  const single = obj(t.Identity);
  let def = single === undefined ? undefined : one(single);
  if (def !== undefined && def.Name !== DEFAULT_IDENTITY_NAME) problems.push({ path: `${at}.Identity.Name`, message: `the task's Identity is its default identity: its name must be "" or "${DEFAULT_IDENTITY_NAME}", got "${def.Name}"; put named identities in Identities` });
  const others: WorkloadIdentity[] = [];
  let defaultAt = -1;
  list(t.Identities).forEach((raw, i) => {
    const w = one(raw);
    if (w.Name !== DEFAULT_IDENTITY_NAME) {
      others.push(w);
      aliases.set(`${at}.Identities[${others.length - 1}]`, `${at}.Identities[${i}]`);
      return;
    }
    if (def !== undefined) {
      problems.push({ path: `${at}.Identities[${i}]`, message: "a task has one default identity (an identity block without a name); name the others" });
      return;
    }
    def = w;
    defaultAt = i;
  });
  // Where the user wrote the default identity; not said when a named one follows it, whose own
  // alias (its index moved down by one) would take the path on to the wrong block.
  if (defaultAt >= 0 && others.length === defaultAt) aliases.set(`${at}.Identity`, `${at}.Identities[${defaultAt}]`);
  if (def !== undefined) task.Identity = def;
  if (others.length > 0) task.Identities = others;
}

const PROVIDERS = ["consul", "nomad", "ruche"];

function service(
  sv: Raw,
  defaultName: string,
  names: { job: string; group: string; task: string },
  at: string,
  problems: Problem[],
  taskName = "",
): Service {
  const provider = s(sv.Provider, "ruche");
  if (!PROVIDERS.includes(provider)) problems.push({ path: `${at}.Provider`, message: `provider must be one of ${PROVIDERS.join(", ")} (all register in Ruche's catalog), got "${provider}"` });
  const base = names.task === "" ? `${names.job}-${names.group}` : `${names.job}-${names.group}-${names.task}`;
  const name = s(sv.Name, defaultName)
    .replaceAll("${JOB}", names.job)
    .replaceAll("${NOMAD_JOB_NAME}", names.job)
    .replaceAll("${TASKGROUP}", names.group)
    .replaceAll("${NOMAD_GROUP_NAME}", names.group)
    .replaceAll("${TASK}", names.task)
    .replaceAll("${NOMAD_TASK_NAME}", names.task)
    .replaceAll("${BASE}", base);
  return {
    Name: name,
    PortLabel: s(sv.PortLabel, ""),
    AddressMode: s(sv.AddressMode, "auto") as Service["AddressMode"],
    ...(typeof sv.Address === "string" && sv.Address !== "" ? { Address: sv.Address } : {}),
    Tags: strs(sv.Tags),
    CanaryTags: strs(sv.CanaryTags),
    Meta: smap(sv.Meta),
    TaskName: s(sv.TaskName, taskName),
    Checks: list(sv.Checks).map((c) => check(c, name, sv)),
    ...(typeof sv.OnUpdate === "string" && sv.OnUpdate !== "" ? { OnUpdate: sv.OnUpdate as OnUpdate } : {}),
  };
}

/** Nomad's scaling policy with its api's defaults: enabled, `min` the group's count; a task's `"cpu"` / `"mem"` label is its type. */
function scaling(p: Raw, defaultType: string, count: number): ScalingPolicy {
  const type = s(p.Type, defaultType);
  return {
    Type: type === "cpu" ? "vertical_cpu" : type === "mem" ? "vertical_mem" : type,
    Min: n(p.Min, count),
    // Nomad's "catch this in Validate": a policy without max is refused there.
    Max: n(p.Max, -1),
    Enabled: b(p.Enabled, true),
    Policy: obj(p.Policy) ?? {},
  };
}

/** A service's `check_restart` under a check's own, field by field, as Nomad's `CheckRestart.Merge`; grace defaults to 1s. */
function checkRestart(service: Raw | undefined, own: Raw | undefined): CheckRestart | undefined {
  if (service === undefined && own === undefined) return undefined;
  const limit = n(own?.Limit, 0) > 0 ? n(own?.Limit, 0) : n(service?.Limit, 0);
  const grace = typeof own?.Grace === "number" ? own.Grace : n(service?.Grace, 1_000_000_000);
  return { Limit: limit, Grace: grace, IgnoreWarnings: b(own?.IgnoreWarnings, false) || b(service?.IgnoreWarnings, false) };
}

function check(c: Raw, serviceName: string, sv: Raw): ServiceCheck {
  const type = s(c.Type, "");
  const restart = checkRestart(obj(sv.CheckRestart), obj(c.CheckRestart));
  const onUpdate = s(c.OnUpdate, s(sv.OnUpdate, ""));
  return {
    Name: s(c.Name, `service: "${serviceName}" check`),
    Type: type as ServiceCheck["Type"],
    Command: s(c.Command, ""),
    Args: strs(c.Args),
    Path: s(c.Path, ""),
    Method: s(c.Method, type === "http" ? "GET" : ""),
    Protocol: s(c.Protocol, type === "http" ? "http" : ""),
    Header: isPlainObject(c.Header) ? { ...(c.Header as Record<string, string[]>) } : {},
    PortLabel: s(c.PortLabel, ""),
    AddressMode: s(c.AddressMode, "host") as ServiceCheck["AddressMode"],
    Interval: n(c.Interval, 0),
    Timeout: n(c.Timeout, 0),
    InitialStatus: s(c.InitialStatus, ""),
    TaskName: s(c.TaskName, ""),
    SuccessBeforePassing: n(c.SuccessBeforePassing, 0),
    FailuresBeforeCritical: n(c.FailuresBeforeCritical, 0),
    TLSSkipVerify: b(c.TLSSkipVerify, false),
    ...(onUpdate === "" ? {} : { OnUpdate: onUpdate as OnUpdate }),
    ...(restart === undefined ? {} : { CheckRestart: restart }),
  };
}
