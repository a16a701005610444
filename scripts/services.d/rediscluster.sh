# shellcheck shell=bash
# A Redis Cluster for the tests of stores/redisstore: three masters and three
# replicas, six Debian redis-server processes in cluster mode on
# 127.0.0.1:7100..7105 (HOARD_REDIS_CLUSTER_PORT moves the base port), joined
# with `redis-cli --cluster create --cluster-replicas 1`. Sourced by
# scripts/services.sh, which provides wait_port, port_open and with_lock,
# after redis.sh, whose redis_install, redis_pid_running and redis_stop_pid
# it uses.
#
# A cluster that answers `cluster_state:ok` with six known nodes on every
# port is reused as it is, whoever started it: the tests keep to key prefixes
# of their own. When the nodes run but do not form a healthy cluster (one
# died, a half-finished create), the ones this script started are stopped and
# the cluster is created again on empty data directories; a port held by a
# process this script did not start is an error, never killed. Nodes keep
# nothing on disk but their nodes.conf, under $HOARD_SERVICES_RUN/rediscluster.
#
# Fault tests never stop this cluster: redisstore's fault test starts a
# private one.

REDIS_CLUSTER_NODES=6
REDIS_CLUSTER_RUN="$HOARD_SERVICES_RUN/rediscluster"
# How long a master may be unreachable before its replica takes over.
REDIS_CLUSTER_NODE_TIMEOUT="${HOARD_REDIS_CLUSTER_NODE_TIMEOUT:-5000}"

# rediscluster_ports prints the six ports, one a line.
rediscluster_ports() {
	local base=${HOARD_REDIS_CLUSTER_PORT:-7100} i
	for ((i = 0; i < REDIS_CLUSTER_NODES; i++)); do echo $((base + i)); done
}

rediscluster_pidfile() { echo "$REDIS_CLUSTER_RUN/node-$1.pid"; }

# rediscluster_ours PORT prints the pid of the node this script started on
# PORT, if it still runs, and fails otherwise.
rediscluster_ours() { redis_pid_running "$(rediscluster_pidfile "$1")"; }

# rediscluster_node_ok PORT: the node on PORT is in a healthy cluster of six.
rediscluster_node_ok() {
	local info
	info="$(redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null)" || return 1
	[[ $info == *cluster_state:ok* && $info == *"cluster_known_nodes:$REDIS_CLUSTER_NODES"* ]]
}

# rediscluster_healthy: every node answers and sees a healthy cluster.
rediscluster_healthy() {
	local p
	for p in $(rediscluster_ports); do
		port_open 127.0.0.1 "$p" && rediscluster_node_ok "$p" || return 1
	done
}

rediscluster_up() {
	redis_install
	with_lock "$HOARD_SERVICES_RUN/rediscluster.lock" _rediscluster_start
}

# _rediscluster_start reuses a healthy cluster or creates one; called under
# the run directory's lock.
_rediscluster_start() {
	local ports p
	ports="$(rediscluster_ports)"
	if rediscluster_healthy; then
		echo "rediscluster: reusing the healthy cluster on 127.0.0.1 ports $(echo $ports)" >&2
		return 0
	fi
	# Not healthy: start again from nothing, with only our own nodes.
	for p in $ports; do
		if port_open 127.0.0.1 "$p" && ! rediscluster_ours "$p" >/dev/null; then
			echo "rediscluster: 127.0.0.1:$p is taken by a process this script did not start, and the cluster is not healthy; set HOARD_REDIS_CLUSTER_PORT to a free base port" >&2
			return 1
		fi
	done
	if [ -d "$REDIS_CLUSTER_RUN" ]; then
		echo "rediscluster: the cluster is not healthy; creating it again" >&2
	fi
	_rediscluster_stop_all
	rm -rf "$REDIS_CLUSTER_RUN"
	mkdir -p "$REDIS_CLUSTER_RUN"
	echo "rediscluster: starting six cluster nodes on 127.0.0.1 ports $(echo $ports)" >&2
	for p in $ports; do
		mkdir -p "$REDIS_CLUSTER_RUN/node-$p"
		redis-server --daemonize yes --bind 127.0.0.1 --port "$p" \
			--cluster-enabled yes --cluster-config-file "nodes-$p.conf" \
			--cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT" \
			--save "" --appendonly no \
			--pidfile "$(rediscluster_pidfile "$p")" \
			--logfile "$REDIS_CLUSTER_RUN/node-$p.log" \
			--dir "$REDIS_CLUSTER_RUN/node-$p" >&2 9>&-
	done
	for p in $ports; do
		wait_port 127.0.0.1 "$p" 15 || {
			echo "rediscluster: see $REDIS_CLUSTER_RUN/node-$p.log" >&2
			return 1
		}
	done
	local addrs=()
	for p in $ports; do addrs+=("127.0.0.1:$p"); done
	if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
		>"$REDIS_CLUSTER_RUN/create.log" 2>&1 9>&-; then
		echo "rediscluster: redis-cli --cluster create failed:" >&2
		tail -n 30 "$REDIS_CLUSTER_RUN/create.log" >&2 || true
		return 1
	fi
	# The nodes agree on the slots and on each other by gossip: wait (up to
	# a minute on a loaded machine) until every one reports the cluster ok.
	local deadline=$((SECONDS + 60))
	until rediscluster_healthy; do
		if ((SECONDS >= deadline)); then
			echo "rediscluster: the cluster is not ok after 60s:" >&2
			for p in $ports; do
				echo "  $p: $(redis-cli -h 127.0.0.1 -p "$p" cluster info 2>&1 | grep -E 'cluster_state|known_nodes' | tr -d '\r' | tr '\n' ' ')" >&2
			done
			return 1
		fi
		sleep 0.2
	done
	echo "rediscluster: cluster ok" >&2
}

# _rediscluster_stop_all stops every node this script started, by the pids
# in its pid files, and nothing else; the caller holds the lock.
_rediscluster_stop_all() {
	local p pid
	for p in $(rediscluster_ports); do
		if pid="$(rediscluster_ours "$p")"; then
			echo "rediscluster: stopping the node on 127.0.0.1:$p (pid $pid)" >&2
			redis_stop_pid "$pid"
		fi
		rm -f "$(rediscluster_pidfile "$p")"
	done
}

rediscluster_down() {
	with_lock "$HOARD_SERVICES_RUN/rediscluster.lock" _rediscluster_down
}

_rediscluster_down() {
	local p
	_rediscluster_stop_all
	for p in $(rediscluster_ports); do
		if port_open 127.0.0.1 "$p"; then
			echo "rediscluster: leaving the server on 127.0.0.1:$p alone (not started by this script)" >&2
		fi
	done
}

rediscluster_env() {
	local addrs=() p
	for p in $(rediscluster_ports); do addrs+=("127.0.0.1:$p"); done
	local IFS=,
	echo "export HOARD_TEST_REDIS_CLUSTER_ADDRS=${addrs[*]}"
}

# rediscluster_stop stops the nodes this script started (never another's).
rediscluster_stop() { rediscluster_down; }
rediscluster_start() { rediscluster_up; }
