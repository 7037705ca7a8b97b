/**
 * Test support for the hooks (not used by Ruche itself): one allocation with real task
 * runners on the mock driver and the context an allocation runner would give a hook; the
 * context a task runner would give a task hook. A hook is tested alone, with nothing of
 * the other hooks around it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { MockDriver, type TaskHandle } from "../../drivers/index.js";
import { mock, NS, silentLogger, type Allocation, type Job, type Task, type TaskEvent, type TaskGroup } from "../../structs/index.js";
import { RestartTracker } from "../restart.js";
import { TaskRunner } from "../task-runner.js";
import { taskSpec } from "../task-spec.js";
import { allocPaths, type AllocPaths } from "./alloc-dir.js";
import type { AllocHook, AllocHookContext, TaskHookContext } from "./hook.js";

export interface HookBed {
  ctx: AllocHookContext;
  paths: AllocPaths;
  driver: MockDriver;
  tasks: Map<string, TaskRunner>;
  /** How many times something asked for a report (`ctx.changed()`, from a hook or a task). */
  changes: () => number;
  /** The hook under test: `ctx.changed()` calls its `changed()`, as the runner does. */
  use: (hook: AllocHook) => void;
  /** Makes and runs a task runner per task of the group. */
  runTasks: () => void;
  /** The allocation as the servers would send it next. */
  setAlloc: (a: Allocation) => void;
  /** Kills every task and lets go of the hook. */
  close: () => Promise<void>;
}

/** An allocation of `job`'s first group on a mock node, its directory under `root`. */
export function hookBed(job: Job, root: string, o: Partial<Allocation> = {}): HookBed {
  const node = mock.node();
  let alloc = mock.alloc(job, node, 0, o);
  const group = (): TaskGroup => alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup) ?? (alloc.Job.TaskGroups[0] as TaskGroup);
  const paths = allocPaths(root, alloc.ID);
  const driver = new MockDriver();
  const tasks = new Map<string, TaskRunner>();
  let hook: AllocHook | undefined;
  let changes = 0;
  const ctx: AllocHookContext = {
    alloc: () => alloc,
    group,
    node,
    log: silentLogger,
    now: () => Date.now(),
    tasks: () => tasks,
    changed: () => {
      changes++;
      hook?.changed?.();
    },
  };
  return {
    ctx,
    paths,
    driver,
    tasks,
    changes: () => changes,
    use: (h) => {
      hook = h;
    },
    runTasks: () => {
      for (const task of group().Tasks) {
        const r = new TaskRunner({
          driver,
          spec: taskSpec(alloc, group(), task, node, paths),
          task,
          restart: new RestartTracker(group().RestartPolicy, alloc.Job.Type),
          changed: () => {
            ctx.changed();
          },
          log: silentLogger,
          now: () => Date.now(),
          random: () => 0,
        });
        tasks.set(task.Name, r);
        void r.run();
      }
    },
    setAlloc: (a) => {
      alloc = a;
    },
    close: async () => {
      await Promise.all([...tasks.values()].map((t) => t.kill("the test is over")));
      hook?.shutdown?.();
    },
  };
}

export interface TaskBed {
  ctx: TaskHookContext;
  /** The events the hook wrote, in order. */
  events: TaskEvent[];
  /** How many times the hook asked for the task to be saved (`ctx.changed()`). */
  saves: () => number;
  setHandle: (h: TaskHandle | null) => void;
}

/**
 * The context a task runner gives its hooks, built by hand for a task with `config` whose
 * directories are under `root`: its events gathered in a list, the driver the mock one.
 */
export function taskBed(root: string, config: Record<string, unknown> = {}): TaskBed {
  const job = mock.job();
  const group = job.TaskGroups[0] as TaskGroup;
  const task = group.Tasks[0] as Task;
  task.Config = config;
  const node = mock.node();
  const alloc = mock.alloc(job, node, 0);
  const events: TaskEvent[] = [];
  let handle: TaskHandle | null = null;
  let saves = 0;
  const ctx: TaskHookContext = {
    task,
    spec: taskSpec(alloc, group, task, node, allocPaths(root, alloc.ID)),
    driver: new MockDriver(),
    log: silentLogger,
    handle: () => handle,
    event: (type, message, details = {}) => {
      const e: TaskEvent = { Type: type, Time: Date.now() * NS.millisecond, Message: message, Details: details, ExitCode: 0, Signal: 0, KillTimeout: 0, RestartReason: "" };
      events.push(e);
      return e;
    },
    changed: () => {
      saves++;
    },
  };
  return {
    ctx,
    events,
    saves: () => saves,
    setHandle: (h) => {
      handle = h;
    },
  };
}

/** Waits until `f` gives something (not undefined or false), looking every 10 ms. */
export async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A new temporary directory for each test of the file, removed after it (after the test's
 * own cleanups, which were registered later and run first): call the result for its path.
 */
export function tempDirPerTest(prefix: string): () => string {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
