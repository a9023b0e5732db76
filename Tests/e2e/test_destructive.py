"""Destructive tier: stop and restart MariaDB under a running worker.

Uses its own MariaDB (never the shared e2e server) and its own workers. The
worker must keep running while the database is gone, report it through
/api/auth/health (503), and recover by itself once the database is back.
"""

import json

import pytest

import harness

pytestmark = pytest.mark.supervisor


def health_answer(worker):
    response = harness.health(worker.address, timeout=5)
    return response.status, json.loads(response.body)


def poll_health(worker, status, timeout=10.0):
    """Wait until health answers ``status``, then require a few more answers to agree.

    Threads keep their own database connections; the follow-up requests
    reach other threads too.
    """
    harness.wait_until(lambda: health_answer(worker)[0] == status, timeout, f"health {status}", interval=0.2)
    return [health_answer(worker) for _ in range(2 * worker.threads)]


@pytest.fixture(scope="module")
def own_mariadb(mariadb_installed, rundir):
    db = harness.MariaDB(rundir / "db", fast=True).start()
    yield db
    db.stop()


@pytest.fixture(scope="module")
def base_env(authd_bin, own_mariadb, secret_pair, rundir):
    """Overrides conftest's: the database lives on this module's own server."""
    return harness.prepare_database(own_mariadb, authd_bin, "destructive", secret_pair, rundir / "migrate.log")


def test_health_follows_database_down_and_up(start_worker, own_mariadb):
    worker = start_worker(threads=2)
    assert health_answer(worker) == (200, {"status": "ok", "database": "ok"})

    own_mariadb.stop()
    answers = poll_health(worker, 503)
    assert all(answer == (503, {"status": "unavailable", "database": "unavailable"}) for answer in answers), answers
    assert worker.alive(), harness.tail(worker.log_path)

    own_mariadb.start()
    answers = poll_health(worker, 200)
    assert all(answer == (200, {"status": "ok", "database": "ok"}) for answer in answers), answers


def test_health_recovers_after_database_restart(start_worker, own_mariadb):
    """Connections broken by a server restart ("server has gone away") are replaced."""
    worker = start_worker(threads=2)
    for _ in range(2 * worker.threads):
        assert health_answer(worker)[0] == 200
    own_mariadb.restart()
    answers = poll_health(worker, 200)
    assert all(status == 200 for status, _ in answers), answers


def test_renewal_keeps_the_cookies_while_the_database_is_down(start_worker, own_mariadb):
    """A failed renewal clears the cookies only when the session is refused, not when the service fails: the
    browser's next try, once the database is back, renews the same session."""
    import re

    from fcgi_client import fcgi_request, http_params

    worker = start_worker(threads=2)
    body = json.dumps({"email": "renew-down@example.com", "password": "correct horse battery"}).encode()
    registered = fcgi_request(worker.address, http_params("POST", "/api/auth/register", len(body), "application/json"),
                              stdin=body)
    assert registered.status == 201, registered
    cookies = [value for name, value in registered.header_list if name.lower() == "set-cookie"]
    refresh = next(re.match(r"refresh_token=([^;]+)", c).group(1) for c in cookies if c.startswith("refresh_token="))
    renew = http_params("GET", "/api/auth/renew?return_to=/dashboard", headers={"Cookie": f"refresh_token={refresh}"})

    own_mariadb.stop()
    try:
        down = fcgi_request(worker.address, renew)
        assert down.status == 503, down
        assert not [v for n, v in down.header_list if n.lower() == "set-cookie"], "the cookies stay"
        assert down.headers.get("retry-after") == "5"
    finally:
        own_mariadb.start()
    up = harness.wait_until(lambda: (r := fcgi_request(worker.address, renew)).status == 303 and r, 15, "a renewal")
    assert up.headers.get("location") == "/dashboard", up
    assert any(v.startswith("refresh_token=ey") for n, v in up.header_list if n.lower() == "set-cookie")


def test_a_hung_database_fails_requests_within_the_read_timeout(start_worker, own_mariadb, base_env):
    """A database host that stops answering (here: SIGSTOP) must not hold threads until TCP gives up: reads time out
    (database.url's read-timeout), the request gets 503, the gate keeps answering without the database, and all is
    well again once the server runs on."""
    import os
    import signal
    import time

    from fcgi_client import fcgi_request, http_params

    url = base_env["DATABASE_URL"]
    url += ("&" if "?" in url else "?") + "read-timeout=2&write-timeout=2"
    worker = start_worker(threads=4, env={"DATABASE_URL": url})
    body = json.dumps({"email": "hung-db@example.com", "password": "correct horse battery"}).encode()
    registered = fcgi_request(worker.address, http_params("POST", "/api/auth/register", len(body), "application/json"),
                              stdin=body)
    assert registered.status == 201, registered
    access = next(v.split(";")[0].split("=", 1)[1] for n, v in registered.header_list
                  if n.lower() == "set-cookie" and v.startswith("access_token="))
    assert health_answer(worker)[0] == 200

    os.kill(own_mariadb.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        status = harness.health(worker.address, timeout=20).status
        elapsed = time.monotonic() - started
        assert status == 503 and elapsed < 8, (status, elapsed)
        gate_started = time.monotonic()
        gate = fcgi_request(worker.address, http_params("GET", "/api/auth/verify",
                                                        headers={"Authorization": f"Bearer {access}"}), timeout=5)
        assert gate.status == 204 and time.monotonic() - gate_started < 2, gate
    finally:
        os.kill(own_mariadb.proc.pid, signal.SIGCONT)
    answers = poll_health(worker, 200, timeout=20)
    assert all(status == 200 for status, _ in answers), answers
