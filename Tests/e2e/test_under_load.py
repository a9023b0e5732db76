"""The supervisor under a wrk load through nginx (persistent FastCGI connections): a worker killed with SIGKILL is
replaced and only its requests in flight can fail; a SIGHUP reload fails no GET; a graceful stop lets requests in
flight complete and exits 0. The counts are printed for the operations report."""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import require
from test_supervisor import workers_of, wait_for

pytestmark = pytest.mark.load


def wrk(url, seconds, connections=16, headers=(), script=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if script:
        command += ["-s", str(script)]
    for header in headers:
        command += ["-H", header]
    result = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 30)
    out = result.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    return total, non2xx, socket_errors, out


@pytest.fixture(scope="module")
def site(start_site):
    require(shutil.which("wrk") is not None, "wrk is not installed")
    return start_site("load", env={"JWT_AUTHD_LOG_REQUESTS": "false", "JWT_AUTHD_WORKERS": "2"}, threads=8)


@pytest.fixture(scope="module")
def bearer(site):
    client = site.client()
    client.register()
    return client.access_token


def during(seconds, action):
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_kill_9_of_a_worker_under_load(site, bearer, capsys):
    supervisor = site.worker
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    victim = workers_of(supervisor)[0]
    timer = during(2, lambda: os.kill(victim, signal.SIGKILL))
    total, non2xx, socket_errors, out = wrk(site.url("/api/auth/verify"), 6, headers=[f"Authorization: Bearer {bearer}"])
    timer.join()
    with capsys.disabled():
        print(f"\n[kill -9 under load] {total} requests, {non2xx} non-2xx, {socket_errors} socket errors")
    assert total > 1000
    # Only requests in flight on the killed worker may fail: at most one per connection it held.
    assert non2xx + socket_errors <= 16, out
    wait_for(lambda: len(workers_of(supervisor)) == 2 and victim not in workers_of(supervisor), what="a replacement")


def test_reload_under_load_fails_no_get(site, bearer, capsys):
    supervisor = site.worker
    timer = during(2, lambda: supervisor.send_signal(signal.SIGHUP))
    total, non2xx, socket_errors, out = wrk(site.url("/api/auth/verify"), 6, headers=[f"Authorization: Bearer {bearer}"])
    timer.join()
    with capsys.disabled():
        print(f"\n[SIGHUP under load] {total} requests, {non2xx} non-2xx, {socket_errors} socket errors")
    # Each replacement takes a second or two to report ready under load (a debug build on 2 CPUs): the reload may
    # end just after the load does.
    wait_for(lambda: "reload complete" in supervisor.log_text(), what="the reload to complete")
    assert total > 1000 and non2xx == 0 and socket_errors == 0, out


def test_reload_under_post_load(site, rundir, capsys):
    """POSTs are not retried by nginx on another connection: report their failures separately (idempotent logout
    without a token, 200)."""
    script = rundir / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n')
    supervisor = site.worker
    before = supervisor.log_text().count("reload complete")
    timer = during(2, lambda: supervisor.send_signal(signal.SIGHUP))
    total, non2xx, socket_errors, out = wrk(site.url("/api/auth/logout"), 6, script=script)
    timer.join()
    wait_for(lambda: supervisor.log_text().count("reload complete") > before, what="the reload")
    with capsys.disabled():
        print(f"\n[SIGHUP under POST load] {total} requests, {non2xx} non-2xx, {socket_errors} socket errors")
    assert total > 500
    # Measured 0-2 per reload: a POST nginx sent into a connection whose close it had not seen yet (it does not retry
    # POSTs). Each old worker serves on until its replacement accepts connections, then answers the next request on
    # each kept connection and closes it with the response.
    assert non2xx + socket_errors <= 8, out


def test_graceful_stop_under_load_completes_requests_in_flight(site, bearer, capsys):
    supervisor = site.worker
    timer = during(2, lambda: supervisor.send_signal(signal.SIGTERM))
    total, non2xx, socket_errors, out = wrk(site.url("/api/auth/verify"), 4, headers=[f"Authorization: Bearer {bearer}"])
    timer.join()
    status = supervisor.proc.wait(15)
    with capsys.disabled():
        print(f"\n[SIGTERM under load] {total} requests, {non2xx} non-2xx (502 after the stop), exit status {status}")
    assert status == 0
    assert "all workers stopped" in supervisor.log_text()
    assert "drain timeout" not in supervisor.log_text()
