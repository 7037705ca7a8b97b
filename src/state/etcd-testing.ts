/**
 * Real etcd clusters for tests: `startEtcd({ members: 3 })` runs three members of Debian's
 * etcd on 127.0.0.1, each with a fresh data dir, as one cluster, and returns once every
 * member answers. A test kills, pauses, stops and starts members to make faults. Every
 * member dies with the test process (see `spawnEtcd`); `stop()` removes the data, and so
 * does the process's exit, or else the next `startEtcd` once the process is gone.
 */
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Etcd3 } from "etcd3";
import { errorCode, errorMessage } from "../structs/index.js";
import { regionPrefix } from "./etcd.js";
import { etcdArgs, etcdHealth, etcdLogTail, spawnEtcd, type EtcdChild, type EtcdFlags } from "./etcd-process.js";

export interface StartEtcdOptions {
  /** How many members (1 when not given). */
  members?: number;
  /**
   * Member i listens for clients on basePort + 2i and for peers on basePort + 2i + 1, on
   * 127.0.0.1. When not given, a range free now is picked (and another one if a port was
   * taken meanwhile).
   */
  basePort?: number;
  /** How long every member has to answer (20 s when not given). */
  timeoutMs?: number;
  /** More etcd flags for every member. */
  extraArgs?: string[];
}

/** One member of a test cluster. */
export interface EtcdProc {
  readonly name: string;
  readonly clientURL: string;
  readonly peerURL: string;
  readonly dataDir: string;
  /** etcd's log (JSON lines), appended to across restarts. */
  readonly logFile: string;
  /** Its process id while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends its process a signal (SIGKILL when none given): SIGSTOP pauses it, SIGCONT resumes it. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM (and SIGCONT, should it be paused), SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same data dir; does not wait for it to answer (see `waitHealthy`). */
  start(): Promise<void>;
  /** Resolves once it says it is healthy (it has a leader); rejects with its log's tail after `timeoutMs`, or if it exits. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The end of its log, shortened. */
  logTail(lines?: number): Promise<string>;
}

export interface EtcdTestCluster {
  /** The members' client URLs, in member order. */
  readonly endpoints: string[];
  readonly members: EtcdProc[];
  /** The temporary directory that holds every member's data dir and log. */
  readonly dir: string;
  /** Kills every member (SIGKILL) and removes the directory. */
  stop(): Promise<void>;
}

/** Every member any cluster of this process runs, and their directories: removed when the process exits. */
const live = new Set<EtcdChild>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Starts a cluster of `members` etcd members on 127.0.0.1 and waits until every one answers. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdTestCluster> {
  const count = opts.members ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`startEtcd: members must be a whole number ≥ 1, not ${count}`);
  installExitHook();
  for (let attempt = 1; ; attempt++) {
    const basePort = opts.basePort ?? (await freePortRange(2 * count));
    try {
      return await startCluster(count, basePort, opts);
    } catch (err) {
      // Another process may have taken a port of a range found free a moment before.
      if (opts.basePort !== undefined || attempt >= 3 || !errorMessage(err).includes("address already in use")) throw err;
    }
  }
}

/** The prefix of the clusters' directories under the temporary directory. */
const DIR_PREFIX = "ruche-etcd-";
/** The file in a cluster's directory that names the process that made it. */
const OWNER_FILE = "owner.pid";

/**
 * Removes the directories of clusters whose process is gone: a test runner may end a worker
 * without its exit handlers (its members die with it all the same).
 */
async function sweepStaleDirs(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => []);
  for (const name of names) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const owner = Number(await readFile(join(dir, OWNER_FILE), "utf8").catch(() => ""));
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || processAlive(owner)) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === "EPERM";
  }
}

async function startCluster(count: number, basePort: number, opts: StartEtcdOptions): Promise<EtcdTestCluster> {
  await sweepStaleDirs();
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  dirs.add(dir);
  await writeFile(join(dir, OWNER_FILE), String(process.pid));
  const names = Array.from({ length: count }, (_, i) => `etcd${i}`);
  const url = (port: number): string => `http://127.0.0.1:${port}`;
  const initialCluster = names.map((n, i) => `${n}=${url(basePort + 2 * i + 1)}`).join(",");
  const members: Member[] = [];
  for (const [i, name] of names.entries()) {
    const dataDir = join(dir, name);
    await mkdir(dataDir, { mode: 0o700 });
    members.push(
      new Member(
        {
          name,
          dataDir,
          listenClientURL: url(basePort + 2 * i),
          clientURL: url(basePort + 2 * i),
          listenPeerURL: url(basePort + 2 * i + 1),
          peerURL: url(basePort + 2 * i + 1),
          initialCluster,
          initialClusterState: "new",
          initialClusterToken: `ruche-test-${basePort}`,
          extra: opts.extraArgs ?? [],
        },
        join(dir, `${name}.log`),
      ),
    );
  }
  const stop = async (): Promise<void> => {
    // Their data goes with them: no need to stop them gracefully (a leader stopping with its
    // followers waits for a leadership transfer none of them can take).
    await Promise.all(members.map((m) => m.halt()));
    await rm(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  try {
    for (const m of members) await m.start();
    await Promise.all(members.map((m) => m.waitHealthy(opts.timeoutMs ?? 20_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoints: members.map((m) => m.clientURL), members, dir, stop };
}

class Member implements EtcdProc {
  private child: EtcdChild | undefined;
  /** Sent a signal that ends it: no longer counted as running, though its exit may not have been seen yet. */
  private ending = false;

  constructor(
    private readonly flags: EtcdFlags,
    readonly logFile: string,
  ) {}

  get name(): string {
    return this.flags.name;
  }
  get clientURL(): string {
    return this.flags.clientURL;
  }
  get peerURL(): string {
    return this.flags.peerURL;
  }
  get dataDir(): string {
    return this.flags.dataDir;
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }
  get running(): boolean {
    return this.child?.running === true && !this.ending;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (signal === "SIGKILL" || signal === "SIGTERM") this.ending = true;
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !child.running) return;
    child.kill("SIGTERM");
    child.kill("SIGCONT");
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, 5000);
    await child.exited;
    clearTimeout(timer);
  }

  /** SIGKILL, and the exit. */
  async halt(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.child?.exited;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`etcd member ${this.name} is already running (pid ${String(this.child?.pid)})`);
    // A member just killed may not have exited yet: its ports are free once it has.
    if (this.child !== undefined) await this.child.exited;
    const child = await spawnEtcd(etcdArgs(this.flags), this.logFile);
    this.child = child;
    this.ending = false;
    live.add(child);
    void child.exited.then(() => live.delete(child));
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let reason = "";
    while (Date.now() < deadline) {
      if (!this.running) {
        const how = this.child === undefined ? "it was never started" : JSON.stringify(await this.child.exited);
        throw new Error(`etcd member ${this.name} exited (${how}); the end of its log (${this.logFile}):\n${await this.logTail()}`);
      }
      const h = await etcdHealth(this.clientURL, 1000);
      if (h.healthy) return;
      reason = h.reason;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd member ${this.name} (${this.clientURL}) did not answer healthy within ${timeoutMs} ms (${reason}); the end of its log (${this.logFile}):\n${await this.logTail()}`);
  }

  logTail(lines = 15): Promise<string> {
    return etcdLogTail(this.logFile, lines);
  }
}

/**
 * The host ports of a test process, so that test files running side by side (vitest's
 * workers, `VITEST_POOL_ID` 1, 2, ...) never hand out the same one: between 20000 and 32000
 * (below Linux's ephemeral range), each worker has 3,000 of its own (a fifth worker shares the
 * first's), the first 2,000 for its agents' dynamic ports (`-min-dynamic-port`, given by the
 * e2e harness), the last 1,000 for `freePortRange`. Fixed ranges of tests lie below 20000.
 */
export function testPorts(): { dynamic: { min: number; max: number }; free: { min: number; max: number } } {
  const pool = Number(process.env.VITEST_POOL_ID ?? "1");
  const base = 20_000 + 3_000 * ((Number.isInteger(pool) && pool > 0 ? pool - 1 : 0) % 4);
  return { dynamic: { min: base, max: base + 1_999 }, free: { min: base + 2_000, max: base + 2_999 } };
}

/** The first port of `n` consecutive ports free now on 127.0.0.1, among this test process's (`testPorts`). */
export async function freePortRange(n: number): Promise<number> {
  const { min, max } = testPorts().free;
  for (let tries = 0; tries < 100; tries++) {
    const base = min + 2 * Math.floor((Math.random() * (max - min + 1 - n)) / 2);
    let free = true;
    for (let p = base; p < base + n && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error(`no ${n} consecutive free ports found on 127.0.0.1 between ${min} and ${max}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => {
      resolve(false);
    });
    s.listen(port, "127.0.0.1", () => {
      s.close(() => {
        resolve(true);
      });
    });
  });
}

/**
 * A fresh region on a test's etcd, with a leader key this test holds: its `fence` lets a
 * backend commit as the region's leader. Each call names a new region (`<label>-<pid>-<n>`).
 */
let testRegions = 0;
export async function leaderRegion(client: Etcd3, label: string): Promise<{ region: string; fence: { key: string; createRevision: string } }> {
  const region = `${label}-${process.pid}-${++testRegions}`;
  const key = `${regionPrefix(region)}leader`;
  const res = await client.put(key).value("test").exec();
  return { region, fence: { key, createRevision: res.header.revision } };
}
