import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { TaskSpec } from "../driver.js";
import { LOG_WRITER_FILE, LOG_WRITER_SCRIPT, streamPrefix } from "../shared/index.js";

/**
 * The task's log driver: a constant POSIX sh script that containerd's shim starts (its
 * "binary" log URI) with the task's stdout on fd 3, its stderr on fd 4 and fd 5 to close once
 * ready. It runs one Ruche log writer per stream (`log-writer.sh` beside it), so the output is
 * written and rotated into the task's files as by the other drivers, by processes of the
 * shim's, which outlive the agent. Its settings come as the URI's query, `key value` pairs in
 * any order.
 */
export const CONTAINERD_LOGGER_SCRIPT = String.raw`#!/bin/sh
# Ruche's log driver for a containerd task, started by the task's shim as
#
#   containerd-logger.sh out PREFIX err PREFIX max MAX_BYTES keep KEEP   (pairs in any order)
#
# with the task's stdout on fd 3 and stderr on fd 4; closing fd 5 tells the shim it is ready.
set -u
trap : HUP INT QUIT TERM USR1 USR2 ALRM
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
_out= _err= _max= _keep=
while [ $# -ge 2 ]; do
	case $1 in
	out) _out=$2 ;;
	err) _err=$2 ;;
	max) _max=$2 ;;
	keep) _keep=$2 ;;
	esac
	shift 2
done
_w=$(dirname "$0")/log-writer.sh
/bin/sh "$_w" "$_out" "$_max" "$_keep" <&3 3<&- 4<&- 5>&- &
/bin/sh "$_w" "$_err" "$_max" "$_keep" <&4 3<&- 4<&- 5>&- &
exec 3<&- 4<&- 5>&-
wait
`;

export const CONTAINERD_LOGGER_FILE = "containerd-logger.sh";

/** Writes the two scripts into the task's state dir and gives the task's log URI. */
export async function prepareLogger(stateDir: string, spec: TaskSpec): Promise<string> {
  const put = async (name: string, text: string, mode: number): Promise<void> => {
    // A new file each time, renamed into place: a logger of an earlier run may still be reading the old one.
    const file = join(stateDir, name);
    await writeFile(`${file}.new`, text);
    await chmod(`${file}.new`, mode);
    await rename(`${file}.new`, file);
  };
  await put(LOG_WRITER_FILE, LOG_WRITER_SCRIPT, 0o644);
  await put(CONTAINERD_LOGGER_FILE, CONTAINERD_LOGGER_SCRIPT, 0o755);
  await mkdir(dirname(spec.stdoutPath), { recursive: true });
  await mkdir(dirname(spec.stderrPath), { recursive: true });
  const query = new URLSearchParams({
    out: streamPrefix(spec.stdoutPath),
    err: streamPrefix(spec.stderrPath),
    max: String(spec.logLimits.maxFileBytes),
    keep: String(spec.logLimits.maxFiles),
  });
  return `binary://${encodeURI(join(stateDir, CONTAINERD_LOGGER_FILE))}?${query.toString()}`;
}
