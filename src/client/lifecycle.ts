import { TaskLifecycleHook, type Task, type TaskState } from "../structs/index.js";

/** Where a task stands in its allocation's order, from its `lifecycle` block (Nomad's `lifecycleStage`). */
export const LifecycleStage = {
  PrestartEphemeral: "prestart",
  PrestartSidecar: "prestart-sidecar",
  Main: "main",
  PoststartEphemeral: "poststart",
  PoststartSidecar: "poststart-sidecar",
  Poststop: "poststop",
} as const;
export type LifecycleStage = (typeof LifecycleStage)[keyof typeof LifecycleStage];

/** The allocation's phase: which stages may start (Nomad's coordinator states, its "init" and "wait_alloc" folded in). */
export const LifecyclePhase = { Prestart: "prestart", Main: "main", Poststart: "poststart", Poststop: "poststop" } as const;
export type LifecyclePhase = (typeof LifecyclePhase)[keyof typeof LifecyclePhase];

const ALLOWED: Record<LifecyclePhase, readonly LifecycleStage[]> = {
  prestart: [LifecycleStage.PrestartEphemeral, LifecycleStage.PrestartSidecar],
  main: [LifecycleStage.PrestartSidecar, LifecycleStage.Main],
  poststart: [LifecycleStage.PrestartSidecar, LifecycleStage.Main, LifecycleStage.PoststartEphemeral, LifecycleStage.PoststartSidecar],
  // Every other task is dead by then: letting their stages go starts nothing and ends the waits of those killed before their turn.
  poststop: Object.values(LifecycleStage),
};

export function stageOf(task: Task): LifecycleStage {
  const l = task.Lifecycle;
  if (l == null || l.Hook === "") return LifecycleStage.Main;
  switch (l.Hook) {
    case TaskLifecycleHook.Prestart:
      return l.Sidecar ? LifecycleStage.PrestartSidecar : LifecycleStage.PrestartEphemeral;
    case TaskLifecycleHook.Poststart:
      return l.Sidecar ? LifecycleStage.PoststartSidecar : LifecycleStage.PoststartEphemeral;
    case TaskLifecycleHook.Poststop:
      return LifecycleStage.Poststop;
    default:
      // Validation refuses any other hook; a task stored with one runs as a main task.
      return LifecycleStage.Main;
  }
}

export function isSidecar(task: Task): boolean {
  return task.Lifecycle?.Sidecar === true && task.Lifecycle.Hook !== TaskLifecycleHook.Poststop;
}

export function isPoststop(task: Task): boolean {
  return stageOf(task) === LifecycleStage.Poststop;
}

/**
 * The next phase of an allocation from its tasks' states, as Nomad's task coordinator
 * decides it (`client/allocrunner/tasklifecycle`): prestart until every ephemeral prestart
 * task has exited successfully and every prestart sidecar runs; main until no main task is
 * pending; poststart after; poststop, from any phase, once every task but the poststop ones
 * is dead. Pure; called again until the phase stays.
 */
export function nextPhase(phase: LifecyclePhase, tasks: readonly Task[], states: ReadonlyMap<string, TaskState>): LifecyclePhase {
  const of = (stage: LifecycleStage): TaskState[] => tasks.filter((t) => stageOf(t) === stage).map((t) => states.get(t.Name) ?? PENDING);
  const allDead = tasks.filter((t) => !isPoststop(t)).every((t) => (states.get(t.Name) ?? PENDING).State === "dead");
  if (allDead) return LifecyclePhase.Poststop;
  switch (phase) {
    case LifecyclePhase.Prestart:
      return of(LifecycleStage.PrestartEphemeral).every((s) => s.State === "dead" && !s.Failed) && of(LifecycleStage.PrestartSidecar).every((s) => s.State === "running")
        ? LifecyclePhase.Main
        : phase;
    case LifecyclePhase.Main:
      return of(LifecycleStage.Main).every((s) => s.State !== "pending") ? LifecyclePhase.Poststart : phase;
    case LifecyclePhase.Poststart:
    case LifecyclePhase.Poststop:
      return phase;
    default: {
      const _: never = phase;
      return _;
    }
  }
}

const PENDING: TaskState = { State: "pending", Failed: false, Restarts: 0, StartedAt: 0, FinishedAt: 0, Events: [] };

/**
 * Holds each task of an allocation back until its stage may start: the alloc runner feeds
 * it the tasks' states after every change, and a task runner's first start awaits
 * `ready(task)`. A stage, once let go, stays let go (a task restarting under its restart
 * policy does not wait again). Once every task but the poststop ones is dead, every stage is
 * let go: a task killed before its turn then finds itself dead and ends its wait.
 */
export class TaskCoordinator {
  private phase: LifecyclePhase = LifecyclePhase.Prestart;
  private readonly opened = new Set<LifecycleStage>();
  private readonly waiters = new Map<LifecycleStage, (() => void)[]>();

  constructor(private readonly tasks: () => readonly Task[]) {}

  get current(): LifecyclePhase {
    return this.phase;
  }

  /** Resolves once the task's stage may start. */
  ready(task: Task): Promise<void> {
    const stage = stageOf(task);
    if (this.opened.has(stage)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(stage) ?? [];
      list.push(resolve);
      this.waiters.set(stage, list);
    });
  }

  /** The tasks' states changed: moves the phase on as far as they allow and lets the stages it allows go. */
  update(states: ReadonlyMap<string, TaskState>): void {
    for (let next = nextPhase(this.phase, this.tasks(), states); ; next = nextPhase(this.phase, this.tasks(), states)) {
      this.phase = next;
      for (const stage of ALLOWED[next]) this.open(stage);
      if (nextPhase(next, this.tasks(), states) === next) return;
    }
  }

  private open(stage: LifecycleStage): void {
    if (this.opened.has(stage)) return;
    this.opened.add(stage);
    for (const resolve of this.waiters.get(stage) ?? []) resolve();
    this.waiters.delete(stage);
  }
}

/** Whether a task is where a healthy allocation has it: running; an ephemeral prestart or poststart task exited successfully; a poststop task always. */
export function isUp(task: Task, state: TaskState): boolean {
  switch (stageOf(task)) {
    case LifecycleStage.Poststop:
      return true;
    case LifecycleStage.PrestartEphemeral:
    case LifecycleStage.PoststartEphemeral:
      return state.State === "running" || (state.State === "dead" && !state.Failed);
    default:
      return state.State === "running";
  }
}
