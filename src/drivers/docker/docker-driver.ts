import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { cpus } from "node:os";
import { Agent } from "node:http";
import Dockerode from "dockerode";
import { ErrorCode, silentLogger, sleep, type Logger } from "../../structs/index.js";
import { SIGNALS, type AllocNetwork, type AllocNetworkRequest, type Driver, type DriverFingerprint, type ExecOptions, type ExecResult, type ExecSession, type ExecStreamOptions, type ExitResult, type TaskHandle, type TaskSpec, type TaskStats } from "../driver.js";
import { readConfig, type DockerTaskConfig, type ReadConfigResult } from "./config.js";
import { containerName, createOptions, exitResult, Label, taskDirs } from "./container.js";
import { describeEndpoint, dockerodeOptions, endpointFromEnv, type DockerEndpoint } from "./endpoint.js";
import { DockerError, engineMessage, engineStatus } from "./errors.js";
import { runExec, startExecSession } from "./exec.js";
import { findTaskContainers, type FoundContainer } from "./find.js";
import { loadSecurityOpts, taskFile } from "./host-options.js";
import { ensureImage, loadImage } from "./image.js";
import { closeLogFiles, LogFollower, openLogFiles, type LogFiles } from "./logs.js";
import { createPauseContainer, DEFAULT_INFRA_IMAGE, removePauseContainer } from "./network.js";
import { engineTaskStats, type EngineStats } from "./stats.js";
import { checkVolumeSources } from "./volumes.js";
import { waitNotRunning } from "./wait.js";

export interface DockerDriverOptions {
  /** The engine; by default DOCKER_HOST's, else /var/run/docker.sock. */
  endpoint?: DockerEndpoint;
  /** Where DOCKER_HOST is read when no endpoint is given (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Whether tasks may set `privileged = true` (Nomad's `allow_privileged`; default false). */
  allowPrivileged?: boolean;
  /** Whether tasks' volumes may mount absolute host paths (Nomad's `volumes { enabled }`; default false; see volumes.ts). */
  volumesEnabled?: boolean;
  /**
   * The image of a bridge group's pause container (Nomad's docker plugin `infra_image`;
   * default `DEFAULT_INFRA_IMAGE`; the agent's -docker-infra-image).
   */
  infraImage?: string;
  /** Longest a pull may take (default 5 minutes; a task's `image_pull_timeout` sets its own). */
  pullTimeoutMs?: number;
  /** One core's MHz, which `cpu_hard_limit` turns a task's MHz into a CPU quota with (default: the node's, as fingerprinted). */
  coreMhz?: number;
  /** Longest the engine may stay silent when fingerprinting (default 5 s). */
  fingerprintTimeoutMs?: number;
  /**
   * How often the client fingerprints the driver again, so that its health follows the
   * engine's (default 2 s: each time a ping and a version request).
   */
  fingerprintPeriodMs?: number;
  /** Pause between attempts when the engine stops answering a log follow or a wait (default 1 s). */
  retryMs?: number;
  logger?: Logger;
}

/** What a docker task's handle keeps (`TaskHandle.state`). */
export interface DockerHandleState {
  containerId: string;
  /** The image as the task's config names it. */
  image: string;
  /**
   * Timestamp of the newest output line written to the task's files ("" before any). The
   * driver moves it in place on the handle it returned, so whenever the client saves the
   * handle it saves where to resume following after an agent restart.
   */
  lastLogTime: string;
}

/** The handle state, or null when it does not name a container. Handles are read back from disk: check, don't trust. */
export function readHandleState(state: Record<string, unknown>): DockerHandleState | null {
  const { containerId, image, lastLogTime } = state;
  if (typeof containerId !== "string" || containerId === "") return null;
  return { containerId, image: typeof image === "string" ? image : "", lastLogTime: typeof lastLogTime === "string" ? lastLogTime : "" };
}

/**
 * How long the log follower may write nothing before `wait` and `destroy` stop waiting for a
 * exited container's last output: it is given all the time it needs while it copies.
 */
const LOG_DRAIN_MS = 2000;
/** How long `stop` waits for an exit after SIGKILL before calling the engine stuck. */
const KILL_WAIT_MS = 30_000;

/** What this process knows of a container it started or recovered. */
interface Tracked {
  follower: LogFollower | null;
  exit: Promise<ExitResult> | null;
}

/**
 * Runs tasks as Docker containers, with Nomad's docker driver semantics: one container per
 * task run, named `<task>-<allocId>`, labelled with the task's ids, the task's directories
 * bound at /alloc, /local and /secrets, its ports published on the allocation's host ports,
 * and its output copied into the files the client serves.
 */
export class DockerDriver implements Driver {
  /** "docker"; the podman driver, which speaks to podman's Docker-compatible API with this code, is "podman". */
  readonly name: string = "docker";
  /** The engine as messages name it ("the Docker engine", "the podman service"). */
  protected readonly engineName: string = "the Docker engine";
  /** Host volumes are bind mounts of the container (`volumes.ts`'s `hostVolumeBind`). */
  readonly mountsHostVolumes = true;
  readonly endpoint: DockerEndpoint;
  readonly fingerprintPeriodMs: number;
  /** The engine client, for what the Driver interface does not cover (finding containers). */
  readonly docker: Dockerode;
  /** A client with an idle timeout, for questions that must not hang (fingerprint). */
  private readonly quick: Dockerode;
  /**
   * A client whose every request has a connection of its own, for waits: a wait asked
   * again after an outage must not be sent down a kept-alive connection that died with it.
   */
  private readonly waiter: Dockerode;
  private readonly log: Logger;
  protected readonly allowPrivileged: boolean;
  protected readonly volumesEnabled: boolean;
  private readonly pullTimeoutMs: number;
  private readonly coreMhz: number;
  private readonly infraImage: string;
  private readonly retryMs: number;
  private readonly tasks = new Map<string, Tracked>();
  /** Aborted by `close`: ends followers and the waits in flight. */
  private readonly closing = new AbortController();
  /** What the last fingerprint found: "unknown" before the first. */
  private engine: "unknown" | "up" | "down" = "unknown";
  /** The engine answered a fingerprint once: later failures make the driver unhealthy, not undetected. */
  private detected = false;
  /**
   * Aborted (and replaced) when the engine answers again after an outage: every wait in
   * flight asks the engine again, since its connection may have died with the engine
   * without a word. A container that exited meanwhile is then reported at once.
   */
  private reask = new AbortController();

  constructor(opts: DockerDriverOptions = {}) {
    this.endpoint = opts.endpoint ?? endpointFromEnv(opts.env ?? process.env);
    this.docker = new Dockerode(dockerodeOptions(this.endpoint));
    this.quick = new Dockerode(dockerodeOptions(this.endpoint, opts.fingerprintTimeoutMs ?? 5000));
    // docker-modem takes an `agent` option that dockerode's types leave out.
    const ownConnections = { ...dockerodeOptions(this.endpoint), agent: new Agent({ keepAlive: false }) };
    this.waiter = new Dockerode(ownConnections);
    this.log = opts.logger ?? silentLogger;
    this.allowPrivileged = opts.allowPrivileged ?? false;
    this.volumesEnabled = opts.volumesEnabled ?? false;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? 5 * 60_000;
    this.coreMhz = opts.coreMhz ?? nodeCoreMhz();
    this.infraImage = opts.infraImage ?? DEFAULT_INFRA_IMAGE;
    this.retryMs = opts.retryMs ?? 1000;
    this.fingerprintPeriodMs = opts.fingerprintPeriodMs ?? 2000;
  }

  /**
   * The engine's health, as Nomad's docker driver fingerprints it: an engine that answers is
   * healthy, with its version; one that stops answering leaves the driver detected but
   * unhealthy (undetected if it never answered). When it answers again after an outage,
   * every container this process follows is looked at again (see `reask`).
   */
  async fingerprint(): Promise<DriverFingerprint> {
    let v: Dockerode.DockerVersion;
    try {
      await this.quick.ping();
      v = await this.quick.version();
    } catch (err) {
      const description = `${this.engineName} at ${describeEndpoint(this.endpoint)} does not answer: ${engineMessage(err)}`;
      if (this.engine === "up") this.log.warn({ endpoint: describeEndpoint(this.endpoint), err }, `${this.engineName} stopped answering: the ${this.name} driver is unhealthy`);
      this.engine = "down";
      return { detected: this.detected, healthy: false, description, attributes: {} };
    }
    if (this.engine === "down") {
      this.log.info({ endpoint: describeEndpoint(this.endpoint), containers: this.tasks.size }, `${this.engineName} answers again: looking at every container again`);
      const old = this.reask;
      this.reask = new AbortController();
      old.abort();
    }
    let attributes: Record<string, string>;
    try {
      attributes = await this.engineAttributes(v);
    } catch (err) {
      this.engine = "down";
      return { detected: this.detected, healthy: false, description: `${this.engineName} at ${describeEndpoint(this.endpoint)} does not answer: ${engineMessage(err)}`, attributes: {} };
    }
    this.engine = "up";
    this.detected = true;
    return { detected: true, healthy: true, description: "Healthy", attributes };
  }

  /** The node attributes of a healthy engine (`driver.docker.version`, ...); the podman driver has its own. */
  protected engineAttributes(v: Dockerode.DockerVersion): Promise<Record<string, string>> {
    const attributes: Record<string, string> = {
      "driver.docker": "1",
      "driver.docker.version": v.Version,
      "driver.docker.os_type": v.Os,
      "driver.docker.api_version": v.ApiVersion,
    };
    if (this.volumesEnabled) attributes["driver.docker.volumes.enabled"] = "1";
    if (this.allowPrivileged) attributes["driver.docker.privileged.enabled"] = "1";
    return Promise.resolve(attributes);
  }

  /** Reads a task's config (docker's keys; the podman driver reads the podman plugin's into the same shape). */
  protected readTaskConfig(config: Record<string, unknown>): ReadConfigResult {
    return readConfig(config, { allowPrivileged: this.allowPrivileged, volumesEnabled: this.volumesEnabled });
  }

  /** The container a task asks the engine for (the podman driver adds its own options). */
  protected containerOptions(spec: TaskSpec, cfg: DockerTaskConfig): Dockerode.ContainerCreateOptions {
    return createOptions(spec, cfg, { coreMhz: this.coreMhz });
  }

  validate(config: Record<string, unknown>): string[] {
    const r = this.readTaskConfig(config);
    return r.ok ? [] : r.problems;
  }

  async start(spec: TaskSpec): Promise<TaskHandle> {
    const r = this.readTaskConfig(spec.config);
    if (!r.ok) throw new DockerError(ErrorCode.DockerBadConfig, r.problems.join("; "));
    let cfg = r.config;
    if (cfg.securityOpt !== undefined) cfg = { ...cfg, securityOpt: await loadSecurityOpts(spec, cfg.securityOpt) };
    const opts = this.containerOptions(spec, cfg);
    await checkVolumeSources(spec, cfg.volumes);
    if (cfg.load !== undefined) await loadImage(this.docker, cfg.image, await taskFile(spec, "local", cfg.load, "config.load"), cfg.forcePull);
    else await ensureImage(this.docker, cfg.image, cfg.forcePull, cfg.imagePullTimeoutMs ?? this.pullTimeoutMs, this.log, cfg.auth);
    // The client makes these; making sure here keeps docker from creating them root-owned.
    const dirs = taskDirs(spec);
    await Promise.all([dirs.alloc, dirs.local, dirs.secrets].map((d) => mkdir(d, { recursive: true })));

    const files = await openLogFiles(spec);
    let container: Dockerode.Container;
    try {
      container = await this.create(spec, opts);
      try {
        await container.start();
      } catch (err) {
        // A container that never ran is of no use to anyone; don't leave it for the user to find.
        await container.remove({ force: true, v: true }).catch(() => undefined);
        throw new DockerError(ErrorCode.DockerEngine, `starting container ${containerName(spec)} failed: ${engineMessage(err)}`, { cause: err });
      }
    } catch (err) {
      await closeLogFiles(files);
      throw err;
    }
    const state: DockerHandleState = { containerId: container.id, image: cfg.image, lastLogTime: "" };
    const handle: TaskHandle = { driver: this.name, taskId: spec.id, startedAt: Date.now(), state: { ...state } };
    this.track(container.id).follower = this.follow(handle, container.id, files, cfg.tty === true);
    this.log.debug({ taskId: spec.id, container: container.id }, "container started");
    return handle;
  }

  /**
   * Creates the container. If the name is taken by an earlier run of the same task (a
   * restart, or an agent that died between create and saving the handle), that container is
   * removed and the create repeated; a container that is not this task's is left alone.
   */
  private async create(spec: TaskSpec, opts: Dockerode.ContainerCreateOptions): Promise<Dockerode.Container> {
    const name = containerName(spec);
    try {
      return await this.docker.createContainer(opts);
    } catch (err) {
      if (engineStatus(err) !== 409) throw new DockerError(ErrorCode.DockerEngine, `creating container ${name} failed: ${engineMessage(err)}`, { cause: err });
    }
    const existing = this.docker.getContainer(name);
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await existing.inspect();
    } catch (err) {
      throw new DockerError(ErrorCode.DockerEngine, `container name ${name} is taken and looking it up failed: ${engineMessage(err)}`, { cause: err });
    }
    if (info.Config.Labels[Label.TaskId] !== spec.id) {
      throw new DockerError(ErrorCode.DockerNameTaken, `a container named ${name} already exists and is not this task's (no ${Label.TaskId}=${spec.id} label); remove or rename it`);
    }
    this.log.info({ taskId: spec.id, container: info.Id, state: info.State.Status }, "removing an earlier container of this task");
    this.forget(info.Id);
    try {
      await existing.remove({ force: true, v: true });
      return await this.docker.createContainer(opts);
    } catch (err) {
      throw new DockerError(ErrorCode.DockerEngine, `replacing the earlier container ${name} failed: ${engineMessage(err)}`, { cause: err });
    }
  }

  async recover(handle: TaskHandle, spec: TaskSpec): Promise<boolean> {
    let st = readHandleState(handle.state);
    if (st === null) {
      // The handle lost its container id: the labels still say which container is this task's.
      const newest: FoundContainer | undefined = (await findTaskContainers(this.docker, spec.id))[0];
      if (newest === undefined) return false;
      st = { containerId: newest.id, image: typeof spec.config.image === "string" ? spec.config.image : "", lastLogTime: "" };
    }
    handle.state.containerId = st.containerId;
    handle.state.image = st.image;
    handle.state.lastLogTime = st.lastLogTime;

    const container = this.docker.getContainer(st.containerId);
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      if (engineStatus(err) === 404) return false;
      throw new DockerError(ErrorCode.DockerEngine, `looking up container ${st.containerId.slice(0, 12)} failed: ${engineMessage(err)}`, { cause: err });
    }
    if (info.Config.Labels[Label.TaskId] !== spec.id) {
      this.log.warn({ taskId: spec.id, container: info.Id }, "the handle's container belongs to another task; not recovering it");
      return false;
    }
    const status = info.State.Status;
    if (status === "created" || status === "dead" || status === "removing") {
      // Never ran, or half gone: nothing to find again. Created ones are ours to clear away.
      if (status === "created") await container.remove({ force: true, v: true }).catch(() => undefined);
      return false;
    }
    const t = this.track(info.Id);
    if (t.follower === null) {
      // Also for an exited container: its output since the last saved line is still to copy.
      t.follower = this.follow(handle, info.Id, await openLogFiles(spec), info.Config.Tty);
    }
    return true;
  }

  wait(handle: TaskHandle): Promise<ExitResult> {
    const id = this.containerId(handle);
    const t = this.tasks.get(id);
    if (t === undefined) return this.waitExit(id);
    t.exit ??= this.waitExit(id).then(async (result) => {
      // The client reads the output once it hears of the exit; let the last lines land first.
      await t.follower?.drained(LOG_DRAIN_MS);
      return result;
    });
    return t.exit;
  }

  /**
   * The engine's wait, then inspect for the exit code and OOM flag. A wait whose connection
   * broke (the engine restarted or went away) is asked again, every `retryMs` while the
   * engine does not answer, and at once when a fingerprint finds it back (a connection
   * that hung rather than broke is given up then). A running container is waited for
   * again, never reported exited; one removed under us is reported as lost.
   */
  private async waitExit(id: string): Promise<ExitResult> {
    const container = this.waiter.getContainer(id);
    const lost = (why: string): ExitResult => ({ exitCode: -1, signal: 0, oomKilled: false, err: why });
    let failures = 0;
    for (;;) {
      if (this.closed()) throw new DockerError(ErrorCode.DockerClosed, `the ${this.name} driver was closed while waiting for the task`);
      const attempt = AbortSignal.any([this.closing.signal, this.reask.signal]);
      let status: number | undefined;
      try {
        status = await waitNotRunning(this.waiter, id, attempt);
      } catch (err) {
        if (this.closed()) continue;
        if (engineStatus(err) === 404) return lost(`container ${id.slice(0, 12)} is gone`);
        if (attempt.aborted) {
          // The engine is back: ask again at once.
          failures = 0;
          continue;
        }
        // Once per outage: the retries that follow are debug noise.
        if (failures++ === 0) this.log.warn({ container: id, err }, "waiting for the container failed; asking again until the engine answers");
        else this.log.debug({ container: id, err }, "waiting for the container failed again");
        await sleep(this.retryMs, attempt);
        continue;
      }
      try {
        const info = await container.inspect({ abortSignal: attempt });
        if (info.State.Running) continue;
        return exitResult(info.State);
      } catch (err) {
        if (this.closed()) continue;
        if (status !== undefined) return exitResult({ ExitCode: status, OOMKilled: false });
        if (engineStatus(err) === 404) return lost(`container ${id.slice(0, 12)} is gone`);
      }
    }
  }

  async signal(handle: TaskHandle, signal: string): Promise<void> {
    checkSignal(signal);
    const id = this.containerId(handle);
    try {
      await this.docker.getContainer(id).kill({ signal });
    } catch (err) {
      const status = engineStatus(err);
      if (status === 404 || status === 409) throw new DockerError(ErrorCode.DockerNotRunning, `cannot send ${signal}: ${engineMessage(err)}`, { cause: err });
      throw new DockerError(ErrorCode.DockerEngine, `sending ${signal} failed: ${engineMessage(err)}`, { cause: err });
    }
  }

  /**
   * `signal` through the engine (tini passes it to the task), then SIGKILL if the task is
   * still there after `timeoutMs`. Our own timer rather than the engine's stop, which would
   * send the image's STOPSIGNAL instead of the task's kill_signal.
   */
  async stop(handle: TaskHandle, timeoutMs: number, signal = "SIGTERM"): Promise<void> {
    checkSignal(signal);
    const container = this.docker.getContainer(this.containerId(handle));
    if (!(await this.kill(container, signal))) return;
    if (await this.exitsWithin(container, timeoutMs)) return;
    this.log.debug({ container: container.id, signal, timeoutMs }, "the task outlived its kill timeout; sending SIGKILL");
    if (!(await this.kill(container, "SIGKILL"))) return;
    if (!(await this.exitsWithin(container, KILL_WAIT_MS))) {
      throw new DockerError(ErrorCode.DockerEngine, `container ${container.id.slice(0, 12)} still runs ${KILL_WAIT_MS / 1000}s after SIGKILL`);
    }
  }

  /**
   * Sends a signal; false when there is nothing to signal (gone, or not running). The
   * engine refuses to signal a paused container (409, like a stopped one), so a paused task
   * (someone ran `docker pause`) is resumed first: stop must not report a running task stopped.
   */
  private async kill(container: Dockerode.Container, signal: string, resumed = false): Promise<boolean> {
    try {
      await container.kill({ signal });
      return true;
    } catch (err) {
      const status = engineStatus(err);
      if (status === 404) return false;
      // podman answers a container that is not running with 500 "container state improper".
      if (status === 409 || engineMessage(err).includes("container state improper")) {
        const paused = await container.inspect().then((i) => i.State.Paused, () => false);
        if (!paused) return false;
        if (resumed) throw new DockerError(ErrorCode.DockerEngine, `container ${container.id.slice(0, 12)} is paused and could not be resumed to receive ${signal}`, { cause: err });
        await container.unpause().catch(() => undefined);
        return this.kill(container, signal, true);
      }
      throw new DockerError(ErrorCode.DockerEngine, `sending ${signal} failed: ${engineMessage(err)}`, { cause: err });
    }
  }

  private async exitsWithin(container: Dockerode.Container, ms: number): Promise<boolean> {
    const abortSignal = AbortSignal.any([AbortSignal.timeout(Math.max(0, ms)), this.closing.signal]);
    // The deadline is kept here too, not left to the HTTP client alone: a signal that fires
    // before the request is under way (a loaded machine) would otherwise be missed, and
    // the wait for a task that ignores its kill signal would never end.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"late">((resolve) => {
      timer = setTimeout(() => {
        resolve("late");
      }, Math.max(0, ms));
      abortSignal.addEventListener("abort", () => {
        resolve("late");
      }, { once: true });
    });
    try {
      const won = await Promise.race([container.wait({ condition: "not-running", abortSignal }).then(() => "exited" as const), deadline]);
      return won === "exited";
    } catch (err) {
      if (engineStatus(err) === 404) return true;
      if (abortSignal.aborted) return false;
      throw new DockerError(ErrorCode.DockerEngine, `waiting for container ${container.id.slice(0, 12)} failed: ${engineMessage(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async destroy(handle: TaskHandle): Promise<void> {
    const id = this.containerId(handle);
    // Removing the container ends its log stream: the follower copies what is left first.
    await this.tasks.get(id)?.follower?.drained(LOG_DRAIN_MS);
    const follower = this.forget(id);
    try {
      // v: the image's anonymous volumes go with it, as with `docker rm -v`.
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = engineStatus(err);
      // 409: a removal is already under way.
      if (status !== 404 && status !== 409) throw new DockerError(ErrorCode.DockerEngine, `removing container ${id.slice(0, 12)} failed: ${engineMessage(err)}`, { cause: err });
    }
    await follower?.done;
  }

  async exec(handle: TaskHandle, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    if (cmd.length === 0) throw new DockerError(ErrorCode.DockerBadConfig, "exec needs a command");
    const container = this.docker.getContainer(this.containerId(handle));
    return runExec({ container, sameHost: this.endpoint.kind === "unix", log: this.log }, cmd, opts);
  }

  /** The engine's one-shot stats of the task's container (it reads the CPU twice, a second apart); null when the container is not running. */
  async stats(handle: TaskHandle): Promise<TaskStats | null> {
    const container = this.docker.getContainer(this.containerId(handle));
    let raw: EngineStats;
    try {
      raw = await this.engineStats(container);
    } catch (err) {
      if (engineStatus(err) === 404) return null;
      throw new DockerError(ErrorCode.DockerEngine, `reading the stats of container ${this.containerId(handle).slice(0, 12)} failed: ${engineMessage(err)}`, { cause: err });
    }
    // A stopped container's answer is all zeros, its read time Go's zero time.
    if (raw.read === undefined || raw.read.startsWith("0001-")) return null;
    const [core] = cpus();
    return engineTaskStats(raw, core === undefined || core.speed <= 0 ? 1000 : core.speed, Date.now());
  }

  /** The engine's one-shot stats of a container (podman's want an earlier reading added: see the podman driver). */
  protected async engineStats(container: Dockerode.Container): Promise<EngineStats> {
    return container.stats({ stream: false });
  }

  /** An interactive `docker exec` in the task's container, with a terminal when asked. */
  async execStreaming(handle: TaskHandle, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    if (cmd.length === 0) throw new DockerError(ErrorCode.DockerBadConfig, "exec needs a command");
    const container = this.docker.getContainer(this.containerId(handle));
    return startExecSession({ container, sameHost: this.endpoint.kind === "unix", log: this.log }, cmd, opts);
  }

  /** This task run's containers (by the `com.ruche.task_id` label), newest first: for a client that lost its handle. */
  findTaskContainers(taskId: string): Promise<FoundContainer[]> {
    return findTaskContainers(this.docker, taskId);
  }

  /**
   * A bridge group's shared network: the pause container `nomad_init_<allocId>` (as Nomad's
   * docker driver makes it), with the allocation's ports published on it; found again when
   * it is there already (`network.ts`).
   */
  createNetwork(req: AllocNetworkRequest): Promise<AllocNetwork> {
    return createPauseContainer(this.docker, req, this.infraImage, this.pullTimeoutMs, this.log);
  }

  destroyNetwork(allocId: string): Promise<void> {
    return removePauseContainer(this.docker, allocId);
  }

  /**
   * Stops following output and ends the waits in flight (they reject with a Closed error,
   * never a made-up exit). Containers keep running: after a restart `recover` finds them.
   */
  async close(): Promise<void> {
    this.closing.abort();
    const done = [...this.tasks.values()].flatMap((t) => {
      t.follower?.stop();
      return t.follower === null ? [] : [t.follower.done];
    });
    this.tasks.clear();
    await Promise.all(done);
  }

  /** A method, not a property read: it changes across awaits, and narrowing must not assume otherwise. */
  private closed(): boolean {
    return this.closing.signal.aborted;
  }

  private containerId(handle: TaskHandle): string {
    const st = readHandleState(handle.state);
    if (handle.driver !== this.name || st === null) {
      throw new DockerError(ErrorCode.DockerBadHandle, `the handle of task ${handle.taskId} is not a docker container's (driver ${handle.driver})`);
    }
    return st.containerId;
  }

  private track(id: string): Tracked {
    let t = this.tasks.get(id);
    if (t === undefined) {
      t = { follower: null, exit: null };
      this.tasks.set(id, t);
    }
    return t;
  }

  /** Stops following a container and drops what we know of it; returns the follower to await. */
  private forget(id: string): LogFollower | null {
    const t = this.tasks.get(id);
    this.tasks.delete(id);
    t?.follower?.stop();
    return t?.follower ?? null;
  }

  private follow(handle: TaskHandle, id: string, files: LogFiles, tty: boolean): LogFollower {
    return LogFollower.follow(
      {
        container: this.docker.getContainer(id),
        after: typeof handle.state.lastLogTime === "string" ? handle.state.lastLogTime : "",
        progress: (ts) => {
          handle.state.lastLogTime = ts;
        },
        log: this.log,
        retryMs: this.retryMs,
        tty,
      },
      files,
    );
  }
}

/** One core's MHz as the node's fingerprint reads it: the OS's figure, else the CPU's top frequency, else 2000. */
function nodeCoreMhz(): number {
  const fromOs = cpus()[0]?.speed ?? 0;
  if (fromOs > 0) return Math.round(fromOs);
  try {
    return Math.round(Number(readFileSync("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "utf8").trim()) / 1000) || 2000;
  } catch {
    return 2000;
  }
}

function checkSignal(signal: string): void {
  if (!(signal in SIGNALS)) {
    throw new DockerError(ErrorCode.DockerBadSignal, `unknown signal "${signal}"; use one of ${Object.keys(SIGNALS).join(", ")}`);
  }
}
