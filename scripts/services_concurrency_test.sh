#!/usr/bin/env bash
# Checks that two `scripts/services.sh up` started at once on one machine
# both succeed: each installs, builds and starts its services into a fresh
# cache and run directory (in a temporary directory, so the real ones are
# not disturbed) on ports of its own, then everything it started is stopped
# (by the pids in its pid files, through `services.sh down`) and the test
# checks that nothing is left running.
#
#   scripts/services_concurrency_test.sh
#
# Ports: HOARD_TEST_RACE_REDIS_PORT (26379), HOARD_TEST_RACE_FERRETDB_PORT
# (37027), HOARD_TEST_RACE_DYNALITE_PORT (18027),
# HOARD_TEST_RACE_REDIS_CLUSTER_PORT (27100: six nodes on 27100..27105, their
# cluster bus on 37100..37105). The first run builds
# FerretDB (a few minutes) and installs dynalite from npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/hoard-services-race.XXXXXX")"
export HOARD_SERVICES_CACHE="$tmp/cache" HOARD_SERVICES_RUN="$tmp/run"
export HOARD_REDIS_PORT="${HOARD_TEST_RACE_REDIS_PORT:-26379}"
export HOARD_FERRETDB_PORT="${HOARD_TEST_RACE_FERRETDB_PORT:-37027}"
export HOARD_DYNALITE_PORT="${HOARD_TEST_RACE_DYNALITE_PORT:-18027}"
export HOARD_REDIS_CLUSTER_PORT="${HOARD_TEST_RACE_REDIS_CLUSTER_PORT:-27100}"
ports=("$HOARD_REDIS_PORT" "$HOARD_FERRETDB_PORT" "$HOARD_DYNALITE_PORT")
for ((i = 0; i < 6; i++)); do
	ports+=($((HOARD_REDIS_CLUSTER_PORT + i)) $((HOARD_REDIS_CLUSTER_PORT + 10000 + i)))
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for p in "${ports[@]}"; do
	if port_open "$p"; then
		echo "FAIL: port $p is taken; choose others (see the header)" >&2
		exit 1
	fi
done

# pids lists the pids of the servers the runs started, from their pid files.
pids() { cat "$HOARD_SERVICES_RUN"/*.pid "$HOARD_SERVICES_RUN"/*/*.pid 2>/dev/null || true; }

cleanup() {
	"$here/services.sh" down >>"$tmp/down.log" 2>&1 || true
}
trap cleanup EXIT

"$here/services.sh" up >"$tmp/a.log" 2>&1 &
a=$!
"$here/services.sh" up >"$tmp/b.log" 2>&1 &
b=$!
fail=0
wait "$a" || { echo "FAIL: the first run failed:" >&2; cat "$tmp/a.log" >&2; fail=1; }
wait "$b" || { echo "FAIL: the second run failed:" >&2; cat "$tmp/b.log" >&2; fail=1; }
for p in "${ports[@]}"; do
	if ! port_open "$p"; then
		echo "FAIL: nothing listens on 127.0.0.1:$p after both runs" >&2
		fail=1
	fi
done
started="$(pids)"
echo "started: $(echo $started)" >&2

"$here/services.sh" down >"$tmp/down.log" 2>&1 || { echo "FAIL: down failed:" >&2; cat "$tmp/down.log" >&2; fail=1; }
trap - EXIT
for pid in $started; do
	if kill -0 "$pid" 2>/dev/null; then
		echo "FAIL: pid $pid still runs after down" >&2
		fail=1
	fi
done
for p in "${ports[@]}"; do
	if port_open "$p"; then
		echo "FAIL: something still listens on 127.0.0.1:$p after down" >&2
		fail=1
	fi
done
if ((fail)); then
	echo "logs kept in $tmp" >&2
	exit 1
fi
sed 's/^/first run: /' "$tmp/a.log"
sed 's/^/second run: /' "$tmp/b.log"
rm -rf "$tmp"
echo "ok: two concurrent runs of services.sh up succeeded, and down stopped everything they started"
