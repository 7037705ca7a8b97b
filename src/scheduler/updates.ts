import type { Job, Task, TaskGroup } from "../structs/index.js";

/**
 * Whether moving an allocation from one job version to another can be done in place
 * (the client keeps the running tasks and only its view of the job changes) or needs
 * the allocation replaced. As Nomad's `tasksUpdated`: drivers, config, environment,
 * resources, users, networks, disk and the metadata that reaches the tasks force a
 * replacement; services, checks, restart/kill settings and constraints do not.
 */
export type UpdateKind = "none" | "in-place" | "destructive";

export function groupUpdateKind(oldJob: Job, newJob: Job, group: string): UpdateKind {
  if (oldJob.JobModifyIndex === newJob.JobModifyIndex && oldJob.Version === newJob.Version) return "none";
  const a = oldJob.TaskGroups.find((g) => g.Name === group);
  const b = newJob.TaskGroups.find((g) => g.Name === group);
  if (a === undefined || b === undefined) return "destructive";
  return groupDestructive(oldJob, a, newJob, b) ? "destructive" : "in-place";
}

function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

function groupDestructive(oldJob: Job, a: TaskGroup, newJob: Job, b: TaskGroup): boolean {
  if (a.Tasks.length !== b.Tasks.length) return true;
  if (!same(a.Networks, b.Networks) || !same(a.EphemeralDisk, b.EphemeralDisk)) return true;
  if (!same(oldJob.Meta, newJob.Meta) || !same(a.Meta, b.Meta)) return true;
  // Host volumes decide where the group may run and what its tasks mount (Nomad's tasksUpdated compares them).
  if (!same(a.Volumes ?? {}, b.Volumes ?? {})) return true;
  for (const ta of a.Tasks) {
    const tb = b.Tasks.find((t) => t.Name === ta.Name);
    if (tb === undefined || taskDestructive(ta, tb)) return true;
  }
  return false;
}

function taskDestructive(a: Task, b: Task): boolean {
  return (
    a.Driver !== b.Driver ||
    a.User !== b.User ||
    !same(a.Config, b.Config) ||
    !same(a.Env, b.Env) ||
    !same(a.Meta, b.Meta) ||
    a.Resources.CPU !== b.Resources.CPU ||
    a.Resources.Cores !== b.Resources.Cores ||
    a.Resources.MemoryMB !== b.Resources.MemoryMB ||
    a.Resources.MemoryMaxMB !== b.Resources.MemoryMaxMB ||
    a.Resources.DiskMB !== b.Resources.DiskMB ||
    // A workload identity reaches the task's environment at its start (Nomad's tasksUpdated compares them too).
    !same(a.Identity ?? null, b.Identity ?? null) ||
    !same(a.Identities ?? [], b.Identities ?? []) ||
    // Fetched before the task starts (Nomad's tasksUpdated compares them).
    !same(a.Artifacts ?? [], b.Artifacts ?? []) ||
    // Rendered before the task starts, by the node that runs it (Nomad's tasksUpdated compares them).
    !same(a.Templates ?? [], b.Templates ?? []) ||
    // Mounted when the task starts.
    !same(a.VolumeMounts ?? [], b.VolumeMounts ?? [])
  );
}
