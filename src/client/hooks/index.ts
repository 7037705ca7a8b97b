export type { AllocHook, AllocHookContext, PrestartResult, TaskHook, TaskHookContext, TaskView } from "./hook.js";
export { AllocDirHook, allocPaths, taskPaths, type AllocPaths, type TaskPaths } from "./alloc-dir.js";
export { ChecksHook, type CheckReport } from "./checks.js";
export { HealthHook, type HealthOptions } from "./health.js";
export { IdentityHook } from "./identity.js";
export { DispatchPayloadHook } from "./dispatch-payload.js";
export { TaskCheckpointHook } from "./task-checkpoint.js";
export { TaskDirHook } from "./task-dir.js";
export { TaskValidateHook } from "./task-validate.js";
