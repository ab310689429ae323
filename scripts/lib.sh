# shellcheck shell=bash
# Helpers shared by scripts/run and scripts/test. Source this file; do not execute it.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

SCRIPT_NAME="scripts/$(basename "$0")"

log() { printf '==> %s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
warn() { printf '==> %s: WARNING: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '==> %s: ERROR: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------

require_dotnet() {
    command -v dotnet >/dev/null 2>&1 \
        || die "'dotnet' is not on PATH. Install the .NET 10 SDK (https://dot.net) and make sure 'dotnet' is on PATH."
}

# ensure_apt_packages PKG...: installs the packages that `dpkg -s` reports missing.
# apt-get update/install only run when something is actually missing.
ensure_apt_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0

    log "installing missing apt packages: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${missing[*]}"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install manually: ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed: ${missing[*]}"
}

# Packages both scripts need (curl is used by the smoke test; redis-server pulls in redis-tools).
REQUIRED_APT_PACKAGES=(postgresql redis-server clang zlib1g-dev curl)

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

_PICKED_PORTS=" "

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        # Any state, not only listening: a connection's local port blocks a bind too.
        [[ -n "$(ss -Htan "sport = :$port" 2>/dev/null)" ]] && return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# free_port: prints a loopback TCP port that is currently free and was not handed out before
# by this shell. Must be called without command substitution to remember the port, so it
# sets FREE_PORT instead of printing.
free_port() {
    local i port lo=10000 hi=32768
    # Below the kernel's range for outgoing connections' local ports: a port from that range can
    # be taken by a new connection between the check and the bind (a CI run lost Redis that way).
    read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if ((hi - lo < 2000)); then lo=20000 hi=60000; fi
    for ((i = 0; i < 200; i++)); do
        port=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
        [[ "$_PICKED_PORTS" == *" $port "* ]] && continue
        port_in_use "$port" && continue
        _PICKED_PORTS+="$port "
        FREE_PORT=$port
        return 0
    done
    die "could not find a free TCP port on 127.0.0.1"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

# pg_bin_dir: the newest /usr/lib/postgresql/<ver>/bin that has initdb.
pg_bin_dir() {
    local d best=""
    for d in $(ls -1d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && best=$d
    done
    [[ -n "$best" ]] || die "no PostgreSQL server binaries found under /usr/lib/postgresql/*/bin"
    printf '%s\n' "$best"
}

# pg_as_owner CMD...: initdb/pg_ctl refuse to run as root, so run them as the 'postgres' OS user then.
pg_as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_check_traversable DIR: the postgres OS user must be able to reach DIR.
pg_check_traversable() {
    local dir=$1
    is_root || return 0
    runuser -u postgres -- test -x "$dir" -a -r "$dir" 2>/dev/null \
        || die "the 'postgres' OS user cannot access $dir (a parent directory is not world-executable); chmod o+x its parents or set DATABASE_URL"
}

# pg_init DATADIR [EXTRA_CONF_LINES...]: creates a trust-auth cluster listening on 127.0.0.1 only,
# with its unix socket inside DATADIR.
pg_init() {
    local datadir=$1; shift
    local bin; bin=$(pg_bin_dir)
    mkdir -p "$datadir"
    chmod 700 "$datadir"
    if is_root; then
        chown postgres:postgres "$datadir"
        pg_check_traversable "$datadir"
    fi
    log "initdb $datadir"
    pg_as_owner "$bin/initdb" -D "$datadir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$datadir.initdb.log" 2>&1 \
        || pg_as_owner "$bin/initdb" -D "$datadir" -A trust -U postgres -E UTF8 --no-locale >"$datadir.initdb.log" 2>&1 \
        || { cat "$datadir.initdb.log" >&2; die "initdb failed for $datadir"; }
    rm -f "$datadir.initdb.log"
    {
        echo ""
        echo "# --- added by $SCRIPT_NAME ---"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$datadir'"
        local line
        for line in "$@"; do echo "$line"; done
    } | pg_as_owner tee -a "$datadir/postgresql.conf" >/dev/null
}

# pg_running DATADIR: true if the cluster in DATADIR is up.
pg_running() {
    local datadir=$1 bin; bin=$(pg_bin_dir)
    [[ -f "$datadir/postmaster.pid" ]] || return 1
    pg_as_owner "$bin/pg_ctl" -D "$datadir" status >/dev/null 2>&1
}

# pg_running_port DATADIR: the port the running cluster listens on (line 4 of postmaster.pid).
pg_running_port() {
    sed -n 4p "$1/postmaster.pid"
}

# pg_start DATADIR PORT: starts the cluster and waits until it accepts connections.
pg_start() {
    local datadir=$1 port=$2 bin; bin=$(pg_bin_dir)
    local logfile="$datadir/server.log"
    log "starting PostgreSQL ($datadir) on 127.0.0.1:$port"
    if ! pg_as_owner "$bin/pg_ctl" -D "$datadir" -l "$logfile" -o "-p $port" -w -t 60 start >/dev/null; then
        tail -n 30 "$logfile" >&2 2>/dev/null || true
        die "PostgreSQL failed to start on port $port (log: $logfile)"
    fi
}

# pg_stop DATADIR [MODE]: stops the cluster (MODE: smart|fast|immediate; default fast).
pg_stop() {
    local datadir=$1 mode=${2:-fast} bin; bin=$(pg_bin_dir)
    pg_running "$datadir" || return 0
    log "stopping PostgreSQL ($datadir, -m $mode)"
    pg_as_owner "$bin/pg_ctl" -D "$datadir" -m "$mode" -w -t 30 stop >/dev/null
}

# pg_psql PORT DB ARGS...: psql over TCP to the local trust-auth cluster.
pg_psql() {
    local port=$1 db=$2; shift 2
    local bin; bin=$(pg_bin_dir)
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# pg_ensure_db PORT NAME: creates database NAME if it does not exist.
pg_ensure_db() {
    local port=$1 name=$2
    if [[ "$(pg_psql "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]]; then
        log "creating database $name"
        pg_psql "$port" postgres -c "CREATE DATABASE \"$name\""
    fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

# redis_start DIR PORT: throwaway, non-persistent redis-server, daemonized, pidfile DIR/redis.pid.
redis_start() {
    local dir=$1 port=$2 i
    log "starting redis-server on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
        || die "redis-server failed to start"
    for ((i = 0; i < 100; i++)); do
        [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] && return 0
        sleep 0.1
    done
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    die "redis-server did not answer PING on port $port"
}

# redis_stop DIR PORT: SHUTDOWN NOSAVE, falling back to killing the pid from the pidfile.
redis_stop() {
    local dir=$1 port=$2 pid="" i
    [[ -f "$dir/redis.pid" ]] && pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    [[ -n "$pid" ]] || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# proc_alive PID: true while PID exists and is not a zombie (kill -0 succeeds on zombies).
proc_alive() {
    local pid=$1 state
    [[ -r "/proc/$pid/stat" ]] || return 1
    state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# stop_pid PID [GRACE_SECONDS]: SIGTERM, then SIGKILL after the grace period.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    proc_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 10; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
