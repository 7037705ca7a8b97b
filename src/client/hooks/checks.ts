import { isDeepStrictEqual } from "node:util";
import { allocModeAddress, NS, type Service, type ServiceCheck, type Task, type TaskGroup } from "../../structs/index.js";
import { CheckState, probe, type CheckStatus, type CheckTarget, type ScriptRunner } from "../checks.js";
import { allocPorts, interpolate, taskEnv } from "../env.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/** The status of one service check of the allocation, for health and the catalog. */
export interface CheckReport {
  service: string;
  check: string;
  task: string;
  status: CheckStatus;
  output: string;
  /** A group service's check (its task is the one it runs beside). */
  group: boolean;
  /** The check's `on_update` ("require_healthy", "ignore_warnings", "ignore"). */
  onUpdate: string;
  /** The last probe's HTTP status code (0: none) and time (Unix ms; 0: not probed yet). */
  statusCode: number;
  checkedAt: number;
}

interface RunningCheck {
  key: string;
  service: string;
  task: string;
  group: boolean;
  check: ServiceCheck;
  /** The check's port label, or else its service's. */
  portLabel: string;
  state: CheckState;
  timer: NodeJS.Timeout | null;
  /** A probe is under way (a slow one is not started again). */
  running: boolean;
}

/**
 * Service checks: the checks of the group's services and of its tasks' services, each
 * probed every `interval` while its task runs (http, tcp, script inside the task through
 * the driver's exec; ttl checks are not probed), with thresholds against flapping. A job
 * updated in place keeps the state of a check defined as before, starts a changed one
 * afresh and stops a removed one. Checks stop when the allocation is being stopped.
 */
export class ChecksHook implements AllocHook {
  readonly name = "checks";
  private checks: RunningCheck[] = [];
  /** The group definition the checks were made from; null before prerun. */
  private group: TaskGroup | null = null;
  private stopping = false;
  private closed = false;

  constructor(private readonly ctx: AllocHookContext) {}

  prerun(): Promise<void> {
    this.group = this.ctx.group();
    this.checks = this.checksOf(this.group);
    return Promise.resolve();
  }

  changed(): void {
    this.sync();
  }

  /** Updated in place (tags, checks, meta): the checks follow the new definition. */
  update(): void {
    const next = this.ctx.group();
    if (this.group === null || next === this.group) return;
    this.group = next;
    const old = new Map(this.checks.map((c) => [c.key, c]));
    this.checks = this.checksOf(next).map((c) => {
      const prev = old.get(c.key);
      if (prev === undefined || !isDeepStrictEqual(prev.check, c.check) || prev.portLabel !== c.portLabel || prev.task !== c.task) return c;
      old.delete(c.key);
      return prev;
    });
    for (const c of old.values()) stopTimer(c);
    this.sync();
  }

  prekill(): void {
    this.stopping = true;
    this.sync();
  }

  shutdown(): void {
    this.closed = true;
    for (const c of this.checks) stopTimer(c);
  }

  reports(): CheckReport[] {
    return this.checks.map((c) => ({
      service: c.service,
      check: c.check.Name,
      task: c.task,
      status: c.state.status,
      output: c.state.output,
      group: c.group,
      onUpdate: c.check.OnUpdate ?? "require_healthy",
      statusCode: c.state.statusCode,
      checkedAt: c.state.checkedAt,
    }));
  }

  /**
   * Whether every check counts as passing for the deployment's health (true when there is
   * none), by its `on_update`: "require_healthy" (the default) passing, "ignore_warnings"
   * passing or warning, "ignore" whatever its state.
   */
  allPassing(): boolean {
    return this.checks.every((c) => {
      switch (c.check.OnUpdate) {
        case "ignore":
          return true;
        case "ignore_warnings":
          return c.state.status !== "critical";
        default:
          return c.state.status === "passing";
      }
    });
  }

  /** The checks a group defines, on its tasks' services and its own. */
  private checksOf(tg: TaskGroup): RunningCheck[] {
    const out: RunningCheck[] = [];
    for (const task of tg.Tasks) for (const s of task.Services) this.addChecks(out, tg, s, task, false);
    for (const s of tg.Services) this.addChecks(out, tg, s, tg.Tasks.find((t) => t.Name === s.TaskName) ?? tg.Tasks[0], true);
    return out;
  }

  private addChecks(out: RunningCheck[], tg: TaskGroup, s: Service, task: Task | undefined, group: boolean): void {
    if (task === undefined) return;
    const node = this.ctx.node;
    const env = taskEnv(this.ctx.alloc(), tg, task, node, { alloc: "", local: "", secrets: "" });
    const service = interpolate(s.Name, { env, node });
    for (const check of s.Checks) {
      out.push({
        key: `${service}/${check.Name}`,
        service,
        task: task.Name,
        group,
        check: { ...check, Path: interpolate(check.Path, { env, node }) },
        portLabel: check.PortLabel !== "" ? check.PortLabel : s.PortLabel,
        state: new CheckState(check),
        timer: null,
        running: false,
      });
    }
  }

  private targetOf(c: RunningCheck): CheckTarget | null {
    const label = c.portLabel;
    const ip = this.ctx.node.Resources.IP;
    if (label === "") return null;
    if (/^\d+$/.test(label)) return { ip, port: Number(label) };
    const p = allocPorts(this.ctx.alloc()).find((x) => x.label === label);
    if (p === undefined) return null;
    // Mode alloc (alloc_ipv6): the allocation's own address (a CNI network's) and the port inside, as Nomad's `GetAddress`.
    if (c.check.AddressMode === "alloc" || c.check.AddressMode === "alloc_ipv6") {
      const own = allocModeAddress(c.check.AddressMode, this.ctx.networkStatus?.());
      return own === "" ? null : { ip: own, port: p.to };
    }
    return { ip: p.ip === "" ? ip : p.ip, port: c.check.AddressMode === "driver" ? p.to : p.value };
  }

  /** Starts or stops each check with its task's state. */
  private sync(): void {
    const tasks = this.ctx.tasks();
    for (const c of this.checks) {
      const running = !this.closed && !this.stopping && tasks.get(c.task)?.state.State === "running";
      if (running && c.timer === null && c.check.Type !== "ttl") {
        const tick = (): void => {
          void this.runCheck(c);
        };
        c.timer = setInterval(tick, Math.max(100, c.check.Interval / NS.millisecond));
        c.timer.unref();
        tick();
      } else if (!running) {
        stopTimer(c);
      }
    }
  }

  private async runCheck(c: RunningCheck): Promise<void> {
    if (c.running) return;
    c.running = true;
    try {
      const task = this.ctx.tasks().get(c.task);
      const script: ScriptRunner | null =
        task === undefined
          ? null
          : async (cmd, timeoutMs) => {
              const r = await task.exec(cmd, { timeoutMs, maxOutputBytes: 4096 });
              return { exitCode: r.exitCode, output: Buffer.concat([r.stdout, r.stderr]).toString("utf8"), timedOut: r.timedOut };
            };
      const result = await probe(c.check, this.targetOf(c), script);
      // Stopped while the probe ran (task dead, check removed, allocation stopping): the result is not wanted.
      if (c.timer === null) return;
      const hadOutput = c.state.output !== "";
      if (c.state.record(result, Date.now())) {
        this.ctx.log.debug({ alloc: this.ctx.alloc().ID, check: c.key, status: c.state.status }, "check status changed");
        this.ctx.changed();
      } else if (!hadOutput && c.state.output !== "") {
        // A check's first output is reported even when its status stays (a check critical from the start says why).
        this.ctx.changed();
      }
    } finally {
      c.running = false;
    }
  }
}

function stopTimer(c: RunningCheck): void {
  if (c.timer !== null) clearInterval(c.timer);
  c.timer = null;
}
