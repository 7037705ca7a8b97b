/**
 * The API's shapes: the data model's types from structs, the list endpoints' shapes from
 * the typed client's types file (its index.ts is written for Node's fetch and does not
 * type-check against the browser's). Types only: nothing of them runs here.
 */
import type { Node } from "../../structs/index.js";

export type { AllocStub, HealthEntry, JobStub, ServerStatus } from "../../apiclient/types.js";
export type { AllocCheck, Allocation, Deployment, DeploymentState, Job, KVEntry, TaskEvent, TaskGroup, TaskState } from "../../structs/index.js";

/** A node as the public API shows it: never its secret. */
export type PublicNode = Omit<Node, "SecretID">;
