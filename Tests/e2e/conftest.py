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

Tiers: every test module carries exactly one tier marker (``pytestmark =
pytest.mark.<tier>`` at module level, one of ``TIERS`` below), so that a tier
runs alone: ``python3 -m pytest Tests/e2e -m gate`` (or ``-m "api or gate"``,
``-m "not browser"``). A module without one, an unregistered marker
(``--strict-markers`` in the repository's pytest.ini, and checked here) and an
unknown name in ``-m`` are errors, so that a typo cannot silently leave a tier
out.
"""

import os
import re
import secrets
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import authsite
import harness

CI = os.environ.get("CI") == "true"
MARIADB_PROGRAMS = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin")


# The tiers: marker -> what its modules test. Every test module has exactly one (module-level pytestmark).
TIERS = {
    "api": "the auth routes end to end: dev nginx, a worker, MariaDB (test_api.py)",
    "mfa": "second factors end to end: TOTP enrolment, sign-in with a code, step-up, the AAL2 gate (test_mfa.py)",
    "gate": "the nginx gate: jwt-authd.conf and the gate snippets, with a FastCGI stub (test_nginx_snippets.py) "
            "and with the service (test_nginx_gate.py)",
    "health": "health and body limits through nginx, kept FastCGI connections on and off (test_health.py)",
    "fastcgi": "the worker over FastCGI directly, no nginx: limits, misbehaving clients, fd 0 (test_fastcgi.py)",
    "supervisor": "process management: the supervisor's workers, reloads, stops (test_supervisor.py) and the "
                  "destructive tier, MariaDB stopped under a worker (test_destructive.py)",
    "load": "the supervisor under a wrk load through nginx (test_under_load.py)",
    "metrics": "Prometheus metrics over the worker pool (test_metrics.py)",
    "cli": "the admin commands and start-up refusing a bad configuration (test_admin_cli.py)",
    "mail": "mail through a real SMTP server (aiosmtpd): the outbox's sender over SMTP, STARTTLS and AUTH, the "
            "server down and back, two supervisors, sendmail through msmtp (test_mail.py)",
    "apache": "behind Apache httpd + mod_fcgid with deploy/apache/ (test_apache.py)",
    "browser": "the demo site and clients/js/auth.js in headless Chromium (test_browser.py)",
    "contract": "docs/openapi.yaml against the live service with schemathesis (test_contract.py)",
    "bench": "the benchmark tooling's own arithmetic, bench/benchlib.py; no service (test_benchlib.py)",
    "cluster": "three hosts on a real 3-node MariaDB Galera cluster behind one nginx, a node killed (test_cluster.py)",
}


def pytest_configure(config):
    tmp = os.environ.get("JWT_AUTHD_TEST_TMP")
    if tmp and not config.option.basetemp:
        config.option.basetemp = os.path.join(tmp, "pytest")
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: tier: {what}")


def check_mark_expression(config, known):
    """``-m`` with a name that is no registered marker selects nothing for that name without a word, and
    ``-m "api or gatee"`` would pass having run only api: refuse it."""
    expression = config.option.markexpr or ""
    words = re.findall(r"[^\s()]+", re.sub(r"\([^()]*\)", " ", expression))
    unknown = sorted({word for word in words if word not in {"and", "or", "not"} and word not in known})
    if unknown:
        raise pytest.UsageError(f"-m {expression!r}: unknown marker {', '.join(unknown)}; the tiers are "
                                f"{', '.join(TIERS)} (Tests/e2e/conftest.py)")


def registered_markers(config):
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect anything
def pytest_collection_modifyitems(config, items):
    """Every test module has exactly one tier marker, set at module level, and no test adds another; no test
    carries an unregistered marker (what --strict-markers refuses, checked here too: pytest 9.0 ignores
    --strict-markers given in addopts, pytest-dev/pytest#14442)."""
    known = registered_markers(config)  # complete only now: conftest's pytest_configure runs before pytest's own
    check_mark_expression(config, known)
    problems = {}  # where -> what is wrong there
    here = Path(__file__).resolve().parent  # this hook sees every item of the run: check only this folder's
    for item in items:
        if here not in item.path.resolve().parents:
            continue
        module = item.getparent(pytest.Module)
        marks = getattr(module.obj, "pytestmark", []) if module is not None else []
        module_tiers = [mark.name for mark in (marks if isinstance(marks, list) else [marks]) if mark.name in TIERS]
        item_marks = {mark.name for mark in item.iter_markers()}
        if len(module_tiers) != 1:
            problems.setdefault(module.nodeid if module is not None else item.nodeid, set()).add(
                f"{len(module_tiers)} tier markers at module level; it needs one "
                f"\"pytestmark = pytest.mark.<tier>\", one of {', '.join(TIERS)}")
        elif item_marks & TIERS.keys() != set(module_tiers):
            problems.setdefault(item.nodeid, set()).add(
                f"tiers {sorted(item_marks & TIERS.keys())}: a test keeps its module's tier {module_tiers[0]}")
        if item_marks - known:
            unknown = ", ".join(sorted(item_marks - known))
            problems.setdefault(item.nodeid, set()).add(f"unregistered marker {unknown}")
    if problems:
        raise pytest.UsageError("markers (Tests/e2e/conftest.py):\n" + "\n".join(
            f"  {where}: {problem}" for where, found in sorted(problems.items()) for problem in sorted(found)))


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
    """``start_site(name, env=None, threads=8, passkeys=False)`` → a running :class:`authsite.Site` (worker + dev
    nginx) on the module's database; ``env`` overrides the service environment (None removes a variable);
    ``passkeys=True`` makes it a site at ``http://localhost:PORT`` with that origin as its WebAuthn relying party
    (rp id ``localhost``; see :class:`authsite.Site`). The same ``name`` returns the same site; all are stopped at
    the end of the module."""
    sites = {}

    def start(name, env=None, threads=8, passkeys=False):
        if name not in sites:
            sites[name] = authsite.Site(authd_bin, base_env, rundir, name, env=env, threads=threads,
                                        passkeys=passkeys).start()
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
