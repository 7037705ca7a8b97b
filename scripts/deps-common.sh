# Helpers shared by the scripts that install what the tests and benchmarks need, sourced
# with DEPS_NAME set to the script's name (it prefixes every message).
# Messages go to standard error, so that a benchmark's standard output stays its JSON.

fail() {
  echo "$DEPS_NAME: $*" >&2
  exit 1
}

say() {
  echo "$DEPS_NAME: $*" >&2
}

# apt_install PACKAGE... installs Debian packages, without a terminal and without
# recommends; the package lists are refreshed when the first try fails. Services the
# packages bring are not started by their install where no policy says otherwise.
apt_install() {
  [ "$(id -u)" -eq 0 ] ||
    fail "missing Debian packages: $*; install them (apt-get install --no-install-recommends $*) or run this script as root"
  command -v apt-get >/dev/null 2>&1 || fail "missing: $* (Debian packages), and there is no apt-get here to install them"
  say "installing $* ..."
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exit 101: invoke-rc.d starts no service during this install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
    say "refreshing the package lists and trying again ..."
    apt-get update -q >&2 || fail "apt-get update failed; could not install $*"
    apt-get install -y -q --no-install-recommends "$@" >&2 || fail "apt-get install $* failed"
  fi
}
