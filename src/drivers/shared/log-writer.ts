import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Writable } from "node:stream";
import type { LogLimits } from "../driver.js";
import { streamPrefix } from "./rotating-log.js";

/**
 * The log writer of a shim-run task: a constant POSIX sh script, one process per stream,
 * that reads the task's output from a pipe and writes it into `PREFIX.N` files (Nomad's
 * names; see rotating-log.ts), moving on to the next file as each reaches its size limit,
 * as the bytes arrive. Written without `${` so that it can sit in a template literal.
 */
export const LOG_WRITER_SCRIPT = String.raw`# Ruche log writer: copies its stdin into PREFIX.N files, and is run as
#
#   /bin/sh log-writer.sh PREFIX MAX_BYTES KEEP
#
# The newest file is the highest N. A file holds at most MAX_BYTES; the next one is begun
# once the oldest beyond the newest KEEP is removed, so the files never hold more than
# KEEP x MAX_BYTES. It appends to the newest file already there (a restarted task), and
# ends when every writer of its stdin has closed it (the task and all it started are gone).
# head -c reads no byte past the count it is given, so each file is filled to the byte; run
# unbuffered (coreutils stdbuf, where there is one) it writes each read as it comes, so a
# task's line is in its file as soon as the task wrote it.

set -u
trap : HUP INT QUIT TERM USR1 USR2 ALRM
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

_p=$1
_max=$2
_keep=$3

_size() {
	_s=$({ wc -c <"$1"; } 2>/dev/null) || _s=0
	echo $((_s + 0))
}

# The N of the file $1 (PREFIX.N), or nothing.
_index() {
	expr "X$1" : 'X.*\.\([0-9][0-9]*\)$'
}

# Removes the files not among the KEEP newest when file $1 is the newest.
_purge() {
	for _pf in "$_p".*; do
		_pi=$(_index "$_pf")
		[ -n "$_pi" ] && [ "$_pi" -le $(($1 - _keep)) ] && rm -f -- "$_pf"
	done
	return 0
}

_unbuffered=
command -v stdbuf >/dev/null 2>&1 && _unbuffered="stdbuf -o0"

_n=0
for _f in "$_p".*; do
	_i=$(_index "$_f")
	[ -n "$_i" ] && [ "$_i" -gt "$_n" ] && _n=$_i
done
_purge "$_n"

while :; do
	_f=$_p.$_n
	_had=$(_size "$_f")
	if [ "$_had" -ge "$_max" ]; then
		_n=$((_n + 1))
		_purge "$_n"
		continue
	fi
	if ! $_unbuffered head -c $((_max - _had)) >>"$_f"; then
		# The allocation's files are gone: nothing is left to write to.
		[ -d "$(dirname "$_p")" ] || exit 1
		sleep 1
		continue
	fi
	# Fewer bytes than asked for: the output was closed.
	[ "$(_size "$_f")" -lt "$_max" ] && exit 0
done
`;

/** The script's name in the shim's state dir. */
export const LOG_WRITER_FILE = "log-writer.sh";

/** The two writers of a task's output; their stdin is what the task writes to. */
export interface LogWriters {
  stdout: ChildProcess & { stdin: Writable };
  stderr: ChildProcess & { stdin: Writable };
}

/**
 * Starts a writer for each of the task's streams: detached (its own session, outside the
 * task's group, namespaces and cgroup), so it lives on while the agent restarts and ends
 * once the task's output is closed. The caller hands their stdin to the task and then
 * closes its own copy.
 */
export async function startLogWriters(stateDir: string, files: { stdoutPath: string; stderrPath: string; logLimits: LogLimits }): Promise<LogWriters> {
  // A new file each time, renamed into place: a writer of an earlier run may still be reading the old one.
  const script = join(stateDir, LOG_WRITER_FILE);
  await writeFile(`${script}.new`, LOG_WRITER_SCRIPT, { mode: 0o644 });
  await rename(`${script}.new`, script);
  const start = async (first: string): Promise<ChildProcess & { stdin: Writable }> => {
    await mkdir(dirname(first), { recursive: true });
    const args = [script, streamPrefix(first), String(files.logLimits.maxFileBytes), String(files.logLimits.maxFiles)];
    const child = spawn("/bin/sh", args, { cwd: "/", env: {}, detached: true, stdio: ["pipe", "ignore", "ignore"] });
    child.unref();
    return child;
  };
  const stdout = await start(files.stdoutPath);
  return { stdout, stderr: await start(files.stderrPath) };
}

/** Resolves once both writers have ended, or after `ms`: what the task wrote last is then on disk. */
export async function writersDone(w: LogWriters, ms: number): Promise<void> {
  const ended = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once("exit", () => { resolve(); }));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([ended(w.stdout), ended(w.stderr)]),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
