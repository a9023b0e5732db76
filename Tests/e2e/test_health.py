"""Through nginx: the dev config (nginx/dev/nginx.conf.template plus
nginx/jwt-authd.conf) in front of a worker, with persistent FastCGI
connections on and off.

Body limits: the worker's limit (JWT_MAX_BODY_BYTES, 1024 here) is below
nginx's client_max_body_size (1m in jwt-authd.conf), so a body in between
gets the worker's JSON 413; a body over nginx's limit gets nginx's own 413
before anything reaches the worker. Both are tested.
"""

import socket

import pytest
import requests

import harness

pytestmark = pytest.mark.health

WORKER_LIMIT = 1024
THREADS = 8
# Kept connections: 2 nginx workers x KEEPALIVE = 4 < THREADS (see jwt-authd.conf).
KEEPALIVE = 2


@pytest.fixture(scope="module", params=[True, False], ids=["keep_conn_on", "keep_conn_off"])
def site(request, nginx_installed, authd_bin, base_env, rundir):
    keep_conn = request.param
    suffix = "keep" if keep_conn else "close"
    worker = harness.Worker(authd_bin, {**base_env, "JWT_MAX_BODY_BYTES": str(WORKER_LIMIT)},
                            f"unix:{rundir}/site-{suffix}.sock", THREADS, rundir).start()
    nginx = harness.Nginx(harness.REPO, rundir / f"nginx-{suffix}", harness.free_port(), worker.address,
                          keep_conn=keep_conn, keepalive=KEEPALIVE)
    try:
        nginx.start()
        yield nginx
    finally:
        nginx.stop()
        worker.kill()


def test_health_is_ok(site):
    response = requests.get(site.url("/api/auth/health"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unknown_path_is_404_json(site):
    response = requests.get(site.url("/api/auth/nope"), timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "Not found", "code": "not_found"}


def test_wrong_method_is_405(site):
    response = requests.post(site.url("/api/auth/health"), json={}, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.json() == {"error": "Method not allowed", "code": "method_not_allowed"}


def test_body_over_worker_limit_is_workers_413(site):
    body = b'{"pad":"' + b"x" * (4 * WORKER_LIMIT) + b'"}'
    response = requests.post(site.url("/api/auth/login"), data=body,
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large", "code": "payload_too_large"}
    # The unread body must not poison the (kept) upstream connection.
    with requests.Session() as session:
        for _ in range(20):
            assert session.get(site.url("/api/auth/health"), timeout=5).status_code == 200


def test_large_body_over_worker_limit_gets_413_through_nginx_without_upstream_errors(site):
    """A body near nginx's own limit (1m) but far over the worker's: the worker answers 413 without reading it and
    closes that connection; nginx must pass the 413 on, log no upstream error, and keep serving."""
    error_log_size = site.error_log.stat().st_size
    body = b'{"pad":"' + b"x" * (900 * 1024) + b'"}'
    for _ in range(3):
        response = requests.post(site.url("/api/auth/login"), data=body,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 413
        assert response.json() == {"error": "Request body too large", "code": "payload_too_large"}
    assert requests.get(site.url("/api/auth/health"), timeout=5).status_code == 200
    new_errors = site.error_log.read_bytes()[error_log_size:].decode(errors="replace")
    assert "[error]" not in new_errors and "[crit]" not in new_errors, new_errors


def test_body_over_nginx_limit_is_refused_by_nginx(site):
    """nginx refuses on the Content-Length header alone; the body is never sent."""
    with socket.create_connection(("127.0.0.1", site.port), timeout=5) as sock:
        sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2000000\r\nConnection: close\r\n\r\n")
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"413", status_line


def test_sequential_requests_over_keepalive(site):
    error_log_size = site.error_log.stat().st_size
    with requests.Session() as session:
        for _ in range(50):
            response = session.get(site.url("/api/auth/health"), timeout=5)
            assert response.status_code == 200
            assert response.json() == {"status": "ok", "database": "ok"}
    new_errors = site.error_log.read_bytes()[error_log_size:].decode(errors="replace")
    assert "[error]" not in new_errors and "[crit]" not in new_errors, new_errors
