#!/bin/sh
# Installs the programs the benchmarks compare Ruche against, once, before a benchmark
# runs. Each is listed in NEEDED with the Debian package it comes from; where one is
# missing and we are root, its package is installed. Nothing is started here: each
# benchmark starts what it compares against itself, on free ports of 127.0.0.1, and
# stops it when done. A program that cannot be had makes this script fail and say what
# is missing: a benchmark never drops its peer figure silently.
#
#   etcd, etcdctl  (etcd-server, etcd-client)  the KV and watch peer of bench:catalog and bench:etcd
#   wrk            (wrk)                       HTTP load generator for the router bench
#   nginx, haproxy (nginx, haproxy)            proxy peers of the router bench
#
# The Debian packages of nginx and haproxy start their service when installed where an
# init system runs; the benchmarks do not rely on that and use their own configuration.
set -eu

# program:package pairs, one per program the benchmarks run.
NEEDED="etcd:etcd-server etcdctl:etcd-client wrk:wrk nginx:nginx haproxy:haproxy"

DEPS_NAME=bench-deps
. "$(dirname "$0")/deps-common.sh"

# Debian puts etcd, nginx and haproxy in /usr/sbin, which a non-login root shell may lack.
PATH="$PATH:/usr/sbin:/sbin"

missing=""
for pair in $NEEDED; do
  program=${pair%%:*}
  package=${pair#*:}
  command -v "$program" >/dev/null 2>&1 || missing="${missing:+$missing }$package"
done
if [ -n "$missing" ]; then
  apt_install $missing
fi

still=""
for pair in $NEEDED; do
  program=${pair%%:*}
  command -v "$program" >/dev/null 2>&1 || still="${still:+$still }$program (${pair#*:})"
done
[ -z "$still" ] || fail "still missing after installing: $still"

say "ready ($(etcd --version 2>/dev/null | head -n 1); $(command -v wrk) $(command -v nginx) $(command -v haproxy))"
