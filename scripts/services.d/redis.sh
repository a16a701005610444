# Redis for the tests of stores/redisstore: Debian's redis-server on
# 127.0.0.1:6379 (HOARD_REDIS_PORT overrides the port). Sourced by
# scripts/services.sh, which provides wait_port and port_open and exports
# HOARD_SERVICES_CACHE and HOARD_SERVICES_RUN.
#
# A server already listening on the port is reused as it is: the tests keep
# to a key prefix of their own and delete only their keys, so it is never
# flushed. A server this script starts keeps nothing on disk (no RDB, no AOF)
# and is the only one redis_down and redis_stop ever stop.

redis_port() { echo "${HOARD_REDIS_PORT:-6379}"; }
redis_pidfile() { echo "$HOARD_SERVICES_RUN/redis.pid"; }

# redis_ours prints the pid of the redis-server this script started, if it
# still runs, and fails otherwise.
redis_ours() { redis_pid_running "$(redis_pidfile)"; }

# redis_pid_running PIDFILE prints the pid in PIDFILE if that process still
# runs and is a redis-server, and fails otherwise (rediscluster.sh uses it
# too).
redis_pid_running() {
	local pid
	[ -s "$1" ] || return 1
	pid="$(cat "$1")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null || grep -q redis "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

# redis_stop_pid PID stops that redis-server: SIGTERM, then SIGKILL if it
# still runs after 10s.
redis_stop_pid() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "redis: pid $pid did not stop in 10s; killing it" >&2
	kill -9 "$pid" 2>/dev/null || true
}

redis_install() {
	command -v redis-server >/dev/null 2>&1 && return 0
	with_lock "$HOARD_SERVICES_CACHE/redis.lock" _redis_install
}

_redis_install() {
	command -v redis-server >/dev/null 2>&1 && return 0
	echo "redis: installing Debian's redis-server" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Try without refreshing the package lists first (fast when they are
	# recent); refresh them once if that fails. apt waits for a concurrent
	# apt (of another checkout's run) instead of failing.
	local wait=(-o DPkg::Lock::Timeout=600)
	if ! apt-get "${wait[@]}" install -y --no-install-recommends redis-server >&2 2>/dev/null; then
		apt-get "${wait[@]}" update >&2
		apt-get "${wait[@]}" install -y --no-install-recommends redis-server >&2
	fi
	command -v redis-server >/dev/null 2>&1 || {
		echo "redis: redis-server is still missing after apt-get install" >&2
		return 1
	}
}

redis_up() {
	redis_install
	with_lock "$HOARD_SERVICES_RUN/redis.lock" _redis_start
}

# _redis_start starts redis-server unless something answers on the port;
# called under the run directory's lock.
_redis_start() {
	local port
	port="$(redis_port)"
	# The package's own service may have started with the install, and a
	# machine may run one anyway: reuse whatever answers on the port.
	if port_open 127.0.0.1 "$port"; then
		if redis_ours >/dev/null; then
			echo "redis: running (started by this script) on 127.0.0.1:$port" >&2
		else
			echo "redis: reusing the server already on 127.0.0.1:$port" >&2
		fi
		return 0
	fi
	echo "redis: starting redis-server on 127.0.0.1:$port" >&2
	redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
		--save "" --appendonly no \
		--pidfile "$(redis_pidfile)" --logfile "$HOARD_SERVICES_RUN/redis.log" \
		--dir "$HOARD_SERVICES_RUN" >&2 9>&-
	wait_port 127.0.0.1 "$port" 15 || {
		echo "redis: see $HOARD_SERVICES_RUN/redis.log" >&2
		return 1
	}
}

redis_down() {
	with_lock "$HOARD_SERVICES_RUN/redis.lock" _redis_down
}

_redis_down() {
	local pid port
	port="$(redis_port)"
	if ! pid="$(redis_ours)"; then
		rm -f "$(redis_pidfile)"
		if port_open 127.0.0.1 "$port"; then
			echo "redis: leaving the server on 127.0.0.1:$port alone (not started by this script)" >&2
		fi
		return 0
	fi
	echo "redis: stopping redis-server (pid $pid)" >&2
	redis_stop_pid "$pid"
	rm -f "$(redis_pidfile)"
}

redis_env() {
	echo "export HOARD_TEST_REDIS_URL=redis://127.0.0.1:$(redis_port)/0"
}

# redis_stop stops the server this script started. A server it did not start
# (the machine's own) is never stopped: that is an error, so a fault test
# that relies on it notices. redisstore's own fault test starts a private
# redis-server instead.
redis_stop() {
	local port
	port="$(redis_port)"
	if ! redis_ours >/dev/null && port_open 127.0.0.1 "$port"; then
		echo "redis: the server on 127.0.0.1:$port was not started by this script; not stopping it" >&2
		return 1
	fi
	redis_down
}

redis_start() { redis_up; }
