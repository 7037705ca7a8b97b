/**
 * The job diff that `ruche job plan` prints: what changes between the registered
 * version of a job and the one submitted, and what each task change forces (a new
 * allocation, or an update in place). Shaped like Nomad's `JobDiff`
 * (`nomad/structs/diff.go`) and annotated the way Nomad's scheduler annotates it
 * (`scheduler/annotate.go`), so the JSON and the text read like `nomad plan`.
 *
 * Pure: a function of the two jobs. Unchanged fields and objects are kept with Type
 * "None" (a contextual diff); the renderer decides what to hide.
 */
import type {
  Affinity,
  Constraint,
  DesiredUpdates,
  Job,
  NetworkResource,
  Port,
  Service,
  ServiceCheck,
  Spread,
  SpreadTarget,
  Task,
  TaskArtifact,
  Template,
  TaskGroup,
  WorkloadIdentity,
} from "../structs/index.js";
import { assertNever, ErrorCode, formatDuration, RucheError } from "../structs/index.js";

export const DiffType = { None: "None", Added: "Added", Deleted: "Deleted", Edited: "Edited" } as const;
export type DiffType = (typeof DiffType)[keyof typeof DiffType];

/** What a task change forces, in Nomad's words. */
export const Annotation = {
  ForcesCreate: "forces create",
  ForcesDestroy: "forces destroy",
  ForcesInPlaceUpdate: "forces in-place update",
  ForcesDestructiveUpdate: "forces create/destroy update",
} as const;
export type Annotation = (typeof Annotation)[keyof typeof Annotation];

/** Keys of `TaskGroupDiff.Updates`, as the scheduler reports them and `nomad plan` prints them. */
export const UpdateType = {
  Ignore: "ignore",
  Create: "create",
  Destroy: "destroy",
  Migrate: "migrate",
  Canary: "canary",
  InPlaceUpdate: "in-place update",
  DestructiveUpdate: "create/destroy update",
} as const;
export type UpdateType = (typeof UpdateType)[keyof typeof UpdateType];

export const TaskUpdateClass = { None: "none", InPlace: "in-place", Destructive: "destructive" } as const;
export type TaskUpdateClass = (typeof TaskUpdateClass)[keyof typeof TaskUpdateClass];

/** One primitive value, rendered as text; "" stands for absent. */
export interface FieldDiff {
  Type: DiffType;
  Name: string;
  Old: string;
  New: string;
  Annotations: string[];
}

/** A nested struct, map or list, with its primitive fields and nested objects. */
export interface ObjectDiff {
  Type: DiffType;
  Name: string;
  Fields: FieldDiff[];
  Objects: ObjectDiff[];
}

export interface TaskDiff {
  Type: DiffType;
  Name: string;
  Fields: FieldDiff[];
  Objects: ObjectDiff[];
  Annotations: string[];
}

export interface TaskGroupDiff {
  Type: DiffType;
  Name: string;
  Fields: FieldDiff[];
  Objects: ObjectDiff[];
  Tasks: TaskDiff[];
  /** Update type (`UpdateType`) → allocation count; filled by the scheduler, empty here. */
  Updates: Record<string, number>;
}

export interface JobDiff {
  Type: DiffType;
  ID: string;
  Fields: FieldDiff[];
  Objects: ObjectDiff[];
  TaskGroups: TaskGroupDiff[];
}

/** Set by the server on registration; a difference there is not a change the user made. */
const SERVER_FIELDS: readonly string[] = [
  "Status",
  "Version",
  "Stable",
  "CreateIndex",
  "ModifyIndex",
  "JobModifyIndex",
  "SubmitTime",
];

/** Integer nanoseconds, shown as Go duration text ("30s", "1h0m0s"). */
const DURATION_FIELDS: ReadonlySet<string> = new Set([
  "Interval",
  "Delay",
  "Timeout",
  "MinHealthyTime",
  "HealthyDeadline",
  "ProgressDeadline",
  "Stagger",
  "MaxDelay",
  "KillTimeout",
  "TTL",
  "ShutdownDelay",
  "MaxRunDuration",
  "Grace",
]);

/** Task fields and objects whose change the client applies to a running task. */
const IN_PLACE_TASK_FIELDS: ReadonlySet<string> = new Set(["KillTimeout", "KillSignal", "Leader", "ShutdownDelay"]);
const IN_PLACE_TASK_OBJECTS: ReadonlySet<string> = new Set(["LogConfig", "Service", "Constraint", "Affinity", "RestartPolicy"]);

/**
 * Group objects whose change replaces every allocation of the group: ports, disk and host
 * volumes are fixed when an allocation is placed, and meta reaches every task's environment.
 */
const DESTRUCTIVE_GROUP_OBJECTS: ReadonlySet<string> = new Set(["Network", "EphemeralDisk", "Meta", "Volume"]);

/**
 * Diffs two versions of one job. `old` is null for a job not yet registered, `next`
 * is null for a job being purged. Task groups and tasks are matched by name and
 * listed by name; fields are listed by name.
 */
export function diffJobs(old: Job | null, next: Job | null): JobDiff {
  if (old !== null && next !== null && old.ID !== next.ID) {
    throw new RucheError(ErrorCode.Internal, `cannot diff jobs with different IDs: "${old.ID}" and "${next.ID}"`);
  }
  const id = next?.ID ?? old?.ID ?? "";
  const exclude = ["ID", ...SERVER_FIELDS];
  const fields = fieldDiffs(scalars(old, exclude), scalars(next, exclude));
  const objects = compact([
    stringSetDiff("Datacenters", old?.Datacenters ?? [], next?.Datacenters ?? []),
    ...constraintDiffs(old?.Constraints ?? [], next?.Constraints ?? []),
    ...affinityDiffs(old?.Affinities ?? [], next?.Affinities ?? []),
    ...spreadDiffs(old?.Spreads ?? [], next?.Spreads ?? []),
    // The job's update block is copied into every group, where its changes show; as Nomad does, it is not shown twice.
    structDiff("Periodic", old?.Periodic ?? null, next?.Periodic ?? null),
    mapDiff("Meta", old?.Meta ?? {}, next?.Meta ?? {}),
  ]);
  const groups = pairByName(old?.TaskGroups ?? [], next?.TaskGroups ?? []).map(([o, n]) => groupDiff(o, n));
  const type = old === null && next === null ? DiffType.None : wholeType(old, next, fields, objects, groups);

  const jobMetaChanged = objects.some((o) => o.Name === "Meta" && o.Type !== DiffType.None);
  for (const group of groups) annotateGroup(group, jobMetaChanged);

  return { Type: type, ID: id, Fields: fields, Objects: objects, TaskGroups: groups };
}

/**
 * How the running allocations of this task must change: "none", "in-place" (the
 * client applies the change to the running task) or "destructive" (the allocation is
 * replaced). Reads the annotation `diffJobs` set, and the task's own changes.
 */
export function taskUpdateClass(diff: TaskDiff): TaskUpdateClass {
  let fromAnnotations: TaskUpdateClass = TaskUpdateClass.None;
  for (const annotation of diff.Annotations) {
    if (annotation === Annotation.ForcesInPlaceUpdate) {
      fromAnnotations = maxClass(fromAnnotations, TaskUpdateClass.InPlace);
    } else if (
      annotation === Annotation.ForcesDestructiveUpdate ||
      annotation === Annotation.ForcesCreate ||
      annotation === Annotation.ForcesDestroy
    ) {
      fromAnnotations = TaskUpdateClass.Destructive;
    }
  }
  return maxClass(fromAnnotations, contentClass(diff));
}

/** The scheduler's per-group counts as `TaskGroupDiff.Updates`; zero counts are left out. */
export function updatesFromDesired(desired: DesiredUpdates): Record<string, number> {
  const pairs: [UpdateType, number][] = [
    [UpdateType.Ignore, desired.Ignore],
    [UpdateType.Create, desired.Place],
    [UpdateType.Migrate, desired.Migrate],
    [UpdateType.Destroy, desired.Stop],
    [UpdateType.Canary, desired.Canary],
    [UpdateType.InPlaceUpdate, desired.InPlaceUpdate],
    [UpdateType.DestructiveUpdate, desired.DestructiveUpdate],
  ];
  const updates: Record<string, number> = {};
  for (const [type, count] of pairs) if (count > 0) updates[type] = count;
  return updates;
}

// ---------------------------------------------------------------------------
// Groups and tasks

function groupDiff(old: TaskGroup | null, next: TaskGroup | null): TaskGroupDiff {
  const fields = fieldDiffs(scalars(old, ["Name"]), scalars(next, ["Name"]));
  const objects = compact([
    ...constraintDiffs(old?.Constraints ?? [], next?.Constraints ?? []),
    ...affinityDiffs(old?.Affinities ?? [], next?.Affinities ?? []),
    ...spreadDiffs(old?.Spreads ?? [], next?.Spreads ?? []),
    structDiff("RestartPolicy", old?.RestartPolicy ?? null, next?.RestartPolicy ?? null),
    structDiff("ReschedulePolicy", old?.ReschedulePolicy ?? null, next?.ReschedulePolicy ?? null),
    structDiff("EphemeralDisk", old?.EphemeralDisk ?? null, next?.EphemeralDisk ?? null),
    structDiff("Update", old?.Update ?? null, next?.Update ?? null),
    structDiff("Migrate", old?.Migrate ?? null, next?.Migrate ?? null),
    structDiff("Disconnect", old?.Disconnect ?? null, next?.Disconnect ?? null),
    ...networkDiffs(old?.Networks ?? [], next?.Networks ?? []),
    ...serviceDiffs(old?.Services ?? [], next?.Services ?? []),
    mapDiff("Meta", old?.Meta ?? {}, next?.Meta ?? {}),
    // Nomad's "Volume" objects, by name.
    ...[...new Set([...Object.keys(old?.Volumes ?? {}), ...Object.keys(next?.Volumes ?? {})])].sort().map((v) => structDiff("Volume", old?.Volumes?.[v] ?? null, next?.Volumes?.[v] ?? null)),
  ]);
  const tasks = pairByName(old?.Tasks ?? [], next?.Tasks ?? []).map(([o, n]) => taskDiff(o, n));
  return {
    Type: wholeType(old, next, fields, objects, tasks),
    Name: next?.Name ?? old?.Name ?? "",
    Fields: fields,
    Objects: objects,
    Tasks: tasks,
    Updates: {},
  };
}

function taskDiff(old: Task | null, next: Task | null): TaskDiff {
  const fields = fieldDiffs(scalars(old, ["Name"]), scalars(next, ["Name"]));
  const objects = compact([
    ...constraintDiffs(old?.Constraints ?? [], next?.Constraints ?? []),
    ...affinityDiffs(old?.Affinities ?? [], next?.Affinities ?? []),
    valueMapDiff("Config", old?.Config ?? {}, next?.Config ?? {}),
    structDiff("Resources", old?.Resources ?? null, next?.Resources ?? null),
    structDiff("LogConfig", old?.LogConfig ?? null, next?.LogConfig ?? null),
    structDiff("RestartPolicy", old?.RestartPolicy ?? null, next?.RestartPolicy ?? null),
    ...serviceDiffs(old?.Services ?? [], next?.Services ?? []),
    mapDiff("Env", old?.Env ?? {}, next?.Env ?? {}),
    mapDiff("Meta", old?.Meta ?? {}, next?.Meta ?? {}),
    ...pairByName(identitiesOf(old), identitiesOf(next)).map(([o, n]) => identityDiff(o, n)),
    ...artifactDiffs(old?.Artifacts ?? [], next?.Artifacts ?? []),
    // Nomad's "Template" objects, in order; a change replaces the allocation.
    ...Array.from({ length: Math.max(old?.Templates?.length ?? 0, next?.Templates?.length ?? 0) }, (_, i) => templateDiff(old?.Templates?.[i] ?? null, next?.Templates?.[i] ?? null)),
    // Nomad's "VolumeMount" objects, in order.
    ...Array.from({ length: Math.max(old?.VolumeMounts?.length ?? 0, next?.VolumeMounts?.length ?? 0) }, (_, i) => structDiff("VolumeMount", old?.VolumeMounts?.[i] ?? null, next?.VolumeMounts?.[i] ?? null)),
  ]);
  return {
    Type: wholeType(old, next, fields, objects, []),
    Name: next?.Name ?? old?.Name ?? "",
    Fields: fields,
    Objects: objects,
    Annotations: [],
  };
}

/** Nomad's `annotateCountChange` and `annotateTask`, with the group-wide rules added. */
function annotateGroup(group: TaskGroupDiff, jobMetaChanged: boolean): void {
  const count = group.Fields.find((f) => f.Name === "Count");
  if (count !== undefined) {
    const before = count.Old === "" ? 0 : Number(count.Old);
    const after = count.New === "" ? 0 : Number(count.New);
    if (before < after) count.Annotations.push(Annotation.ForcesCreate);
    else if (after < before) count.Annotations.push(Annotation.ForcesDestroy);
  }

  const wholeGroup = group.Type === DiffType.Added || group.Type === DiffType.Deleted;
  const replacesAll =
    jobMetaChanged || group.Objects.some((o) => o.Type !== DiffType.None && DESTRUCTIVE_GROUP_OBJECTS.has(o.Name));

  for (const task of group.Tasks) {
    if (wholeGroup && task.Type === DiffType.Added) {
      task.Annotations.push(Annotation.ForcesCreate);
      continue;
    }
    if (wholeGroup && task.Type === DiffType.Deleted) {
      task.Annotations.push(Annotation.ForcesDestroy);
      continue;
    }
    const cls = replacesAll ? TaskUpdateClass.Destructive : contentClass(task);
    switch (cls) {
      case TaskUpdateClass.None:
        break;
      case TaskUpdateClass.InPlace:
        task.Annotations.push(Annotation.ForcesInPlaceUpdate);
        break;
      case TaskUpdateClass.Destructive:
        task.Annotations.push(Annotation.ForcesDestructiveUpdate);
        break;
      default:
        return assertNever(cls, "update class");
    }
  }
}

/**
 * What the task's own changes force. A task added to or removed from a running group
 * changes what its allocations run, so they are replaced; any field or object not
 * known to be updatable in place is destructive, as in Nomad.
 */
function contentClass(task: TaskDiff): TaskUpdateClass {
  if (task.Type === DiffType.Added || task.Type === DiffType.Deleted) return TaskUpdateClass.Destructive;
  let cls: TaskUpdateClass = TaskUpdateClass.None;
  for (const field of task.Fields) {
    if (field.Type === DiffType.None) continue;
    if (!IN_PLACE_TASK_FIELDS.has(field.Name)) return TaskUpdateClass.Destructive;
    cls = TaskUpdateClass.InPlace;
  }
  for (const object of task.Objects) {
    if (object.Type === DiffType.None) continue;
    if (!IN_PLACE_TASK_OBJECTS.has(object.Name)) return TaskUpdateClass.Destructive;
    cls = TaskUpdateClass.InPlace;
  }
  return cls;
}

const CLASS_RANK: Readonly<Record<TaskUpdateClass, number>> = { none: 0, "in-place": 1, destructive: 2 };

function maxClass(a: TaskUpdateClass, b: TaskUpdateClass): TaskUpdateClass {
  return CLASS_RANK[a] >= CLASS_RANK[b] ? a : b;
}

// ---------------------------------------------------------------------------
// Lists of structs, matched by a natural key

function constraintDiffs(old: readonly Constraint[], next: readonly Constraint[]): ObjectDiff[] {
  return keyedDiffs(old, next, (c) => `${c.LTarget}\u0000${c.Operand}\u0000${c.RTarget}`, (o, n) =>
    structDiff("Constraint", o, n),
  );
}

function affinityDiffs(old: readonly Affinity[], next: readonly Affinity[]): ObjectDiff[] {
  return keyedDiffs(old, next, (a) => `${a.LTarget}\u0000${a.Operand}\u0000${a.RTarget}`, (o, n) =>
    structDiff("Affinity", o, n),
  );
}

function spreadDiffs(old: readonly Spread[], next: readonly Spread[]): ObjectDiff[] {
  return keyedDiffs(old, next, (s) => s.Attribute, (o, n) =>
    structDiff("Spread", o, n, {
      objects: keyedDiffs<SpreadTarget>(o?.SpreadTarget ?? [], n?.SpreadTarget ?? [], (t) => t.Value, (ot, nt) =>
        structDiff("SpreadTarget", ot, nt),
      ),
    }),
  );
}

/** Groups seldom have more than one network; they are matched by position. */
function networkDiffs(old: readonly NetworkResource[], next: readonly NetworkResource[]): ObjectDiff[] {
  const diffs: ObjectDiff[] = [];
  for (let i = 0; i < Math.max(old.length, next.length); i++) {
    const o = old[i] ?? null;
    const n = next[i] ?? null;
    const diff = structDiff("Network", o, n, {
      exclude: ["IP"],
      objects: [
        ...portDiffs("Static Port", o?.ReservedPorts ?? [], n?.ReservedPorts ?? [], []),
        // A dynamic port's Value is chosen at placement, not by the user.
        ...portDiffs("Dynamic Port", o?.DynamicPorts ?? [], n?.DynamicPorts ?? [], ["Value"]),
      ],
    });
    if (diff !== null) diffs.push(diff);
  }
  return diffs;
}

function portDiffs(name: string, old: readonly Port[], next: readonly Port[], exclude: readonly string[]): ObjectDiff[] {
  return keyedDiffs(old, next, (p) => p.Label, (o, n) => structDiff(name, o, n, { exclude }));
}

function serviceDiffs(old: readonly Service[], next: readonly Service[]): ObjectDiff[] {
  return keyedDiffs(old, next, (s) => `${s.Name}\u0000${s.PortLabel}`, (o, n) =>
    structDiff("Service", o, n, {
      objects: compact([
        stringSetDiff("CanaryTags", o?.CanaryTags ?? [], n?.CanaryTags ?? []),
        stringSetDiff("Tags", o?.Tags ?? [], n?.Tags ?? []),
        ...keyedDiffs<ServiceCheck>(o?.Checks ?? [], n?.Checks ?? [], (c) => c.Name, checkDiff),
        mapDiff("Meta", o?.Meta ?? {}, n?.Meta ?? {}),
      ]),
    }),
  );
}

function checkDiff(old: ServiceCheck | null, next: ServiceCheck | null): ObjectDiff | null {
  // Arguments are ordered, so they are fields by position ("Args[0]"), not a set.
  const extra = (c: ServiceCheck | null): Map<string, string> => flattenValue("Args", c?.Args ?? []);
  return structDiff("Check", old, next, {
    extraOld: extra(old),
    extraNew: extra(next),
    objects: compact([valueMapDiff("Header", old?.Header ?? {}, next?.Header ?? {})]),
  });
}

/**
 * Matches two lists by key and diffs each pair. Listed as Nomad sorts same-named
 * objects (edited, added, deleted, unchanged), and within that in job-file order.
 */
function keyedDiffs<T>(
  old: readonly T[],
  next: readonly T[],
  key: (item: T) => string,
  diff: (old: T | null, next: T | null) => ObjectDiff | null,
): ObjectDiff[] {
  const oldByKey = new Map(withUniqueKeys(old, key));
  const diffs: ObjectDiff[] = [];
  for (const [k, n] of withUniqueKeys(next, key)) {
    const o = oldByKey.get(k) ?? null;
    oldByKey.delete(k);
    const d = diff(o, n);
    if (d !== null) diffs.push(d);
  }
  for (const o of oldByKey.values()) {
    const d = diff(o, null);
    if (d !== null) diffs.push(d);
  }
  return diffs.sort((a, b) => TYPE_RANK[a.Type] - TYPE_RANK[b.Type]);
}

/** Keys made unique by occurrence, so two identical entries still pair one to one. */
function withUniqueKeys<T>(items: readonly T[], key: (item: T) => string): [string, T][] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const k = key(item);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return [`${k}\u0000${n}`, item];
  });
}

const TYPE_RANK: Readonly<Record<DiffType, number>> = { Edited: 0, Added: 1, Deleted: 2, None: 3 };

function pairByName<T extends { Name: string }>(old: readonly T[], next: readonly T[]): [T | null, T | null][] {
  const names = [...new Set([...old.map((x) => x.Name), ...next.map((x) => x.Name)])].sort(compareText);
  return names.map((name) => [old.find((x) => x.Name === name) ?? null, next.find((x) => x.Name === name) ?? null]);
}

// ---------------------------------------------------------------------------
// Structs, maps and sets

interface StructDiffOptions {
  exclude?: readonly string[];
  objects?: ObjectDiff[];
  /** Extra flattened fields (a list kept by position) merged into the struct's own. */
  extraOld?: Map<string, string>;
  extraNew?: Map<string, string>;
}

/** A struct's primitive fields, plus the nested objects the caller diffed. */
function structDiff(name: string, old: object | null, next: object | null, opts: StructDiffOptions = {}): ObjectDiff | null {
  if (old === null && next === null) return null;
  const exclude = opts.exclude ?? [];
  const oldFlat = scalars(old, exclude);
  const newFlat = scalars(next, exclude);
  for (const [k, v] of opts.extraOld ?? []) oldFlat.set(k, v);
  for (const [k, v] of opts.extraNew ?? []) newFlat.set(k, v);
  const fields = fieldDiffs(oldFlat, newFlat);
  const objects = opts.objects ?? [];
  return { Type: wholeType(old, next, fields, objects, []), Name: name, Fields: fields, Objects: objects };
}

/**
 * A task's artifacts as Nomad's `artifactDiffs` compares them: a set, each artifact whole
 * (one edited is one deleted and one added), its maps flattened (`GetterOptions[checksum]`).
 */
function artifactDiffs(old: readonly TaskArtifact[], next: readonly TaskArtifact[]): ObjectDiff[] {
  const flat = (a: TaskArtifact): Map<string, string> => {
    const out = scalars(a, []);
    for (const [k, v] of Object.entries(a.GetterOptions ?? {})) out.set(`GetterOptions[${k}]`, v);
    for (const [k, v] of Object.entries(a.GetterHeaders ?? {})) out.set(`GetterHeaders[${k}]`, v);
    return out;
  };
  const key = (a: TaskArtifact): string => JSON.stringify([...flat(a)].sort());
  const newKeys = new Set(next.map(key));
  const oldKeys = new Set(old.map(key));
  return [
    ...old.map((a) => flatDiff("Artifact", flat(a), newKeys.has(key(a)) ? flat(a) : new Map<string, string>())),
    ...next.filter((a) => !oldKeys.has(key(a))).map((a) => flatDiff("Artifact", new Map<string, string>(), flat(a))),
  ].filter((d): d is ObjectDiff => d !== null);
}

/** A template block: its fields, its `wait` and `change_script` as fields of their own. */
function templateDiff(old: Template | null, next: Template | null): ObjectDiff | null {
  const nested = (t: Template | null): Map<string, string> => {
    const out = new Map<string, string>();
    if (t?.Wait != null) {
      out.set("Wait.Min", String(t.Wait.Min));
      out.set("Wait.Max", String(t.Wait.Max));
    }
    if (t?.ChangeScript != null) {
      out.set("ChangeScript.Command", t.ChangeScript.Command);
      out.set("ChangeScript.Args", t.ChangeScript.Args.join(", "));
      out.set("ChangeScript.Timeout", String(t.ChangeScript.Timeout));
      out.set("ChangeScript.FailOnError", String(t.ChangeScript.FailOnError));
    }
    return out;
  };
  return structDiff("Template", old, next, { extraOld: nested(old), extraNew: nested(next) });
}

function identitiesOf(t: Task | null): WorkloadIdentity[] {
  return [...(t?.Identity == null ? [] : [t.Identity]), ...(t?.Identities ?? [])];
}

/** A workload identity (by name), its audiences as one field. */
function identityDiff(old: WorkloadIdentity | null, next: WorkloadIdentity | null): ObjectDiff | null {
  const aud = (w: WorkloadIdentity | null): Map<string, string> => (w === null ? new Map<string, string>() : new Map([["Audience", w.Audience.join(", ")]]));
  return structDiff("Identity", old, next, { extraOld: aud(old), extraNew: aud(next) });
}

/** A map of strings (Env, Meta), key by key; an empty map counts as absent. */
function mapDiff(name: string, old: Record<string, string>, next: Record<string, string>): ObjectDiff | null {
  return flatDiff(name, new Map(Object.entries(old)), new Map(Object.entries(next)));
}

/** A map of any values (driver Config, check Header), flattened as Nomad does: `ports[0]`, `labels[app]`. */
function valueMapDiff(name: string, old: Record<string, unknown>, next: Record<string, unknown>): ObjectDiff | null {
  const flatten = (m: Record<string, unknown>): Map<string, string> => {
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(m)) for (const [fk, fv] of flattenValue(k, v)) out.set(fk, fv);
    return out;
  };
  return flatDiff(name, flatten(old), flatten(next));
}

function flatDiff(name: string, old: Map<string, string>, next: Map<string, string>): ObjectDiff | null {
  if (old.size === 0 && next.size === 0) return null;
  const fields = fieldDiffs(old, next);
  const type =
    old.size === 0
      ? DiffType.Added
      : next.size === 0
        ? DiffType.Deleted
        : fields.some((f) => f.Type !== DiffType.None)
          ? DiffType.Edited
          : DiffType.None;
  return { Type: type, Name: name, Fields: fields, Objects: [] };
}

function flattenValue(prefix: string, value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string, v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((item: unknown, i) => {
        walk(`${path}[${i}]`, item);
      });
    } else if (v !== null && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) walk(`${path}[${k}]`, item);
    } else {
      // Driver config keys are the driver's own words: no field-name rules apply.
      out.set(path, renderValue("", v));
    }
  };
  walk(prefix, value);
  return out;
}

/**
 * A list of strings as a set (Datacenters, Tags): each item is a field named after the
 * list. Typed as Nomad types it: Added when items were only added, Deleted when only
 * removed, Edited when both.
 */
function stringSetDiff(name: string, old: readonly string[], next: readonly string[]): ObjectDiff | null {
  const before = new Set(old);
  const after = new Set(next);
  if (before.size === 0 && after.size === 0) return null;
  const fields: FieldDiff[] = [];
  let added = false;
  let removed = false;
  for (const item of before) {
    if (after.has(item)) {
      fields.push(fieldDiff(name, item, item));
    } else {
      fields.push(fieldDiff(name, item, ""));
      removed = true;
    }
  }
  for (const item of after) {
    if (!before.has(item)) {
      fields.push(fieldDiff(name, "", item));
      added = true;
    }
  }
  fields.sort(compareFields);
  const type =
    added && removed ? DiffType.Edited : added ? DiffType.Added : removed ? DiffType.Deleted : DiffType.None;
  return { Type: type, Name: name, Fields: fields, Objects: [] };
}

// ---------------------------------------------------------------------------
// Fields

/** The primitive (string, number, boolean) properties of a struct, rendered as text. */
function scalars(obj: object | null, exclude: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (obj === null) return out;
  for (const [name, value] of Object.entries(obj)) {
    if (exclude.includes(name)) continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      out.set(name, renderValue(name, value));
    }
  }
  return out;
}

function renderValue(name: string, value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return DURATION_FIELDS.has(name) && Number.isInteger(value) ? formatDuration(value) : String(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    default:
      return value === null ? "null" : "";
  }
}

function fieldDiffs(old: Map<string, string>, next: Map<string, string>): FieldDiff[] {
  const names = new Set([...old.keys(), ...next.keys()]);
  return [...names].map((name) => fieldDiff(name, old.get(name) ?? "", next.get(name) ?? "")).sort(compareFields);
}

/** As Nomad: an empty value is an absent one, so "" → "x" is an addition. */
function fieldDiff(name: string, old: string, next: string): FieldDiff {
  const type =
    old === next ? DiffType.None : old === "" ? DiffType.Added : next === "" ? DiffType.Deleted : DiffType.Edited;
  return {
    Type: type,
    Name: name,
    Old: type === DiffType.Added ? "" : old,
    New: type === DiffType.Deleted ? "" : next,
    Annotations: [],
  };
}

/** Nomad's order: by name, then old value, then new value, byte-wise. */
function compareFields(a: FieldDiff, b: FieldDiff): number {
  return compareText(a.Name, b.Name) || compareText(a.Old, b.Old) || compareText(a.New, b.New);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Added or Deleted when one side is absent, else Edited when anything inside changed. */
function wholeType(
  old: unknown,
  next: unknown,
  fields: readonly FieldDiff[],
  objects: readonly ObjectDiff[],
  children: readonly { Type: DiffType }[],
): DiffType {
  if (old === null) return DiffType.Added;
  if (next === null) return DiffType.Deleted;
  const changed = [...fields, ...objects, ...children].some((d) => d.Type !== DiffType.None);
  return changed ? DiffType.Edited : DiffType.None;
}

function compact(diffs: readonly (ObjectDiff | null)[]): ObjectDiff[] {
  return diffs.filter((d): d is ObjectDiff => d !== null);
}
