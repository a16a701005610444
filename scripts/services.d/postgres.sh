# PostgreSQL for the tests of stores/pgstore: 127.0.0.1:5432 (HOARD_POSTGRES_PORT
# overrides the port), trust authentication, database "test". Sourced by
# scripts/services.sh, which provides wait_port, port_open and with_lock and
# exports HOARD_SERVICES_CACHE and HOARD_SERVICES_RUN.
#
# A server already listening on the port is reused as it is: the tests keep
# to tables of their own (a random suffix) and drop only those. Otherwise
# the Debian cluster is started (pg_ctlcluster), installing Debian's
# postgresql package when it is missing; a cluster this script started is
# the only one postgres_down and postgres_stop ever stop (a marker file in
# the run directory records it). The fault tests of stores/pgstore start a
# private server of their own (initdb into a temporary directory) and never
# touch this one.

postgres_port() { echo "${HOARD_POSTGRES_PORT:-5432}"; }
postgres_marker() { echo "$HOARD_SERVICES_RUN/postgres.started"; }

# postgres_cluster prints the version of the Debian cluster "main" (the
# newest, when several versions are installed), and fails without one.
postgres_cluster() {
	local v
	v="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)"
	[ -n "$v" ] && [ -d "/etc/postgresql/$v/main" ] || return 1
	echo "$v"
}

postgres_install() {
	postgres_cluster >/dev/null && return 0
	with_lock "$HOARD_SERVICES_CACHE/postgres.lock" _postgres_install
}

_postgres_install() {
	postgres_cluster >/dev/null && return 0
	echo "postgres: installing Debian's postgresql" >&2
	export DEBIAN_FRONTEND=noninteractive
	local wait=(-o DPkg::Lock::Timeout=600)
	if ! apt-get "${wait[@]}" install -y --no-install-recommends postgresql >&2 2>/dev/null; then
		apt-get "${wait[@]}" update >&2
		apt-get "${wait[@]}" install -y --no-install-recommends postgresql >&2
	fi
	postgres_cluster >/dev/null || {
		echo "postgres: no cluster in /etc/postgresql after apt-get install postgresql" >&2
		return 1
	}
}

postgres_up() {
	local port
	port="$(postgres_port)"
	# A server that answers needs no install: reuse it.
	if ! port_open 127.0.0.1 "$port"; then
		postgres_install
	fi
	with_lock "$HOARD_SERVICES_RUN/postgres.lock" _postgres_start
}

# _postgres_start starts the Debian cluster unless something answers on the
# port, then makes sure the database "test" exists and that local
# connections are trusted; called under the run directory's lock.
_postgres_start() {
	local port v
	port="$(postgres_port)"
	if port_open 127.0.0.1 "$port"; then
		if [ -e "$(postgres_marker)" ]; then
			echo "postgres: running (started by this script) on 127.0.0.1:$port" >&2
		else
			echo "postgres: reusing the server already on 127.0.0.1:$port" >&2
		fi
	else
		v="$(postgres_cluster)" || {
			echo "postgres: nothing listens on 127.0.0.1:$port and no Debian cluster is installed (apt-get install postgresql)" >&2
			return 1
		}
		if [ "$port" != "$(awk -F= '/^[[:space:]]*port[[:space:]]*=/{gsub(/[^0-9]/,"",$2); print $2}' "/etc/postgresql/$v/main/postgresql.conf")" ]; then
			echo "postgres: the Debian cluster $v/main does not listen on port $port (HOARD_POSTGRES_PORT); start a server there yourself" >&2
			return 1
		fi
		postgres_trust "$v"
		echo "postgres: starting the Debian cluster $v/main on 127.0.0.1:$port" >&2
		touch "$(postgres_marker)"
		pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 9>&- || {
			rm -f "$(postgres_marker)"
			echo "postgres: pg_ctlcluster failed; see /var/log/postgresql/postgresql-$v-main.log" >&2
			tail -n 20 "/var/log/postgresql/postgresql-$v-main.log" >&2 2>/dev/null || true
			return 1
		}
		wait_port 127.0.0.1 "$port" 60 || return 1
	fi
	postgres_database "$port"
}

# postgres_trust makes the cluster trust TCP connections from loopback (the
# tests connect without a password), once, before the cluster starts.
postgres_trust() {
	local hba="/etc/postgresql/$1/main/pg_hba.conf"
	grep -q '^# hoard: trust loopback' "$hba" 2>/dev/null && return 0
	local tmp
	tmp="$(mktemp)"
	{
		echo '# hoard: trust loopback (scripts/services.d/postgres.sh)'
		echo 'host all all 127.0.0.1/32 trust'
		echo 'host all all ::1/128 trust'
		cat "$hba"
	} >"$tmp"
	cat "$tmp" >"$hba"
	rm -f "$tmp"
}

# postgres_database creates the database "test" when it is missing. A
# Debian cluster that the package's install started itself asks loopback
# clients for a password: it is made to trust them, and reloaded.
postgres_database() {
	local port=$1 psql=(psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtq) v
	command -v psql >/dev/null 2>&1 || return 0 # a foreign server without the client: the tests report it
	if ! "${psql[@]}" -c 'SELECT 1' >/dev/null 2>&1 && v="$(postgres_cluster)" && [ "$(id -u)" = 0 ]; then
		echo "postgres: making the Debian cluster $v/main trust loopback connections" >&2
		postgres_trust "$v"
		pg_ctlcluster --skip-systemctl-redirect "$v" main reload >&2 9>&- || true
		sleep 1
	fi
	if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null)" != 1 ]; then
		echo "postgres: creating the database test" >&2
		"${psql[@]}" -c 'CREATE DATABASE test' >&2 || {
			echo "postgres: cannot create the database test on 127.0.0.1:$port (is it trusting loopback?)" >&2
			return 1
		}
	fi
}

postgres_down() {
	with_lock "$HOARD_SERVICES_RUN/postgres.lock" _postgres_down
}

_postgres_down() {
	local port v
	port="$(postgres_port)"
	if [ ! -e "$(postgres_marker)" ]; then
		if port_open 127.0.0.1 "$port"; then
			echo "postgres: leaving the server on 127.0.0.1:$port alone (not started by this script)" >&2
		fi
		return 0
	fi
	v="$(postgres_cluster)" || { rm -f "$(postgres_marker)"; return 0; }
	echo "postgres: stopping the Debian cluster $v/main" >&2
	pg_ctlcluster --skip-systemctl-redirect "$v" main stop -m fast >&2 9>&- || true
	rm -f "$(postgres_marker)"
}

postgres_env() {
	echo "export HOARD_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$(postgres_port)/test?sslmode=disable'"
	# The fault tests of stores/pgstore start a private server with these.
	local bin
	bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
	[ -n "$bin" ] && echo "export HOARD_POSTGRES_BIN=$bin"
	return 0
}

# postgres_stop stops the cluster this script started. A server it did not
# start is never stopped: that is an error, so a fault test relying on it
# notices. pgstore's own fault test starts a private server instead.
postgres_stop() {
	local port
	port="$(postgres_port)"
	if [ ! -e "$(postgres_marker)" ] && port_open 127.0.0.1 "$port"; then
		echo "postgres: the server on 127.0.0.1:$port was not started by this script; not stopping it" >&2
		return 1
	fi
	postgres_down
}

postgres_start() { postgres_up; }
