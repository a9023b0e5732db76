"""jwt-authd behind Apache httpd + mod_fcgid, with the shipped examples (deploy/apache/).

A private Apache (``apache.Apache``) on two loopback ports: one virtual host
includes ``jwt-authd-fcgid.conf`` (``FcgidWrapper … virtual``), the other is a
shared-hosting document root with the ``htaccess`` example and the
``jwt-authd.fcgi`` wrapper. mod_fcgid starts jwt-authd itself, with its
listening socket on fd 0, as ``www-data`` when the tests run as root; the
service connects to the module's database as a MariaDB account that has only
SELECT, INSERT, UPDATE and DELETE (the runtime grants of docs/operations.md).

Requests go through Apache: health, the ``auth_request`` route without and
with a Bearer token (taken from the ``access_token`` cookie of a registration
made through the same path), the JWKS route. At the end Apache is stopped and
no jwt-authd process it started may survive it.
"""

import base64
import http.client
import json
import os
import secrets
from urllib.parse import urlsplit

import pytest

import apache
import harness
from conftest import require

pytestmark = pytest.mark.apache

VARIANTS = ("vhost", "htaccess")
PASSWORD = "correct horse battery staple"
# The vhost variant gets this through FcgidInitialEnv (environment wins over the file); the other keeps the default.
VHOST_ISSUER = "jwt-authd-apache-vhost"


@pytest.fixture(scope="module")
def apache_installed():
    binary = apache.apache_binary()
    require(binary is not None, "not installed: apache2 (apt-get install apache2 libapache2-mod-fcgid)")
    missing = apache.missing_modules()
    require(not missing, f"Apache modules missing: {', '.join(missing)} (apt-get install libapache2-mod-fcgid)")
    return binary


@pytest.fixture(scope="module")
def runtime_account(mariadb, base_env):
    """A MariaDB account with the runtime privileges only, on the module's database; dropped at the end."""
    dbname = urlsplit(base_env["DATABASE_URL"]).path.lstrip("/")
    user = f"e2e_apache_{secrets.token_hex(3)}"
    password = secrets.token_hex(16)
    mariadb.sql(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'; "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{dbname}`.* TO '{user}'@'localhost'")
    yield f"mariadb://{user}:{password}@localhost/{dbname}?socket={mariadb.socket}"
    mariadb.sql(f"DROP USER IF EXISTS '{user}'@'localhost'")


@pytest.fixture(scope="module")
def site(apache_installed, authd_bin, base_env, rundir, mariadb, runtime_account):
    root = rundir / "apache"
    app = root / "app"
    service_toml = "\n".join([
        'environment = "test"',
        "",
        "[database]",
        f'url_file = "{app}/database-url"',
        "",
        "[server]",
        "threads = 1",
        "",
        "[tokens]",
        f'access_secret_file = "{app}/access.secret"',
        f'refresh_secret_file = "{app}/refresh.secret"',
        "",
        "[passwords]",
        "argon2_memory_kib = 64",
        "argon2_iterations = 1",
        "",
        "[log]",
        'level = "info"',
        "",
    ])
    secret_files = {
        "database-url": runtime_account + "\n",
        "access.secret": base_env["JWT_ACCESS_SECRET"] + "\n",
        "refresh.secret": base_env["JWT_REFRESH_SECRET"] + "\n",
    }
    server = apache.Apache(apache_installed, authd_bin, root, service_toml, secret_files,
                           vhost_env={"JWT_ISSUER": VHOST_ISSUER})
    server.start(mariadb.socket)
    yield server
    leftovers = server.stop()
    assert not leftovers, f"jwt-authd processes outlived Apache: {leftovers}"


def request(site, variant, method, path, body=None, headers=None, timeout=30):
    """One HTTP/1.1 request through Apache; returns (status, headers as a list of pairs, body bytes)."""
    parts = urlsplit(site.url(variant, path))
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def header(headers, name):
    values = [value for key, value in headers if key.lower() == name.lower()]
    return values[-1] if values else None


def cookie_value(headers, name):
    for key, value in headers:
        if key.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return None


def jwt_claims(token):
    """The claims of a JWT, not verified (to read the issuer)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def register(site, variant):
    email = f"apache-{variant}-{secrets.token_hex(4)}@example.com"
    status, headers, body = request(site, variant, "POST", "/api/auth/register",
                                    {"email": email, "password": PASSWORD, "name": "Apache"})
    assert status == 201, (status, body, harness.tail(site.error_log))
    token = cookie_value(headers, "access_token")
    assert token, headers
    return email, token, json.loads(body)["user"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_health_through_apache(site, variant):
    status, headers, body = request(site, variant, "GET", "/api/auth/health")
    assert status == 200, (status, body, harness.tail(site.error_log))
    assert header(headers, "Content-Type").startswith("application/json")
    assert json.loads(body) == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_verify_without_credentials_is_401(site, variant):
    status, headers, body = request(site, variant, "GET", "/api/auth/verify")
    assert status == 401, (status, body)
    assert header(headers, "X-Auth-User-Id") is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_registered_users_bearer_token_is_verified(site, variant):
    email, token, user = register(site, variant)
    assert jwt_claims(token)["iss"] == (VHOST_ISSUER if variant == "vhost" else "jwt-authd")
    # Apache passes the Authorization header on (FcgidPassHeader / CGIPassAuth in the examples).
    status, headers, body = request(site, variant, "GET", "/api/auth/verify",
                                    headers={"Authorization": f"Bearer {token}"})
    assert status == 204, (status, body)
    assert header(headers, "X-Auth-User-Id") == user["id"]
    assert header(headers, "X-Auth-Email") == email
    assert header(headers, "X-Auth-Method") is not None
    status, _, body = request(site, variant, "GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, (status, body)
    assert json.loads(body)["user"]["email"] == email


def test_tokens_of_one_issuer_are_refused_by_the_other(site):
    """FcgidInitialEnv reached the vhost's processes only: its tokens carry another issuer."""
    _, token, _ = register(site, "vhost")
    status, _, _ = request(site, "htaccess", "GET", "/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert status == 401


@pytest.mark.parametrize("variant", VARIANTS)
def test_jwks_route_reaches_the_service(site, variant):
    status, headers, body = request(site, variant, "GET", "/.well-known/jwks.json")
    # HS256 keys have no public part: the service answers (JSON), whatever the status.
    assert header(headers, "Content-Type").startswith("application/json"), (status, headers, body)


def test_static_files_are_still_served_by_apache(site):
    status, _, body = request(site, "htaccess", "GET", "/index.html")
    assert (status, body) == (200, b"static\n")


def test_each_process_serves_fd0_as_a_single_worker(site):
    """mod_fcgid's processes are plain fd-0 servers: no supervisor, no workers of their own."""
    for variant in VARIANTS:  # mod_fcgid starts a process on the first request for it
        assert request(site, variant, "GET", "/api/auth/health")[0] == 200
    pids = site.service_pids()
    assert pids, "no jwt-authd process is running under Apache"
    for pid in pids:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert b"--worker" not in cmdline and b"--listen" not in cmdline, cmdline
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        assert children == [], f"jwt-authd {pid} has children {children}"
        if os.geteuid() == 0:
            assert os.stat(f"/proc/{pid}").st_uid == site.run_as.pw_uid  # Apache's User, not root
    log = harness.tail(site.error_log, 200_000)
    assert "listen=fd0" in log and "supervising" not in log


def test_stopping_apache_stops_its_fastcgi_processes(site):
    for variant in VARIANTS:
        assert request(site, variant, "GET", "/api/auth/health")[0] == 200
    assert site.service_pids()
    leftovers = site.stop()
    assert leftovers == []
    log = harness.tail(site.error_log, 200_000)
    assert "[jwt_authd] stopped" in log, "jwt-authd was not stopped gracefully (SIGTERM)"
