import { spawn } from "node:child_process";
import { constants, closeSync, existsSync, openSync } from "node:fs";
import { access, open } from "node:fs/promises";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";

/**
 * An etcd member as a child process: Debian's `etcd` (package etcd-server, etcd 3.4), its
 * flags, its log, and whether it answers. Shared by the servers that run their own member
 * (agent/etcd-member.ts) and by the tests' clusters (etcd-testing.ts).
 */

/** Where Debian's etcd-server puts the binary. */
export const ETCD_BINARY = "/usr/bin/etcd";

/** util-linux's setpriv: it sets the parent-death signal, then runs etcd in its place. */
const SETPRIV = "/usr/bin/setpriv";

/** What one etcd member is started with. */
export interface EtcdFlags {
  /** The member's name, unique in its cluster. */
  name: string;
  /** Its data dir (`member/` inside holds the WAL and the database). */
  dataDir: string;
  /** URLs it listens on for clients, and the ones it tells them. */
  listenClientURL: string;
  clientURL: string;
  /** URL it listens on for its peers, and the one it tells them. */
  listenPeerURL: string;
  peerURL: string;
  /**
   * `name=peerURL,...` of every member, and whether they form a new cluster or this member
   * joins an existing one. etcd ignores both once the data dir holds a member.
   */
  initialCluster: string;
  initialClusterState: "new" | "existing";
  /** Tells this cluster's members from another's with the same peer URLs (new clusters only). */
  initialClusterToken: string;
  /** More flags, appended. */
  extra?: string[];
}

/** The argument vector of `etcd` for these flags; its log goes to standard error (zap, JSON lines). */
export function etcdArgs(f: EtcdFlags): string[] {
  return [
    "--name", f.name,
    "--data-dir", f.dataDir,
    "--listen-client-urls", f.listenClientURL,
    "--advertise-client-urls", f.clientURL,
    "--listen-peer-urls", f.listenPeerURL,
    "--initial-advertise-peer-urls", f.peerURL,
    "--initial-cluster", f.initialCluster,
    "--initial-cluster-state", f.initialClusterState,
    "--initial-cluster-token", f.initialClusterToken,
    "--logger", "zap",
    "--log-outputs", "stderr",
    ...(f.extra ?? []),
  ];
}

/** An etcd process we started. */
export interface EtcdChild {
  readonly pid: number;
  /** Resolves when it has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether it has not exited yet. */
  readonly running: boolean;
  /** Sends it a signal (SIGTERM if none); nothing once it has exited. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Fails, naming the Debian package, when `binary` is not an executable file: a server that
 * runs its own etcd member, or a test that runs a cluster, cannot do without it.
 */
export async function checkEtcdBinary(binary = ETCD_BINARY): Promise<void> {
  try {
    await access(binary, constants.X_OK);
  } catch (err) {
    throw new RucheError(
      ErrorCode.Internal,
      `etcd is not installed: ${binary} is missing or not executable (${errorMessage(err)}); install Debian's etcd-server package (apt-get install etcd-server)`,
      { cause: err },
    );
  }
}

/**
 * Starts `binary` with `args`, its standard output and error appended to `logFile`. The
 * process dies with this one (Linux's parent-death signal, SIGKILL, set through setpriv
 * where util-linux has it), so no etcd outlives a killed server or test run; etcd's WAL
 * makes that crash safe. Variables ETCD_* and ETCDCTL_* of this process are not passed on:
 * etcd refuses a flag that an environment variable also sets.
 */
export async function spawnEtcd(args: string[], logFile: string, binary = ETCD_BINARY): Promise<EtcdChild> {
  await checkEtcdBinary(binary);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("ETCD_") && !k.startsWith("ETCDCTL_")) env[k] = v;
  }
  const [command, argv] = existsSync(SETPRIV) ? [SETPRIV, ["--pdeathsig", "SIGKILL", "--", binary, ...args]] : [binary, args];
  const fd = openSync(logFile, "a", 0o600);
  let child;
  try {
    child = spawn(command, argv, { stdio: ["ignore", fd, fd], env });
  } finally {
    closeSync(fd);
  }
  const proc = child;
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  const pid = await new Promise<number>((resolve, reject) => {
    proc.once("spawn", () => {
      resolve(proc.pid ?? -1);
    });
    proc.once("error", (err) => {
      running = false;
      reject(new RucheError(ErrorCode.Internal, `cannot start ${binary}: ${errorMessage(err)}`, { cause: err }));
    });
  });
  return {
    pid,
    exited,
    get running() {
      return running;
    },
    kill(signal: NodeJS.Signals = "SIGTERM") {
      if (running) proc.kill(signal);
    },
  };
}

/**
 * The last `lines` lines of an etcd log, for an error message: etcd's JSON lines shortened
 * to `level msg key=value ...` (no timestamp, no caller).
 */
export async function etcdLogTail(logFile: string, lines = 15): Promise<string> {
  let text: string;
  try {
    const f = await open(logFile, "r");
    try {
      const { size } = await f.stat();
      const length = Math.min(size, 32 * 1024);
      const buf = Buffer.alloc(length);
      await f.read(buf, 0, length, size - length);
      text = buf.toString("utf8");
    } finally {
      await f.close();
    }
  } catch (err) {
    return `(no log: ${errorMessage(err)})`;
  }
  const all = text.split("\n").filter((l) => l.trim() !== "");
  return all
    .slice(-lines)
    .map((l) => shortLine(l))
    .join("\n");
}

/** The log written since it was `offset` bytes long (its last MiB at most), as etcd wrote it. */
export async function etcdLogSince(logFile: string, offset: number): Promise<string> {
  try {
    const f = await open(logFile, "r");
    try {
      const { size } = await f.stat();
      const from = Math.max(size < offset ? 0 : offset, size - 1024 * 1024);
      const buf = Buffer.alloc(size - from);
      await f.read(buf, 0, buf.length, from);
      return buf.toString("utf8");
    } finally {
      await f.close();
    }
  } catch {
    return "";
  }
}

function shortLine(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line.slice(0, 500);
  }
  if (typeof parsed !== "object" || parsed === null) return line.slice(0, 500);
  const fields = parsed as Record<string, unknown>;
  const rest = Object.entries(fields)
    .filter(([k]) => k !== "level" && k !== "ts" && k !== "caller" && k !== "msg")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const text = (v: unknown): string => (typeof v === "string" ? v : "");
  return [text(fields.level), text(fields.msg), ...rest].join(" ").slice(0, 500);
}

/** Whether the member at `clientURL` says it is healthy (it has a leader and can read through it: etcd's `/health`). */
export async function etcdHealth(clientURL: string, timeoutMs = 1000): Promise<{ healthy: boolean; reason: string }> {
  try {
    const res = await fetch(`${clientURL}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let health: unknown;
    try {
      health = (JSON.parse(text) as { health?: unknown }).health;
    } catch {
      health = undefined;
    }
    if (res.ok && (health === "true" || health === true)) return { healthy: true, reason: "" };
    return { healthy: false, reason: `${res.status}: ${text.trim().slice(0, 200)}` };
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? `: ${errorMessage(err.cause)}` : "";
    return { healthy: false, reason: `${errorMessage(err)}${cause}` };
  }
}
