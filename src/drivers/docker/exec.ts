import { readdir, readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import type Dockerode from "dockerode";
import { ErrorCode, sleep, type Logger } from "../../structs/index.js";
import type { ExecOptions, ExecResult, ExecSession, ExecStreamOptions } from "../driver.js";
import { DockerError, engineMessage, engineStatus } from "./errors.js";
import { FrameReader } from "./frames.js";

const DEFAULT_MAX_OUTPUT = 1024 * 1024;

export interface ExecTarget {
  container: Dockerode.Container;
  /**
   * Whether the engine's process ids are ours too (a local unix socket). Only then can a
   * command that outlives its timeout be killed: the engine has no call for killing an exec.
   */
  sameHost: boolean;
  log: Logger;
}

/**
 * Runs `cmd` in the container like `docker exec`: the container's environment, working
 * directory and limits; stdout and stderr kept apart (each cut at `maxOutputBytes`).
 */
export async function runExec(t: ExecTarget, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const withStdin = opts.stdin !== undefined;
  let exec: Dockerode.Exec;
  try {
    exec = await t.container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: withStdin, Tty: false });
  } catch (err) {
    if (engineStatus(err) === 409) throw new DockerError(ErrorCode.DockerNotRunning, `cannot exec in container ${t.container.id.slice(0, 12)}: ${engineMessage(err)}`, { cause: err });
    throw new DockerError(ErrorCode.DockerEngine, `creating the exec failed: ${engineMessage(err)}`, { cause: err });
  }
  const stream: Duplex = await exec.start({ hijack: true, stdin: withStdin });

  const kept = { stdout: new Output(max), stderr: new Output(max) };
  const frames = new FrameReader();
  stream.on("data", (chunk: Buffer) => {
    for (const f of frames.push(chunk)) kept[f.stream].add(f.payload);
  });
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => {
      resolve();
    });
  });
  // Closing our side is the command's end of input.
  if (opts.stdin !== undefined) stream.end(opts.stdin);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    ended.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(true);
      }, opts.timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    if (t.sameHost) await killExecTree(exec, t.container.id, t.log);
    stream.destroy();
  }
  return { exitCode: await exitCode(exec, timedOut), stdout: kept.stdout.bytes(), stderr: kept.stderr.bytes(), timedOut };
}

/** One stream's output, kept up to `max` bytes. */
class Output {
  private readonly parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}

  add(b: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * The exec's exit code. The engine records it a moment after the output ends, so a
 * finished command is asked again briefly; a command that timed out and could not be
 * killed has none (-1).
 */
async function exitCode(exec: Dockerode.Exec, timedOut: boolean): Promise<number> {
  for (let i = 0; i < 20; i++) {
    try {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    } catch {
      return -1;
    }
    if (timedOut && i >= 4) return -1;
    await sleep(50);
  }
  return -1;
}

/**
 * Kills a timed-out exec and what it started. The engine gives the process's host pid; it
 * is killed only if /proc says that pid is in this container's cgroup, so an agent that
 * does not share the engine's pid namespace never kills a stranger.
 */
async function killExecTree(exec: Dockerode.Exec, containerId: string, log: Logger): Promise<void> {
  try {
    const info = await exec.inspect();
    if (!info.Running || info.Pid <= 0) return;
    const cgroup = await readFile(`/proc/${info.Pid}/cgroup`, "utf8").catch(() => "");
    if (!cgroup.includes(containerId)) {
      log.debug({ container: containerId, pid: info.Pid }, "exec timed out; its process is not visible here, left running");
      return;
    }
    for (const pid of await processTree(info.Pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  } catch (err) {
    log.debug({ container: containerId, err }, "exec timed out; killing it failed");
  }
}

/** `pid` and its descendants, parents first, from /proc/<pid>/task/<tid>/children. */
async function processTree(pid: number): Promise<number[]> {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 10_000) {
    const p = queue.shift();
    if (p === undefined) break;
    out.push(p);
    const tids = await readdir(`/proc/${p}/task`).catch(() => []);
    for (const tid of tids) {
      const kids = await readFile(`/proc/${p}/task/${tid}/children`, "utf8").catch(() => "");
      for (const k of kids.split(" ")) if (/^\d+$/.test(k)) queue.push(Number(k));
    }
  }
  return out;
}

/**
 * An interactive `docker exec`: stdin attached, a terminal (`Tty`) when asked (then the
 * engine sends raw bytes, one stream; without, its multiplexed frames), resized with the
 * engine's exec resize call. No time limit. `kill` ends the command's processes when the
 * engine is on this host (the engine has no call for it), and closes the stream.
 */
export async function startExecSession(t: ExecTarget, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
  let exec: Dockerode.Exec;
  try {
    exec = await t.container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: true, Tty: opts.tty, ...(opts.tty ? { Env: ["TERM=xterm"] } : {}) });
  } catch (err) {
    if (engineStatus(err) === 409) throw new DockerError(ErrorCode.DockerNotRunning, `cannot exec in container ${t.container.id.slice(0, 12)}: ${engineMessage(err)}`, { cause: err });
    throw new DockerError(ErrorCode.DockerEngine, `creating the exec failed: ${engineMessage(err)}`, { cause: err });
  }
  const stream: Duplex = await exec.start({ hijack: true, stdin: true, Tty: opts.tty });
  const resize = (height: number, width: number): void => {
    if (!opts.tty || height <= 0 || width <= 0) return;
    exec.resize({ h: height, w: width }).catch((err: unknown) => {
      t.log.debug({ container: t.container.id, err }, "resizing an exec's terminal failed");
    });
  };
  if (opts.height !== undefined && opts.width !== undefined) resize(opts.height, opts.width);
  const frames = new FrameReader();
  stream.on("data", (chunk: Buffer) => {
    if (opts.tty) opts.output("stdout", chunk);
    else for (const f of frames.push(chunk)) opts.output(f.stream, f.payload);
  });
  stream.on("error", () => undefined);
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => {
      resolve();
    });
  });
  let killed = false;
  return {
    write: (data) => {
      if (!stream.writableEnded) stream.write(data);
    },
    closeStdin: () => {
      // A terminal reads an end-of-file character; a pipe, the end of our side.
      if (opts.tty) stream.write(Buffer.from([4]));
      else stream.end();
    },
    resize,
    exited: ended.then(() => exitCode(exec, killed)),
    kill: () => {
      if (killed) return;
      killed = true;
      void (t.sameHost ? killExecTree(exec, t.container.id, t.log) : Promise.resolve()).finally(() => stream.destroy());
    },
  };
}
