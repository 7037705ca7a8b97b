import type Dockerode from "dockerode";
import { Label } from "./container.js";

/** A container found by its labels. */
export interface FoundContainer {
  id: string;
  /** Without docker's leading "/". */
  name: string;
  /** Docker's state word: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  labels: Record<string, string>;
  /** Unix seconds. */
  created: number;
}

/** Containers, running or not, carrying every one of `labels`; newest first. */
export async function findContainersByLabels(docker: Dockerode, labels: Record<string, string>): Promise<FoundContainer[]> {
  const filter = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  const list = await docker.listContainers({ all: true, filters: { label: filter } });
  return list
    .map((c) => ({ id: c.Id, name: (c.Names[0] ?? "").replace(/^\//, ""), state: c.State, labels: c.Labels, created: c.Created }))
    .sort((a, b) => b.created - a.created);
}

/**
 * The containers of one task run (`TaskSpec.id`), for a client that lost its saved handle:
 * it can recover the newest and remove the rest.
 */
export function findTaskContainers(docker: Dockerode, taskId: string): Promise<FoundContainer[]> {
  return findContainersByLabels(docker, { [Label.TaskId]: taskId });
}
