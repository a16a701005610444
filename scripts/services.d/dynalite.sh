# dynalite: a DynamoDB-API server (in memory) for the tests of stores/dynamostore.
# Sourced by scripts/services.sh, which provides HOARD_SERVICES_CACHE,
# HOARD_SERVICES_RUN, wait_port and port_open.
#
# dynalite 4.0.0 from npm, installed into $HOARD_SERVICES_CACHE/dynalite, run
# with the machine's node on 127.0.0.1:$HOARD_DYNALITE_PORT (default 8027).
# Known limits: no UpdateTimeToLive (UnknownOperation); the 400 KB item-size
# limit of DynamoDB is enforced; tables stay CREATING for 500 ms.

DYNALITE_VERSION=4.0.0
DYNALITE_PORT="${HOARD_DYNALITE_PORT:-8027}"
DYNALITE_DIR="$HOARD_SERVICES_CACHE/dynalite"
DYNALITE_CLI="$DYNALITE_DIR/node_modules/dynalite/cli.js"
DYNALITE_PID="$HOARD_SERVICES_RUN/dynalite.pid"
DYNALITE_LOG="$HOARD_SERVICES_RUN/dynalite.log"

# _dynalite_install installs node and npm (Debian packages) and dynalite (npm)
# when they are missing; it does nothing when both are there. It runs under
# the cache's lock, and installs dynalite into a temporary directory renamed
# into place, so that a concurrent run never sees (or runs) half an
# installation.
_dynalite_install() {
	_dynalite_installed && return 0
	with_lock "$HOARD_SERVICES_CACHE/dynalite.lock" _dynalite_install_locked
}

# _dynalite_installed: true when node, npm and the wanted dynalite are there.
_dynalite_installed() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
	[ -f "$DYNALITE_DIR/node_modules/dynalite/package.json" ] || return 1
	[ "$(node -p "require('$DYNALITE_DIR/node_modules/dynalite/package.json').version" 2>/dev/null)" = "$DYNALITE_VERSION" ]
}

_dynalite_install_locked() {
	_dynalite_installed && return 0
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "dynalite: installing nodejs and npm with apt-get" >&2
		local wait=(-o DPkg::Lock::Timeout=600)
		apt-get "${wait[@]}" update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq nodejs npm >&2
	fi
	local major
	major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
	if ((major < 20)); then
		echo "dynalite: warning: node $(node --version 2>/dev/null) is older than the 20 dynalite $DYNALITE_VERSION asks for" >&2
	fi
	local installed=""
	if [ -f "$DYNALITE_DIR/node_modules/dynalite/package.json" ]; then
		installed="$(node -p "require('$DYNALITE_DIR/node_modules/dynalite/package.json').version" 2>/dev/null || true)"
	fi
	if [ "$installed" != "$DYNALITE_VERSION" ]; then
		echo "dynalite: installing dynalite@$DYNALITE_VERSION into $DYNALITE_DIR" >&2
		local tmp
		tmp="$(mktemp -d "$DYNALITE_DIR.new.XXXXXX")"
		if ! npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error \
			"dynalite@$DYNALITE_VERSION" >&2; then
			rm -rf "$tmp"
			return 1
		fi
		if [ -e "$DYNALITE_DIR" ]; then
			mv "$DYNALITE_DIR" "$tmp.old"
		fi
		mv "$tmp" "$DYNALITE_DIR"
		rm -rf "$tmp.old"
	fi
}

# _dynalite_pid prints the pid of the dynalite this script started, if it
# still runs.
_dynalite_pid() {
	local pid
	[ -f "$DYNALITE_PID" ] || return 1
	pid="$(cat "$DYNALITE_PID")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

dynalite_start() {
	if port_open 127.0.0.1 "$DYNALITE_PORT"; then
		echo "dynalite: already listening on 127.0.0.1:$DYNALITE_PORT" >&2
		return 0
	fi
	_dynalite_install
	with_lock "$HOARD_SERVICES_RUN/dynalite.lock" _dynalite_start
}

# _dynalite_start starts dynalite unless something answers on its port;
# called under the run directory's lock.
_dynalite_start() {
	if port_open 127.0.0.1 "$DYNALITE_PORT"; then
		echo "dynalite: already listening on 127.0.0.1:$DYNALITE_PORT" >&2
		return 0
	fi
	echo "dynalite: starting on 127.0.0.1:$DYNALITE_PORT (log $DYNALITE_LOG)" >&2
	# setsid: the server outlives this script and is not in its process group.
	setsid node "$DYNALITE_CLI" --host 127.0.0.1 --port "$DYNALITE_PORT" \
		</dev/null >>"$DYNALITE_LOG" 2>&1 9>&- &
	local pid=$!
	echo "$pid" >"$DYNALITE_PID"
	if ! wait_port 127.0.0.1 "$DYNALITE_PORT" 90 "$pid"; then
		tail -n 20 "$DYNALITE_LOG" >&2 || true
		return 1
	fi
}

dynalite_up() {
	# Installed even when a server is already listening: the fault test of
	# dynamostore starts private instances from this installation.
	_dynalite_install
	dynalite_start
}

dynalite_stop() {
	with_lock "$HOARD_SERVICES_RUN/dynalite.lock" _dynalite_stop
}

_dynalite_stop() {
	local pid i
	if ! pid="$(_dynalite_pid)"; then
		if port_open 127.0.0.1 "$DYNALITE_PORT"; then
			echo "dynalite: 127.0.0.1:$DYNALITE_PORT is served by a process this script did not start; leaving it" >&2
		fi
		rm -f "$DYNALITE_PID"
		return 0
	fi
	echo "dynalite: stopping pid $pid" >&2
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$DYNALITE_PID"
}

dynalite_down() {
	dynalite_stop
}

dynalite_env() {
	echo "export HOARD_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$DYNALITE_PORT"
	# For tests that start a private instance (stop/restart faults).
	echo "export HOARD_DYNALITE_CLI=$DYNALITE_CLI"
}
