import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Driver } from "../drivers/index.js";
import type { ApiClient } from "../apiclient/index.js";
import { clientTerminal, DEFAULT_IDENTITY_NAME, ErrorCode, errorCode, errorMessage, signedIdentityKey, sleep, VivaldiClient, type Allocation, type Coordinate, type CoordinateSample, type AllocUpdate, type HostVolume, type HostVolumeReport, HostVolumeState, type Logger, type Node, type Task, MKDIR_PLUGIN, pluginAttribute, type ClientHostVolumeConfig } from "../structs/index.js";
import { AllocRunner, type AllocReport, type SavedAlloc } from "./alloc-runner.js";
import { fingerprint, withDriverFingerprint, type FingerprintConfig, type NodeIdentity } from "./fingerprint.js";
import { settleStopped } from "./settle.js";
import { DynamicHostVolumes, MKDIR_PLUGIN_VERSION } from "./dynamic-volumes.js";
import { CniConfigurator } from "./cni/index.js";
import type { CheckStatusUpdate, ClientTransport } from "./transport.js";
import { apiTemplateSource, type TemplateSource } from "./template/index.js";

export interface ClientConfig extends Omit<FingerprintConfig, "name"> {
  /** Client state under `<dataDir>/client`, allocation directories under `<dataDir>/alloc`. */
  dataDir: string;
  /** Node name; the host name when empty. */
  name: string;
  drivers: readonly Driver[];
  log: Logger;
  /**
   * The cluster's API as a task's templates read it, sending the given token (the task's
   * workload identity); absent: a task's templates that read the cluster wait.
   */
  templateApi?: (token: string | undefined) => ApiClient;
  /** Where the "mkdir" plugin makes dynamic host volumes (Nomad's `host_volumes_dir`); default `<dataDir>/host_volumes`. */
  hostVolumesDir?: string;
}

/** A task's templates read the cluster as the task's default workload identity, in its allocation's namespace (Nomad's template hook). */
function templateSourceFor(api: (token: string | undefined) => ApiClient): (alloc: Allocation, task: Task) => TemplateSource {
  return (alloc, task) => apiTemplateSource(api(alloc.SignedIdentities?.[signedIdentityKey(task.Name, DEFAULT_IDENTITY_NAME)]), alloc.Namespace);
}

/** How long the client batches status reports before sending them. */
const REPORT_BATCH_MS = 20;

/**
 * The node agent: registers this machine with a fingerprint, heartbeats, follows its
 * allocations with blocking queries and runs each with an `AllocRunner`. Its node
 * identity and the handles of its tasks are kept in its data dir, so that a new agent
 * process registers as the same node and finds its running tasks again instead of
 * starting them twice.
 */
export class Client {
  private readonly abort = new AbortController();
  private readonly runners = new Map<string, AllocRunner>();
  /** Stopped allocations with no runner here, made sure of and reported complete (see `settle`). */
  private readonly settled = new Set<string>();
  private readonly pending = new Map<string, AllocReport>();
  private flushing: Promise<void> | null = null;
  /** The report being sent: the next waits for its answer (see `flush`). */
  private sending: Promise<void> = Promise.resolve();
  /** The wait before reports the servers could not take are sent again (ms): 1 s, doubling to 10 s; 0 after a success. */
  private retryDelay = 0;
  private readonly saves = new Map<string, { writing: boolean; next: string | null; last: string }>();
  private loops: Promise<void>[] = [];
  private ttl = 10_000;
  /** This node's network coordinate (Consul's), moved on each heartbeat's round trip. */
  private readonly vivaldi = new VivaldiClient();
  private lastRttMs: number | undefined;
  private node!: Node;
  private volumes!: DynamicHostVolumes;
  private readonly drivers: ReadonlyMap<string, Driver>;
  /** The node's CNI networks (the agent's cni_path and cni_config_dir); absent: none. */
  private readonly cni: CniConfigurator | undefined;

  constructor(
    private readonly transport: ClientTransport,
    private readonly cfg: ClientConfig,
  ) {
    this.drivers = new Map(cfg.drivers.map((d) => [d.name, d]));
    // Each attachment's result is kept under the data dir, as libcni's cache, for its DEL after a restart.
    this.cni = cfg.cni === undefined ? undefined : new CniConfigurator({ path: [...cfg.cni.path], configDir: cfg.cni.configDir, cacheDir: join(cfg.dataDir, "client", "cni") }, cfg.log);
    // Every request and wait of the agent listens to its stop signal: many at once is normal.
    setMaxListeners(0, this.abort.signal);
  }

  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  get nodeId(): string {
    return this.node.ID;
  }

  /** Sends its servers statuses of checks of services registered directly on this node (the agent's probes, on a server that does not lead). */
  async reportChecks(updates: CheckStatusUpdate[]): Promise<void> {
    if (this.transport.updateChecks === undefined) throw new Error("this node's line to its servers carries no check statuses");
    await this.transport.updateChecks(this.node.ID, this.node.SecretID, updates);
  }

  get stateDir(): string {
    return join(this.cfg.dataDir, "client");
  }

  /** Registers, finds the tasks it ran before a restart, and starts following its allocations. */
  async start(): Promise<void> {
    // The node's secret and its allocations' state: the agent's user's alone.
    await mkdir(join(this.stateDir, "allocs"), { recursive: true, mode: 0o700 });
    await mkdir(join(this.cfg.dataDir, "alloc"), { recursive: true });
    const id = await this.identity();
    this.node = await fingerprint(id, { ...this.cfg, name: this.cfg.name === "" ? hostname() : this.cfg.name }, this.cfg.drivers);
    this.volumes = new DynamicHostVolumes(this.cfg.hostVolumesDir ?? join(this.cfg.dataDir, "host_volumes"), this.stateDir);
    this.node = withDynamicVolumes(this.node, await this.volumes.restore());
    await this.restore();
    await this.register();
    this.loops = [this.heartbeats(), this.follow(), this.followVolumes()];
    for (const d of this.cfg.drivers) if (d.fingerprintPeriodMs !== undefined) this.loops.push(this.watchDriver(d, d.fingerprintPeriodMs));
  }

  /**
   * Stops following. With `stopTasks`, every task is stopped and its directory removed (a
   * dev agent whose data dir goes away with it); otherwise the tasks go on running and
   * the next agent on this data dir picks them up.
   */
  async stop(opts: { stopTasks: boolean }): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
    if (opts.stopTasks) await Promise.allSettled([...this.runners.values()].map((r) => r.destroy("the agent is stopping and takes its tasks with it")));
    else for (const r of this.runners.values()) r.detach();
    await this.flush();
    await Promise.allSettled([...this.saves.keys()].map((id) => this.waitSaved(id)));
    // What the drivers follow of the tasks left running (a container's log stream, its wait)
    // would keep the process from ending: they let go once the last report is sent and saved.
    await Promise.allSettled(this.cfg.drivers.map((d) => d.close?.() ?? Promise.resolve()));
  }

  // --- dynamic host volumes (`volume create|register|delete`, pulled from the servers) ----

  /**
   * Follows the node's dynamic host volumes as the servers have them (a blocking query, as the
   * allocations): each `pending` one is made with its plugin (or, registered, its path
   * checked) and offered, each `deleted` one taken away, and what came of each is reported.
   * On its first answer it logs the volumes kept here that the servers no longer have: they
   * are left as they are (data is never deleted on a guess).
   */
  private async followVolumes(): Promise<void> {
    const t = this.transport;
    if (t.hostVolumes === undefined || t.reportHostVolumes === undefined) return;
    const signal = this.abort.signal;
    let index = 0;
    let first = true;
    while (!signal.aborted) {
      try {
        const got = await t.hostVolumes(this.node.ID, this.node.SecretID, index, 5 * 60_000, signal);
        if (first) {
          const known = new Set(got.volumes.map((v) => v.ID));
          for (const k of await this.volumes.keptAll()) {
            if (!known.has(k.ID)) this.cfg.log.warn({ volumeId: k.ID, name: k.Name, path: k.HostPath }, "a dynamic host volume kept on this node is not in the servers' state: left as it is, offered no more when its directory goes");
          }
          first = false;
        }
        const reports: HostVolumeReport[] = [];
        for (const v of got.volumes) {
          if (v.State === HostVolumeState.Pending) reports.push(await this.makeVolume(v));
          else if (v.State === HostVolumeState.Deleted) reports.push(await this.removeVolume(v));
        }
        if (reports.length > 0) await t.reportHostVolumes(this.node.ID, this.node.SecretID, reports);
        index = got.index < index ? 0 : got.index;
      } catch (err) {
        if (this.stopped()) return;
        this.cfg.log.warn({ err }, "following the node's host volumes failed");
        await sleep(1000, signal);
      }
    }
  }

  /** Makes (or, registered, checks) a pending volume and offers it: what to report. */
  private async makeVolume(vol: HostVolume): Promise<HostVolumeReport> {
    const at = { ID: vol.ID, Namespace: vol.Namespace };
    try {
      const kept = await this.volumes.kept(vol.ID);
      if (kept === undefined ? vol.HostPath === "" : kept.Created) {
        const made = await this.volumes.create(vol);
        await this.offer(vol, made.HostPath);
        return { ...at, HostPath: made.HostPath, CapacityBytes: made.CapacityBytes };
      }
      await this.volumes.register(vol);
      await this.offer(vol, vol.HostPath);
      return { ...at, HostPath: vol.HostPath, CapacityBytes: vol.CapacityBytes };
    } catch (err) {
      this.cfg.log.warn({ err, volumeId: vol.ID }, "making a dynamic host volume failed");
      return { ...at, Error: errorMessage(err) };
    }
  }

  /** Takes a volume marked deleted away (its directory too, when the plugin made it): what to report. */
  private async removeVolume(vol: HostVolume): Promise<HostVolumeReport> {
    const at = { ID: vol.ID, Namespace: vol.Namespace };
    try {
      const { [vol.Name]: gone, ...rest } = this.node.HostVolumes ?? {};
      if (gone !== undefined && gone.ID === vol.ID) {
        this.node = { ...this.node, HostVolumes: rest };
        await this.register();
      }
      await this.volumes.delete(vol);
      return at;
    } catch (err) {
      this.cfg.log.warn({ err, volumeId: vol.ID }, "deleting a dynamic host volume failed");
      return { ...at, Error: errorMessage(err) };
    }
  }

  private async offer(vol: HostVolume, path: string): Promise<void> {
    const there = this.node.HostVolumes?.[vol.Name];
    if (there !== undefined && there.ID !== vol.ID) throw new Error(`this node already offers a host volume named ${JSON.stringify(vol.Name)}`);
    this.node = withDynamicVolumes(this.node, { [vol.Name]: { Name: vol.Name, Path: path, ReadOnly: false, ID: vol.ID } });
    await this.register();
  }

  allocIds(): string[] {
    return [...this.runners.keys()];
  }

  runner(allocId: string): AllocRunner | undefined {
    return this.runners.get(allocId);
  }

  // --- identity and registration -------------------------------------------------------

  private async identity(): Promise<NodeIdentity> {
    const file = join(this.stateDir, "node.json");
    try {
      const v = JSON.parse(await readFile(file, "utf8")) as Partial<NodeIdentity>;
      if (typeof v.ID === "string" && typeof v.SecretID === "string") return { ID: v.ID, SecretID: v.SecretID };
    } catch {
      // First start on this data dir.
    }
    const id = { ID: randomUUID(), SecretID: randomUUID() };
    await atomicWrite(file, JSON.stringify(id));
    return id;
  }

  private async register(): Promise<void> {
    for (;;) {
      try {
        this.ttl = (await this.transport.register(this.node)).HeartbeatTTL;
        this.cfg.log.info({ nodeId: this.node.ID }, "node registered");
        this.resendAll();
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.cfg.log.warn({ err }, "registering with the servers failed; retrying");
        await sleep(1000, this.abort.signal);
      }
    }
  }

  private async heartbeats(): Promise<void> {
    const signal = this.abort.signal;
    let failing = false;
    while (!signal.aborted) {
      await sleep(Math.max(100, this.ttl / 2), signal);
      if (this.stopped()) return;
      try {
        const sent = performance.now();
        const answer = await this.transport.heartbeat(this.node.ID, this.node.SecretID, this.coordinateSample());
        this.ttl = answer.HeartbeatTTL;
        this.measured(answer.Coord, performance.now() - sent);
        // Back after missed heartbeats: the servers may hold the allocations unknown, and reports sent meanwhile were lost.
        if (failing) this.resendAll();
        failing = false;
      } catch (err) {
        failing = true;
        if (errorCode(err) === ErrorCode.NodeNotRegistered) await this.register();
        else this.cfg.log.warn({ err }, "heartbeat failed");
      }
    }
  }

  /** The coordinate and last round trip this node sends with its next heartbeat; none before the first answer. */
  private coordinateSample(): CoordinateSample | undefined {
    if (this.lastRttMs === undefined) return undefined;
    return { Coord: this.vivaldi.coordinate(), RTTMs: this.lastRttMs };
  }

  /** A heartbeat's round trip to the server that answered, and that server's coordinate: this node's coordinate moves against it (Consul's Vivaldi). */
  private measured(server: Coordinate | undefined, rttMs: number): void {
    if (server === undefined) return;
    const r = this.vivaldi.update("server", server, rttMs);
    if (!r.ok) {
      this.cfg.log.warn({ problem: r.reason }, "the server's coordinate or the heartbeat's round trip was refused; this node's coordinate did not move");
      return;
    }
    this.lastRttMs = rttMs;
  }

  /** Every allocation's state reported again, changed or not. */
  private resendAll(): void {
    for (const r of this.runners.values()) r.resend();
  }

  /**
   * Fingerprints a driver again every `periodMs` and, when what the servers see of it
   * changed (its health above all: the Docker engine stopped answering, or answers again),
   * sends them the node (a registration again, as Nomad's client does): the scheduler then
   * places no task of an unhealthy driver here, and does again once it is healthy.
   */
  private async watchDriver(d: Driver, periodMs: number): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await sleep(periodMs, signal);
      if (this.stopped()) return;
      const f = await d.fingerprint();
      const next = withDriverFingerprint(this.node, d.name, f);
      if (next === null) continue;
      const was = this.node.Drivers[d.name];
      this.node = next;
      if (was?.Healthy === true && !f.healthy) this.cfg.log.warn({ driver: d.name, health: f.description }, "driver unhealthy: no more of its tasks are placed on this node until it is healthy again");
      else if (was?.Healthy !== true && f.healthy) this.cfg.log.info({ driver: d.name }, "driver healthy again");
      else this.cfg.log.info({ driver: d.name, healthy: f.healthy, health: f.description }, "driver fingerprint changed");
      await this.register();
    }
  }

  // --- allocations ------------------------------------------------------------------

  private async follow(): Promise<void> {
    const signal = this.abort.signal;
    let index = 0;
    while (!signal.aborted) {
      let got: { index: number; allocs: readonly Allocation[] };
      try {
        got = await this.transport.allocations(this.node.ID, this.node.SecretID, index, 30_000, signal);
      } catch (err) {
        if (this.stopped()) return;
        this.cfg.log.warn({ err }, "fetching allocations failed");
        await sleep(500, signal);
        continue;
      }
      if (got.index < index) index = 0;
      else index = got.index;
      await this.reconcile(got.allocs);
    }
  }

  private async reconcile(allocs: readonly Allocation[]): Promise<void> {
    const seen = new Set<string>();
    const starting: Promise<void>[] = [];
    for (const a of allocs) {
      seen.add(a.ID);
      const r = this.runners.get(a.ID);
      if (r !== undefined) {
        if (changedForClient(r.alloc, a)) r.update(a);
        // The servers marked it unknown while they did not hear from this node: tell them how it is.
        if (a.ClientStatus === "unknown" && a.DesiredStatus === "run") r.resend();
        continue;
      }
      if (a.DesiredStatus !== "run" && !clientTerminal(a.ClientStatus) && !this.settled.has(a.ID)) {
        this.settled.add(a.ID);
        void this.settle(a);
      }
      if (a.DesiredStatus !== "run" || clientTerminal(a.ClientStatus)) continue;
      // New allocations start side by side: a count of 50 should not wait in line. One that
      // replaces an allocation of this node starts its tasks once that one's are gone, as
      // Nomad's client waits for a local previous allocation: the two never hold a port at once.
      starting.push(this.run(a, undefined, this.runners.get(a.PreviousAllocation)?.gone()));
    }
    await Promise.all(starting);
    for (const id of this.settled) if (!seen.has(id)) this.settled.delete(id);
    // Allocations the servers forgot (garbage collected): nothing of them stays here.
    for (const [id, r] of this.runners) {
      if (seen.has(id)) continue;
      this.runners.delete(id);
      void r.destroy("the servers no longer know the allocation").then(() => this.forget(id));
    }
  }

  /**
   * An allocation the servers told to stop that has no runner here (stopped before this agent
   * heard of it, or its saved state lost): what a driver still runs of it is stopped and
   * removed, and it is reported complete — until then the servers keep its ports for it.
   */
  private async settle(a: Allocation): Promise<void> {
    const found = await settleStopped(a, { node: this.node, drivers: this.drivers, allocRoot: join(this.cfg.dataDir, "alloc"), log: this.cfg.log, ...(this.cni === undefined ? {} : { cni: this.cni }) });
    const now = Date.now();
    const TaskStates = Object.fromEntries(Object.entries(a.TaskStates).map(([name, s]) => [name, s.State === "dead" ? s : { ...s, State: "dead" as const, FinishedAt: now }]));
    this.queue({ ID: a.ID, ClientStatus: "complete", ClientDescription: found > 0 ? "stopped by an agent that had lost track of it" : "stopped before it ran on this node", TaskStates, Checks: [] });
  }

  private async run(a: Allocation, saved?: SavedAlloc, after?: Promise<void>): Promise<void> {
    let r: AllocRunner;
    try {
      r = new AllocRunner(a, this.runnerDeps(), saved);
    } catch (err) {
      this.queue({ ID: a.ID, ClientStatus: "failed", ClientDescription: errorMessage(err), TaskStates: {}, Checks: [] });
      return;
    }
    this.runners.set(a.ID, r);
    try {
      await r.start(after);
    } catch (err) {
      this.cfg.log.error({ allocId: a.ID, err }, "starting the allocation failed");
      this.queue({ ID: a.ID, ClientStatus: "failed", ClientDescription: `setting up the allocation failed: ${errorMessage(err)}`, TaskStates: {}, Checks: [] });
    }
  }

  private runnerDeps(): ConstructorParameters<typeof AllocRunner>[1] {
    return {
      node: this.node,
      drivers: this.drivers,
      allocRoot: join(this.cfg.dataDir, "alloc"),
      report: (r) => {
        this.queue(r);
      },
      save: (s) => {
        this.save(s);
      },
      log: this.cfg.log,
      now: () => Date.now(),
      random: () => Math.random(),
      ...(this.cfg.templateApi === undefined ? {} : { templateSource: templateSourceFor(this.cfg.templateApi) }),
      ...(this.cni === undefined ? {} : { cni: this.cni }),
    };
  }

  /** The allocations of the last agent process on this data dir: their tasks are found again. */
  private async restore(): Promise<void> {
    const dir = join(this.stateDir, "allocs");
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".json")) continue;
      let saved: SavedAlloc;
      try {
        saved = JSON.parse(await readFile(join(dir, name), "utf8")) as SavedAlloc;
      } catch (err) {
        this.cfg.log.warn({ file: name, err }, "unreadable allocation state; ignored");
        continue;
      }
      this.cfg.log.info({ allocId: saved.alloc.ID }, "restoring allocation");
      await this.run(saved.alloc, saved);
    }
  }

  // --- reports and local state ---------------------------------------------------------

  private queue(r: AllocReport): void {
    this.pending.set(r.ID, r);
    this.flushing ??= sleep(REPORT_BATCH_MS).then(() => this.flush());
  }

  /**
   * Sends what is queued, one report at a time: a report goes once the one before has its
   * answer. Sent side by side, an older status of an allocation (pending) held up at a
   * server that dies, and sent again, could land after a newer one (running) that went
   * through another server, and put the allocation back to pending.
   */
  private flush(): Promise<void> {
    const next = this.sending.then(() => this.flushNow());
    this.sending = next.catch(() => undefined);
    return next;
  }

  private async flushNow(): Promise<void> {
    const batch: AllocUpdate[] = [...this.pending.values()];
    this.pending.clear();
    this.flushing = null;
    if (batch.length === 0) return;
    const again: AllocUpdate[] = [];
    try {
      await this.transport.updateAllocs(this.node.ID, this.node.SecretID, batch);
      this.retryDelay = 0;
    } catch (err) {
      if (batch.length > 1 && !worthRetrying(err)) {
        // One allocation the servers no longer know spoils the batch: send the others alone.
        for (const u of batch) {
          await this.transport.updateAllocs(this.node.ID, this.node.SecretID, [u]).catch((e: unknown) => {
            if (worthRetrying(e)) again.push(u);
          });
        }
      } else {
        this.cfg.log.warn({ err, allocs: batch.length }, worthRetrying(err) ? "reporting allocation status failed; sending it again" : "reporting allocation status failed");
        if (worthRetrying(err)) again.push(...batch);
      }
    }
    // No server took them (none answered, no leader now): they go again, unless a newer
    // report of the same allocation is waiting, as Nomad's client keeps its updates until
    // a server acknowledges them.
    if (again.length === 0 || this.abort.signal.aborted) return;
    for (const u of again) if (!this.pending.has(u.ID)) this.pending.set(u.ID, u as AllocReport);
    this.retryDelay = Math.min(10_000, this.retryDelay === 0 ? 1000 : this.retryDelay * 2);
    this.flushing ??= sleep(this.retryDelay).then(() => this.flush());
  }

  private save(s: SavedAlloc): void {
    const id = s.alloc.ID;
    const slot = this.saves.get(id) ?? { writing: false, next: null, last: "" };
    this.saves.set(id, slot);
    const text = JSON.stringify(s);
    if (text === slot.last) return;
    slot.last = text;
    slot.next = text;
    if (slot.writing) return;
    slot.writing = true;
    void (async () => {
      while (slot.next !== null) {
        const v = slot.next;
        slot.next = null;
        await atomicWrite(join(this.stateDir, "allocs", `${id}.json`), v).catch((err: unknown) => {
          this.cfg.log.error({ allocId: id, err }, "saving allocation state failed");
        });
      }
      slot.writing = false;
    })();
  }

  private async waitSaved(id: string): Promise<void> {
    while (this.saves.get(id)?.writing === true) await sleep(5);
  }

  private async forget(id: string): Promise<void> {
    await this.waitSaved(id);
    this.saves.delete(id);
    await rm(join(this.stateDir, "allocs", `${id}.json`), { force: true });
  }
}

/** Whether the servers changed something the runner acts on (not just our own reports echoed back). */
function changedForClient(cur: Allocation, next: Allocation): boolean {
  return (
    cur.DesiredStatus !== next.DesiredStatus ||
    cur.Job.Version !== next.Job.Version ||
    cur.Job.JobModifyIndex !== next.Job.JobModifyIndex ||
    cur.DeploymentID !== next.DeploymentID ||
    (cur.DeploymentStatus?.Canary ?? false) !== (next.DeploymentStatus?.Canary ?? false) ||
    // A renewed workload identity (a named one with a ttl): its file is written again.
    JSON.stringify(cur.SignedIdentities ?? {}) !== JSON.stringify(next.SignedIdentities ?? {})
  );
}

/** The node with dynamic host volumes added beside its static ones, and the "mkdir" plugin's attribute (Nomad's fingerprint). */
function withDynamicVolumes(node: Node, volumes: Record<string, ClientHostVolumeConfig>): Node {
  const all = { ...(node.HostVolumes ?? {}), ...volumes };
  return { ...node, Attributes: { ...node.Attributes, [pluginAttribute(MKDIR_PLUGIN)]: MKDIR_PLUGIN_VERSION }, ...(Object.keys(all).length === 0 ? {} : { HostVolumes: all }) };
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** Whether a report the servers did not take may be taken later: not one they refused for what it says (an allocation they do not know, a secret that does not match). */
function worthRetrying(err: unknown): boolean {
  const code = errorCode(err);
  return !(code === ErrorCode.NotFound || code === ErrorCode.Forbidden || code === ErrorCode.BadRequest || code === ErrorCode.Conflict);
}
