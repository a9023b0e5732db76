# Shared shell functions of scripts/run and scripts/test. Source it; do not run it.

# Debian packages the build, the service and the tests need.
JWT_AUTHD_APT_PACKAGES=(
    pkg-config libfcgi-dev libfcgi-bin spawn-fcgi libssl-dev libmariadb-dev libargon2-dev libcrypt-dev libcurl4-openssl-dev libqrencode-dev libcbor-dev
    mariadb-server mariadb-client galera-4 rsync nginx python3 python3-pytest python3-requests python3-yaml
    python3-jwt python3-cryptography nodejs node-jose python3-venv python3-aiosmtpd msmtp oathtool zbar-tools librsvg2-bin
    apache2 libapache2-mod-fcgid wrk chromium chromium-driver python3-selenium python3-fido2 prometheus
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (apt-get as root, or through sudo).
ensure_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "run as root or install sudo: apt-get install ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Checks that the Swift 6 toolchain is on PATH (it is not a Debian package).
ensure_swift() {
    command -v swift >/dev/null || die "the Swift 6 toolchain is not on PATH: install it from swift.org (Debian 12 tarball) and add its usr/bin to PATH"
    swift --version 2>/dev/null | grep -Eq 'Swift version 6\.' || die "Swift 6 is required: $(swift --version 2>&1 | head -1)"
}

# start_mariadb DIR: a private MariaDB server with its data in DIR/data and its socket at DIR/mysqld.sock,
# no TCP port. Initialises the data directory on first use. Sets MARIADB_PID.
start_mariadb() {
    local dir=$1 user
    user=$(id -un)
    mkdir -p "$dir"
    if [ ! -d "$dir/data/mysql" ]; then
        say "initialising a private MariaDB data directory in $dir/data"
        mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" \
            --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 \
            || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    mariadbd --no-defaults --user="$user" --datadir="$dir/data" --socket="$dir/mysqld.sock" \
        --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --skip-networking \
        --innodb-buffer-pool-size=64M ${MARIADB_EXTRA_ARGS:-} &
    MARIADB_PID=$!
    local i
    for i in $(seq 1 300); do
        mariadb-admin --socket="$dir/mysqld.sock" ping >/dev/null 2>&1 && return 0
        kill -0 "$MARIADB_PID" 2>/dev/null || { tail -20 "$dir/error.log" >&2; die "mariadbd exited at start"; }
        sleep 0.1
    done
    die "MariaDB did not answer on $dir/mysqld.sock within 30 s"
}

# stop_pid PID [SIGNAL]: asks a process to stop and waits for it (SIGKILL after 20 s).
stop_pid() {
    local pid=$1 signal=${2:-TERM} i
    [ -n "$pid" ] || return 0
    kill -"$signal" "$pid" 2>/dev/null || return 0
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        grep -q '^[^ ]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null && { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

# Contract-test tools that Debian lacks (schemathesis, openapi-spec-validator), in the git-ignored virtualenv
# .local/contract-venv, installed from PyPI on first use and again when Tests/e2e/requirements-contract.txt changes.
ensure_contract_tools() {
    local venv=.local/contract-venv requirements=Tests/e2e/requirements-contract.txt
    if [ -x "$venv/bin/st" ] && cmp -s "$requirements" "$venv/requirements.installed"; then return 0; fi
    say "installing schemathesis and openapi-spec-validator into $venv (PyPI)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.installed"
}
