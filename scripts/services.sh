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

# wait_port HOST PORT SECONDS: wait until something accepts connections.
wait_port() {
	local host=$1 port=$2 deadline=$((SECONDS + $3))
	while ((SECONDS < deadline)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	echo "services: nothing listens on $host:$port after $3s" >&2
	return 1
}

# port_open HOST PORT: true when something accepts connections now.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

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
