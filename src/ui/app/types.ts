/**
 * The API's shapes: the data model's types from structs, the list endpoints' shapes from
 * the typed client's types file (its index.ts is written for Node's fetch and does not
 * type-check against the browser's). Types only: nothing of them runs here.
 */
import type { AllocStub as AllocStubOfModel } from "../../apiclient/types.js";
import type { AllocationWire, Node, NodeWire } from "../../structs/index.js";

export type { HealthEntry, JobStub, ServerStatus } from "../../apiclient/types.js";
export type { AllocCheck, AllocResourceUsage, Job, KVEntry, TaskEvent, TaskGroup } from "../../structs/index.js";
// Allocations, deployments and their states as the API serves them: Nomad's time types (RFC 3339 strings, unix ns).
export type { AllocationWire as Allocation, DeploymentWire as Deployment, DeploymentStateWire as DeploymentState, TaskStateWire as TaskState } from "../../structs/index.js";
export type AllocStub = AllocationWire<AllocStubOfModel>;

/** A node as the public API shows it: never its secret; its drain's times in RFC 3339. */
export type PublicNode = NodeWire<Omit<Node, "SecretID">>;
