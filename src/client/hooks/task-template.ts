import type { ExecOptions, ExecResult } from "../../drivers/index.js";
import { errorMessage, NS, sleep, type Node, type Template } from "../../structs/index.js";
import { TemplateManager, type TemplateSource } from "../template/index.js";
import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/** What the template hook needs of its task runner beyond the hook context: to act on a change. */
export interface TemplateHookDeps {
  source: TemplateSource;
  node?: Node;
  /** Aborted when the task is being killed: a first render that waits stops waiting. */
  stopping: AbortSignal;
  running(): boolean;
  restart(reason: string): Promise<void>;
  signal(sig: string, message: string): Promise<void>;
  exec(cmd: string[], opts: ExecOptions): Promise<ExecResult>;
  kill(reason: string): Promise<void>;
  random(): number;
  /** The restart policy's `render_templates`: a restart renders every template again before the task starts. */
  renderOnRestart?: boolean;
}

/** A source for a task runner given none (tests of other hooks): what a template reads never arrives, so it waits. */
export const idleTemplateSource: TemplateSource = {
  fetch: (_d, _i, signal) =>
    new Promise((_res, rej) => {
      signal.addEventListener("abort", () => {
        rej(new Error("stopped"));
      });
    }),
};

/** Nomad's words for a restart and a signal a template caused. */
const RESTART_REASON = "Template with change_mode restart re-rendered";
const SIGNAL_MESSAGE = "Template re-rendered";

/**
 * A task's `template` blocks (Nomad's `template_hook`): before the first start, every
 * template is rendered and written, and the task waits until it is ("Missing: …" events
 * say what for); `env = true` templates become the task's environment at each start. While
 * the task lives, what they read is followed and a change acts by its `change_mode`:
 * `restart` (once, whatever the number of templates), `signal` (each signal once),
 * `script` (run inside the task; a failure kills the task with `fail_on_error`), `noop`;
 * after a random delay up to `splay`. The manager stops with the task. A restart keeps what
 * was rendered, unless the restart policy says `render_templates = true`: then the templates
 * are rendered again from what they read now, and the task starts once they are.
 */
export class TemplateHook implements TaskHook {
  readonly name = "template";
  private manager: TemplateManager | null = null;
  /** Stops the current manager alone (a restart that renders again), or with the hook. */
  private managerAbort: AbortController | null = null;
  private readonly abort = new AbortController();
  private readonly templates: readonly Template[];

  constructor(
    private readonly ctx: TaskHookContext,
    private readonly d: TemplateHookDeps,
  ) {
    this.templates = ctx.task.Templates ?? [];
    d.stopping.addEventListener("abort", () => {
      this.abort.abort();
    });
  }

  async prestart(): Promise<PrestartResult> {
    if (this.templates.length === 0) return { ok: true };
    if (this.manager !== null && this.d.renderOnRestart === true) {
      this.ctx.log.info({ task: this.ctx.task.Name }, "re-rendering templates on task restart");
      this.managerAbort?.abort();
      this.manager = null;
    }
    const m = await this.started();
    const stopped = new Promise<"stopped">((res) => {
      if (this.abort.signal.aborted) res("stopped");
      this.abort.signal.addEventListener("abort", () => {
        res("stopped");
      });
    });
    try {
      // A task killed while its templates wait goes no further: the runner sees it killed.
      if ((await Promise.race([m.ready().then(() => "ready" as const), stopped])) === "stopped") return { ok: true };
    } catch (err) {
      return { ok: false, event: "Killing", reason: `Template failed: ${errorMessage(err)}` };
    }
    Object.assign(this.ctx.spec.env, m.env());
    return { ok: true };
  }

  /** A task found running after an agent restart: its templates are followed again (a file that differs is written again, no change acted on). */
  poststart(): void {
    if (this.templates.length === 0 || this.manager !== null) return;
    this.started().catch((err: unknown) => {
      this.ctx.event("Template", `Template failed: ${errorMessage(err)}`);
    });
  }

  stop(): void {
    this.abort.abort();
  }

  shutdown(): void {
    this.abort.abort();
  }

  private async started(): Promise<TemplateManager> {
    if (this.manager !== null) return this.manager;
    const base = { ...this.ctx.spec.env };
    const own = new AbortController();
    this.managerAbort = own;
    const m = new TemplateManager({
      templates: this.templates,
      taskDir: this.ctx.spec.taskDir,
      allocDir: this.ctx.spec.allocDir,
      env: () => base,
      ...(this.d.node === undefined ? {} : { node: this.d.node }),
      source: this.d.source,
      log: this.ctx.log,
      event: (type, message) => this.ctx.event(type, message),
      changed: (ts) => {
        void this.act(ts);
      },
      signal: AbortSignal.any([this.abort.signal, own.signal]),
    });
    this.manager = m;
    await m.start();
    return m;
  }

  /** Acts on templates whose output changed, by their change_mode, after their splay. */
  private async act(ts: readonly Template[]): Promise<void> {
    const splayMs = Math.max(0, ...ts.map((t) => t.Splay / NS.millisecond)) * this.d.random();
    if (splayMs > 0) await sleep(splayMs, this.abort.signal).catch(() => undefined);
    if (this.abort.signal.aborted || !this.d.running()) return;
    try {
      if (ts.some((t) => t.ChangeMode === "restart")) {
        await this.d.restart(RESTART_REASON);
        return;
      }
      for (const sig of new Set(ts.filter((t) => t.ChangeMode === "signal").map((t) => t.ChangeSignal))) await this.d.signal(sig, SIGNAL_MESSAGE);
      for (const t of ts) if (t.ChangeMode === "script" && t.ChangeScript !== null) await this.script(t);
    } catch (err) {
      this.ctx.log.warn({ err }, "acting on a re-rendered template failed");
      this.ctx.event("Template", `Template re-rendered, but acting on it failed: ${errorMessage(err)}`);
    }
  }

  private async script(t: Template): Promise<void> {
    const s = t.ChangeScript;
    if (s === null) return;
    const shown = [s.Command, ...s.Args].join(" ");
    let failure = "";
    try {
      const r = await this.d.exec([s.Command, ...s.Args], { timeoutMs: Math.max(1, s.Timeout / NS.millisecond) });
      if (r.timedOut) failure = `timed out after ${Math.round(s.Timeout / NS.millisecond)}ms`;
      else if (r.exitCode !== 0) failure = `exited with code ${r.exitCode}`;
    } catch (err) {
      failure = errorMessage(err);
    }
    if (failure === "") {
      this.ctx.event("Template", `Template ran script ${shown} on change`);
      return;
    }
    this.ctx.event("Template", `Template failed to run script ${shown} on change: ${failure}`);
    if (s.FailOnError) await this.d.kill(`Template script failed (${shown}): ${failure}`);
  }
}
