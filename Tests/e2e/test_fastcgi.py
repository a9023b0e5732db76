"""The worker over FastCGI directly (no nginx): routes, limits, kept
connections, misbehaving clients, fd-0 mode and graceful stop.

Requests go to the worker's own unix socket through ``fcgi_client``, which
can do what nginx never does: hold connections idle, send a body late, hang
up half-way, write garbage.
"""

import concurrent.futures
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

import harness
from fcgi_client import (BEGIN_REQUEST, PARAMS, STDIN, FastCGIConnection, connect, encode_params, encode_record, fcgi_request,
                         http_params)

pytestmark = pytest.mark.fastcgi

HEALTH = http_params("GET", "/api/auth/health")


def json_body(response):
    assert response.headers.get("content-type", "").startswith("application/json"), response
    return json.loads(response.body)


def assert_serves(worker, timeout=5.0):
    """The worker is alive and a new connection gets a health answer."""
    assert worker.alive(), harness.tail(worker.log_path)
    response = harness.health(worker.address, timeout=timeout)
    assert response.status == 200, response


# Routes and limits


def test_health_answers_ok(start_worker):
    response = harness.health(start_worker().address)
    assert response.status == 200
    assert json_body(response) == {"status": "ok", "database": "ok"}


def test_unknown_path_is_404_json(start_worker):
    response = fcgi_request(start_worker().address, http_params("GET", "/api/auth/nope"))
    assert response.status == 404
    assert json_body(response) == {"error": "Not found", "code": "not_found"}


def test_wrong_method_is_405_with_allow(start_worker):
    response = fcgi_request(start_worker().address, http_params("POST", "/api/auth/health", body_length=0))
    assert response.status == 405
    assert response.headers.get("allow") == "GET, HEAD"
    assert json_body(response) == {"error": "Method not allowed", "code": "method_not_allowed"}


def test_body_over_limit_is_413_without_reading_it(start_worker):
    """CONTENT_LENGTH over JWT_MAX_BODY_BYTES is refused before any body byte arrives."""
    worker = start_worker(env={"JWT_MAX_BODY_BYTES": "1024"})
    with FastCGIConnection(worker.address, timeout=5) as conn:
        # No STDIN is ever sent: a worker that tried to read the body would time out here.
        conn.begin(http_params("POST", "/api/auth/login", body_length=1025, content_type="application/json"))
        try:
            response = conn.read_response()
        except TimeoutError:
            pytest.fail("no answer within 5 s while the body was withheld: the worker waits for the body")
    assert response.status == 413
    assert json_body(response) == {"error": "Request body too large", "code": "payload_too_large"}
    assert_serves(worker)


def test_body_at_limit_is_accepted(start_worker):
    worker = start_worker(env={"JWT_MAX_BODY_BYTES": "1024"})
    response = fcgi_request(worker.address, http_params("POST", "/api/auth/nope", body_length=1024), stdin=b"x" * 1024)
    assert response.status == 404


def test_tcp_listen(start_worker):
    worker = start_worker(listen=f"127.0.0.1:{harness.free_port()}")
    assert harness.health(worker.address).status == 200


def test_socket_mode(start_worker):
    worker = start_worker(args=["--socket-mode", "0666"])
    assert os.stat(worker.address.removeprefix("unix:")).st_mode & 0o777 == 0o666


# Kept connections (FCGI_KEEP_CONN)


def test_many_requests_over_one_kept_connection(start_worker):
    worker = start_worker()
    with FastCGIConnection(worker.address) as conn:
        for i in range(20):
            response = conn.request(http_params("GET", "/api/auth/health" if i % 2 else "/api/auth/nope"),
                                    keep_conn=True)
            assert response.status == (200 if i % 2 else 404)


@pytest.mark.parametrize("threads", [2, 3])
def test_idle_kept_connections_do_not_block_accept(start_worker, threads):
    """With threads-1 idle kept connections, a new client is still answered.

    Each kept connection holds one thread (it waits there for the next
    request), so this is the most the rule "threads > kept connections"
    allows. A worker whose threads share an accept lock held while waiting
    on a kept connection (libfcgi's example mutex) fails this.
    """
    worker = start_worker(threads=threads)
    kept = [FastCGIConnection(worker.address) for _ in range(threads - 1)]
    try:
        for conn in kept:
            assert conn.request(HEALTH, keep_conn=True).status == 200
        assert harness.health(worker.address, timeout=3).status == 200
        for conn in kept:
            assert conn.request(HEALTH, keep_conn=True).status == 200
    finally:
        for conn in kept:
            conn.close()


def test_a_new_client_is_answered_even_when_every_thread_holds_an_idle_kept_connection(start_worker):
    """Sizing rule broken on purpose: 2 threads, 2 idle kept connections. A third client must still be answered
    (one thread gives up its idle connection after the yield delay), not wait until a kept connection closes."""
    worker = start_worker(threads=2)
    kept = [FastCGIConnection(worker.address) for _ in range(2)]
    try:
        for conn in kept:
            assert conn.request(HEALTH, keep_conn=True).status == 200
        started = time.monotonic()
        assert harness.health(worker.address, timeout=3).status == 200
        assert time.monotonic() - started < 1.0
    finally:
        for conn in kept:
            conn.close()
    assert_serves(worker)


# Misbehaving clients


def test_client_hangs_up_after_params(start_worker):
    worker = start_worker()
    for sent_body in (b"", b"{\"half\":"):
        with FastCGIConnection(worker.address) as conn:
            conn.begin(http_params("POST", "/api/auth/nope", body_length=100, content_type="application/json"))
            conn.send_stdin(sent_body)
        time.sleep(0.1)
        assert_serves(worker)


def test_a_closed_connection_never_loses_its_response(start_worker):
    """Without FCGI_KEEP_CONN the worker closes the connection after the response. Over TCP a close that leaves
    unread bytes behind sends a reset, which can destroy the response before the client reads it: with 256 KiB sent
    after the request, the whole response still arrives, then end of file. Without extra bytes (every request nginx
    sends), the same."""
    worker = start_worker(listen=f"127.0.0.1:{harness.free_port()}")
    for trailing in (b"", b"\0" * 262_144):
        with FastCGIConnection(worker.address) as conn:
            # The request and the extra bytes in one send: they are waiting when the worker has answered.
            request = []
            conn.send_raw = request.append
            conn.begin(http_params("GET", "/api/auth/health"))
            conn.end_stdin()
            del conn.send_raw
            conn.send_raw(b"".join(request) + trailing)
            time.sleep(0.2)  # the worker has answered and closed by now
            assert conn.read_response().status == 200
            conn.sock.settimeout(5)
            assert conn.sock.recv(1) == b""
    assert_serves(worker)


def test_client_hangs_up_before_reading_response(start_worker):
    """Writing a response to a closed connection (EPIPE/ECONNRESET) must not kill the worker."""
    worker = start_worker()
    body = b"x" * 60000
    for _ in range(5):
        conn = FastCGIConnection(worker.address)
        conn.begin(http_params("POST", "/api/auth/nope", body_length=len(body)))
        conn.send_stdin(body)
        conn.end_stdin()
        # Close with a reset, unread, while the worker is about to answer.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    time.sleep(0.2)
    assert_serves(worker)


@pytest.mark.parametrize("garbage", [
    b"GET /api/auth/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\x00" * 64,
    bytes(range(256)) * 4,
    encode_record(BEGIN_REQUEST, 1, struct.pack(">HB5x", 99, 0)) + encode_record(PARAMS, 1),  # unknown role
    encode_record(STDIN, 1, b"stdin before any BEGIN_REQUEST"),
    encode_record(BEGIN_REQUEST, 1, b"\x00\x01"),  # truncated BEGIN_REQUEST body
], ids=["http", "zeros", "bytes", "unknown-role", "stdin-first", "short-begin"])
def test_garbage_does_not_crash_worker(start_worker, garbage):
    worker = start_worker()
    with connect(worker.address) as sock:
        sock.sendall(garbage)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass  # a reset is a fine answer to garbage
    assert_serves(worker)


# fd-0 mode (spawn-fcgi)


def test_serves_on_fd0_from_spawn_fcgi(spawn_fcgi, authd_bin, base_env, rundir):
    sock = rundir / "spawned.sock"
    pidfile = rundir / "spawned.pid"
    with open(rundir / "worker-spawned.log", "ab") as log:
        subprocess.run([spawn_fcgi, "-s", str(sock), "-M", "0666", "-F", "1", "-P", str(pidfile), "--",
                        str(authd_bin), "serve", "--threads", "2"],
                       env=base_env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=10)
    pid = int(pidfile.read_text().split()[0])
    try:
        response = harness.wait_until(lambda: _try_health(f"unix:{sock}"), 10, "the spawned worker")
        assert response.status == 200
        assert json_body(response) == {"status": "ok", "database": "ok"}
        assert os.stat(sock).st_mode & 0o777 == 0o666
    finally:
        # Not our child: spawn-fcgi forked it and exited. Signal it and watch /proc.
        os.kill(pid, signal.SIGTERM)
        try:
            harness.wait_until(lambda: harness.process_gone(pid), 5, f"spawned worker {pid} to exit")
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise


def _try_health(address):
    try:
        return harness.health(address, timeout=2)
    except OSError:
        return None


# Graceful stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stop_signal_lets_in_flight_request_finish(start_worker, sig):
    """A request whose body is still arriving when the signal comes is answered; then exit 0."""
    worker = start_worker(threads=2)
    with FastCGIConnection(worker.address, timeout=10) as conn:
        conn.begin(http_params("POST", "/api/auth/nope", body_length=10, content_type="application/json"))
        time.sleep(0.3)  # a thread has taken the request and waits for its body
        worker.send_signal(sig)
        time.sleep(1.2)  # the body comes 1.5 s after the params
        conn.send_stdin(b"0123456789")
        conn.end_stdin()
        response = conn.read_response()
    assert response.status == 404
    assert json_body(response)["code"] == "not_found"
    assert worker.wait(timeout=5) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stop_signal_with_idle_kept_connections_exits_promptly(start_worker, sig):
    worker = start_worker(threads=3)
    kept = [FastCGIConnection(worker.address) for _ in range(2)]
    try:
        for conn in kept:
            assert conn.request(HEALTH, keep_conn=True).status == 200
        worker.send_signal(sig)
        assert worker.wait(timeout=5) == 0
    finally:
        for conn in kept:
            conn.close()


def test_stopping_worker_answers_one_more_request_on_an_idle_kept_connection_then_closes_it(start_worker):
    """nginx may send a request into a kept connection just as the worker stops (it picks the connection it used
    last): the request is answered, with the connection closed after the response, not dropped unanswered (nginx
    cannot retry a POST on another connection)."""
    worker = start_worker(threads=2)
    with FastCGIConnection(worker.address, timeout=10) as conn:
        assert conn.request(HEALTH, keep_conn=True).status == 200
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the stop has reached every thread; this connection is still open
        response = conn.request(http_params("POST", "/api/auth/logout", body_length=2, content_type="application/json"),
                                stdin=b"{}", keep_conn=True)
        assert response.status == 200
        # Then end of file: the worker closed its side after the response.
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""
    assert worker.wait(timeout=5) == 0


def _stall_then_stop(address, stop, gone):
    """Sends a request's params but never its body (the connection stays open), then `stop()`, then `gone()` until
    the process has ended: returns the seconds that took."""
    with FastCGIConnection(address, timeout=10) as conn:
        conn.begin(http_params("POST", "/api/auth/logout", body_length=10, content_type="application/json"))
        time.sleep(0.3)  # a thread has taken the request and waits for its body, which never comes
        started = time.monotonic()
        stop()
        gone()
        return time.monotonic() - started


def test_a_stalled_request_keeps_a_supervised_worker_only_until_the_drain_timeout(start_worker):
    """A peer that sent its params but never its body must not keep the service after a stop: the supervisor kills
    the worker once server.drain_timeout has passed, and says so."""
    supervisor = start_worker(threads=2, env={"JWT_AUTHD_DRAIN_TIMEOUT": "1s"})
    status = []
    waited = _stall_then_stop(supervisor.address, lambda: supervisor.send_signal(signal.SIGTERM),
                              lambda: status.append(supervisor.wait(timeout=10)))
    assert status == [0]
    assert 0.9 <= waited < 5, f"exited after {waited:.2f} s (drain timeout 1 s)"
    # The supervisor's deadline and the worker's own timer expire together: either may end it, and says so.
    log = supervisor.log_text()
    assert "did not finish within the drain timeout" in log or "drain timeout reached" in log


def test_a_stalled_request_keeps_a_lone_worker_only_until_the_drain_timeout(spawn_fcgi, authd_bin, base_env, rundir):
    """The same for a worker without a supervisor (spawn-fcgi, mod_fcgid): its own timer ends the process."""
    sock, pidfile, log_path = rundir / "lone.sock", rundir / "lone.pid", rundir / "worker-lone.log"
    # spawn-fcgi closes the child's standard error: the worker logs to a file.
    env = {**base_env, "JWT_AUTHD_DRAIN_TIMEOUT": "1s", "JWT_AUTHD_LOG_FILE": str(log_path)}
    subprocess.run([spawn_fcgi, "-s", str(sock), "-F", "1", "-P", str(pidfile), "--", str(authd_bin), "serve",
                    "--threads", "2"], env=env, stdout=subprocess.DEVNULL, check=True, timeout=10)
    pid = int(pidfile.read_text().split()[0])
    try:
        harness.wait_until(lambda: _try_health(f"unix:{sock}"), 10, "the lone worker")
        waited = _stall_then_stop(f"unix:{sock}", lambda: os.kill(pid, signal.SIGTERM),
                                  lambda: harness.wait_until(lambda: harness.process_gone(pid), 10, f"worker {pid} gone"))
    finally:
        if not harness.process_gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert 0.9 <= waited < 5, f"exited after {waited:.2f} s (drain timeout 1 s)"
    assert "drain timeout reached: exiting with requests still in flight" in log_path.read_text()


def test_stopping_worker_closes_an_unused_kept_connection_after_the_linger(start_worker):
    worker = start_worker(threads=2)
    with FastCGIConnection(worker.address, timeout=10) as conn:
        assert conn.request(HEALTH, keep_conn=True).status == 200
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        conn.sock.settimeout(10)
        assert conn.sock.recv(1) == b""
        waited = time.monotonic() - started
    assert 0.5 <= waited < 5, f"closed after {waited:.2f} s (linger 1 s)"
    assert worker.wait(timeout=5) == 0


def test_bodies_without_a_content_length(start_worker):
    """nginx sends an empty CONTENT_LENGTH on GET; a body may still arrive without a length (read up to the limit)."""
    worker = start_worker(env={"JWT_MAX_BODY_BYTES": "1024"})
    base = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/auth/login", "REQUEST_URI": "/api/auth/login",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "", "REMOTE_ADDR": "127.0.0.1"}
    # A small JSON body with no length is read and parsed (400 for field errors proves it reached the handler).
    response = fcgi_request(worker.address, base, stdin=b'{"email":"not-an-email","password":"x"}')
    assert response.status == 400 and json_body(response)["code"] == "invalid_request"
    # No body at all: the handler sees an empty body (400 for the missing fields), without waiting.
    response = fcgi_request(worker.address, base, stdin=b"")
    assert response.status == 400
    # Over the limit without a length: 413.
    response = fcgi_request(worker.address, base, stdin=b"x" * 1025)
    assert response.status == 413
    assert_serves(worker)


@pytest.mark.parametrize("length", ["-1", "-0", "+5", " 5", "5 ", "0x10", "1e3", "abc", "5\n"])
def test_a_content_length_that_is_not_a_length_is_400_and_the_worker_lives(start_worker, length):
    """Only ASCII digits are a length: anything else is refused before any body is read (it used to trap the
    worker for a negative value), and the connection is closed after the answer."""
    worker = start_worker()
    params = http_params("POST", "/api/auth/login", content_type="application/json")
    params["CONTENT_LENGTH"] = length
    response = fcgi_request(worker.address, params, stdin=b"{}")
    assert response.status == 400, response
    assert json_body(response) == {"error": "Invalid Content-Length", "code": "invalid_content_length"}
    assert_serves(worker)


def test_a_content_length_too_large_for_an_integer_is_413(start_worker):
    worker = start_worker()
    params = http_params("POST", "/api/auth/login", content_type="application/json")
    params["CONTENT_LENGTH"] = "99999999999999999999999"
    response = fcgi_request(worker.address, params)
    assert response.status == 413, response
    assert_serves(worker)


def test_a_path_with_a_newline_cannot_forge_a_log_line(start_worker):
    """nginx decodes %0A in $document_uri; the request log line escapes it instead of starting a new line."""
    worker = start_worker(env={"JWT_AUTHD_LOG_REQUESTS": "true", "JWT_AUTHD_LOG_LEVEL": "info"})
    forged = "2026-12-04T00:00:00+0000 critical jwt-authd: forged"
    response = fcgi_request(worker.address, http_params("GET", "/api/auth/x\n" + forged + "\r\u2028"))
    assert response.status == 404
    assert_serves(worker)
    log = harness.wait_until(lambda: "forged" in open(worker.log_path).read() and open(worker.log_path).read(),
                             5, "the request's log line")
    assert not any(line.startswith(forged) for line in log.splitlines()), log[-2000:]
    assert "/api/auth/x\\n" + forged + "\\r\\u{2028}" in log


def _from(source_ip, address):
    """A FastCGI connection to ``address`` (HOST:PORT) made from ``source_ip`` (any of 127.0.0.0/8 is local)."""
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.bind((source_ip, 0))
    sock.connect((host, int(port)))
    return sock


def test_a_tcp_listener_serves_only_the_allowed_clients(start_worker):
    """server.allowed_clients (php-fpm's listen.allowed_clients): another peer is disconnected unanswered, so it can
    neither send a request nor forge REMOTE_ADDR."""
    # 127.0.0.1 is allowed too: the harness checks readiness from there.
    worker = start_worker(listen=f"127.0.0.1:{harness.free_port()}",
                          env={"JWT_AUTHD_ALLOWED_CLIENTS": "127.0.0.1,127.0.0.2/32"})
    allowed = fcgi_request(worker.address, http_params("GET", "/api/auth/health"), sock=_from("127.0.0.2", worker.address))
    assert allowed.status == 200
    try:
        refused = fcgi_request(worker.address, http_params("GET", "/api/auth/health"),
                               sock=_from("127.0.0.3", worker.address), timeout=5)
    except (ConnectionError, EOFError, OSError, ValueError):
        refused = None  # disconnected without an answer
    assert refused is None, f"a peer outside server.allowed_clients got an answer: {refused}"
    assert "event=peer_refused peer=127.0.0.3" in open(worker.log_path).read()


def test_a_tcp_listener_open_to_other_hosts_is_warned_about(start_worker):
    worker = start_worker(listen=f"0.0.0.0:{harness.free_port()}", args=("--workers", "1"))
    harness.wait_until(lambda: "tcp_listener_unrestricted" in open(worker.log_path).read(), 5, "the warning")
    quiet = start_worker(listen=f"127.0.0.1:{harness.free_port()}", args=("--workers", "1"))
    assert harness.health(quiet.address).status == 200
    assert "tcp_listener_unrestricted" not in open(quiet.log_path).read()


# A login flood (#15 item 4)


def test_a_login_flood_is_answered_busy_later_without_holding_threads(start_worker):
    """More logins at once than the worker's hashing queue: the others are refused with 503 service_busy at once,
    before anything is written, and the refusal goes out when its Retry-After ends, without holding a thread: 11
    refusals are held while a 4-thread worker still answers health at once."""
    worker = start_worker(threads=4, env={
        "JWT_ARGON2_MEMORY_KIB": "131072", "JWT_ARGON2_ITERATIONS": "3", "JWT_PASSWORD_CONCURRENT_HASHES": "1",
        "JWT_PASSWORD_HASH_QUEUE": "1", "JWT_THROTTLE_LOGIN_PER_IP": "100000"})

    def login(n):
        body = json.dumps({"email": f"flood-{n}@unknown.example", "password": "not the password"}).encode()
        params = http_params("POST", "/api/auth/login", body_length=len(body), content_type="application/json")
        started = time.monotonic()
        response = fcgi_request(worker.address, params, body, timeout=30)
        return response, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        logins = [pool.submit(login, n) for n in range(12)]
        time.sleep(0.3)
        started = time.monotonic()
        health = harness.health(worker.address, timeout=5)
        health_took = time.monotonic() - started
        answers = [future.result() for future in logins]
    assert health.status == 200 and health_took < 0.5, (health, health_took)
    busy = [(response, took) for response, took in answers if response.status == 503]
    assert len(busy) >= 8, [response.status for response, _ in answers]
    for response, took in busy:
        assert json_body(response)["code"] == "service_busy"
        assert response.headers.get("retry-after") == "1"
        assert took >= 0.9, took
    assert {response.status for response, _ in answers} <= {401, 503}
    assert any(response.status == 401 for response, _ in answers), "the admitted login was evaluated"
    assert_serves(worker)


def test_a_late_end_of_body_does_not_break_the_next_request_on_a_kept_connection(start_worker):
    """The empty STDIN record that ends a body may come after the body itself (and after the worker read it): it is
    read with the request, not taken for the start of the next request on the kept connection (which then failed and
    closed the connection)."""
    worker = start_worker()
    connection = FastCGIConnection(worker.address, timeout=10)
    try:
        for n in range(3):
            body = json.dumps({"email": f"late-{n}@example.com", "password": "wrong password"}).encode()
            connection.begin(http_params("POST", "/api/auth/login", body_length=len(body), content_type="application/json"),
                             keep_conn=True)
            connection.send_stdin(body)
            time.sleep(0.3)  # the worker has read the body by now
            connection.end_stdin()
            assert connection.read_response().status == 401
            assert connection.request(http_params("GET", "/api/auth/health"), keep_conn=True).status == 200
        # More body than declared: refused, and the connection is not kept.
        connection.begin(http_params("POST", "/api/auth/login", body_length=2, content_type="application/json"), keep_conn=True)
        connection.send_stdin(b"{}xx")
        connection.end_stdin()
        assert connection.read_response().status == 400
    finally:
        connection.close()


def test_a_held_answer_hands_the_kept_connection_back(start_worker, rundir):
    """An answer held by the worker (here forgot's, until accounts.mail_answer_time after arrival) goes out on the
    connection the web server asked to keep, and that connection then serves the next request: the worker does not
    close it under nginx, whose next request on it would fail."""
    worker = start_worker(env={"JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": str(rundir / "held-mail"),
                               "JWT_AUTHD_PUBLIC_URL": "https://site.example", "JWT_MAIL_ANSWER_TIME": "300ms"})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(worker.address.removeprefix("unix:"))
        for n in range(3):
            body = json.dumps({"email": f"held-{n}@example.com"}).encode()
            params = http_params("POST", "/api/auth/password/forgot", body_length=len(body), content_type="application/json")
            started = time.monotonic()
            held = fcgi_request(worker.address, params, body, keep_conn=True, sock=sock)
            assert held.status == 202 and time.monotonic() - started >= 0.29, (held.status, time.monotonic() - started)
            again = fcgi_request(worker.address, http_params("GET", "/api/auth/health"), keep_conn=True, sock=sock)
            assert again.status == 200


@pytest.mark.parametrize("seed", ["overflowing-param-length", "unknown-management-record-in-params",
                                  "begin-padding-read-as-records", "management-records-before-begin",
                                  "get-values-after-params", "get-values-after-a-version-error",
                                  "skip-flag-left-by-an-empty-skipped-record"])
def test_parameters_libfcgi_would_abort_on_are_refused_unread(start_worker, seed):
    """Inputs scripts/fuzz fastcgi found: parameter lengths whose allocation fails make libfcgi assert and abort the
    whole worker. The server looks at the waiting bytes first and closes such a connection unread."""
    worker = start_worker()
    data = (harness.REPO / "Tests" / "fuzz" / "fastcgi-seeds" / seed).read_bytes()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(worker.address.removeprefix("unix:"))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answered = b""
        try:
            while chunk := sock.recv(65536):
                answered += chunk
        except ConnectionResetError:
            pass  # closed with the request unread: the kernel resets the connection
    assert answered == b""
    assert_serves(worker)
    assert worker.alive()


@pytest.mark.parametrize("late", [0.3, 0.0])
def test_a_get_values_record_sent_after_the_parameters_is_refused_and_the_worker_lives(start_worker, late):
    """An FCGI_GET_VALUES record whose lengths libfcgi's allocation fails on (it then asserts and aborts the worker),
    sent in the middle of a body, after the parameters were looked at: the look ahead cannot see it, the read guard
    under libfcgi (OS_Read) refuses the read that carries it, and the connection closes without an answer."""
    worker = start_worker()
    body = b'{"email":"a@example.com","password":"whatever"}'
    params = http_params("POST", "/api/auth/login", body_length=len(body), content_type="application/json")
    head = (encode_record(BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 0)) + encode_record(PARAMS, 1, encode_params(params))
            + encode_record(PARAMS, 1) + encode_record(STDIN, 1, body[:10]))
    huge = struct.pack(">II", 0x55d5d7d5 | 0x80000000, 0x552f6175 | 0x80000000)
    tail = encode_record(9, 0, huge + b"x" * 16) + encode_record(STDIN, 1, body[10:]) + encode_record(STDIN, 1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(worker.address.removeprefix("unix:"))
        sock.sendall(head)
        time.sleep(late)
        sock.sendall(tail)
        answered = b""
        try:
            while chunk := sock.recv(65536):
                answered += chunk
        except ConnectionResetError:
            pass
    assert b"Status:" not in answered, answered
    assert_serves(worker)
    assert worker.alive()
    assert "Assertion" not in harness.tail(worker.log_path)
