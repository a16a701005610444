# shellcheck shell=bash
# FerretDB v1.24.0 with its SQLite backend: the MongoDB wire protocol for the
# tests of stores/mongostore. Sourced by scripts/services.sh, which defines
# wait_port, port_open, HOARD_SERVICES_CACHE and HOARD_SERVICES_RUN.
#
# `go install` of FerretDB fails (the module proxy refuses its version list),
# so the module is downloaded with `go mod download`, copied somewhere
# writable, given the version file its build expects, and built once; the
# binary is kept in $HOARD_SERVICES_CACHE/bin and reused by later runs.

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.0}"
FERRETDB_PORT="${HOARD_FERRETDB_PORT:-27027}"
FERRETDB_BIN="$HOARD_SERVICES_CACHE/bin/ferretdb"
FERRETDB_RUN="$HOARD_SERVICES_RUN/ferretdb"
FERRETDB_PID="$FERRETDB_RUN/ferretdb.pid"
FERRETDB_LOG="$FERRETDB_RUN/ferretdb.log"

# ferretdb_built: true when the cached binary exists and is the wanted version.
ferretdb_built() {
	[ -x "$FERRETDB_BIN" ] || return 1
	# Read the whole output first: grep -q in a pipeline may close it early,
	# and pipefail would then report the writer's SIGPIPE as a mismatch.
	local out
	out="$("$FERRETDB_BIN" --version 2>/dev/null)" || return 1
	[[ $'\n'"$out"$'\n' == *$'\n'"version: $FERRETDB_VERSION"$'\n'* ]]
}

# ferretdb_build: download and build the binary unless it is already cached,
# under the cache's lock (a concurrent run waits, then finds it built).
ferretdb_build() {
	ferretdb_built && return 0
	with_lock "$HOARD_SERVICES_CACHE/ferretdb.lock" _ferretdb_build
}

_ferretdb_build() {
	ferretdb_built && return 0
	if ! command -v go >/dev/null; then
		echo "services: ferretdb: the go command is needed to build FerretDB" >&2
		return 1
	fi
	echo "services: ferretdb: building FerretDB $FERRETDB_VERSION (once; about a minute)" >&2
	local dir src
	dir="$(cd "$HOARD_SERVICES_CACHE" && GOWORK=off \
		go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		echo "services: ferretdb: go mod download of FerretDB $FERRETDB_VERSION failed" >&2
		return 1
	fi
	# The module cache is read-only: build from a writable copy, in a
	# directory of this build's own, and write the binary under a
	# temporary name renamed into place, so that an interrupted build never
	# leaves a half-written binary that later runs would trust.
	mkdir -p "$HOARD_SERVICES_CACHE/src" "$HOARD_SERVICES_CACHE/bin"
	src="$(mktemp -d "$HOARD_SERVICES_CACHE/src/ferretdb-$FERRETDB_VERSION.XXXXXX")"
	local tmpbin="$HOARD_SERVICES_CACHE/bin/.ferretdb.$$.tmp"
	cp -R "$dir/." "$src/"
	chmod -R u+w "$src"
	printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
	if ! (cd "$src" && GOWORK=off GOFLAGS=-buildvcs=false \
		go build -o "$tmpbin" ./cmd/ferretdb) >&2; then
		echo "services: ferretdb: go build failed" >&2
		rm -rf "$tmpbin" "$src"
		return 1
	fi
	mv -f "$tmpbin" "$FERRETDB_BIN"
	rm -rf "$src"
}

# ferretdb_start: start the server unless something already answers on its
# port, and wait until it accepts connections; under the run directory's
# lock, so that a concurrent run waits and then reuses it.
ferretdb_start() {
	with_lock "$HOARD_SERVICES_RUN/ferretdb.lock" _ferretdb_start
}

_ferretdb_start() {
	if port_open 127.0.0.1 "$FERRETDB_PORT"; then
		echo "services: ferretdb: already listening on 127.0.0.1:$FERRETDB_PORT" >&2
		return 0
	fi
	ferretdb_build
	# The data is test data, and FerretDB's SQLite files only grow (a 1 GiB
	# body leaves gigabytes of file and log behind that slow every later
	# query): a server this script starts begins on an empty directory.
	rm -rf "$FERRETDB_RUN/data" "$FERRETDB_RUN/data.old"
	# When a first start fails all the same, the server is started once more
	# on a fresh directory.
	_ferretdb_launch && return 0
	echo "services: ferretdb: retrying on a fresh data directory" >&2
	_ferretdb_stop_pid
	rm -rf "$FERRETDB_RUN/data.old"
	mv "$FERRETDB_RUN/data" "$FERRETDB_RUN/data.old" 2>/dev/null || true
	rm -f "$FERRETDB_RUN/state.json"
	_ferretdb_launch
}

# _ferretdb_launch starts the server and waits up to 90 s (a loaded machine
# is slow) for its port, printing the end of its log when it does not come.
_ferretdb_launch() {
	mkdir -p "$FERRETDB_RUN/data"
	echo "services: ferretdb: starting on 127.0.0.1:$FERRETDB_PORT" >&2
	# Every path FerretDB writes (data, state dir, log) is under
	# $HOARD_SERVICES_RUN; debug and telemetry listeners are off. setsid:
	# the server outlives this script and is not in its process group.
	setsid "$FERRETDB_BIN" \
		--handler=sqlite \
		--sqlite-url="file:$FERRETDB_RUN/data/" \
		--listen-addr="127.0.0.1:$FERRETDB_PORT" \
		--state-dir="$FERRETDB_RUN" \
		--debug-addr=- \
		--telemetry=disable \
		--log-level=warn \
		</dev/null >>"$FERRETDB_LOG" 2>&1 9>&- &
	local pid=$!
	echo "$pid" >"$FERRETDB_PID"
	if ! wait_port 127.0.0.1 "$FERRETDB_PORT" 90 "$pid"; then
		echo "services: ferretdb: the end of $FERRETDB_LOG:" >&2
		tail -n 30 "$FERRETDB_LOG" >&2 || true
		return 1
	fi
}

# ferretdb_stop: stop the server this script started (if any).
ferretdb_stop() {
	with_lock "$HOARD_SERVICES_RUN/ferretdb.lock" _ferretdb_stop
}

_ferretdb_stop() { _ferretdb_stop_pid; }

# _ferretdb_stop_pid stops the server whose pid this script recorded, if it
# is still a ferretdb; the caller holds the run directory's lock.
_ferretdb_stop_pid() {
	[ -f "$FERRETDB_PID" ] || return 0
	local pid i
	pid="$(cat "$FERRETDB_PID")"
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		grep -q ferretdb "/proc/$pid/cmdline" 2>/dev/null; then
		echo "services: ferretdb: stopping (pid $pid)" >&2
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$FERRETDB_PID"
}

# ferretdb_up also builds the binary when a server already listens on the
# port, so that tests which start a private instance find it.
ferretdb_up() {
	ferretdb_build
	ferretdb_start
}
ferretdb_down() { ferretdb_stop; }
ferretdb_env() {
	echo "export HOARD_TEST_MONGO_URL=mongodb://127.0.0.1:$FERRETDB_PORT/"
	# The binary, for tests that start a private instance (fault tests).
	echo "export HOARD_FERRETDB_BIN=$(printf %q "$FERRETDB_BIN")"
}
