import type { AllocKeys } from "../structs/index.js";
import type { SchedulerMemo } from "./memo.js";
import type { Rng } from "./rng.js";
import type { StateView } from "./view.js";

/**
 * What one evaluation works with, handed down the scheduler: its input (the view, the
 * time, the generator its id seeds) and where it keeps what it works out along the way.
 * The scheduler holds no state of its own between calls: what is kept is kept here.
 */
export interface EvalContext {
  readonly view: StateView;
  /** Unix ms. */
  readonly now: number;
  readonly rng: Rng;
  /** Derived from the view and kept; possibly across evaluations (see `SchedulerMemo`). */
  readonly memo: SchedulerMemo;
  /** The keys of the allocations this evaluation counts (see `ClusterUsage`). */
  readonly keys: AllocKeys;
}
