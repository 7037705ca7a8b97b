import { randomUUID } from "node:crypto";

/** Ids the server makes (evaluations, deployments): random UUIDs. The scheduler draws its own from the evaluation's seed. */
export function newId(): string {
  return randomUUID();
}
