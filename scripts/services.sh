#!/usr/bin/env bash
# Starts, stops and describes the servers the tests of hoard's networked
# stores need, on loopback only. Idempotent: `up` reuses a server already
# listening on its port and installs only what is missing.
#
#   scripts/services.sh up            install (if needed) and start every service
#   scripts/services.sh down          stop the services this script started
#   scripts/services.sh env           print the HOARD_TEST_* variables (for eval)
#   scripts/services.sh stop NAME     stop one service (fault tests)
#   scripts/services.sh start NAME    start one service again
#
# Each service lives in scripts/services.d/NAME.sh and defines the functions
# NAME_up, NAME_down, NAME_env, NAME_stop and NAME_start.
#
# Several runs may overlap on one machine (two checkouts testing at once):
# each service installs or builds under an exclusive lock in
# $HOARD_SERVICES_CACHE and starts or stops under one in $HOARD_SERVICES_RUN
# (flock), builds into a temporary directory that is renamed into place, and
# reuses a server that a concurrent run has just started.
#
# Ports: HOARD_REDIS_PORT (6379), HOARD_FERRETDB_PORT (27027),
# HOARD_DYNALITE_PORT (8027), HOARD_POSTGRES_PORT (5432), HOARD_REDIS_CLUSTER_PORT
# (7100: the base of the six Redis Cluster nodes, 7100..7105).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Built binaries and downloads are kept here between runs.
export HOARD_SERVICES_CACHE="${HOARD_SERVICES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoard-services}"
# Data, logs and pid files of running servers.
export HOARD_SERVICES_RUN="${HOARD_SERVICES_RUN:-/tmp/hoard-services}"
mkdir -p "$HOARD_SERVICES_CACHE" "$HOARD_SERVICES_RUN"

services=()
for f in "$here"/services.d/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	source "$f"
	services+=("$(basename "$f" .sh)")
done

# wait_port HOST PORT SECONDS [PID]: wait until something accepts
# connections; with PID, give up at once when that process has exited (a
# server that died at start never opens its port).
wait_port() {
	local host=$1 port=$2 deadline=$((SECONDS + $3)) pid=${4:-}
	while ((SECONDS < deadline)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "services: the server for $host:$port (pid $pid) exited before listening" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "services: nothing listens on $host:$port after $3s" >&2
	return 1
}

# port_open HOST PORT: true when something accepts connections now.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# with_lock FILE CMD...: run CMD (a command or a function) in a subshell
# that holds an exclusive flock on FILE, waiting up to 15 minutes for a
# concurrent run (a FerretDB build takes a few). The lock is on file
# descriptor 9: a server started under it must close that descriptor
# (9>&-), or it would hold the lock for as long as it runs.
with_lock() {
	local file=$1
	shift
	mkdir -p "$(dirname "$file")"
	(
		if ! flock -w 900 9; then
			echo "services: waited 15 minutes for the lock $file; giving up" >&2
			exit 1
		fi
		"$@"
	) 9>"$file"
}

cmd="${1:-}"
case "$cmd" in
up | down | env)
	for s in "${services[@]}"; do "${s}_${cmd}"; done
	;;
stop | start)
	name="${2:?usage: services.sh $cmd NAME}"
	if ! declare -F "${name}_${cmd}" >/dev/null; then
		echo "services: unknown service $name (known: ${services[*]})" >&2
		exit 2
	fi
	"${name}_${cmd}"
	;;
*)
	echo "usage: services.sh up|down|env|stop NAME|start NAME" >&2
	exit 2
	;;
esac
