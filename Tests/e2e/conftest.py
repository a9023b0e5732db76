"""Fixtures for the end-to-end tier (and, via overrides, the destructive one).

Environment:
  JWT_AUTHD_BIN                   the binary (default: .build/debug/jwt-authd)
  JWT_AUTHD_TEST_MARIADB_SOCKET   use this running MariaDB instead of a private one
  JWT_AUTHD_TEST_MARIADB_USER     its superuser (default: the OS user, unix_socket auth)
  JWT_AUTHD_TEST_TMP              put run directories under this folder (unless --basetemp is given)
  JWT_AUTHD_SCHEMATHESIS          schemathesis's st program for test_contract.py (default:
                                  .local/contract-venv/bin/st, made by scripts/test)
  CI=true                         a missing binary or service fails the run instead of skipping

Each test module gets its own run directory (sockets, logs) and its own
database, created and migrated on first use and dropped at the end. On a
failure, the tails of the logs written during the test are attached to the
report.
"""

import os
import re
import secrets
import shutil
import time
from urllib.parse import urlsplit

import pytest

import authsite
import harness

CI = os.environ.get("CI") == "true"
MARIADB_PROGRAMS = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")


def pytest_configure(config):
    tmp = os.environ.get("JWT_AUTHD_TEST_TMP")
    if tmp and not config.option.basetemp:
        config.option.basetemp = os.path.join(tmp, "pytest")


def require(condition, reason):
    """Skip the test when ``condition`` is false — or fail it when running in CI."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def require_programs(*names):
    missing = [name for name in names if shutil.which(name) is None]
    require(not missing, f"not installed: {', '.join(missing)}")


@pytest.fixture(scope="session")
def authd_bin():
    path = harness.default_binary()
    require(os.access(path, os.X_OK), f"jwt-authd binary not found at {path} (build it or set JWT_AUTHD_BIN)")
    return path


@pytest.fixture(scope="session")
def mariadb_installed():
    """For tiers that run a private MariaDB of their own (``harness.MariaDB``)."""
    require_programs(*MARIADB_PROGRAMS)


@pytest.fixture(scope="session")
def nginx_installed():
    require_programs("nginx")


@pytest.fixture(scope="session")
def spawn_fcgi():
    require_programs("spawn-fcgi")
    return shutil.which("spawn-fcgi")


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """The MariaDB shared by the e2e modules (never by the destructive tier)."""
    socket_path = os.environ.get("JWT_AUTHD_TEST_MARIADB_SOCKET")
    if socket_path:
        db = harness.MariaDB.attach(socket_path, os.environ.get("JWT_AUTHD_TEST_MARIADB_USER"))
        require(db.ping(), f"no MariaDB answers on JWT_AUTHD_TEST_MARIADB_SOCKET={socket_path}")
        yield db
        return
    require_programs(*MARIADB_PROGRAMS)
    db = harness.MariaDB(tmp_path_factory.mktemp("mariadb"), fast=True).start()
    yield db
    db.stop()


@pytest.fixture(scope="session")
def secret_pair():
    """Access and refresh secrets, fresh for every run."""
    return harness.random_secret(), harness.random_secret()


@pytest.fixture(scope="module")
def rundir(request, tmp_path_factory):
    """A directory per test module for sockets, logs and nginx prefixes (kept short: unix socket paths max 107 bytes)."""
    return tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_")[:10])


@pytest.fixture(scope="module")
def base_env(request, authd_bin, mariadb, secret_pair, rundir):
    """The service environment for this module: its own migrated database."""
    dbname = f"e2e_{request.module.__name__.removeprefix('test_')[:20]}_{secrets.token_hex(3)}"
    env = harness.prepare_database(mariadb, authd_bin, dbname, secret_pair, rundir / "migrate.log")
    yield env
    mariadb.drop_database(dbname)


@pytest.fixture
def start_worker(authd_bin, base_env, rundir):
    """``start_worker(threads=2, env=None, listen=None, args=())`` → a running :class:`harness.Worker`.

    ``env`` entries override the module's service environment; ``listen``
    defaults to a fresh unix socket in the run directory. Workers still
    running at the end of the test are killed.
    """
    workers = []

    def start(threads=2, env=None, listen=None, args=()):
        listen = listen or f"unix:{rundir}/w-{secrets.token_hex(3)}.sock"
        worker = harness.Worker(authd_bin, {**base_env, **(env or {})}, listen, threads, rundir, args)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture(scope="module")
def start_site(nginx_installed, authd_bin, base_env, rundir):
    """``start_site(name, env=None, threads=8)`` → a running :class:`authsite.Site` (worker + dev nginx) on the
    module's database; ``env`` overrides the service environment (None removes a variable). The same ``name``
    returns the same site; all are stopped at the end of the module."""
    sites = {}

    def start(name, env=None, threads=8):
        if name not in sites:
            sites[name] = authsite.Site(authd_bin, base_env, rundir, name, env=env, threads=threads).start()
        return sites[name]

    yield start
    for site in sites.values():
        site.stop()


@pytest.fixture(scope="module")
def module_sql(mariadb, base_env):
    """``module_sql("UPDATE users SET ...")`` runs SQL in the module's database; returns the batch output."""
    dbname = urlsplit(base_env["DATABASE_URL"]).path.lstrip("/")

    def run(statement):
        return mariadb.sql(f"USE `{dbname}`; {statement}")

    return run


_started = pytest.StashKey[float]()


def pytest_runtest_setup(item):
    item.stash[_started] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tails of logs written during a failed test (workers, nginx, MariaDB), and, for a fixture that
    has a ``save_failure_artifacts(directory)`` method (the browser tier's), the paths of what it saved under
    the module's run directory (screenshots, page sources)."""
    report = (yield).get_result()
    rundir = getattr(item, "funcargs", {}).get("rundir")
    if not report.failed or rundir is None:
        return
    if report.when == "call":
        for value in item.funcargs.values():
            save = getattr(value, "save_failure_artifacts", None)
            if callable(save):
                directory = rundir / "artifacts" / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:100]
                try:
                    paths = save(directory)
                except Exception as error:  # the browser may be what failed
                    paths = [f"(saving failed: {error!r})"]
                report.sections.append(("artifacts", "\n".join(str(path) for path in paths)))
    since = item.stash.get(_started, 0) - 1
    for path in sorted(rundir.rglob("*.log")):
        if path.stat().st_mtime >= since:
            report.sections.append((f"log {path.relative_to(rundir)}", harness.tail(path)))
