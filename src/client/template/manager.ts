import { chmod, chown, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { errorMessage, leavesAllocDir, NS, sleep, type Logger, type Node, type Template } from "../../structs/index.js";
import type { Dep } from "./deps.js";
import { compileTemplate, parseEnvFile, renderTemplate, type CompiledTemplate } from "./render.js";
import type { TemplateSource } from "./source.js";

/** How often a `file` dependency is read again, and how long a source that does not block is left before it is asked again (ms). */
const POLL_MS = 1000;
/** After this long waiting for a first render, and then as often, a "Missing: …" event says what the task waits for (ms). */
const MISSING_EVENT_MS = 5000;

export interface TemplateManagerDeps {
  templates: readonly Template[];
  /** The task's directory (destinations and sources are relative to it) and the allocation's. */
  taskDir: string;
  allocDir: string;
  /** The task's environment without what `env = true` templates add (for `env`). */
  env(): Readonly<Record<string, string>>;
  node?: Node;
  source: TemplateSource;
  log: Logger;
  /** A task event (the task runner's one writer). */
  event(type: string, message: string): void;
  /** Templates whose output changed after the first render, their files already written. */
  changed(templates: readonly Template[]): void;
  signal: AbortSignal;
}

interface Entry {
  t: Template;
  compiled: CompiledTemplate;
  dest: string;
  /** The last output written; null before the first render. */
  output: string | null;
}

/**
 * A task's templates on the node: each dependency they read followed with a blocking query
 * (a `file` read again every second), every template rendered again when one changes, and
 * its destination written when its output changed (atomically, with its `perms`). The
 * first render waits until every template has all it reads (`ready()`); later changes
 * are told to `changed` after the templates' `wait` quiescence. Stops with `signal`.
 */
export class TemplateManager {
  private readonly brain = new Map<string, unknown>();
  private readonly watched = new Set<string>();
  private entries: Entry[] = [];
  private firstDone = false;
  private readonly first: Promise<void>;
  private resolveFirst!: () => void;
  private rejectFirst!: (err: unknown) => void;
  private pending = false;
  private rendering: Promise<void> = Promise.resolve();
  private quietTimer: NodeJS.Timeout | undefined;
  private quietSince = 0;
  private missing: string[] = [];

  constructor(private readonly d: TemplateManagerDeps) {
    this.first = new Promise((res, rej) => {
      this.resolveFirst = res;
      this.rejectFirst = rej;
    });
    this.first.catch(() => undefined);
    d.signal.addEventListener("abort", () => {
      clearTimeout(this.quietTimer);
    });
  }

  /** Reads the templates (a source file, relative to the task's directory) and starts rendering; a template that cannot be read throws. */
  async start(): Promise<void> {
    const entries: Entry[] = [];
    for (const [i, t] of this.d.templates.entries()) {
      const at = `template ${i + 1} (${t.DestPath})`;
      let text = t.EmbeddedTmpl;
      if (t.SourcePath !== "") {
        const src = this.inside(t.SourcePath, at);
        try {
          text = await readFile(src, "utf8");
        } catch (err) {
          throw new Error(`${at}: reading source ${t.SourcePath}: ${errorMessage(err)}`, { cause: err });
        }
      }
      let compiled: CompiledTemplate;
      try {
        compiled = compileTemplate(text, { left: t.LeftDelim, right: t.RightDelim, errMissingKey: t.ErrMissingKey });
      } catch (err) {
        throw new Error(`${at}: ${errorMessage(err)}`, { cause: err });
      }
      entries.push({ t, compiled, dest: this.inside(t.DestPath, at), output: null });
    }
    this.entries = entries;
    this.kick();
    void this.reportMissing();
  }

  /** Resolves once every template rendered and was written; rejects when one fails to render. */
  ready(): Promise<void> {
    return this.first;
  }

  /** What the `env = true` templates give the task, from their last output. */
  env(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.entries) {
      if (!e.t.Envvars || e.output === null) continue;
      const p = parseEnvFile(e.output);
      if (p.ok) Object.assign(out, p.env);
    }
    return out;
  }

  /** A path of the job (relative to the task's directory) on this node; one that leaves the allocation's directory throws. */
  private inside(p: string, at: string): string {
    const full = resolve(this.d.taskDir, p.replace(/^\/+/, ""));
    const rel = relative(this.d.allocDir, full);
    if (rel.startsWith("..") || leavesAllocDir(p)) throw new Error(`${at}: ${p} escapes the allocation directory`);
    return full;
  }

  /** Schedules a render: at once before the first, after the `wait` quiescence later. */
  private kick(): void {
    if (this.d.signal.aborted) return;
    if (!this.firstDone) {
      this.queueRender();
      return;
    }
    const min = Math.max(0, ...this.entries.map((e) => (e.t.Wait?.Min ?? 0) / NS.millisecond));
    const max = Math.max(0, ...this.entries.map((e) => (e.t.Wait?.Max ?? 0) / NS.millisecond));
    if (min === 0) {
      this.queueRender();
      return;
    }
    const now = Date.now();
    if (this.quietTimer === undefined) this.quietSince = now;
    clearTimeout(this.quietTimer);
    const due = max > 0 ? Math.min(min, Math.max(0, this.quietSince + max - now)) : min;
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      this.queueRender();
    }, due);
  }

  private queueRender(): void {
    if (this.pending) return;
    this.pending = true;
    this.rendering = this.rendering.then(async () => {
      this.pending = false;
      if (this.d.signal.aborted) return;
      try {
        await this.render();
      } catch (err) {
        if (!this.firstDone) this.rejectFirst(err);
        else this.d.event("Template", `Template failed: ${errorMessage(err)}`);
        this.d.log.warn({ err }, "rendering a template failed");
      }
    });
  }

  private async render(): Promise<void> {
    const results = this.entries.map((e, i) => {
      try {
        return renderTemplate(e.compiled, { brain: this.brain, env: this.d.env(), ...(this.d.node === undefined ? {} : { node: this.d.node }) });
      } catch (err) {
        throw new Error(`template ${i + 1} (${e.t.DestPath}): ${errorMessage(err)}`, { cause: err });
      }
    });
    for (const r of results) for (const [name, dep] of r.deps) this.watch(name, dep);
    const missing = results.flatMap((r) => (r.ok ? [] : r.missing));
    this.missing = [...new Set(missing)].sort();
    if (missing.length > 0) return;
    const changed: Template[] = [];
    for (const [i, e] of this.entries.entries()) {
      const r = results[i];
      if (r === undefined || !r.ok) continue;
      if (this.firstDone && e.t.Once) continue;
      if (e.output === r.output) continue;
      const before = e.output;
      await this.write(e, r.output);
      e.output = r.output;
      if (before !== null) changed.push(e.t);
    }
    if (!this.firstDone) {
      this.firstDone = true;
      this.resolveFirst();
      return;
    }
    if (changed.length > 0) this.d.changed(changed);
  }

  /** Writes a destination atomically, with its perms (and owner when given), unless the file holds the output already. */
  private async write(e: Entry, output: string): Promise<void> {
    if (e.t.Envvars) {
      const p = parseEnvFile(output);
      if (!p.ok) throw new Error(`template ${e.t.DestPath}: env = true, but the output is no KEY=VALUE list: ${p.error}`);
    }
    const mode = parseInt(e.t.Perms, 8);
    const now = await readFile(e.dest, "utf8").catch(() => null);
    await mkdir(dirname(e.dest), { recursive: true });
    if (now !== output) {
      const tmp = join(dirname(e.dest), `.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
      await writeFile(tmp, output, { mode });
      await chmod(tmp, mode);
      if (e.t.Uid >= 0 || e.t.Gid >= 0) await chown(tmp, e.t.Uid, e.t.Gid);
      await rename(tmp, e.dest);
    } else {
      await chmod(e.dest, mode);
    }
  }

  /** Starts following a dependency, once. */
  private watch(name: string, dep: Dep): void {
    if (this.watched.has(name) || this.d.signal.aborted) return;
    this.watched.add(name);
    void this.follow(name, dep);
  }

  private async follow(name: string, dep: Dep): Promise<void> {
    const signal = this.d.signal;
    let index = 0;
    let last: string | undefined;
    let backoff = 250;
    while (!signal.aborted) {
      let value: unknown;
      let next: number;
      try {
        if (dep.kind === "file") {
          const text = await readFile(this.inside(dep.path, `file "${dep.path}"`), "utf8").catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
            throw err;
          });
          value = text;
          next = 0;
        } else {
          const r = await this.d.source.fetch(dep, index, signal);
          value = r.value;
          next = r.index;
        }
        backoff = 250;
      } catch (err) {
        if (this.stopped()) return;
        this.d.log.warn({ dep: name, err }, "reading a template's data failed; trying again");
        await sleep(backoff, signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, 10_000);
        continue;
      }
      // A key, a variable or a file that does not exist holds the render back (consul-template's blocking reads).
      const blocks = dep.kind === "kv.block" || dep.kind === "nomad.var.block" || dep.kind === "file";
      if (!(blocks && value === null)) {
        const json = JSON.stringify(value);
        if (json !== last || !this.brain.has(name)) {
          last = json;
          this.brain.set(name, value);
          this.kick();
        }
      }
      // A source that does not block (or did not move) is asked again after a pause, not at once.
      if (next <= index || next === 0) await sleep(POLL_MS, signal).catch(() => undefined);
      index = next > index ? next : index;
    }
  }

  /** Read through a method: the signal aborts while a read awaits. */
  private stopped(): boolean {
    return this.d.signal.aborted;
  }

  /** Until the first render, says every few seconds what the templates still wait for ("Missing: kv.block(app/port)"). */
  private async reportMissing(): Promise<void> {
    let said = "";
    for (;;) {
      await sleep(MISSING_EVENT_MS, this.d.signal).catch(() => undefined);
      if (this.d.signal.aborted || this.firstDone) return;
      const now = this.missing.join(", ");
      if (now !== "" && now !== said) {
        said = now;
        this.d.event("Template", `Missing: ${now}`);
      }
    }
  }
}
