#!/bin/sh
# Brings up the real components the test suite needs, once, before the tests run.
# Each component the tests use is listed in NEEDED; where one is missing and we are
# root, its Debian package is installed and it is started privately for the tests.
# A component that cannot be had makes this script fail and say what is missing:
# tests never skip silently.
#
# The list grows with the tests: docker, tools, chromium and etcd (below).
#
# etcd: Debian's etcd 3.4, /usr/bin/etcd (package etcd-server) and etcdctl (etcd-client),
#   installed when missing, then asked for their versions to show that they run. Nothing is
#   started here: the tests start their own etcd members on free ports of 127.0.0.1
#   (src/state/etcd-testing.ts), and the servers under test start theirs on their HTTP port
#   + 1 and + 2; none uses etcd's default ports 2379 and 2380. The install starts no etcd
#   service (apt_install's policy-rc.d); where one runs anyway on 2379/2380 right after this
#   script installed the package, it is stopped, and one that ran before is left alone and
#   reported.
#
# chromium: Debian's chromium at /usr/bin/chromium, which the dashboard's browser tests
#   (test/e2e/ui.test.ts) drive headless through playwright-core; installed when missing,
#   then asked for its version to show that it starts.
#
# tools: the commands the end-to-end tests use as a user would, against the agent: curl
#   (Debian package curl), dig (dnsutils) and sqlite3 (the README's backup of a single
#   server's state, test/e2e/state-backup.test.ts); and what the node agent runs to fetch a
#   task's artifacts: tar, unzip, bzip2, xz (xz-utils) and git; the Consul clients
#   python3-consul (installed) and python3-consul2 (downloaded and unpacked beside it into
#   node_modules/.cache/ruche-test-deps/python3-consul2, as the two conflict); the CNI
#   plugins network mode "cni/<name>" runs (containernetworking-plugins, in /usr/lib/cni),
#   and the engines of the podman, java and containerd-driver task drivers (podman,
#   default-jdk-headless for java and javac, containerd for ctr).
#
# docker: a Docker engine answering on the default socket /var/run/docker.sock, so the
#   docker CLI and dockerode need no DOCKER_HOST (if DOCKER_HOST is set, that engine is
#   used and must answer). Missing Debian packages among docker.io, iptables and
#   busybox-static are installed. When no engine answers, dockerd is started in the
#   background, detached, for this test run and the next ones: data in
#   /var/lib/ruche-test-docker, state in /run/ruche-test-docker, log in
#   /var/log/ruche-test-dockerd.log, storage driver overlay2, or vfs where overlay2
#   cannot work. Containers get the default bridge network; ports publish on the host
#   through iptables (iptables-legacy if nft fails) and docker-proxy.
#   The tests' image ruche-test/busybox:latest is built locally, without a registry, by
#   test/images/build-busybox.sh from the Debian package busybox-static; it is rebuilt
#   when that script changes. ruche-test/httpd:latest is the same with busybox httpd
#   serving /www on port 80 as its command. Finally a smoke test runs the image with a memory limit and
#   cpu shares and fetches a page from it over a port published on 127.0.0.1.
#   Stop the engine with: kill "$(cat /run/ruche-test-docker/dockerd.pid)"
set -eu

NEEDED="docker tools chromium etcd"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TEST_IMAGE=ruche-test/busybox:latest
TEST_HTTPD_IMAGE=ruche-test/httpd:latest
DOCKER_DATA_ROOT=/var/lib/ruche-test-docker
DOCKER_EXEC_ROOT=/run/ruche-test-docker
DOCKER_LOG=/var/log/ruche-test-dockerd.log
DOCKER_SOCKET=/var/run/docker.sock
# Seconds to wait for a dockerd we start to answer.
DOCKER_START_TIMEOUT=${RUCHE_DOCKER_START_TIMEOUT:-60}
# Storage drivers tried in order; RUCHE_DOCKER_STORAGE_DRIVER=vfs forces one.
DOCKER_STORAGE_DRIVERS=${RUCHE_DOCKER_STORAGE_DRIVER:-overlay2 vfs}

DEPS_NAME=test-deps
# fail, say and apt_install, shared with scripts/bench-deps.sh.
. "$ROOT/scripts/deps-common.sh"

deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# listening PORT: whether something listens on TCP port PORT, on any address.
listening() {
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v port="$(printf ':%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }'
}

docker_answers() {
  docker version >/dev/null 2>&1
}

docker_log_tail() {
  echo "--- warnings and errors of the last start, from $DOCKER_LOG ---" >&2
  awk '/^=== test-deps:/ { n = 0 } !/level=info/ { line[n++] = $0 } END { for (i = (n > 15 ? n - 15 : 0); i < n; i++) print line[i] }' \
    "$DOCKER_LOG" >&2 || true
  echo "---" >&2
}

# start_dockerd DRIVER starts dockerd with that storage driver and waits for it.
# Returns 0 once the engine answers, 1 when dockerd exited, 2 on timeout.
start_dockerd() {
  mkdir -p "$DOCKER_DATA_ROOT" "$DOCKER_EXEC_ROOT" "$(dirname "$DOCKER_LOG")"
  echo "=== test-deps: $(date -u '+%Y-%m-%dT%H:%M:%SZ') starting dockerd --storage-driver=$1" >>"$DOCKER_LOG"
  # setsid and nohup: the engine outlives this script and a Ctrl-C of the test run.
  setsid nohup dockerd \
    --host "unix://$DOCKER_SOCKET" \
    --data-root "$DOCKER_DATA_ROOT" \
    --exec-root "$DOCKER_EXEC_ROOT" \
    --pidfile "$DOCKER_EXEC_ROOT/dockerd.pid" \
    --storage-driver "$1" \
    </dev/null >>"$DOCKER_LOG" 2>&1 &
  pid=$!
  waited=0
  while [ "$waited" -lt "$((DOCKER_START_TIMEOUT * 5))" ]; do
    docker_answers && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      # Another test run may have started the engine at the same moment.
      sleep 1
      docker_answers && return 0
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  return 2
}

ensure_docker_engine() {
  if docker_answers; then
    say "docker engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null), ${DOCKER_HOST:-unix://$DOCKER_SOCKET})"
    return
  fi
  [ -z "${DOCKER_HOST:-}" ] ||
    fail "no docker engine answers at DOCKER_HOST=$DOCKER_HOST ($(docker version 2>&1 | tail -n 1)); start it, or unset DOCKER_HOST to have this script start one on $DOCKER_SOCKET"
  [ "$(id -u)" -eq 0 ] ||
    fail "no docker engine answers on $DOCKER_SOCKET ($(docker version 2>&1 | tail -n 1)), and starting one needs root"
  [ -e /sys/fs/cgroup/cgroup.controllers ] || [ -d /sys/fs/cgroup/memory ] ||
    fail "no cgroup hierarchy is mounted at /sys/fs/cgroup, which dockerd needs (mount cgroup2 there, or install and run cgroupfs-mount)"

  started=0
  for driver in $DOCKER_STORAGE_DRIVERS; do
    say "starting dockerd (storage driver $driver, log $DOCKER_LOG) ..."
    rc=0
    start_dockerd "$driver" || rc=$?
    if [ "$rc" -eq 1 ] && tail -n 5 "$DOCKER_LOG" | grep -q 'iptables' &&
      update-alternatives --query iptables 2>/dev/null | grep -q '^Value: .*iptables-nft$' &&
      [ -x /usr/sbin/iptables-legacy ]; then
      # Kernels without nf_tables support still have the legacy iptables.
      say "dockerd failed on iptables-nft; switching iptables to iptables-legacy and trying again ..."
      update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
      update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
      rc=0
      start_dockerd "$driver" || rc=$?
    fi
    case $rc in
      0)
        started=1
        break
        ;;
      1)
        if tail -n 5 "$DOCKER_LOG" | grep -q 'graphdriver'; then
          say "storage driver $driver does not work here"
          continue
        fi
        docker_log_tail
        fail "dockerd exited without answering; see $DOCKER_LOG"
        ;;
      *)
        docker_log_tail
        fail "dockerd did not answer on $DOCKER_SOCKET within ${DOCKER_START_TIMEOUT}s; it is still running (pid file $DOCKER_EXEC_ROOT/dockerd.pid), see $DOCKER_LOG"
        ;;
    esac
  done
  if [ "$started" -ne 1 ]; then
    docker_log_tail
    fail "dockerd could not start with any storage driver of: $DOCKER_STORAGE_DRIVERS; see $DOCKER_LOG"
  fi
  say "dockerd answers on $DOCKER_SOCKET ($(docker info --format '{{.ServerVersion}}, storage driver {{.Driver}}' 2>/dev/null))"
}

ensure_test_image() {
  build="$ROOT/test/images/build-busybox.sh"
  want=$(cksum <"$build" | cut -d' ' -f1)
  have=$(docker image inspect --format '{{index .Config.Labels "ruche.test.image-version"}}' "$TEST_IMAGE" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    sh "$build" "$TEST_IMAGE" || fail "could not build the test image $TEST_IMAGE (test/images/build-busybox.sh)"
  fi
  # The same image serving /www over HTTP on port 80 when run without a command, as the
  # reference job's `httpd` image does (the end-to-end tests tag it httpd:latest).
  have=$(docker image inspect --format '{{index .Config.Labels "ruche.test.image-version"}}' "$TEST_HTTPD_IMAGE" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    name="ruche-test-deps-httpd-$$"
    docker create --name "$name" "$TEST_IMAGE" >/dev/null || fail "could not create a container of $TEST_IMAGE"
    docker commit --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' --change 'EXPOSE 80/tcp' \
      "$name" "$TEST_HTTPD_IMAGE" >/dev/null || { docker rm -f "$name" >/dev/null 2>&1; fail "could not commit $TEST_HTTPD_IMAGE"; }
    docker rm -f "$name" >/dev/null 2>&1 || true
    say "built $TEST_HTTPD_IMAGE"
  fi
}

# The tests run containers with resource limits and reach them over ports published on
# 127.0.0.1: check that once here rather than let every docker test fail on its own.
smoke_test_docker() {
  name="ruche-test-deps-smoke-$$"
  cid=$(docker run -d --name "$name" --label ruche.test-deps=smoke \
    -m 64m --cpu-shares 512 -p 127.0.0.1::8080 \
    "$TEST_IMAGE" busybox httpd -f -p 8080 -h /www 2>&1) ||
    fail "docker cannot run a container of $TEST_IMAGE with -m 64m --cpu-shares 512 -p 127.0.0.1::8080: $cid"
  hostport=$(docker port "$name" 8080/tcp 2>&1 | head -n 1) || true
  hostport=${hostport##*:}
  body=$(node -e '
    const url = process.argv[1];
    const deadline = Date.now() + 10000;
    const attempt = () => fetch(url).then((r) => r.text()).then((t) => console.log(t.trim()),
      (e) => Date.now() < deadline ? setTimeout(attempt, 100) : (console.error(String(e.cause ?? e)), process.exit(1)));
    attempt();' "http://127.0.0.1:$hostport/" 2>&1) || body="error: $body"
  docker rm -f "$name" >/dev/null 2>&1 || true
  [ "$body" = ruche-test-busybox ] ||
    fail "a container's port published on 127.0.0.1:$hostport does not answer ($body); check iptables, the docker0 bridge and $DOCKER_LOG"
}

# python3-consul2 conflicts with python3-consul (both are the module `consul`): it is
# unpacked beside it, into PYTHON_CONSUL2_DIR, which the Consul tests put first on
# PYTHONPATH (test/e2e/python-consul.ts). Its dependencies (requests, six) are
# python3-consul's too.
PYTHON_CONSUL2_DIR="$ROOT/node_modules/.cache/ruche-test-deps/python3-consul2"
ensure_python_consul2() {
  site="$PYTHON_CONSUL2_DIR/usr/lib/python3/dist-packages"
  if [ ! -f "$site/consul/base.py" ]; then
    command -v apt-get >/dev/null 2>&1 || fail "python3-consul2 is needed unpacked in $PYTHON_CONSUL2_DIR, and there is no apt-get here to download it"
    work=$(mktemp -d /tmp/ruche-test-deps-consul2-XXXXXX)
    if ! (cd "$work" && apt-get download python3-consul2 >&2); then
      say "refreshing the package lists and trying again ..."
      { [ "$(id -u)" -eq 0 ] && apt-get update -q >&2; } || true
      (cd "$work" && apt-get download python3-consul2 >&2) || { rm -rf "$work"; fail "could not download the Debian package python3-consul2 (apt-get download python3-consul2)"; }
    fi
    rm -rf "$PYTHON_CONSUL2_DIR" && mkdir -p "$PYTHON_CONSUL2_DIR"
    dpkg -x "$work"/python3-consul2_*.deb "$PYTHON_CONSUL2_DIR" || { rm -rf "$work"; fail "could not unpack python3-consul2 into $PYTHON_CONSUL2_DIR"; }
    rm -rf "$work"
  fi
  version=$(PYTHONPATH="$site" python3 -c 'import consul; print(consul.__version__)' 2>&1) ||
    fail "python3-consul2, unpacked in $PYTHON_CONSUL2_DIR, does not import: $(echo "$version" | tail -n 1)"
  say "python3-consul2: $version (in $PYTHON_CONSUL2_DIR)"
}

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js 20 or newer is needed, found $(node -v)"

for component in $NEEDED; do
  case "$component" in
    docker)
      # The docker CLI; dockerd and iptables unless an engine already answers; the
      # static busybox the test image is made of. One apt-get run for all of them.
      missing=""
      if ! command -v docker >/dev/null 2>&1; then
        missing="docker.io"
      elif ! docker_answers && ! command -v dockerd >/dev/null 2>&1; then
        missing="docker.io"
      fi
      if [ -n "$missing" ] && ! command -v iptables >/dev/null 2>&1; then
        missing="$missing iptables"
      fi
      deb_installed busybox-static || missing="${missing:+$missing }busybox-static"
      if [ -n "$missing" ]; then
        apt_install $missing
      fi
      ensure_docker_engine
      ensure_test_image
      smoke_test_docker
      ;;
    tools)
      missing=""
      command -v curl >/dev/null 2>&1 || missing="curl"
      command -v dig >/dev/null 2>&1 || missing="${missing:+$missing }dnsutils"
      command -v sqlite3 >/dev/null 2>&1 || missing="${missing:+$missing }sqlite3"
      command -v tar >/dev/null 2>&1 || missing="${missing:+$missing }tar"
      command -v unzip >/dev/null 2>&1 || missing="${missing:+$missing }unzip"
      command -v bzip2 >/dev/null 2>&1 || missing="${missing:+$missing }bzip2"
      command -v xz >/dev/null 2>&1 || missing="${missing:+$missing }xz-utils"
      command -v git >/dev/null 2>&1 || missing="${missing:+$missing }git"
      # python-consul, a Consul client the prepared queries' end-to-end test uses as is.
      deb_installed python3-consul || missing="${missing:+$missing }python3-consul"
      # The CNI plugins (bridge, host-local, portmap, ...) network mode "cni/<name>" runs.
      [ -x /usr/lib/cni/bridge ] || missing="${missing:+$missing }containernetworking-plugins"
      # The podman, java and containerd-driver task drivers' engines and runtimes.
      command -v podman >/dev/null 2>&1 || missing="${missing:+$missing }podman"
      command -v javac >/dev/null 2>&1 || missing="${missing:+$missing }default-jdk-headless"
      command -v ctr >/dev/null 2>&1 || missing="${missing:+$missing }containerd"
      if [ -n "$missing" ]; then
        apt_install $missing
      fi
      ensure_python_consul2
      ;;
    chromium)
      [ -x /usr/bin/chromium ] || apt_install chromium
      [ -x /usr/bin/chromium ] || fail "the Debian package chromium is installed but /usr/bin/chromium is not there"
      version=$(/usr/bin/chromium --version 2>/dev/null) ||
        fail "/usr/bin/chromium does not start: $(/usr/bin/chromium --version 2>&1 | tail -n 1)"
      say "chromium: $version"
      ;;
    etcd)
      missing=""
      deb_installed etcd-server || missing="etcd-server"
      deb_installed etcd-client || missing="${missing:+$missing }etcd-client"
      busy_before=0
      if listening 2379 || listening 2380; then busy_before=1; fi
      if [ -n "$missing" ]; then
        apt_install $missing
        if [ "$busy_before" -eq 0 ] && { listening 2379 || listening 2380; }; then
          say "the etcd service started by the install listens on 2379/2380; stopping it (the tests start their own members)"
          if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            systemctl stop etcd.service >&2 || true
            systemctl disable etcd.service >&2 || true
          else
            service etcd stop >&2 || true
          fi
        fi
      fi
      [ -x /usr/bin/etcd ] || fail "the Debian package etcd-server is installed but /usr/bin/etcd is not there; reinstall it (apt-get install --reinstall etcd-server)"
      command -v etcdctl >/dev/null 2>&1 || fail "the Debian package etcd-client is installed but etcdctl is not on PATH; reinstall it (apt-get install --reinstall etcd-client)"
      version=$(/usr/bin/etcd --version 2>&1) || fail "/usr/bin/etcd does not run: $(echo "$version" | tail -n 1)"
      ctl_version=$(etcdctl version 2>&1) || fail "etcdctl does not run: $(echo "$ctl_version" | tail -n 1)"
      say "etcd: $(echo "$version" | head -n 1); $(echo "$ctl_version" | head -n 1)"
      if listening 2379 || listening 2380; then
        say "note: something listens on 2379/2380 (etcd's default ports; an etcd service?); the tests do not use these ports and leave it alone"
      fi
      ;;
    *) fail "unknown component '$component' in NEEDED" ;;
  esac
done

echo "test-deps: ready (node $(node -v)${NEEDED:+; $NEEDED})"
