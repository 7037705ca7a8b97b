#!/bin/sh
# Brings up the real components the test suite needs, once, before the tests run.
# Each component the tests use is listed in NEEDED; where one is missing and we are
# root, its Debian package is installed and it is started privately for the tests.
# A component that cannot be had makes this script fail and say what is missing:
# tests never skip silently.
#
# Today's tests (job files, data model, CLI) need no outside component; the list grows
# with the tests: docker (docker.io, dockerd --storage-driver=vfs, images built
# locally from busybox-static), etcd (etcd-server), chromium (chromium).
set -eu

NEEDED=""

fail() {
  echo "test-deps: $*" >&2
  exit 1
}

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js 20 or newer is needed, found $(node -v)"

for component in $NEEDED; do
  case "$component" in
    *) fail "unknown component '$component' in NEEDED" ;;
  esac
done

echo "test-deps: ready (node $(node -v)${NEEDED:+; $NEEDED})"
