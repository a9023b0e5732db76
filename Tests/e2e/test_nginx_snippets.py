"""The nginx side of the gate, with a stand-in for the service.

nginx/jwt-authd.conf, the gate snippets (jwt-authd-protect-page.conf,
-protect-api.conf, -guest-page.conf, -strip-identity.conf) and the
development server's demo locations, in front of a FastCGI stub
(``fcgi_stub``) that records every request it gets and answers /verify the
way the contract says. This pins down what nginx itself must do —
which parameters the service gets, what never reaches it or the app, how
refusals are answered — independently of the service (and runs without it).
test_nginx_gate.py runs the same flows against the real service.

Stub tokens (as Bearer or access_token cookie): "user-token" (role user),
"admin-token" (role admin), "expired-token" (401 + X-Auth-Error:
token_expired), "boom-token" (the service fails: 500).
"""

import json
from urllib.parse import quote

import pytest

import harness
from authsite import Client
from fcgi_stub import FastCGIStub

pytestmark = pytest.mark.gate

USERS = {
    "user-token": ("0190b5a4-0000-7000-8000-000000000001", "user@example.com", "user"),
    "admin-token": ("0190b5a4-0000-7000-8000-000000000002", "admin@example.com", "admin"),
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def stub_service(request):
    """What the contract says /api/auth/verify and /api/auth/renew answer, reduced to fixed tokens."""
    path = request.path
    if path == "/api/auth/verify":
        token = None
        authorization = request.header("Authorization") or ""
        by_cookie = False
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
        else:
            for part in (request.header("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "access_token":
                    token, by_cookie = value, True
        if token == "boom-token":
            return 500, [("Content-Type", "application/json")], b'{"error":"x","code":"internal_error"}'
        identity = USERS.get(token)
        guest_only = request.header("X-Auth-Guest-Only") == "1"
        if guest_only:
            return (403 if identity else 204), [("Cache-Control", "no-store")], b""
        if identity is None:
            code = "token_expired" if token == "expired-token" else "unauthorized"
            return 401, [("Content-Type", "application/json"), ("X-Auth-Error", code)], \
                json.dumps({"error": "no", "code": code}).encode()
        method = request.header("X-Original-Method") or "GET"
        origin = request.header("Origin")
        if by_cookie and method in UNSAFE and origin and origin.split("://", 1)[-1] != request.header("Host"):
            return 403, [("X-Auth-Error", "cross_site_request")], b""
        required = request.header("X-Auth-Require-Role")
        if required and identity[2] not in [role.strip() for role in required.split(",")]:
            return 403, [("X-Auth-Error", "forbidden")], b""
        user_id, email, role = identity
        return 204, [("X-Auth-User-Id", user_id), ("X-Auth-Email", email), ("X-Auth-Role", role),
                     ("X-Auth-Method", "jwt"), ("X-Auth-Scopes", "full"), ("Cache-Control", "no-store")], b""
    if path == "/api/auth/renew":
        return_to = request.params.get("QUERY_STRING", "").partition("return_to=")[2] or "/dashboard"
        return 303, [("Location", "/auth/login?callbackUrl=" + quote(return_to, safe="")),
                     ("Cache-Control", "no-store")], b""
    return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], \
        json.dumps({"stub": True, "path": path}).encode()


@pytest.fixture(scope="module")
def stub(rundir):
    service = FastCGIStub(rundir / "stub.sock", stub_service).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def site(nginx_installed, stub, rundir):
    nginx = harness.Nginx(harness.REPO, rundir / "nginx", harness.free_port(), stub.address).start()

    class StubSite:
        port = nginx.port
        origin = f"http://127.0.0.1:{nginx.port}"
        host = f"127.0.0.1:{nginx.port}"
        error_log = nginx.error_log

        def url(self, path):
            return self.origin + path

    yield StubSite()
    nginx.stop()


@pytest.fixture
def client(site, stub):
    stub.clear()
    return Client(site)


def verify_requests(stub):
    return [r for r in stub.requests if r.path == "/api/auth/verify"]


def app_view(response):
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert body["app"] == "demo", body
    return body


def assert_no_duplicate_params(stub):
    for request in stub.requests:
        names = [name for name, _ in request.param_list]
        duplicates = {name for name in names if names.count(name) > 1}
        assert not duplicates, f"{request}: duplicate FastCGI params {duplicates} (libfcgi reads the first)"


# --- what the service is sent --------------------------------------------------


def test_verify_subrequest_is_a_bodyless_get_of_the_verify_route(client, stub, site):
    response = client.post("/api/protected/items?x=1", json={"big": "x" * 5000},
                           headers={"Authorization": "Bearer user-token", "X-Original-Method": "GET",
                                    "X-Original-URI": "/elsewhere"})
    app_view(response)
    [verify] = verify_requests(stub)
    params = verify.params
    assert params["REQUEST_METHOD"] == "GET"
    assert params["DOCUMENT_URI"] == params["REQUEST_URI"] == params["SCRIPT_NAME"] == "/api/auth/verify"
    assert params["QUERY_STRING"] == ""
    assert params["CONTENT_LENGTH"] == "" and params["CONTENT_TYPE"] == ""
    assert verify.body == b""
    # The gated request's method and URI, from nginx: the client's headers of these names are dropped.
    assert [v for n, v in verify.param_list if n == "HTTP_X_ORIGINAL_METHOD"] == ["POST"]
    assert [v for n, v in verify.param_list if n == "HTTP_X_ORIGINAL_URI"] == ["/api/protected/items?x=1"]
    assert params["HTTP_AUTHORIZATION"] == "Bearer user-token"
    assert params["REMOTE_ADDR"] == "127.0.0.1"
    # The Host header as the browser sent it (with the port), for the Origin comparison.
    assert params["HTTP_HOST"] == site.host
    assert "HTTP_X_AUTH_REQUIRE_ROLE" not in params and "HTTP_X_AUTH_GUEST_ONLY" not in params
    assert_no_duplicate_params(stub)


def test_service_routes_get_standard_params_and_the_raw_host(client, stub, site):
    response = client.post("/api/auth/login?a=b", data=b'{"email":"x"}', headers={"Content-Type": "application/json"})
    assert response.json() == {"stub": True, "path": "/api/auth/login"}
    [request] = stub.requests
    params = request.params
    assert params["REQUEST_METHOD"] == "POST"
    assert params["DOCUMENT_URI"] == "/api/auth/login" and params["REQUEST_URI"] == "/api/auth/login?a=b"
    assert params["QUERY_STRING"] == "a=b"
    assert params["CONTENT_TYPE"] == "application/json" and params["CONTENT_LENGTH"] == "13"
    assert request.body == b'{"email":"x"}'
    assert params["HTTP_HOST"] == site.host
    assert params["REQUEST_ID"] and params["SERVER_PORT"] == str(site.port)
    assert_no_duplicate_params(stub)


def test_jwks_is_passed_to_the_service(client, stub):
    response = client.get("/.well-known/jwks.json")
    assert response.json() == {"stub": True, "path": "/.well-known/jwks.json"}
    assert_no_duplicate_params(stub)


def shared_params():
    """(name, value, if_not_empty) of each parameter in nginx/jwt-authd-fastcgi-params.conf."""
    params = []
    for line in (harness.REPO / "nginx" / "jwt-authd-fastcgi-params.conf").read_text().splitlines():
        words = line.split("#", 1)[0].rstrip().removesuffix(";").split()
        if words and words[0] == "fastcgi_param":
            params.append((words[1], " ".join(words[2:]).removesuffix(" if_not_empty").strip('"'),
                           words[-1] == "if_not_empty"))
    return params


def test_every_service_location_gets_the_shared_params(client, stub, site):
    """jwt-authd.conf's four locations that pass to the service each include jwt-authd-fastcgi-params.conf."""
    shared = shared_params()
    assert {name for name, _, _ in shared} >= {"SERVER_PROTOCOL", "REMOTE_ADDR", "REQUEST_ID", "HTTP_PROXY"}
    conf = (harness.REPO / "nginx" / "jwt-authd.conf").read_text()
    twice = [name for name, _, _ in shared if f"fastcgi_param {name} " in conf]
    assert not twice, f"{twice} also in jwt-authd.conf (libfcgi reads the first of two)"
    proxy = {"Proxy": "http://evil.example"}  # httpoxy: HTTP_PROXY "" drops it
    client.post("/api/auth/login", data=b"{}", headers={"Content-Type": "application/json", **proxy})  # /api/auth/
    client.get("/.well-known/jwks.json", headers=proxy)                                      # jwks
    client.get("/dashboard", headers={"Authorization": "Bearer user-token", **proxy})         # /_jwt_authd/verify
    client.get("/auth/login", headers=proxy)                                                 # /_jwt_authd/verify-guest
    seen = {(r.path, r.params.get("HTTP_X_AUTH_GUEST_ONLY", "")) for r in stub.requests}
    assert seen == {("/api/auth/login", ""), ("/.well-known/jwks.json", ""), ("/api/auth/verify", ""),
                    ("/api/auth/verify", "1")}, seen
    for request in stub.requests:
        for name, value, if_not_empty in shared:
            if value == "" or if_not_empty:  # HTTP_PROXY ""; HTTPS $https (empty over http): nothing is sent
                assert name not in request.params, (request, name)
            else:
                assert request.params.get(name), (request, name)
        assert request.params["GATEWAY_INTERFACE"] == "CGI/1.1"
        assert request.params["SERVER_PORT"] == str(site.port) and request.params["REMOTE_ADDR"] == "127.0.0.1"
    assert_no_duplicate_params(stub)


def test_internal_locations_are_not_reachable_from_outside(client, stub):
    for path in ("/_jwt_authd/verify", "/_jwt_authd/verify-guest", "/_jwt_authd/variables"):
        response = client.get(path, headers={"Authorization": "Bearer user-token"})
        assert response.status_code == 404, path
    assert stub.requests == []


# --- the role requirement and guest-only flag come from nginx only ---------------


def test_role_requirement_comes_from_the_location_not_the_client(client, stub):
    # /admin requires admin: a client header asking for "user" is dropped.
    response = client.get("/admin", headers={"Authorization": "Bearer user-token", "X-Auth-Require-Role": "user"})
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    [verify] = verify_requests(stub)
    assert [value for name, value in verify.param_list if name == "HTTP_X_AUTH_REQUIRE_ROLE"] == ["admin"]

    stub.clear()
    # /dashboard requires nothing: a client header asking for "admin" never reaches the service.
    view = app_view(client.get("/dashboard", headers={"Authorization": "Bearer user-token",
                                                      "X-Auth-Require-Role": "admin"}))
    [verify] = verify_requests(stub)
    assert "HTTP_X_AUTH_REQUIRE_ROLE" not in verify.params
    assert view["requireRole"] == ""

    view = app_view(client.get("/admin", headers={"Authorization": "Bearer admin-token"}))
    assert view["role"] == "admin"


def test_guest_only_flag_comes_from_the_location_not_the_client(client, stub):
    view = app_view(client.get("/dashboard", headers={"Authorization": "Bearer user-token",
                                                      "X-Auth-Guest-Only": "1"}))
    assert view["userId"] == USERS["user-token"][0] and view["guestOnly"] == ""
    [verify] = verify_requests(stub)
    assert "HTTP_X_AUTH_GUEST_ONLY" not in verify.params

    stub.clear()
    response = client.get("/auth/login", headers={"X-Auth-Guest-Only": "0", "X-Auth-Require-Role": "admin"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    [verify] = verify_requests(stub)
    assert [value for name, value in verify.param_list if name == "HTTP_X_AUTH_GUEST_ONLY"] == ["1"]
    assert "HTTP_X_AUTH_REQUIRE_ROLE" not in verify.params


# --- what the app is sent --------------------------------------------------------

SPOOFED = {"X-Auth-User-Id": "spoofed-id", "X-Auth-Email": "spoof@evil.example", "X-Auth-Role": "admin",
           "X-Auth-Method": "api-key", "X-Auth-Scopes": "read"}


@pytest.mark.parametrize("path", ["/dashboard", "/api/protected/thing"])
def test_identity_headers_are_set_by_nginx_over_the_clients(client, path):
    view = app_view(client.get(path, headers={"Authorization": "Bearer user-token", **SPOOFED}))
    user_id, email, role = USERS["user-token"]
    assert (view["userId"], view["email"], view["role"], view["authMethod"], view["scopes"]) == \
        (user_id, email, role, "jwt", "full")


def test_identity_headers_sent_with_the_access_cookie(client):
    client.jar.set("access_token", "user-token")
    view = app_view(client.get("/dashboard", headers=SPOOFED))
    assert view["userId"] == USERS["user-token"][0]


@pytest.mark.parametrize("path", ["/", "/auth/login"])
def test_client_identity_headers_are_stripped_on_ungated_and_guest_pages(client, path):
    response = client.get(path, headers={**SPOOFED, "X-Auth-Require-Role": "admin", "X-Auth-Guest-Only": "1"})
    assert response.status_code == 200
    if path == "/":
        view = app_view(response)
        assert {view[key] for key in ("userId", "email", "role", "authMethod", "scopes", "requireRole", "guestOnly")} == {""}


# --- refusals --------------------------------------------------------------------


def test_page_without_session_redirects_to_renew_with_the_raw_request_uri(client, stub, site):
    response = client.get("/dashboard/reports?tab=a&b=c")
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/auth/renew?return_to=/dashboard/reports?tab=a&b=c"
    assert response.headers["Cache-Control"] == "no-store"
    chain = client.follow(response)
    assert [r.status_code for r in chain] == [303, 303, 200]
    assert chain[1].headers["Location"] == "/auth/login?callbackUrl=%2Fdashboard%2Freports%3Ftab%3Da%26b%3Dc"
    assert chain[2].headers["Content-Type"].startswith("text/html")
    assert not any(r.path == "/dashboard/reports" for r in stub.requests)


def test_page_with_expired_token_redirects_to_renew(client):
    client.jar.set("access_token", "expired-token")
    response = client.get("/admin")
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/auth/renew?return_to=/admin"


def test_api_without_credentials_is_json_401(client):
    response = client.post("/api/protected/items", json={"a": 1})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["code"] == "unauthorized"
    assert isinstance(response.json()["error"], str)


def test_api_with_expired_token_says_token_expired(client):
    response = client.get("/api/protected/items", headers={"Authorization": "Bearer expired-token"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_api_cross_site_post_with_cookie_is_json_403(client, site):
    client.jar.set("access_token", "user-token")
    response = client.post("/api/protected/items", json={}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "cross_site_request"
    # Same origin passes.
    app_view(client.post("/api/protected/items", json={}, headers={"Origin": site.origin}))


def test_api_role_refusal_is_json_403(client):
    response = client.get("/api/protected/admin/stats", headers={"Authorization": "Bearer user-token"})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "forbidden"
    view = app_view(client.get("/api/protected/admin/stats", headers={"Authorization": "Bearer admin-token"}))
    assert view["role"] == "admin"


def test_guest_page_for_signed_in_user_redirects_to_dashboard(client):
    response = client.get("/auth/register", headers={"Authorization": "Bearer user-token"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard"


def test_gate_fails_closed_when_the_service_fails(client, stub):
    response = client.get("/dashboard", headers={"Authorization": "Bearer boom-token"})
    assert response.status_code == 500
    assert not any(r.path == "/dashboard" for r in stub.requests)
    response = client.get("/api/protected/x", headers={"Authorization": "Bearer boom-token"})
    assert response.status_code == 500


def test_no_warnings_or_errors_in_nginx_log(client, site):
    for path in ("/dashboard", "/admin", "/api/protected/x", "/auth/login", "/"):
        client.get(path)
        client.get(path, headers={"Authorization": "Bearer user-token"})
    text = site.error_log.read_text(errors="replace")
    problems = [line for line in text.splitlines() if "[warn]" in line or "[error]" in line or "[crit]" in line
                or "[emerg]" in line]
    # The deliberate 500 of test_gate_fails_closed_when_the_service_fails is logged as an auth request error.
    problems = [line for line in problems if "auth request unexpected status: 500" not in line]
    assert problems == []
