"""The supervisor (`jwt-authd serve` with --listen): workers executed from the same binary on a shared socket,
replaced when they die, recycled after --max-requests, reloaded one by one on SIGHUP, stopped gracefully on SIGTERM.
Real processes, a real MariaDB."""

import os
import signal
import subprocess
from urllib.parse import urlsplit
import threading
import time

import pytest

import harness
from fcgi_client import fcgi_request

pytestmark = pytest.mark.supervisor


def workers_of(supervisor):
    out = subprocess.run(["pgrep", "-P", str(supervisor.proc.pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(pid) for pid in out)


def wait_for(predicate, timeout=10, what="condition"):
    harness.wait_until(predicate, timeout, what)


def hammer(address, stop, results):
    """Health requests in a loop until ``stop`` is set; records every status (or the exception name)."""
    while not stop.is_set():
        try:
            results.append(harness.health(address, timeout=5).status)
        except Exception as error:  # noqa: BLE001 - a failed request is what we count
            results.append(f"{type(error).__name__} at {time.monotonic():.3f}: {error}")


def test_a_killed_worker_is_replaced_and_logged(start_worker):
    supervisor = start_worker(threads=2, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    victim = workers_of(supervisor)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(workers_of(supervisor)) == 2 and victim not in workers_of(supervisor), what="a replacement")
    assert harness.health(supervisor.address).status == 200
    assert f"worker {victim} died with signal 9 (SIGKILL)" in supervisor.log_text()


def test_reload_replaces_every_worker_without_failing_requests(start_worker):
    supervisor = start_worker(threads=2, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    before = set(workers_of(supervisor))
    stop, results = threading.Event(), []
    client = threading.Thread(target=hammer, args=(supervisor.address, stop, results))
    client.start()
    time.sleep(0.3)
    supervisor.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload complete" in supervisor.log_text(), what="the reload")
    time.sleep(0.3)
    stop.set()
    client.join()
    after = set(workers_of(supervisor))
    assert len(after) == 2 and not (before & after)
    failed = [status for status in results if status != 200]
    assert results and not failed, (failed[:5], supervisor.log_text()[-4000:])
    # Each old worker drained only once its replacement reported that it accepts connections.
    log = supervisor.log_text()
    for pid in after:
        assert f"worker {pid} ready: the old worker of slot" in log


def test_workers_are_recycled_after_max_requests(start_worker):
    supervisor = start_worker(threads=1, args=("--workers", "1", "--max-requests", "5"))
    wait_for(lambda: len(workers_of(supervisor)) == 1, what="one worker")
    first = workers_of(supervisor)
    statuses = [harness.health(supervisor.address, timeout=5).status for _ in range(12)]
    assert statuses == [200] * 12
    wait_for(lambda: workers_of(supervisor) and workers_of(supervisor) != first, what="a recycled worker")
    assert "recycled after serving its requests" in supervisor.log_text()


def test_a_reload_with_a_broken_configuration_keeps_the_workers(start_worker, rundir):
    config = rundir / "reload.toml"
    config.write_text('[server]\ndrain_timeout = "5s"\n')
    supervisor = start_worker(threads=1, args=("--workers", "1", "--config", str(config)))
    wait_for(lambda: len(workers_of(supervisor)) == 1, what="one worker")
    before = workers_of(supervisor)
    config.write_text('[server]\ndrain_timeout = "forever"\n')
    supervisor.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in supervisor.log_text(), what="the refusal")
    assert "server.drain_timeout" in supervisor.log_text()
    assert workers_of(supervisor) == before
    config.write_text('[server]\ndrain_timeout = "5s"\n')
    supervisor.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload complete" in supervisor.log_text(), what="the reload")
    assert workers_of(supervisor) != before


def test_no_process_loads_foundation_or_icu(start_worker):
    """jwt-authd needs only FoundationEssentials: Foundation and its ICU data would add ~6 MiB to every worker."""
    supervisor = start_worker(threads=2, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    for pid in [supervisor.proc.pid, *workers_of(supervisor)]:
        maps = open(f"/proc/{pid}/maps").read()
        assert "jwt-authd" in maps and "libswiftCore.so" in maps  # the check reads the right process
        for library in ("libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"):
            assert library not in maps, f"{library} is loaded in {pid}"


def test_sigterm_stops_everything_and_leaves_no_process(start_worker):
    supervisor = start_worker(threads=2, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    children = workers_of(supervisor)
    assert supervisor.terminate(signal.SIGTERM, timeout=10) == 0
    for pid in children:
        wait_for(lambda pid=pid: harness.process_gone(pid), timeout=5, what=f"worker {pid} gone")


def test_workers_end_with_a_killed_supervisor(start_worker):
    supervisor = start_worker(threads=1, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    children = workers_of(supervisor)
    supervisor.kill()
    for pid in children:
        wait_for(lambda pid=pid: harness.process_gone(pid), timeout=10, what=f"orphan worker {pid} gone")


def test_the_supervisor_runs_the_cleanup_under_a_lease(start_worker, mariadb, base_env):
    supervisor = start_worker(threads=1, args=("--workers", "1"), env={"JWT_CLEANUP_INTERVAL": "1s"})
    wait_for(lambda: "deleted: refresh_tokens=" in supervisor.log_text(), timeout=15, what="a periodic cleanup")
    # While another host holds the cleanup lease (a row of `leases`), the cleanup steps aside; once it expires, the
    # cleanup runs again.
    database = urlsplit(base_env["DATABASE_URL"]).path.lstrip("/")
    subprocess.run(["mariadb", f"--socket={mariadb.socket}", database, "-e",
                    "REPLACE INTO leases (name, owner, expires_at) "
                    "VALUES ('cleanup', 'other-host:1:1', UTC_TIMESTAMP(6) + INTERVAL 4 SECOND)"], check=True)
    wait_for(lambda: "another host is cleaning up; skipped" in supervisor.log_text(), timeout=10, what="a skipped cleanup")
    runs = supervisor.log_text().count("deleted: refresh_tokens=")
    wait_for(lambda: supervisor.log_text().count("deleted: refresh_tokens=") > runs, timeout=15,
             what="a cleanup after the lease expired")
    assert "unknown child" not in supervisor.log_text()


def uid_of(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Uid:"))


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege dropping needs root")
def test_started_as_root_it_runs_as_the_given_user_and_reopens_its_log(start_worker, rundir):
    import pathlib
    import pwd
    import tempfile
    nobody = pwd.getpwnam("nobody")
    logs = pathlib.Path(tempfile.mkdtemp(prefix="jwt-authd-logs-"))
    logs.chmod(0o777)  # the pytest folders are root's 0700: the log folder must be the service user's to reopen in
    log = logs / "service.log"
    supervisor = start_worker(threads=1, args=("--workers", "1", "--user", "nobody"), env={"JWT_AUTHD_LOG_FILE": str(log)})
    wait_for(lambda: len(workers_of(supervisor)) == 1, what="one worker")
    assert uid_of(supervisor.proc.pid) == nobody.pw_uid
    assert all(uid_of(pid) == nobody.pw_uid for pid in workers_of(supervisor))
    socket_path = supervisor.address.removeprefix("unix:")
    assert os.stat(socket_path).st_uid == nobody.pw_uid
    assert harness.health(supervisor.address).status in (200, 503)  # the database socket may be closed to nobody
    wait_for(lambda: "running as nobody" in log.read_text(), what="logs in the file")
    log.rename(logs / "service.log.1")  # what logrotate does
    supervisor.send_signal(signal.SIGUSR1)
    wait_for(lambda: log.exists() and "log file reopened" in log.read_text(), what="a reopened log file")
    supervisor.terminate()
    import shutil
    shutil.rmtree(logs, ignore_errors=True)


def login_unknown_email(address, timeout=30):
    """A login for an email nobody has: 401 after the same hashing work as a real one (the dummy hash)."""
    body = b'{"email":"nobody@example.com","password":"correct horse battery"}'
    return fcgi_request(address, {
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/auth/login", "REQUEST_URI": "/api/auth/login",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1"},
        stdin=body, timeout=timeout)


def test_a_worker_killed_while_hashing_leaves_no_password_permit_behind(start_worker):
    """The limit on concurrent password hashes belongs to the pool (permits in the memory the supervisor shares):
    a worker killed in the middle of a hash must not take its permit to the grave, or with a limit of 1 every
    later login would wait forever. The supervisor frees the permits of the workers it reaps."""
    env = {"JWT_ARGON2_MEMORY_KIB": "65536", "JWT_ARGON2_ITERATIONS": "16", "JWT_PASSWORD_CONCURRENT_HASHES": "1",
           "JWT_THROTTLE_LOGIN_PER_IP": "1000", "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "1000"}
    supervisor = start_worker(threads=4, env=env, args=("--workers", "2"))
    wait_for(lambda: len(workers_of(supervisor)) == 2, what="two workers")
    results = []

    def attempt():
        try:
            results.append(login_unknown_email(supervisor.address).status)
        except Exception as error:  # noqa: BLE001 - the killed workers' requests fail
            results.append(f"{type(error).__name__} at {time.monotonic():.3f}: {error}")

    clients = [threading.Thread(target=attempt) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(0.6)  # one hash (about a second each) is running; the other logins wait for the permit
    victims = workers_of(supervisor)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    for client in clients:
        client.join(30)
    wait_for(lambda: len(workers_of(supervisor)) == 2 and not set(victims) & set(workers_of(supervisor)),
             timeout=20, what="two replacements")
    started = time.monotonic()
    assert login_unknown_email(supervisor.address).status == 401
    assert time.monotonic() - started < 10
    assert "password-hash permits of an exited worker freed" in supervisor.log_text()


def test_the_start_says_when_second_factors_are_off(start_worker, rundir):
    """No mfa.encryption_keys: said once at start (the MFA routes answer 503 mfa_unavailable); with a key, nothing."""
    from authsite import mfa_key_env
    off = start_worker(threads=1, args=("--workers", "1"))
    wait_for(lambda: "supervising" in off.log_text(), what="the start")
    assert "mfa.encryption_keys is empty" in off.log_text() and "event=mfa_off" in off.log_text()
    on = start_worker(threads=1, args=("--workers", "1"), env=mfa_key_env(rundir))
    wait_for(lambda: "supervising" in on.log_text(), what="the start")
    assert "mfa_off" not in on.log_text()
