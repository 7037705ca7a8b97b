import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { ExecSession, ExecStreamOptions } from "../driver.js";
import { findBinary } from "./binaries.js";
import { killGroup, SIGKILL } from "./signals.js";

/**
 * The terminal of an interactive exec on the host: python3's `pty` module (Debian's
 * python3, no native addon). It runs the command on the slave side of a new pseudo-terminal
 * (its own session, the terminal its controlling one), copies the master to its stdout and its
 * stdin to the master, reads window sizes ("ROWS COLS\n") on fd 3 and sets them on the
 * terminal (the kernel sends the command SIGWINCH), and exits with the command's exit code
 * (128 + signal when killed). SIGTERM to it kills the command's session.
 */
const PTY_HELPER = `
import errno, fcntl, os, pty, select, signal, struct, sys, termios
rows, cols, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ("%s: %s\\r\\n" % (argv[0], e.strerror)).encode())
        os._exit(127 if e.errno == errno.ENOENT else 126)
def size(r, c):
    if r > 0 and c > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
def stop(*_):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    os._exit(137)
signal.signal(signal.SIGTERM, stop)
size(rows, cols)
def put(f, b):
    while b:
        b = b[os.write(f, b):]
watch, ctl = [0, fd, 3], b""
while True:
    ready = select.select(watch, [], [])[0]
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        put(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            put(fd, data)
        else:
            watch.remove(0)
            put(fd, b"\\x04")
    if 3 in ready:
        data = os.read(3, 4096)
        if not data:
            watch.remove(3)
        ctl += data
        while b"\\n" in ctl:
            line, ctl = ctl.split(b"\\n", 1)
            parts = line.split()
            if len(parts) == 2:
                size(int(parts[0]), int(parts[1]))
status = os.waitpid(pid, 0)[1]
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

export interface SessionOptions extends ExecStreamOptions {
  env: Record<string, string>;
  cwd: string;
}

/**
 * Starts `argv` on the host for an interactive exec (raw_exec and exec): its own process
 * group, pipes, or a pseudo-terminal through python3 when `tty` is asked. No time limit:
 * it runs until it exits or `kill`.
 */
export function startSession(argv: readonly string[], opts: SessionOptions): ExecSession {
  const [file, ...args] = argv;
  if (file === undefined || file === "") throw new RucheError(ErrorCode.BadRequest, "exec needs a command", { path: "command" });
  let cmd = file;
  let cmdArgs = args;
  if (opts.tty) {
    const python = findBinary("python3");
    if (python === undefined) throw new RucheError(ErrorCode.BadRequest, "exec with a terminal (tty) needs python3 on the node; run it with -t=false");
    cmd = python;
    cmdArgs = ["-c", PTY_HELPER, String(opts.height ?? 24), String(opts.width ?? 80), file, ...args];
  }
  const child = spawn(cmd, cmdArgs, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["pipe", "pipe", "pipe", ...(opts.tty ? ["pipe" as const] : [])] });
  child.stdout.on("data", (b: Buffer) => { opts.output("stdout", b); });
  child.stderr.on("data", (b: Buffer) => { opts.output("stderr", b); });
  child.stdin.on("error", () => undefined);
  const control = opts.tty ? (child.stdio[3] as Writable | null) : null;
  control?.on("error", () => undefined);
  const exited = new Promise<number>((resolve) => {
    child.once("error", (e: NodeJS.ErrnoException) => {
      opts.output("stderr", Buffer.from(`${file}: ${e.message}\n`));
      resolve(e.code === "ENOENT" ? 127 : 126);
    });
    child.once("close", (code, signal) => {
      control?.destroy();
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
  return {
    write: (data) => {
      if (!child.stdin.writableEnded) child.stdin.write(data);
    },
    closeStdin: () => {
      child.stdin.end();
    },
    resize: (height, width) => {
      if (control !== null && !control.writableEnded && Number.isInteger(height) && Number.isInteger(width)) control.write(`${height} ${width}\n`);
    },
    exited,
    kill: () => {
      if (child.pid === undefined || child.exitCode !== null) return;
      // With a terminal, the helper kills the command's session on SIGTERM; without, the group is the command's.
      if (opts.tty) child.kill("SIGTERM");
      else killGroup(child.pid, SIGKILL);
    },
  };
}
