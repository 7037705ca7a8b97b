export { schedule } from "./schedule.js";
export type { ScheduleResult } from "./result.js";
export { MemoryView, type StateView } from "./view.js";
export { SchedulerMemo } from "./memo.js";
export { reconcile, type ReconcileInput, type ReconcileResult, type PlaceIntent, type StopIntent } from "./reconcile.js";
export { groupUpdateKind, type UpdateKind } from "./updates.js";
export { checkOperator, versionMatch } from "./operators.js";
export { binpackScore, spreadFitScore } from "./rank.js";
export { seededRng, type Rng } from "./rng.js";
