export { Server, type ServerOptions } from "./server.js";
export { EvalBroker } from "./broker.js";
export { PlanApplier } from "./applier.js";
export type { AllocUpdate } from "../structs/index.js";
export { DEFAULT_HEARTBEAT, type HeartbeatOptions } from "./nodes.js";
export { specOf, type PlanResult, type RegisterResult } from "./jobs.js";
export { silentLogger, type Logger } from "../structs/index.js";
export { storeView } from "./view.js";
