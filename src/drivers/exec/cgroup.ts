import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { killPid, memoryLimits, SIGKILL } from "../shared/index.js";
import { assertNever } from "../../structs/index.js";

/** The cgroup hierarchy of a host: v1 (a tree per controller; also "hybrid" hosts) or v2 (one unified tree). */
export const CgroupVersion = { V1: "v1", V2: "v2" } as const;
export type CgroupVersion = (typeof CgroupVersion)[keyof typeof CgroupVersion];

export const CGROUP_ROOT = "/sys/fs/cgroup";
/** The cgroup every task's cgroup is made under, in each hierarchy. */
export const CGROUP_PARENT = "ruche";

export interface CgroupLimits {
  /** A hard limit; the kernel OOM-kills the task beyond it. 0 for none. A reservation instead when `memoryMaxMB` is above it or -1. */
  memoryMB: number;
  /** Nomad's `memory_max`: above `memoryMB`, the hard limit (and `memoryMB` the reservation); -1, no hard limit. */
  memoryMaxMB?: number;
  /** The task's CPU in MHz; it becomes cpu shares (at least 2), as in Nomad. */
  cpuMHz: number;
  /** Processes and threads at once (`pids.max`); fork fails beyond it. */
  pids: number;
}

/** What a handle keeps of a task's cgroup. */
export interface CgroupState {
  version: CgroupVersion;
  /** The cgroup's directory in the memory hierarchy, the cpu one and the pids one (the same on v2). */
  memory: string;
  cpu: string;
  /** Absent in the handles of tasks started before Ruche limited processes. */
  pids?: string;
}

/**
 * Which hierarchy `root` holds: v2 when it is the unified tree itself (it has
 * cgroup.controllers); v1 when it holds a memory controller tree, as on a hybrid host
 * whose cgroup2 at `unified/` has no controllers; undefined when neither.
 */
export function detectCgroups(root = CGROUP_ROOT): CgroupVersion | undefined {
  if (existsSync(join(root, "cgroup.controllers"))) return CgroupVersion.V2;
  if (existsSync(join(root, "memory", "cgroup.procs"))) return CgroupVersion.V1;
  return undefined;
}

/** cpu shares from MHz, as Nomad: the MHz themselves, at least the kernel's minimum of 2. */
export function cpuShares(cpuMHz: number): number {
  return Math.max(2, Math.round(cpuMHz));
}

/** cgroup v2's cpu.weight (1..10000) for v1 cpu shares (2..262144), the conversion runc and systemd use. */
export function cpuWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * One task's cgroup, `ruche/<name>` in the memory, cpu and pids hierarchies (v1) or in the
 * unified one (v2): a memory limit without swap (and, under `memory_max`, a reservation:
 * v1's `memory.soft_limit_in_bytes`, v2's `memory.low`), cpu shares (v1) or the equivalent
 * cpu.weight (v2), and a limit on its processes (`pids.max`). The shim moves itself in
 * before the task starts. A host without the pids controller runs no exec task: its limit
 * would not hold.
 */
export class TaskCgroup {
  private constructor(readonly state: CgroupState) {}

  /** Makes the cgroup afresh (a stale one of the same name, from an earlier run, is removed first). */
  static async create(name: string, limits: CgroupLimits, root = CGROUP_ROOT): Promise<TaskCgroup> {
    const version = detectCgroups(root);
    if (version === undefined) throw new Error(`no cgroup hierarchy at ${root}`);
    const shares = cpuShares(limits.cpuMHz);
    const memory = memoryLimits(limits.memoryMB, limits.memoryMaxMB);
    const unified = join(root, CGROUP_PARENT, name);
    const cg =
      version === CgroupVersion.V2
        ? new TaskCgroup({ version, memory: unified, cpu: unified, pids: unified })
        : new TaskCgroup({ version, memory: join(root, "memory", CGROUP_PARENT, name), cpu: join(root, "cpu", CGROUP_PARENT, name), pids: join(root, "pids", CGROUP_PARENT, name) });
    if (!hasPidsController(root, version)) throw new Error(`the pids cgroup controller is not available under ${root}: a task's process limit would not hold`);
    await cg.remove();
    const pidsDir = cg.state.pids ?? unified;
    switch (version) {
      case CgroupVersion.V1:
        await mkdir(cg.state.memory, { recursive: true });
        await mkdir(cg.state.cpu, { recursive: true });
        await mkdir(pidsDir, { recursive: true });
        if (memory.limitBytes !== 0) {
          // -1 is v1's "no limit".
          await writeFile(join(cg.state.memory, "memory.limit_in_bytes"), String(memory.limitBytes));
          // Memory plus swap at the same limit: no swapping past it (where swap is accounted).
          await writeIfThere(join(cg.state.memory, "memory.memsw.limit_in_bytes"), String(memory.limitBytes));
        }
        if (memory.reservationBytes > 0) await writeFile(join(cg.state.memory, "memory.soft_limit_in_bytes"), String(memory.reservationBytes));
        await writeFile(join(cg.state.cpu, "cpu.shares"), String(shares));
        await writeFile(join(pidsDir, "pids.max"), String(limits.pids));
        break;
      case CgroupVersion.V2:
        // A child gets a controller only when every parent hands it down.
        await enableControllers(root);
        await mkdir(join(root, CGROUP_PARENT), { recursive: true });
        await enableControllers(join(root, CGROUP_PARENT));
        await mkdir(cg.state.memory);
        if (memory.limitBytes !== 0) {
          await writeFile(join(cg.state.memory, "memory.max"), memory.limitBytes === -1 ? "max" : String(memory.limitBytes));
          await writeIfThere(join(cg.state.memory, "memory.swap.max"), "0");
        }
        if (memory.reservationBytes > 0) await writeFile(join(cg.state.memory, "memory.low"), String(memory.reservationBytes));
        await writeFile(join(cg.state.cpu, "cpu.weight"), String(cpuWeight(shares)));
        await writeFile(join(pidsDir, "pids.max"), String(limits.pids));
        break;
      default:
        return assertNever(version, "cgroup version");
    }
    return cg;
  }

  /**
   * The cgroup of a handle read back from disk; undefined when it is not one. Its dirs must
   * be task cgroups (`.../ruche/<name>`): removing one kills what is in it.
   */
  static fromState(x: unknown): TaskCgroup | undefined {
    if (typeof x !== "object" || x === null) return undefined;
    const s = x as Record<string, unknown>;
    const versions: unknown[] = Object.values(CgroupVersion);
    if (!versions.includes(s.version) || !isTaskDir(s.memory) || !isTaskDir(s.cpu) || (s.pids !== undefined && !isTaskDir(s.pids))) return undefined;
    const state: CgroupState = { version: s.version as CgroupVersion, memory: s.memory, cpu: s.cpu };
    if (s.pids !== undefined) state.pids = s.pids;
    return new TaskCgroup(state);
  }

  /** The cgroup.procs files a process writes itself into to join. */
  procsFiles(): string[] {
    return this.dirs().map((d) => join(d, "cgroup.procs"));
  }

  /** Whether the kernel's OOM killer killed a process of this cgroup. */
  oomKilled(): boolean {
    const file = this.state.version === CgroupVersion.V2 ? "memory.events" : "memory.oom_control";
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(this.state.memory, file), "utf8"));
      return m !== null && Number(m[1]) > 0;
    } catch {
      return false;
    }
  }

  /** Kills what is left in the cgroup and removes it; a cgroup already gone is fine. */
  async remove(): Promise<void> {
    for (const dir of this.dirs()) {
      for (let attempt = 0; ; attempt++) {
        await killMembers(dir);
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          // EBUSY: a killed process is not out of the cgroup yet.
          if (code !== "EBUSY" || attempt >= 50) throw err;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  }

  private dirs(): string[] {
    return [...new Set([this.state.memory, this.state.cpu, ...(this.state.pids === undefined ? [] : [this.state.pids])])];
  }
}

function isTaskDir(dir: unknown): dir is string {
  return typeof dir === "string" && isAbsolute(dir) && normalize(dir) === dir && basename(dirname(dir)) === CGROUP_PARENT && basename(dir) !== "";
}

async function killMembers(dir: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(dir, "cgroup.procs"), "utf8");
  } catch {
    return;
  }
  for (const pid of text.split("\n").filter((l) => l !== "")) killPid(Number(pid), SIGKILL);
}

async function enableControllers(dir: string): Promise<void> {
  await writeFile(join(dir, "cgroup.subtree_control"), "+memory +cpu +pids");
}

function hasPidsController(root: string, version: CgroupVersion): boolean {
  if (version === CgroupVersion.V1) return existsSync(join(root, "pids", "cgroup.procs"));
  try {
    return readFileSync(join(root, "cgroup.controllers"), "utf8").split(/\s+/).includes("pids");
  } catch {
    return false;
  }
}

async function writeIfThere(path: string, value: string): Promise<void> {
  if (existsSync(path)) await writeFile(path, value);
}
