/**
 * The template hook on a real task runner (mock driver, a real temporary directory). The
 * cluster's API is stood in for by a small in-memory source with blocking reads: the HTTP
 * source against a real agent is test/e2e/template.test.ts.
 */
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MockDriver } from "../../drivers/index.js";
import { mock, silentLogger, type RestartPolicy, type Task, type TaskGroup, type Template } from "../../structs/index.js";
import { RestartTracker } from "../restart.js";
import { TaskRunner } from "../task-runner.js";
import { taskSpec } from "../task-spec.js";
import { depName, type Dep, type TemplateSource } from "../template/index.js";
import { allocPaths } from "./alloc-dir.js";
import { until } from "./testing.js";

/** Values by dependency name; a read with an index waits until a value changes (a blocking query). */
class MemSource implements TemplateSource {
  private index = 1;
  private readonly values = new Map<string, unknown>();
  private waiters: (() => void)[] = [];
  reads = 0;

  set(name: string, value: unknown): void {
    this.values.set(name, value);
    this.index++;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async fetch(d: Exclude<Dep, { kind: "file" }>, index: number, signal: AbortSignal): Promise<{ index: number; value: unknown }> {
    this.reads++;
    while (index >= this.index) {
      await new Promise<void>((res, rej) => {
        this.waiters.push(res);
        signal.addEventListener("abort", () => {
          rej(new Error("aborted"));
        });
      });
    }
    const name = depName(d);
    return { index: this.index, value: this.values.has(name) ? this.values.get(name) : d.kind === "health.service" ? [] : null };
  }
}

function tmpl(o: Partial<Template>): Template {
  return {
    SourcePath: "",
    DestPath: "local/out.txt",
    EmbeddedTmpl: "",
    ChangeMode: "restart",
    ChangeSignal: "",
    ChangeScript: null,
    Splay: 0,
    Perms: "0644",
    Uid: -1,
    Gid: -1,
    LeftDelim: "{{",
    RightDelim: "}}",
    Envvars: false,
    VaultGrace: 0,
    Wait: null,
    ErrMissingKey: false,
    Once: false,
    ...o,
  };
}

let root = "";
let runners: TaskRunner[] = [];
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "ruche-template-hook-"));
  runners = [];
});
afterEach(async () => {
  await Promise.all(runners.map((r) => r.kill("the test is over")));
  await rm(root, { recursive: true, force: true });
});

function start(templates: Template[], source: TemplateSource, files: Record<string, string> = {}, restart: Partial<RestartPolicy> = {}): { runner: TaskRunner; driver: MockDriver; task: Task; dir: string; env: Record<string, string> } {
  const job = mock.job();
  const group = job.TaskGroups[0] as TaskGroup;
  const task = group.Tasks[0] as Task;
  task.Templates = templates;
  const node = mock.node();
  const alloc = mock.alloc(job, node, 0);
  const driver = new MockDriver();
  const spec = taskSpec(alloc, group, task, node, allocPaths(root, alloc.ID));
  const runner = new TaskRunner({ driver, spec, task, restart: new RestartTracker({ ...group.RestartPolicy, ...restart }, job.Type), changed: () => undefined, log: silentLogger, now: () => Date.now(), random: () => 0, node, templateSource: source });
  runners.push(runner);
  void (async () => {
    for (const [p, text] of Object.entries(files)) {
      await mkdir(join(spec.taskDir, p, ".."), { recursive: true });
      await writeFile(join(spec.taskDir, p), text);
    }
    await runner.run();
  })();
  return { runner, driver, task, dir: spec.taskDir, env: spec.env };
}

describe("the template hook", () => {
  it("keeps what it rendered on a restart, unless the restart policy says render_templates = true", async () => {
    const src = new MemSource();
    src.set("kv.block(app/port)", "8080");
    const kept = start([tmpl({ EmbeddedTmpl: `port={{ key "app/port" }}`, ChangeMode: "noop" })], src);
    const again = start([tmpl({ EmbeddedTmpl: `port={{ key "app/port" }}`, ChangeMode: "noop" })], src, {}, { RenderTemplates: true });
    for (const t of [kept, again]) {
      await until("the task running", () => t.runner.state.State === "running");
      // What the task does to its own rendered file (a restart is how a user gets it back).
      await rm(join(t.dir, "local/out.txt"));
      const starts = (): number => t.runner.state.Events.filter((e) => e.Type === "Started").length;
      const before = starts();
      await t.runner.restart();
      await until("the task started again", () => starts() > before && t.runner.state.State === "running");
    }
    await expect(stat(join(kept.dir, "local/out.txt"))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(again.dir, "local/out.txt"), "utf8")).toBe("port=8080");
    // The new render follows what it reads as the first did.
    src.set("kv.block(app/port)", "9090");
    await until("rendered from the new value", async () => (await readFile(join(again.dir, "local/out.txt"), "utf8").catch(() => "")) === "port=9090");
  });

  it("holds the task until what its templates read exists, then writes them with their perms and gives env templates to the task", async () => {
    const src = new MemSource();
    const { runner, dir, env } = start(
      [
        tmpl({ EmbeddedTmpl: `port={{ key "app/port" }} alloc={{ env "NOMAD_ALLOC_INDEX" }}`, Perms: "0600" }),
        tmpl({ EmbeddedTmpl: `PORT={{ key "app/port" }}\nNAME="a b"`, DestPath: "secrets/app.env", Envvars: true }),
      ],
      src,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(runner.state.State).toBe("pending");
    src.set("kv.block(app/port)", "8080");
    await until("the task running", () => runner.state.State === "running");
    expect(await readFile(join(dir, "local/out.txt"), "utf8")).toBe("port=8080 alloc=0");
    expect((await stat(join(dir, "local/out.txt"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "secrets/app.env"), "utf8")).toBe('PORT=8080\nNAME="a b"');
    expect(env.PORT).toBe("8080");
    expect(env.NAME).toBe("a b");
  });

  it("restarts the task once when its templates change (change_mode restart), and the new env reaches it", async () => {
    const src = new MemSource();
    src.set("kv.block(k)", "1");
    const { runner, dir, env } = start([tmpl({ EmbeddedTmpl: `{{ key "k" }}` }), tmpl({ EmbeddedTmpl: `V={{ key "k" }}`, DestPath: "local/e.env", Envvars: true })], src);
    await until("the task running", () => runner.state.State === "running");
    expect(env.V).toBe("1");
    src.set("kv.block(k)", "2");
    await until("the task restarted", () => runner.state.Restarts === 1 && runner.state.State === "running");
    expect(await readFile(join(dir, "local/out.txt"), "utf8")).toBe("2");
    expect(env.V).toBe("2");
    const events = runner.state.Events.map((e) => `${e.Type}: ${e.Message}`);
    expect(events).toContain("Restart Signaled: Template with change_mode restart re-rendered");
    expect(runner.state.Events.find((e) => e.Type === "Restarting")?.RestartReason).toBe("Template with change_mode restart re-rendered");
  });

  it("signals the task (change_mode signal), runs a script (script), or only writes the file (noop)", async () => {
    const src = new MemSource();
    src.set("kv.block(k)", "1");
    const { runner, driver, dir } = start(
      [
        tmpl({ EmbeddedTmpl: `{{ key "k" }}`, ChangeMode: "signal", ChangeSignal: "SIGHUP" }),
        tmpl({ EmbeddedTmpl: `{{ key "k" }}`, DestPath: "local/b", ChangeMode: "signal", ChangeSignal: "SIGHUP" }),
        tmpl({ EmbeddedTmpl: `{{ key "k" }}`, DestPath: "local/c", ChangeMode: "script", ChangeScript: { Command: "/bin/reload", Args: ["-q"], Timeout: 1e9, FailOnError: false } }),
        tmpl({ EmbeddedTmpl: `{{ key "k" }}`, DestPath: "local/d", ChangeMode: "noop" }),
      ],
      src,
    );
    await until("the task running", () => runner.state.State === "running");
    src.set("kv.block(k)", "2");
    await until("the script ran", () => runner.state.Events.some((e) => e.Message === "Template ran script /bin/reload -q on change"));
    expect(driver.signalsOf(runner.handle?.taskId ?? "")).toEqual(["SIGHUP"]);
    expect(runner.state.Events.filter((e) => e.Type === "Signaling").map((e) => e.Message)).toEqual(["Template re-rendered"]);
    expect(await readFile(join(dir, "local/d"), "utf8")).toBe("2");
    expect(runner.state.Restarts).toBe(0);
  });

  it("renders again only once what it reads has been quiet for wait.min", async () => {
    const src = new MemSource();
    src.set("kv.block(k)", "1");
    const { runner, dir } = start([tmpl({ EmbeddedTmpl: `{{ key "k" }}`, ChangeMode: "noop", Wait: { Min: 400 * 1e6, Max: 5e9 } })], src);
    await until("the task running", () => runner.state.State === "running");
    src.set("kv.block(k)", "2");
    await new Promise((r) => setTimeout(r, 100));
    src.set("kv.block(k)", "3");
    await new Promise((r) => setTimeout(r, 200));
    expect(await readFile(join(dir, "local/out.txt"), "utf8")).toBe("1");
    await until("the file rendered again", async () => (await readFile(join(dir, "local/out.txt"), "utf8")) === "3");
  });

  it("reads a source file relative to the task's directory, with custom delimiters", async () => {
    const src = new MemSource();
    const job = start([tmpl({ SourcePath: "local/in.tpl", LeftDelim: "<<", RightDelim: ">>" })], src, { "local/in.tpl": "x=<< 1 >> {{ kept }}" });
    await until("the task running", () => job.runner.state.State === "running");
    expect(await readFile(join(job.dir, "local/out.txt"), "utf8")).toBe("x=1 {{ kept }}");
  });

  it("fails the task, saying why, when a template cannot be rendered", async () => {
    const src = new MemSource();
    const { runner } = start([tmpl({ EmbeddedTmpl: `{{ nosuch }}` })], src);
    await until("the task dead", () => runner.state.State === "dead");
    expect(runner.state.Failed).toBe(true);
    expect(runner.state.Events.some((e) => e.Message.includes('function "nosuch" not defined'))).toBe(true);
  });

  it("stops waiting when the task is killed before its templates rendered", async () => {
    const src = new MemSource();
    const { runner } = start([tmpl({ EmbeddedTmpl: `{{ key "never" }}` })], src);
    await new Promise((r) => setTimeout(r, 100));
    await runner.kill("stopped by the test");
    expect(runner.state.State).toBe("dead");
    expect(runner.state.Failed).toBe(false);
  });
});
