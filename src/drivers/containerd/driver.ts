import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { cpus } from "node:os";
import { join } from "node:path";
import { ErrorCode, RucheError, type TaskStats } from "../../structs/index.js";
import type { Driver, DriverFingerprint, ExecOptions, ExecResult, ExecSession, ExecStreamOptions, ExitResult, TaskHandle, TaskSpec } from "../driver.js";
import { SIGNALS } from "../driver.js";
import { promised, startSession, STATE_DIR_NAME } from "../shared/index.js";
import { parseContainerdConfig, validateContainerdConfig, type RegistryAuth } from "./config.js";
import { containerdAddress, Ctr, ctrError } from "./ctr.js";
import { ensureImage, imageConfig, normalizeRef } from "./image.js";
import { prepareLogger } from "./logger.js";
import { buildSpec, hostsFileText, type OciSpec } from "./spec.js";

/** The driver's name, as nomad-driver-containerd registers it. */
export const CONTAINERD_DRIVER = "containerd-driver";

/** The containerd namespace the plugin runs its containers in. */
export const CONTAINERD_NAMESPACE = "nomad";

/** The node's plugin config (`plugin "containerd-driver" { config { ... } }`), as nomad-driver-containerd's. */
export interface ContainerdDriverOptions {
  /** Offered on this node (default true, as the plugin). */
  enabled?: boolean;
  /** The runtime containerd runs tasks with (`containerd_runtime`, default `io.containerd.runc.v2`). */
  runtime?: string;
  /** Privileged tasks may run (`allow_privileged`, default true, as the plugin). */
  allowPrivileged?: boolean;
  /** The node's registry credentials, under a task's own (`auth`). */
  auth?: RegistryAuth;
  /** containerd's socket; default CONTAINERD_ADDRESS, then the first of CONTAINERD_SOCKETS there is. */
  address?: string;
  /** containerd namespace: default CONTAINERD_NAMESPACE (ctr's variable), then "nomad", the plugin's. */
  namespace?: string;
  /** Ends the watching of tasks when the agent shuts down (the tasks run on). */
  signal?: AbortSignal;
}

/** What a containerd task's handle holds. */
interface ContainerdState {
  containerId: string;
  /** `<taskDir>/.ruche`: the spec, the log driver, the rootfs mount point, the exit file. */
  stateDir: string;
}

const EXIT_FILE = "containerd-exit.json";
/** How often waited tasks are looked at without containerd's events, and with them. */
const POLL_MS = 250;
const POLL_WITH_EVENTS_MS = 5000;

function stateOf(handle: TaskHandle): ContainerdState | undefined {
  const s = handle.state;
  if (typeof s.containerId !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s.containerId)) return undefined;
  if (typeof s.stateDir !== "string" || !s.stateDir.endsWith(`/${STATE_DIR_NAME}`)) return undefined;
  return { containerId: s.containerId, stateDir: s.stateDir };
}

function mustState(handle: TaskHandle): ContainerdState {
  const s = stateOf(handle);
  if (s === undefined) throw new RucheError(ErrorCode.BadRequest, `handle of task ${handle.taskId} is not a containerd-driver task's`);
  return s;
}

/** An exit status as containerd gives it: 128+N is death by signal N, as Nomad reports it. */
export function exitOf(status: number, oomKilled: boolean): ExitResult {
  const signal = status > 128 && status <= 128 + 64 ? status - 128 : 0;
  return { exitCode: status, signal, oomKilled };
}

/** The OOM kills counted in the container's memory cgroup (v2 `memory.events`, v1 `memory.oom_control`); 0 when it cannot be read. */
function oomKills(cgroupsPath: string): number {
  for (const [file, re] of [
    [`/sys/fs/cgroup${cgroupsPath}/memory.events`, /^oom_kill (\d+)$/m],
    [`/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`, /^oom_kill (\d+)$/m],
  ] as const) {
    try {
      return Number(re.exec(readFileSync(file, "utf8"))?.[1] ?? 0);
    } catch {
      // Not this hierarchy.
    }
  }
  return 0;
}

/**
 * `containerd-driver`: a task is a container of containerd (nomad-driver-containerd's
 * behaviour), run through containerd's own client `ctr`: the image pulled into the "nomad"
 * namespace and its snapshot mounted as the container's root, an OCI spec made here from
 * containerd's default and the task's config, the container run by containerd's shim, which
 * outlives the agent. The task's output goes to Ruche's log writers, started by the shim as
 * the task's log driver.
 */
export class ContainerdDriver implements Driver {
  readonly name = CONTAINERD_DRIVER;
  readonly fingerprintPeriodMs = 30_000;
  readonly mountsHostVolumes = true;
  private readonly enabled: boolean;
  private readonly runtime: string;
  private readonly allowPrivileged: boolean;
  private readonly auth: RegistryAuth | undefined;
  private readonly address: string;
  private readonly namespace: string;
  private readonly ctr: Ctr;
  private readonly abort: AbortSignal | undefined;
  /** Waits in flight, by container id. */
  private readonly waits = new Map<string, { promise: Promise<ExitResult>; resolve: (r: ExitResult) => void; reject: (e: Error) => void; stateDir: string }>();
  private poller: NodeJS.Timeout | undefined;
  private polling = false;
  private pollAgain = false;
  /** `ctr events`, while tasks are waited for. */
  private events: ChildProcess | undefined;
  private baseSpec: OciSpec | undefined;
  /** The last CPU reading of each task (ns of CPU, ms of the clock), for the percent since. */
  private readonly lastCpu = new Map<string, { ns: number; at: number }>();

  constructor(opts: ContainerdDriverOptions = {}) {
    this.enabled = opts.enabled ?? true;
    this.runtime = opts.runtime ?? "io.containerd.runc.v2";
    this.allowPrivileged = opts.allowPrivileged ?? false;
    this.auth = opts.auth;
    this.address = containerdAddress(opts.address);
    const envNamespace = process.env.CONTAINERD_NAMESPACE;
    this.namespace = opts.namespace ?? (envNamespace !== undefined && envNamespace !== "" ? envNamespace : CONTAINERD_NAMESPACE);
    this.ctr = new Ctr(this.address, this.namespace);
    this.abort = opts.signal;
    this.abort?.addEventListener("abort", () => {
      this.release(new Error("the containerd driver stopped watching its tasks"));
    });
  }

  async fingerprint(): Promise<DriverFingerprint> {
    if (!this.enabled) {
      return { detected: false, healthy: false, description: 'disabled by the agent\'s config (plugin "containerd-driver" { config { enabled = false } })', attributes: {} };
    }
    if (this.address.startsWith("/") && !existsSync(this.address)) {
      return { detected: false, healthy: false, description: `containerd does not answer: there is no socket at ${this.address} (set CONTAINERD_ADDRESS to its socket)`, attributes: {} };
    }
    let r;
    try {
      r = await this.ctr.run(["version"], { timeoutMs: 10_000 });
    } catch {
      return { detected: false, healthy: false, description: "ctr, containerd's client (Debian package containerd), is not installed", attributes: {} };
    }
    if (r.code !== 0) {
      return { detected: false, healthy: false, description: `containerd does not answer at ${this.address}: ${ctrError(r).split("\n")[0] ?? ""}`, attributes: {} };
    }
    const server = r.stdout.slice(r.stdout.indexOf("Server:"));
    const version = /Version:\s*(\S+)/.exec(server)?.[1] ?? "";
    const revision = /Revision:\s*(\S+)/.exec(server)?.[1] ?? "";
    return {
      detected: true,
      healthy: true,
      description: "Healthy",
      attributes: { [`driver.${CONTAINERD_DRIVER}`]: "1", "driver.containerd.containerd_version": version, "driver.containerd.containerd_revision": revision },
    };
  }

  validate(config: Record<string, unknown>): string[] {
    return validateContainerdConfig(config);
  }

  start(spec: TaskSpec): Promise<TaskHandle> {
    return promised(async () => {
      if (!this.enabled) throw new RucheError(ErrorCode.BadRequest, "the containerd-driver driver is disabled on this node");
      const cfg = parseContainerdConfig(spec.config);
      if (cfg.privileged && !this.allowPrivileged) {
        throw new RucheError(ErrorCode.BadRequest, "Running privileged jobs are not allowed. Set allow_privileged to true in plugin config to allow running privileged jobs.", { path: "config.privileged" });
      }
      if (cfg.hostNetwork && !this.allowPrivileged) {
        throw new RucheError(ErrorCode.BadRequest, "host_network shares the host's network with the task: set allow_privileged to true in the containerd-driver plugin config (-containerd-allow-privileged) to allow it", { path: "config.host_network" });
      }
      if (cfg.hostNetwork && spec.network !== undefined) {
        throw new RucheError(ErrorCode.BadRequest, "host_network and bridge network mode are mutually exclusive, and only one of them should be set", { path: "config.host_network" });
      }
      const containerId = `${spec.taskName}-${spec.allocId}`.replace(/[^A-Za-z0-9_.-]/g, "_");
      const stateDir = join(spec.taskDir, STATE_DIR_NAME);
      await mkdir(stateDir, { recursive: true });
      // What an earlier run of this task left (a restart): its container and root.
      const rootfs = join(stateDir, "rootfs");
      if (existsSync(rootfs) || (await this.ctr.run(["containers", "info", containerId])).code === 0) await this.remove({ containerId, stateDir });
      await rm(join(stateDir, EXIT_FILE), { force: true });

      const ref = normalizeRef(cfg.image);
      const digest = await ensureImage(this.ctr, ref, cfg.auth ?? this.auth, cfg.imagePullTimeoutMs);
      const image = await imageConfig(this.ctr, ref, digest);
      await mkdir(rootfs, { recursive: true });
      await this.ctr.ok(["images", "mount", "--rw", ref, rootfs]);
      try {
        const hostsFile = join(stateDir, "etc_hosts");
        await writeFile(hostsFile, hostsFileText(cfg.hostNetwork, cfg.extraHosts), { mode: 0o644 });
        const oci = buildSpec({ base: await this.defaultSpec(), image, config: cfg, task: spec, containerId, namespace: this.namespace, rootfs, hostsFile });
        const specFile = join(stateDir, "config.json");
        await writeFile(`${specFile}.new`, JSON.stringify(oci), { mode: 0o600 });
        await rename(`${specFile}.new`, specFile);
        const logUri = await prepareLogger(stateDir, spec);
        await this.ctr.ok([
          "run",
          "--detach",
          "--config",
          specFile,
          "--runtime",
          this.runtime,
          "--log-uri",
          logUri,
          "--label",
          `ruche.alloc_id=${spec.allocId}`,
          "--label",
          `ruche.task=${spec.taskName}`,
          containerId,
        ]);
      } catch (err) {
        await this.remove({ containerId, stateDir }).catch(() => undefined);
        throw err;
      }
      return { driver: this.name, taskId: spec.id, startedAt: Date.now(), state: { containerId, stateDir } };
    });
  }

  recover(handle: TaskHandle, _spec: TaskSpec): Promise<boolean> {
    return promised(async () => {
      const s = stateOf(handle);
      if (s === undefined) return false;
      if (existsSync(join(s.stateDir, EXIT_FILE))) return true;
      const r = await this.ctr.run(["containers", "info", s.containerId]);
      return r.code === 0;
    });
  }

  wait(handle: TaskHandle): Promise<ExitResult> {
    return promised(async () => {
      const s = mustState(handle);
      const known = await this.readExit(s);
      if (known !== undefined) return known;
      if (this.abort?.aborted === true) throw new Error("the containerd driver stopped watching its tasks");
      let w = this.waits.get(s.containerId);
      if (w === undefined) {
        let resolve!: (r: ExitResult) => void;
        let reject!: (e: Error) => void;
        const promise = new Promise<ExitResult>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        w = { promise, resolve, reject, stateDir: s.stateDir };
        this.waits.set(s.containerId, w);
        this.pollNow();
      }
      return w.promise;
    });
  }

  signal(handle: TaskHandle, signal: string): Promise<void> {
    return promised(async () => {
      const s = mustState(handle);
      if (SIGNALS[signal] === undefined) throw new RucheError(ErrorCode.BadRequest, `unknown signal ${signal}`);
      const r = await this.ctr.run(["tasks", "kill", "--signal", signal, s.containerId]);
      if (r.code !== 0) throw new RucheError(ErrorCode.Conflict, `signal ${signal} to task ${handle.taskId}: ${ctrError(r)}`);
    });
  }

  stop(handle: TaskHandle, timeoutMs: number, signal = "SIGTERM"): Promise<void> {
    return promised(async () => {
      const s = mustState(handle);
      if ((await this.status(s.containerId)) !== "RUNNING") return;
      await this.ctr.run(["tasks", "kill", "--signal", signal, s.containerId]);
      if (await this.stopped(s.containerId, timeoutMs)) return;
      await this.ctr.run(["tasks", "kill", "--all", "--signal", "SIGKILL", s.containerId]);
      if (!(await this.stopped(s.containerId, 30_000))) throw new Error(`task ${handle.taskId} is still running 30 s after SIGKILL`);
    });
  }

  destroy(handle: TaskHandle): Promise<void> {
    return promised(async () => {
      const s = stateOf(handle);
      if (s === undefined) return;
      // A wait still in flight hears how the task ended before its traces go.
      const w = this.waits.get(s.containerId);
      if (w !== undefined && (await this.status(s.containerId)) === "STOPPED") {
        const result = await this.reap(s).catch(() => undefined);
        if (result !== undefined) {
          this.waits.delete(s.containerId);
          w.resolve(result);
        }
      }
      await this.remove(s);
      await rm(join(s.stateDir, EXIT_FILE), { force: true });
      await rm(join(s.stateDir, "config.json"), { force: true });
      this.lastCpu.delete(s.containerId);
    });
  }

  exec(handle: TaskHandle, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    return promised(async () => {
      const s = mustState(handle);
      if (cmd.length === 0 || cmd[0] === "") throw new RucheError(ErrorCode.BadRequest, "exec needs a command", { path: "command" });
      if ((await this.status(s.containerId)) !== "RUNNING") throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
      return this.runExec(s.containerId, cmd, opts);
    });
  }

  /** `alloc exec`: `ctr tasks exec` in the task, under a pseudo-terminal when asked (ctr passes its size on). */
  execStreaming(handle: TaskHandle, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    return promised(async () => {
      const s = mustState(handle);
      if (cmd.length === 0 || cmd[0] === "") throw new RucheError(ErrorCode.BadRequest, "exec needs a command", { path: "command" });
      if ((await this.status(s.containerId)) !== "RUNNING") throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
      const execId = `exec-${randomUUID().slice(0, 12)}`;
      const argv = ["ctr", "--address", this.address, "--namespace", this.namespace, "tasks", "exec", "--exec-id", execId, ...(opts.tty ? ["--tty"] : []), s.containerId, ...cmd];
      const session = startSession(argv, { ...opts, env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }, cwd: "/" });
      return {
        write: (data) => {
          session.write(data);
        },
        closeStdin: () => {
          session.closeStdin();
        },
        resize: (h, w) => {
          session.resize(h, w);
        },
        exited: session.exited,
        kill: () => {
          // ctr's end leaves the command in the container: it is killed there too.
          session.kill();
          void this.ctr.run(["tasks", "kill", "--exec-id", execId, "--signal", "SIGKILL", s.containerId]).catch(() => undefined);
        },
      };
    });
  }

  stats(handle: TaskHandle): Promise<TaskStats | null> {
    return promised(async () => {
      const s = mustState(handle);
      const r = await this.ctr.run(["tasks", "metrics", "--format", "json", s.containerId]);
      if (r.code !== 0 || (await this.status(s.containerId)) !== "RUNNING") return null;
      return this.statsOf(s.containerId, JSON.parse(r.stdout) as Metrics);
    });
  }

  close(): Promise<void> {
    this.release(new Error("the containerd driver stopped watching its tasks (the agent is stopping)"));
    return Promise.resolve();
  }

  // ---- internals ----

  private release(err: Error): void {
    clearTimeout(this.poller);
    this.poller = undefined;
    this.stopEvents();
    for (const w of this.waits.values()) w.reject(err);
    this.waits.clear();
  }

  private async defaultSpec(): Promise<OciSpec> {
    this.baseSpec ??= JSON.parse(await this.ctr.ok(["oci", "spec"])) as OciSpec;
    return this.baseSpec;
  }

  /** Every task of the namespace with its status (RUNNING, STOPPED, CREATED, PAUSED, ...). */
  private async tasks(): Promise<Map<string, string>> {
    const out = await this.ctr.ok(["tasks", "ls"]);
    const m = new Map<string, string>();
    for (const line of out.split("\n").slice(1)) {
      const [id, , status] = line.trim().split(/\s+/);
      if (id !== undefined && id !== "" && status !== undefined) m.set(id, status);
    }
    return m;
  }

  /** A task's status, or "" when containerd has no task by that id. */
  private async status(containerId: string): Promise<string> {
    return (await this.tasks()).get(containerId) ?? "";
  }

  /** Resolves true once the task is no longer running (or gone), false after `ms`. */
  private async stopped(containerId: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if ((await this.status(containerId)) !== "RUNNING") return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
  }

  /** Looks at the waited tasks now (again once done, when asked meanwhile), then after a while. */
  private pollNow(): void {
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    clearTimeout(this.poller);
    this.poller = undefined;
    if (this.waits.size === 0) {
      this.stopEvents();
      return;
    }
    this.watchEvents();
    this.polling = true;
    void this.poll().finally(() => {
      this.polling = false;
      if (this.pollAgain) {
        this.pollAgain = false;
        this.pollNow();
        return;
      }
      if (this.waits.size === 0 || this.abort?.aborted === true) {
        this.stopEvents();
        return;
      }
      // containerd's events say when a task exits; the poll is for an exit they did not tell.
      this.poller = setTimeout(() => {
        this.poller = undefined;
        this.pollNow();
      }, this.events === undefined ? POLL_MS : POLL_WITH_EVENTS_MS);
      // Watching does not keep the agent's process up.
      this.poller.unref();
    });
  }

  /** `ctr events` while tasks are waited for: an exit makes the waits look at once. */
  private watchEvents(): void {
    if (this.events !== undefined) return;
    const child = spawn("ctr", ["--address", this.address, "--namespace", this.namespace, "events", `namespace==${this.namespace},topic=="/tasks/exit"`], {
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    this.events = child;
    child.unref();
    (child.stdout as unknown as Socket).unref();
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (chunk.includes("/tasks/exit")) this.pollNow();
    });
    const gone = (): void => {
      if (this.events === child) this.events = undefined;
    };
    child.once("error", gone);
    child.once("exit", gone);
  }

  private stopEvents(): void {
    const child = this.events;
    this.events = undefined;
    child?.kill("SIGTERM");
  }


  /** Looks at the waited tasks once: each that ended is reaped and its wait answered. */
  private async poll(): Promise<void> {
    let tasks: Map<string, string>;
    try {
      tasks = await this.tasks();
    } catch {
      return; // containerd away for a moment: asked again at the next poll.
    }
    for (const [id, w] of [...this.waits]) {
      const status = tasks.get(id);
      if (status === "RUNNING" || status === "CREATED" || status === "PAUSED" || status === "PAUSING") continue;
      try {
        const s = { containerId: id, stateDir: w.stateDir };
        const result = (await this.readExit(s)) ?? (status === "STOPPED" ? await this.reap(s) : { exitCode: -1, signal: 0, oomKilled: false, err: `containerd has no task ${id} any more, and its exit was not recorded` });
        this.waits.delete(id);
        w.resolve(result);
      } catch {
        // Asked again at the next poll.
      }
    }
  }

  /** Deletes an ended task from containerd, recording how it ended first seen there (`ctr tasks delete` says a non-zero exit). */
  private async reap(s: ContainerdState): Promise<ExitResult> {
    const known = await this.readExit(s);
    if (known !== undefined) return known;
    const oom = oomKills(`/${this.namespace}/${s.containerId}`) > 0;
    const r = await this.ctr.run(["tasks", "delete", s.containerId]);
    if (r.code !== 0) throw new Error(`deleting task ${s.containerId}: ${ctrError(r)}`);
    const code = Number(/exit with non-zero exit code (\d+)/.exec(r.stderr)?.[1] ?? 0);
    const result = exitOf(code, oom);
    const file = join(s.stateDir, EXIT_FILE);
    await writeFile(`${file}.new`, JSON.stringify(result));
    await rename(`${file}.new`, file);
    return result;
  }

  private async readExit(s: ContainerdState): Promise<ExitResult | undefined> {
    try {
      return JSON.parse(await readFile(join(s.stateDir, EXIT_FILE), "utf8")) as ExitResult;
    } catch {
      return undefined;
    }
  }

  /** Removes the task's container (and task), and unmounts and removes its root's snapshot; what is not there is fine. */
  private async remove(s: ContainerdState): Promise<void> {
    const tasks = await this.tasks();
    if (tasks.has(s.containerId)) {
      const r = await this.ctr.run(["tasks", "delete", "--force", s.containerId]);
      if (r.code !== 0 && !/not found/.test(r.stderr)) throw new Error(`deleting task ${s.containerId}: ${ctrError(r)}`);
    }
    const c = await this.ctr.run(["containers", "delete", s.containerId]);
    if (c.code !== 0 && !/not found/.test(c.stderr)) throw new Error(`deleting container ${s.containerId}: ${ctrError(c)}`);
    const rootfs = join(s.stateDir, "rootfs");
    const snapshots = await this.ctr.run(["snapshots", "info", rootfs]);
    if (snapshots.code === 0) {
      const u = await this.ctr.run(["images", "unmount", "--rm", rootfs]);
      if (u.code !== 0) throw new Error(`unmounting ${rootfs}: ${ctrError(u)}`);
    }
    // Only an empty dir: were the root still mounted, the image's files would stay.
    await rmdir(rootfs).catch(() => undefined);
  }

  private runExec(containerId: string, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    const max = opts.maxOutputBytes ?? 1024 * 1024;
    const execId = `exec-${randomUUID().slice(0, 12)}`;
    return new Promise((resolve, reject) => {
      const child = spawn("ctr", ["--address", this.address, "--namespace", this.namespace, "tasks", "exec", "--exec-id", execId, containerId, ...cmd], {
        stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      child.stdout?.on("data", (b: Buffer) => {
        if (outLen < max) out.push(b.subarray(0, max - outLen));
        outLen += b.length;
      });
      child.stderr?.on("data", (b: Buffer) => {
        if (errLen < max) err.push(b.subarray(0, max - errLen));
        errLen += b.length;
      });
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(opts.stdin);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        void this.ctr.run(["tasks", "kill", "--exec-id", execId, "--signal", "SIGKILL", containerId]).finally(() => child.kill("SIGKILL"));
      }, opts.timeoutMs);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ exitCode: timedOut ? 137 : (code ?? -1), stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
      });
    });
  }

  private statsOf(id: string, m: Metrics): TaskStats {
    const now = Date.now();
    const v2 = m.cpu?.usage_usec !== undefined;
    const ns = v2 ? (m.cpu?.usage_usec ?? 0) * 1000 : (m.cpu?.usage?.total ?? 0);
    const userNs = v2 ? (m.cpu?.user_usec ?? 0) * 1000 : (m.cpu?.usage?.user ?? 0);
    const sysNs = v2 ? (m.cpu?.system_usec ?? 0) * 1000 : (m.cpu?.usage?.kernel ?? 0);
    const last = this.lastCpu.get(id);
    this.lastCpu.set(id, { ns, at: now });
    const spanMs = last === undefined ? 0 : now - last.at;
    const percent = last === undefined || spanMs <= 0 ? 0 : Math.max(0, ((ns - last.ns) / 1e6 / spanMs) * 100);
    const total = ns > 0 ? ns : 1;
    const speed = cpus()[0]?.speed ?? 0;
    const mhz = speed > 0 ? speed : 1000;
    const mem = m.memory ?? {};
    const rss = v2 ? (mem.anon ?? 0) : (mem.total_rss ?? mem.rss ?? 0);
    const cache = v2 ? (mem.file ?? 0) : (mem.total_cache ?? mem.cache ?? 0);
    const u = mem.usage;
    const usage = typeof u === "number" ? u : (u?.usage ?? 0);
    const maxUsage = typeof u === "object" ? (u.max ?? 0) : 0;
    const throttling = m.cpu?.throttling ?? {};
    return {
      memory: { rss, cache, swap: 0, usage, maxUsage, measured: v2 ? ["RSS", "Cache", "Usage"] : ["RSS", "Cache", "Usage", "Max Usage"] },
      cpu: {
        percent,
        userMode: (percent * userNs) / total,
        systemMode: (percent * sysNs) / total,
        totalTicks: (percent / 100) * mhz,
        throttledPeriods: throttling.throttled_periods ?? m.cpu?.nr_throttled ?? 0,
        throttledTime: throttling.throttled_time ?? (m.cpu?.throttled_usec ?? 0) * 1000,
        measured: ["System Mode", "User Mode", "Percent", "Total Ticks", "Throttled Periods", "Throttled Time"],
      },
      at: now,
    };
  }
}

/** `ctr tasks metrics --format json`: cgroup v1's (`usage.total` in ns) or v2's (`usage_usec`). */
interface Metrics {
  cpu?: {
    usage?: { total?: number; kernel?: number; user?: number };
    throttling?: { throttled_periods?: number; throttled_time?: number };
    usage_usec?: number;
    user_usec?: number;
    system_usec?: number;
    nr_throttled?: number;
    throttled_usec?: number;
  };
  memory?: {
    rss?: number;
    total_rss?: number;
    cache?: number;
    total_cache?: number;
    anon?: number;
    file?: number;
    usage?: { usage?: number; max?: number } | number;
  };
}
