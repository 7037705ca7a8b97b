/** What the pages derive from the API's objects. */
import type { Allocation, AllocStub, PublicNode } from "./types.js";

/** An allocation of an event's payload as the lists show it: without its job. */
export function asStub(p: unknown): AllocStub {
  const { Job: job, ...rest } = p as Allocation;
  return { ...rest, JobVersion: (job as Allocation["Job"] | undefined)?.Version ?? 0 };
}

export function asNode(p: unknown): PublicNode {
  return p as PublicNode;
}

/** A node's state as an operator reads it first: down, draining, ineligible, or its status. */
export function nodeState(n: PublicNode): string {
  if (n.Status !== "ready") return n.Status;
  if (n.DrainStrategy !== null) return "draining";
  if (n.SchedulingEligibility === "ineligible") return "ineligible";
  return "ready";
}

/** An allocation that is, or is about to be, at work. */
export function active(a: AllocStub): boolean {
  return a.DesiredStatus === "run" && (a.ClientStatus === "running" || a.ClientStatus === "pending");
}

/** The columns of a group's summary, in the order the CLI prints them. */
export const COUNTS = ["Queued", "Starting", "Running", "Failed", "Complete", "Lost"] as const;

/** Newest first. */
export function byNewest(a: { CreateIndex: number }, b: { CreateIndex: number }): number {
  return b.CreateIndex - a.CreateIndex;
}
