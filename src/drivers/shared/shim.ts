import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The shim: a constant POSIX sh script that is the parent of one task. It lives in this
 * module as a string (tsc copies no other files into dist/) and each start writes a copy
 * into the task's state dir, so a running shim never reads a script that an upgraded agent
 * has since replaced.
 *
 * It is written without `${` so that it can sit in a template literal unchanged; the
 * driver parses the /proc stat lines it reports.
 */
export const SHIM_SCRIPT = String.raw`# Ruche task shim: the parent of one task, written beside it by the raw_exec and exec
# drivers and run as
#
#   /bin/sh shim.sh --exit FILE [OPTION...] -- COMMAND [ARG...]
#
# When the task ends it writes "EXIT_CODE SIGNAL" to FILE, so that any agent process, even
# one started long after this shim, learns how the task ended. Nothing it is given is
# evaluated: the command and every value arrive as arguments.
#
# Options are carried out in order, before the task starts:
#   --cgroup PROCS     move the shim, and so the task, into a cgroup (its cgroup.procs file)
#   --root DIR         mount an empty tmpfs on DIR, the task's / (exec driver: the shim is
#                      then pid 1 of new pid, mount, ipc and uts namespaces)
#   --ro PATH          show the host's PATH read-only at the same place under the root
#   --bind SRC DST     mount the host directory SRC read-write at DST under the root
#   --volume SRC DST MODE
#                      mount the host's SRC (a directory or a file: a host volume) at DST
#                      under the root, read-only when MODE is "ro"
#   --dev              a minimal /dev under the root
#   --proc             a /proc of the task's pid namespace under the root
#   --cgroupfs         show the task its own cgroups (those the shim is in) read-only at
#                      /sys/fs/cgroup under the root, and run it in a cgroup namespace of
#                      its own, so that /proc/self/cgroup says "/": a runtime that sizes
#                      itself from its limits (a JVM's heap) finds them, as in a container
#   --seal             make the root itself read-only
#   --workdir DIR      start the task in DIR of its root (env --chdir) instead of /
#   --hostname NAME    set the hostname (of the shim's uts namespace)
#   --user UID GID     run the task as this user, with the user's groups (setpriv)
#   --caps SET         run the task with only these capabilities (setpriv --bounding-set SET)
#
# On fd 3 it tells the agent one line of /proc/self/stat for itself, then one for the task
# (their pids and start times as the host sees them), and closes it. The task runs in its
# own session and process group, which is what the agent signals; the shim stays outside,
# so even a SIGKILL of the task's group leaves it alive to write FILE.

set -u

_ruche_fail() {
	printf 'ruche shim: %s\n' "$*" >&2
	exit 125
}

# A stray signal must not end the shim before it records the exit. A trap, unlike an
# ignored signal, is reset to the default in the task.
trap : HUP INT QUIT TERM PIPE USR1 USR2 ALRM

# The shim finds its tools on the system's PATH; the task gets its own PATH back.
_ruche_task_path=$PATH
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The OOM killer should pick the task, never the shim that reports on it.
_ruche_oom=0
read -r _ruche_oom 2>/dev/null </proc/self/oom_score_adj
printf '%s\n' -1000 2>/dev/null >/proc/self/oom_score_adj

_ruche_exit=
_ruche_root=
_ruche_uid=
_ruche_gid=
_ruche_caps=
_ruche_setpriv=
_ruche_chroot=
_ruche_cgroupns=
_ruche_workdir=

_ruche_need_root() {
	[ -n "$_ruche_root" ] || _ruche_fail "$1 needs --root first"
}

# Shows the host's path $1 read-only at the same place under the root: a symlink is copied
# (merged /usr: /bin -> usr/bin), a directory or file is bind-mounted read-only, and a path
# this host does not have is left out.
_ruche_ro() {
	_ruche_dst=$_ruche_root$1
	if [ -L "$1" ]; then
		mkdir -p "$(dirname "$_ruche_dst")" && ln -s "$(readlink "$1")" "$_ruche_dst"
	elif [ -d "$1" ]; then
		mkdir -p "$_ruche_dst" && mount --bind "$1" "$_ruche_dst" &&
			mount -o remount,bind,ro,nosuid "$_ruche_dst"
	elif [ -e "$1" ]; then
		mkdir -p "$(dirname "$_ruche_dst")" && printf '' >"$_ruche_dst" &&
			mount --bind "$1" "$_ruche_dst" && mount -o remount,bind,ro,nosuid "$_ruche_dst"
	fi
}

# Mounts the host's $1 (a directory or a file) at $2 under the root, read-only when $3 is
# "ro": a host volume. What is missing on the way to $2 is made; a $2 that leads out of the
# root (through "..", or a symlink) is refused.
_ruche_volume() {
	_ruche_dst=$_ruche_root$2
	# A symlink the task left in its own directories must not lead the mount out of its root.
	_ruche_real=$(realpath -m "$_ruche_dst") || return 1
	case $_ruche_real in
	"$_ruche_root"/*) ;;
	*) return 1 ;;
	esac
	_ruche_dst=$_ruche_real
	if [ -d "$1" ]; then
		mkdir -p "$_ruche_dst" || return 1
	else
		mkdir -p "$(dirname "$_ruche_dst")" || return 1
		[ -e "$_ruche_dst" ] || printf '' >"$_ruche_dst" || return 1
	fi
	mount --bind "$1" "$_ruche_dst" || return 1
	if [ "$3" = ro ]; then
		mount -o remount,bind,ro "$_ruche_dst" || return 1
	fi
}

# Shows the shim's own cgroups read-only at /sys/fs/cgroup under the root, each controller of
# cgroup v1 at its own dir (and its other names as symlinks: cpu -> cpu,cpuacct), or the
# unified tree of cgroup v2; other hierarchies are left out.
_ruche_cgroupfs() {
	_ruche_cg=$_ruche_root/sys/fs/cgroup
	[ -d "$_ruche_cg" ] || return 1
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		IFS=: read -r _ruche_id _ruche_ctrls _ruche_path </proc/self/cgroup || return 1
		_ruche_src=/sys/fs/cgroup$_ruche_path
		mount --bind "$_ruche_src" "$_ruche_cg" && mount -o remount,bind,ro,nosuid,nodev,noexec "$_ruche_cg"
		return
	fi
	mount -t tmpfs -o mode=0755,nosuid,nodev,noexec,size=64k ruche-cgroup "$_ruche_cg" || return 1
	while IFS=: read -r _ruche_id _ruche_ctrls _ruche_path; do
		case $_ruche_ctrls in
		'' | name=*) continue ;;
		esac
		_ruche_src=/sys/fs/cgroup/$_ruche_ctrls$_ruche_path
		[ -d "$_ruche_src" ] || continue
		mkdir "$_ruche_cg/$_ruche_ctrls" && mount --bind "$_ruche_src" "$_ruche_cg/$_ruche_ctrls" &&
			mount -o remount,bind,ro,nosuid,nodev,noexec "$_ruche_cg/$_ruche_ctrls" || return 1
		case $_ruche_ctrls in
		*,*)
			for _ruche_n in $(printf '%s' "$_ruche_ctrls" | tr , ' '); do
				[ -e "$_ruche_cg/$_ruche_n" ] || ln -s "$_ruche_ctrls" "$_ruche_cg/$_ruche_n" || return 1
			done
			;;
		esac
	done </proc/self/cgroup
	mount -o remount,ro "$_ruche_cg"
}

# The devices a program expects, and none of the host's disks.
_ruche_dev() {
	_ruche_d=$_ruche_root/dev
	mkdir -p "$_ruche_d" && mount -t tmpfs -o mode=0755,nosuid,size=64k ruche-dev "$_ruche_d" || return 1
	for _ruche_n in null zero full random urandom tty; do
		printf '' >"$_ruche_d/$_ruche_n" && mount --bind "/dev/$_ruche_n" "$_ruche_d/$_ruche_n" || return 1
	done
	ln -s /proc/self/fd "$_ruche_d/fd" &&
		ln -s /proc/self/fd/0 "$_ruche_d/stdin" &&
		ln -s /proc/self/fd/1 "$_ruche_d/stdout" &&
		ln -s /proc/self/fd/2 "$_ruche_d/stderr" &&
		mkdir "$_ruche_d/pts" "$_ruche_d/shm" &&
		mount -t tmpfs -o mode=1777,nosuid,nodev ruche-shm "$_ruche_d/shm"
}

while [ "$#" -gt 0 ]; do
	case $1 in
	--exit)
		_ruche_exit=$2
		shift 2
		;;
	--cgroup)
		printf '0\n' >"$2" || _ruche_fail "cannot join the cgroup of $2"
		shift 2
		;;
	--root)
		_ruche_root=$2
		mount -t tmpfs -o mode=0755,size=1m ruche-root "$2" || _ruche_fail "cannot mount the task's root on $2"
		shift 2
		;;
	--ro)
		_ruche_need_root --ro
		_ruche_ro "$2" || _ruche_fail "cannot show $2 to the task"
		shift 2
		;;
	--bind)
		_ruche_need_root --bind
		mkdir -p "$_ruche_root$3" && mount --bind "$2" "$_ruche_root$3" || _ruche_fail "cannot mount $2 at $3"
		shift 3
		;;
	--volume)
		_ruche_need_root --volume
		_ruche_volume "$2" "$3" "$4" || _ruche_fail "cannot mount the host volume $2 at $3"
		shift 4
		;;
	--dev)
		_ruche_need_root --dev
		_ruche_dev || _ruche_fail "cannot make the task's /dev"
		shift
		;;
	--proc)
		_ruche_need_root --proc
		mkdir -p "$_ruche_root/proc" && mount -t proc -o nosuid,nodev,noexec proc "$_ruche_root/proc" ||
			_ruche_fail "cannot mount the task's /proc"
		shift
		;;
	--cgroupfs)
		_ruche_need_root --cgroupfs
		_ruche_cgroupfs || _ruche_fail "cannot show the task its cgroups at /sys/fs/cgroup"
		_ruche_cgroupns=1
		shift
		;;
	--seal)
		_ruche_need_root --seal
		mount -o remount,ro "$_ruche_root" || _ruche_fail "cannot make the task's root read-only"
		shift
		;;
	--hostname)
		printf '%s' "$2" >/proc/sys/kernel/hostname || _ruche_fail "cannot set the hostname to $2"
		shift 2
		;;
	--workdir)
		_ruche_need_root --workdir
		_ruche_workdir=$2
		shift 2
		;;
	--user)
		_ruche_uid=$2
		_ruche_gid=$3
		shift 3
		;;
	--caps)
		_ruche_caps=$2
		shift 2
		;;
	--)
		shift
		break
		;;
	*)
		_ruche_fail "unknown option $1"
		;;
	esac
done

[ -n "$_ruche_exit" ] && [ "$#" -gt 0 ] || _ruche_fail "usage: shim.sh --exit FILE [OPTION...] -- COMMAND [ARG...]"
_ruche_setsid=$(command -v setsid) || _ruche_fail "setsid (util-linux) is not installed"
if [ -n "$_ruche_uid" ] || [ -n "$_ruche_caps" ]; then
	_ruche_setpriv=$(command -v setpriv) || _ruche_fail "setpriv (util-linux) is not installed; it runs a task as its user, with its capabilities"
fi
if [ -n "$_ruche_root" ]; then
	_ruche_chroot=$(command -v chroot) || _ruche_fail "chroot (coreutils) is not installed"
fi
if [ -n "$_ruche_cgroupns" ]; then
	_ruche_unshare=$(command -v unshare) || _ruche_fail "unshare (util-linux) is not installed"
fi
if [ -n "$_ruche_workdir" ]; then
	_ruche_env=$(command -v env) || _ruche_fail "env (coreutils) is not installed"
	[ -d "$_ruche_root$_ruche_workdir" ] || _ruche_fail "the working directory $_ruche_workdir is not a directory in the task"
fi

read -r _ruche_stat </proc/self/stat && printf '%s\n' "$_ruche_stat" >&3 ||
	_ruche_fail "cannot report to the agent on fd 3"

# The task, in the foreground: a background job of a non-interactive shell would start with
# SIGINT and SIGQUIT ignored. This subshell reports its pid, then becomes the task.
(
	read -r _ruche_stat </proc/self/stat && printf '%s\n' "$_ruche_stat" >&3 || exit 125
	exec 3>&-
	printf '%s\n' "$_ruche_oom" 2>/dev/null >/proc/self/oom_score_adj
	PATH=$_ruche_task_path
	if [ -n "$_ruche_caps" ]; then
		set -- --bounding-set="$_ruche_caps" -- "$@"
	else
		set -- -- "$@"
	fi
	if [ -n "$_ruche_uid" ]; then
		set -- --reuid="$_ruche_uid" --regid="$_ruche_gid" --init-groups "$@"
	fi
	if [ -n "$_ruche_uid" ] || [ -n "$_ruche_caps" ]; then
		set -- "$_ruche_setpriv" "$@"
	else
		shift
	fi
	if [ -n "$_ruche_workdir" ]; then
		set -- "$_ruche_env" --chdir="$_ruche_workdir" -- "$@"
	fi
	if [ -n "$_ruche_root" ]; then
		set -- "$_ruche_chroot" -- "$_ruche_root" "$@"
	fi
	if [ -n "$_ruche_cgroupns" ]; then
		set -- "$_ruche_unshare" --cgroup -- "$@"
	fi
	exec "$_ruche_setsid" -- "$@"
)
_ruche_rc=$?

# A shell reports death by signal N as 128+N; so does Nomad's exit code.
_ruche_sig=0
if [ "$_ruche_rc" -gt 128 ] && [ "$_ruche_rc" -le 192 ]; then
	_ruche_sig=$((_ruche_rc - 128))
fi
printf '%s %s\n' "$_ruche_rc" "$_ruche_sig" >"$_ruche_exit" || _ruche_fail "cannot write $_ruche_exit"
exit "$_ruche_rc"
`;

/** Writes the shim into `dir` and returns its path. */
export async function writeShim(dir: string): Promise<string> {
  const path = join(dir, "shim.sh");
  await writeFile(path, SHIM_SCRIPT, { mode: 0o644 });
  return path;
}
