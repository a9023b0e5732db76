"""Processes for the end-to-end and destructive test tiers.

A private MariaDB (:class:`MariaDB`), jwt-authd workers (:class:`Worker`) and
a private nginx (:class:`Nginx`), each started as a child of the test run with
its state and logs in a directory the caller owns, and stopped the way an
operator would (SIGTERM first, SIGKILL only after a timeout). Standard
library only, so bench scripts and ad-hoc sessions can import it too.
"""

import base64
import itertools
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from fcgi_client import fcgi_request, http_params

REPO = Path(__file__).resolve().parents[2]

_ids = itertools.count(1)


def default_binary():
    """The jwt-authd binary: ``$JWT_AUTHD_BIN`` or the debug build in the repo."""
    return Path(os.environ.get("JWT_AUTHD_BIN") or REPO / ".build" / "debug" / "jwt-authd")


def os_user():
    return pwd.getpwuid(os.geteuid()).pw_name


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_secret():
    """A fresh token secret: 48 random bytes, base64 (64 characters)."""
    return base64.b64encode(secrets.token_bytes(48)).decode()


def tail(path, limit=4000):
    """The end of a log file, for error messages."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return data[-limit:].decode(errors="replace")


def wait_until(predicate, timeout, what, interval=0.05):
    """Call ``predicate`` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def process_gone(pid):
    """True once ``pid`` has exited: no /proc entry, or a zombie nobody reaped yet.

    Orphans (e.g. processes spawn-fcgi forked) are reaped late by PID 1 here,
    so ``kill -0`` alone would report a dead process as alive.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # The state follows the parenthesised command name, which may contain spaces.
    return stat[stat.rindex(")") + 2] == "Z"


def stop_process(proc, signals=(signal.SIGTERM,), timeout=10.0):
    """Stop a child: send each of ``signals`` in turn, waiting ``timeout`` after each,
    then SIGKILL its process group. Returns ``Popen.returncode`` (negative for
    death by a signal).

    The children here are started with ``start_new_session=True``, so the
    process group is the child and whatever it forked (nginx's workers).
    """
    for sig in signals:
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


class MariaDB:
    """A private MariaDB server on a unix socket, or an attached existing one.

    Everything lives under ``parent``: ``data/``, ``mysqld.sock``,
    ``mysqld.pid``, ``mysqld.log``. The OS user running the tests is the
    database superuser (unix_socket authentication): ``root`` when running as
    root. ``fast=True`` trades durability for speed (small buffer pool and
    redo log, no flush per commit) — for throw-away test data only.
    """

    def __init__(self, parent, fast=False):
        self.dir = Path(parent)
        self.datadir = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.pidfile = self.dir / "mysqld.pid"
        self.log = self.dir / "mysqld.log"
        self.user = os_user()
        self.fast = fast
        self.proc = None
        self.owned = True

    @classmethod
    def attach(cls, socket_path, user=None):
        """Use a server someone else runs; :meth:`start`/:meth:`stop` are not allowed."""
        db = cls(Path(socket_path).parent)
        db.socket = Path(socket_path)
        db.user = user or os_user()
        db.owned = False
        return db

    def _client(self, program, *args, timeout=30):
        return subprocess.run(
            [program, "--no-defaults", f"--socket={self.socket}", f"--user={self.user}", *args],
            capture_output=True, text=True, timeout=timeout,
        )

    def ping(self):
        return self._client("mariadb-admin", "--connect-timeout=2", "ping", timeout=10).returncode == 0

    def start(self, timeout=30.0):
        """Initialise the data directory on first use, start the server, wait until it answers."""
        assert self.owned, "an attached MariaDB is not ours to start"
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            install = subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--user={self.user}", f"--datadir={self.datadir}",
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                capture_output=True, text=True, timeout=120,
            )
            if install.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout}\n{install.stderr}")
        command = [
            "mariadbd", "--no-defaults", f"--user={self.user}", f"--datadir={self.datadir}",
            f"--socket={self.socket}", f"--pid-file={self.pidfile}", f"--log-error={self.log}",
            "--skip-networking",
        ]
        if self.fast:
            command += ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
                        "--innodb-flush-log-at-trx-commit=2"]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{tail(self.log)}")
            return self.ping()

        try:
            wait_until(ready, timeout, f"mariadbd on {self.socket}", interval=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=30.0):
        """SIGTERM (clean InnoDB shutdown), SIGKILL after ``timeout``; waits until the process is gone."""
        assert self.owned, "an attached MariaDB is not ours to stop"
        if self.proc is None:
            return
        pid = self.proc.pid
        stop_process(self.proc, (signal.SIGTERM,), timeout)
        wait_until(lambda: process_gone(pid), 10, f"mariadbd {pid} to disappear")
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def sql(self, statement):
        result = self._client("mariadb", "--batch", "-e", statement)
        if result.returncode != 0:
            raise RuntimeError(f"SQL failed: {statement}\n{result.stderr}")
        return result.stdout

    def create_database(self, name):
        _check_identifier(name)
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def drop_database(self, name):
        _check_identifier(name)
        self.sql(f"DROP DATABASE IF EXISTS `{name}`")

    def url(self, dbname):
        """The ``DATABASE_URL`` for jwt-authd: ``mariadb://USER@localhost/DB?socket=SOCK``."""
        _check_identifier(dbname)
        return f"mariadb://{self.user}@localhost/{dbname}?socket={self.socket}"


def _check_identifier(name):
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
        raise ValueError(f"unsafe database name {name!r}")


def service_env(database_url, secret_pair, **overrides):
    """The environment for ``jwt-authd serve``/``migrate``: this process's plus the service's keys.

    ``secret_pair`` is ``(access_secret, refresh_secret)``; ``overrides``
    (e.g. ``JWT_MAX_BODY_BYTES="1024"``) win over everything.
    """
    access, refresh = secret_pair
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        JWT_ACCESS_SECRET=access,
        JWT_REFRESH_SECRET=refresh,
        JWT_AUTHD_ENV="test",
        JWT_AUTHD_LOG_LEVEL=os.environ.get("JWT_AUTHD_LOG_LEVEL", "debug"),
    )
    env.update(overrides)
    return env


def migrate(binary, env, log_path):
    """Run ``jwt-authd migrate``; its output goes to ``log_path``."""
    with open(log_path, "ab") as log:
        result = subprocess.run([str(binary), "migrate"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"jwt-authd migrate exited with {result.returncode}:\n{tail(log_path)}")


def prepare_database(mariadb, binary, dbname, secret_pair, log_path, **overrides):
    """Create ``dbname``, migrate it, and return the service environment that uses it."""
    mariadb.create_database(dbname)
    env = service_env(mariadb.url(dbname), secret_pair, **overrides)
    migrate(binary, env, log_path)
    return env


def health(address, timeout=5.0):
    """``GET /api/auth/health`` over FastCGI; returns the :class:`fcgi_client.Response`."""
    return fcgi_request(address, http_params("GET", "/api/auth/health"), timeout=timeout)


class Worker:
    """One ``jwt-authd serve`` process listening on ``listen`` (``unix:/path`` or ``127.0.0.1:PORT``).

    Its stdout and stderr go to ``log_dir/worker-N.log``; :meth:`start`
    returns once a health request is answered (any status).
    """

    def __init__(self, binary, env, listen, threads=2, log_dir=".", extra_args=()):
        self.binary = Path(binary)
        self.env = env
        self.address = listen
        self.threads = threads
        self.extra_args = list(extra_args)
        self.log_path = Path(log_dir) / f"worker-{next(_ids)}.log"
        self.proc = None

    def start(self, timeout=20.0):
        command = [str(self.binary), "serve", "--listen", self.address, "--threads", str(self.threads),
                   *self.extra_args]
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

        def answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jwt-authd exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            try:
                return health(self.address, timeout=2)
            except OSError:
                return None

        try:
            wait_until(answers, timeout, f"jwt-authd to answer on {self.address}", interval=0.1)
        except BaseException:
            self.kill()
            raise
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for exit; returns the status, or raises ``TimeoutError`` (the process keeps running)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"jwt-authd still running after {timeout} s:\n{tail(self.log_path)}") from None

    def terminate(self, sig=signal.SIGTERM, timeout=10.0):
        """Graceful stop: send ``sig`` and wait; returns the exit status."""
        self.send_signal(sig)
        return self.wait(timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def log_text(self):
        """The whole log (tests look for lines in it: a tail would lose them behind request lines under load)."""
        try:
            return Path(self.log_path).read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""


class Nginx:
    """A private nginx from ``nginx/dev/nginx.conf.template``, in the foreground as a child.

    Listens on 127.0.0.1:``port`` and passes /api/auth/ to ``upstream``
    (``unix:/path`` or ``127.0.0.1:PORT``). ``keep_conn`` selects persistent
    FastCGI connections (an upstream pool of ``keepalive`` per nginx worker)
    or a new connection per request. The template's demo app (the upstream
    of the gated locations /dashboard, /admin, /api/protected/, /auth/login)
    listens on 127.0.0.1:``app_port`` (a free port by default): it serves
    the demo site's pages (repo/demo) to browsers (Accept: text/html) and a
    JSON echo of the X-Auth-* headers it received to other clients.
    """

    def __init__(self, repo, prefix, port, upstream, keep_conn=True, keepalive=2, app_port=None, gate_cache=False):
        self.repo = Path(repo)
        self.prefix = Path(prefix)
        self.port = port
        self.app_port = app_port or free_port()
        self.upstream = upstream
        self.keep_conn = keep_conn
        self.keepalive = keepalive
        self.gate_cache = gate_cache
        self.conf = self.prefix / "nginx.conf"
        self.error_log = self.prefix / "error.log"
        self.proc = None

    def render(self):
        self.prefix.mkdir(parents=True, exist_ok=True)
        # For configs that include "fastcgi_params" (found next to the config file).
        params = self.prefix / "fastcgi_params"
        if not params.exists():
            params.symlink_to("/etc/nginx/fastcgi_params")
        # jwt-authd.conf includes "jwt-authd/jwt-authd-fastcgi-params.conf", which nginx resolves against the
        # directory of nginx.conf (the prefix here), not against jwt-authd.conf's: link the repository's nginx/.
        link = self.prefix / "jwt-authd"
        if not link.is_symlink():
            link.symlink_to(self.repo / "nginx", target_is_directory=True)
        values = {
            "PREFIX": self.prefix,
            "PORT": self.port,
            "APP_PORT": self.app_port,
            "UPSTREAM": self.upstream,
            "REPO": self.repo,
            "KEEPALIVE_LINE": f"keepalive {self.keepalive};" if self.keep_conn else "",
            "GATE_CACHE_LINE": "set $jwt_authd_gate_cache jwt_authd_gate;" if self.gate_cache else "",
            "USER_LINE": "user root;" if os.geteuid() == 0 else "",
        }
        template = self.repo / "nginx" / "dev" / "nginx.conf.template"
        result = subprocess.run([str(self.repo / "scripts" / "render-nginx"), str(template), str(self.conf),
                                 *(f"{key}={value}" for key, value in values.items())],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"render-nginx failed: {result.stderr}")

    def start(self, timeout=10.0):
        self.render()
        with open(self.prefix / "nginx.out", "ab") as out:
            self.proc = subprocess.Popen(
                ["nginx", "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.error_log)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{tail(self.error_log)}")
            try:
                for port in (self.port, self.app_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        try:
            wait_until(listening, timeout, f"nginx on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        """Graceful (SIGQUIT), then SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        stop_process(self.proc, (signal.SIGQUIT, signal.SIGTERM), 5)
        self.proc = None
