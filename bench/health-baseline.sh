#!/usr/bin/env bash
# Health-check baseline: how close does jwt-authd's /api/auth/health come to
# the cheapest possible FastCGI responder behind the same nginx?
#
#   bench/health-baseline.sh
#
# Measures with `wrk -t1 -c32 -d10s`, through a private nginx on a loopback
# port (nginx/dev/nginx.conf.template, 2 nginx workers):
#   static      nginx alone: `location = /__static { return 204; }`
#   c-responder bench/c-responder.c (libfcgi, threads without accept mutex)
#   jwt-authd   GET /api/auth/health (one MariaDB query per request)
# Each responder runs as 2 processes (spawn-fcgi -F 2, socket on fd 0), and
# each is measured with persistent FastCGI connections on and off. Prints a
# table of req/s and the ratio jwt-authd / c-responder.
#
# jwt-authd comes from $JWT_AUTHD_BIN (default .build/debug/jwt-authd); if it
# is missing, its rows are skipped. It gets a private MariaDB in the run's
# temporary directory (same commands as Tests/e2e/harness.py). Everything
# started here is stopped on exit; the temporary directory is removed unless
# the run failed (its logs are kept then).
#
# Knobs (environment): BENCH_DURATION (10s), BENCH_CONNECTIONS (32),
# BENCH_THREADS per responder process (32), BENCH_KEEPALIVE per nginx worker
# (8), JWT_AUTHD_LOG_LEVEL (warning). The defaults follow the threads rule
# in nginx/jwt-authd.conf: 2 x 32 threads >= 2 x 8 kept + 32 in flight.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${JWT_AUTHD_BIN:-$repo/.build/debug/jwt-authd}
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-32}
keepalive=${BENCH_KEEPALIVE:-8}
processes=2
build_dir=$repo/.bench-build

die() { echo "health-baseline: $*" >&2; exit 1; }
note() { echo "health-baseline: $*" >&2; }

for program in gcc nginx spawn-fcgi wrk curl /usr/bin/python3; do
    command -v "$program" >/dev/null || die "$program is not installed"
done

state=$(mktemp -d /tmp/jwt-authd-bench.XXXXXX)
nginx_pid=
mariadb_pid=

# True once PID has exited. Orphans (spawn-fcgi's children) are reaped late
# by PID 1, so a zombie counts as gone.
gone() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat:0:1} == Z ]]
}

# stop_pids SIGNAL PID...: signal, wait up to 10 s, then SIGKILL.
stop_pids() {
    local sig=$1 pid i alive
    shift
    for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 100; i++)); do
        alive=0
        for pid in "$@"; do gone "$pid" || alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    for pid in "$@"; do gone "$pid" || kill -KILL "$pid" 2>/dev/null || true; done
}

stop_nginx() {
    if [[ -n $nginx_pid ]]; then
        stop_pids QUIT "$nginx_pid"
        wait "$nginx_pid" 2>/dev/null || true
        nginx_pid=
    fi
}

stop_responders() {
    local pidfile=$state/$1.pid pids
    if [[ -s $pidfile ]]; then
        mapfile -t pids <"$pidfile"
        stop_pids TERM "${pids[@]}"
        rm -f "$pidfile"
    fi
}

cleanup() {
    local status=$?
    stop_nginx
    stop_responders c-responder
    stop_responders jwt-authd
    if [[ -n $mariadb_pid ]]; then
        stop_pids TERM "$mariadb_pid"
        wait "$mariadb_pid" 2>/dev/null || true
    fi
    if ((status == 0)); then
        rm -rf "$state"
    else
        note "failed; logs kept in $state"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build the C responder --------------------------------------------------
mkdir -p "$build_dir"
gcc -O2 -Wall -Wextra -pthread -o "$build_dir/c-responder" "$repo/bench/c-responder.c" -lfcgi

# --- jwt-authd and its MariaDB (optional) ------------------------------------
authd_env=()
if [[ -x $bin ]]; then
    user=$(id -un)
    datadir=$state/mariadb
    mariadb_socket=$state/mysqld.sock
    mariadb-install-db --no-defaults --user="$user" --datadir="$datadir" \
        --auth-root-authentication-method=socket --skip-test-db >"$state/mariadb-install.log" 2>&1 \
        || die "mariadb-install-db failed (see $state/mariadb-install.log)"
    mariadbd --no-defaults --user="$user" --datadir="$datadir" --socket="$mariadb_socket" \
        --pid-file="$state/mysqld.pid" --log-error="$state/mysqld.log" --skip-networking \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
        </dev/null >/dev/null 2>&1 &
    mariadb_pid=$!
    for ((i = 0; i < 300; i++)); do
        mariadb-admin --no-defaults --socket="$mariadb_socket" --user="$user" ping >/dev/null 2>&1 && break
        gone "$mariadb_pid" && die "mariadbd exited (see $state/mysqld.log)"
        sleep 0.1
    done
    mariadb --no-defaults --socket="$mariadb_socket" --user="$user" -e "CREATE DATABASE bench"
    authd_env=(
        DATABASE_URL="mariadb://$user@localhost/bench?socket=$mariadb_socket"
        JWT_ACCESS_SECRET="$(head -c 48 /dev/urandom | base64 -w0)"
        JWT_REFRESH_SECRET="$(head -c 48 /dev/urandom | base64 -w0)"
        JWT_AUTHD_ENV=production
        JWT_AUTHD_LOG_LEVEL="${JWT_AUTHD_LOG_LEVEL:-warning}"
    )
    env "${authd_env[@]}" "$bin" migrate >"$state/migrate.log" 2>&1 \
        || die "jwt-authd migrate failed (see $state/migrate.log)"
else
    note "no jwt-authd binary at $bin (set JWT_AUTHD_BIN): measuring the baselines only"
fi

# --- helpers -----------------------------------------------------------------
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
app_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')  # template's demo app (unused here)

# start_responders NAME [VAR=VALUE...] -- COMMAND...: 2 processes on $state/NAME.sock.
start_responders() {
    local name=$1 environment=()
    shift
    while [[ $1 != -- ]]; do environment+=("$1"); shift; done
    shift
    env "${environment[@]}" spawn-fcgi -s "$state/$name.sock" -M 0666 -F "$processes" -P "$state/$name.pid" \
        -- "$@" >>"$state/$name.log" 2>&1 || die "spawn-fcgi $name failed (see $state/$name.log)"
}

# start_nginx UPSTREAM_SOCKET on|off
start_nginx() {
    local prefix=$state/nginx keepalive_line= user_line= i
    [[ $2 == on ]] && keepalive_line="keepalive $keepalive;"
    ((EUID == 0)) && user_line="user root;"
    mkdir -p "$prefix"
    ln -sf /etc/nginx/fastcgi_params "$prefix/fastcgi_params"
    ln -sfn "$repo/nginx" "$prefix/jwt-authd"   # for jwt-authd.conf's include of jwt-authd/jwt-authd-fastcgi-params.conf
    "$repo/scripts/render-nginx" "$repo/nginx/dev/nginx.conf.template" "$prefix/nginx.conf" \
        PREFIX="$prefix" PORT="$port" APP_PORT="$app_port" UPSTREAM="unix:$1" REPO="$repo" \
        KEEPALIVE_LINE="$keepalive_line" USER_LINE="$user_line" GATE_CACHE_LINE=
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" </dev/null >>"$prefix/nginx.out" 2>&1 &
    nginx_pid=$!
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/__static" && return 0
        gone "$nginx_pid" && die "nginx exited (see $prefix/error.log)"
        sleep 0.1
    done
    die "nginx did not start (see $prefix/error.log)"
}

results=()

# measure KEEP LABEL PATH EXPECTED_STATUS
measure() {
    local keep=$1 label=$2 url="http://127.0.0.1:$port$3" expected=$4 status output rps problems
    status=$(curl -s -o "$state/check.body" -w '%{http_code}' "$url" || true)
    [[ $status == "$expected" ]] || die "$label: $url answered $status, expected $expected: $(head -c 300 "$state/check.body")"
    output=$(wrk -t1 -c"$connections" -d"$duration" "$url")
    echo "$output" >>"$state/wrk.log"
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$output")
    problems=$(grep -E 'Non-2xx|Socket errors' <<<"$output" || true)
    [[ -z $problems ]] || note "$label (keep_conn $keep): $problems"
    results+=("$keep|$label|$rps")
}

# --- measure ------------------------------------------------------------------
start_responders c-responder -- "$build_dir/c-responder" -t "$threads"
if [[ -x $bin ]]; then
    start_responders jwt-authd "${authd_env[@]}" -- "$bin" serve --threads "$threads"
fi

for keep in on off; do
    start_nginx "$state/c-responder.sock" "$keep"
    measure "$keep" "nginx static (204)" /__static 204
    measure "$keep" "c-responder" /api/auth/health 200
    stop_nginx
    if [[ -x $bin ]]; then
        start_nginx "$state/jwt-authd.sock" "$keep"
        measure "$keep" "jwt-authd health" /api/auth/health 200
        stop_nginx
    fi
done

# --- report -------------------------------------------------------------------
echo
echo "wrk -t1 -c$connections -d$duration; nginx 2 workers; responders $processes processes x $threads threads;"
echo "keepalive $keepalive per nginx worker when keep_conn is on; $(nproc) CPUs"
printf '\n%-10s %-20s %10s\n' keep_conn target req/s
declare -A rate
for row in "${results[@]}"; do
    IFS='|' read -r keep label rps <<<"$row"
    printf '%-10s %-20s %10s\n' "$keep" "$label" "$rps"
    rate[$keep/$label]=$rps
done
if [[ -x $bin ]]; then
    echo
    for keep in on off; do
        awk -v a="${rate[$keep/jwt-authd health]}" -v b="${rate[$keep/c-responder]}" -v k="$keep" \
            'BEGIN { printf "jwt-authd / c-responder (keep_conn %s): %.2f\n", k, a / b }'
    done
fi
