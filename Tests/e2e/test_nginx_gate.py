"""The nginx gate with the real service: the development server's demo locations (nginx/dev/nginx.conf.template)
in front of a worker and MariaDB.

  /dashboard          protected page (jwt-authd-protect-page.conf)
  /admin              protected page, role admin
  /api/protected/     protected API (jwt-authd-protect-api.conf); /api/protected/admin/ needs role admin
  /auth/login, /auth/register   guest-only pages (jwt-authd-guest-page.conf)
  /                   public page, client X-Auth-* stripped (jwt-authd-strip-identity.conf)

The app behind them is nginx's demo server, which answers with the X-Auth-* headers it received, as JSON.
Redirects are followed by hand, sending each cookie only to paths under its Path, as a browser does: the refresh
cookie (Path=/api/auth) never reaches /dashboard, which is why the page gate goes through /api/auth/renew.
test_nginx_snippets.py pins the same behaviour with a stand-in for the service.
"""

import time

import pytest

from authsite import CHEAP_HASHING, PASSWORD, assert_same_site, jwt_payload, query_of, unique_email

pytestmark = pytest.mark.gate

ENV = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000"}
SPOOFED = {"X-Auth-User-Id": "00000000-0000-7000-8000-000000000666", "X-Auth-Email": "mallory@evil.example",
           "X-Auth-Role": "admin", "X-Auth-Method": "api-key", "X-Auth-Scopes": "full", "X-Auth-Email-Verified": "true"}


@pytest.fixture(scope="module")
def site(start_site):
    return start_site("gate", ENV)


@pytest.fixture(scope="module")
def short_site(start_site):
    """Access tokens of 2 s, no leeway: expiry within a test."""
    return start_site("gate-short", {**ENV, "JWT_ACCESS_TTL": "2s", "JWT_LEEWAY": "0s"})


@pytest.fixture
def signed_in(site):
    client = site.client()
    user = client.register(email=unique_email("gate"))
    return client, user


def app_view(response):
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"), response.text)
    body = response.json()
    assert body["app"] == "demo", body
    return body


def assert_identity(view, user, method="jwt"):
    assert (view["userId"], view["email"], view["role"], view["authMethod"]) == \
        (user["id"], user["email"], user["role"], method)
    # The gate's own answer: these accounts never verified their address (a spoofed "true" does not get through).
    assert view["emailVerified"] == "false"


def make_admin(module_sql, client, user):
    module_sql(f"UPDATE users SET role = 'admin' WHERE id = '{user['id']}'")
    assert client.post("/api/auth/refresh").status_code == 200  # a new access token carries the role
    return {**user, "role": "admin"}


# --- pages -----------------------------------------------------------------------------------------


def test_page_without_session_goes_through_renew_to_login(site):
    client = site.client()
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/auth/renew?return_to=/dashboard"
    chain = client.follow(response)
    assert [r.status_code for r in chain] == [303, 303, 200]
    login = chain[1].headers["Location"]
    assert login == "/auth/login?callbackUrl=%2Fdashboard"
    assert chain[2].headers["Content-Type"].startswith("text/html")
    assert 'action="/api/auth/login"' in chain[2].text


def test_page_redirect_keeps_the_query(site):
    client = site.client()
    response = client.get("/dashboard/reports?tab=a&b=c")
    assert response.headers["Location"] == "/api/auth/renew?return_to=/dashboard/reports?tab=a&b=c"
    chain = client.follow(response)
    assert query_of(chain[1].headers["Location"]) == {"callbackUrl": "/dashboard/reports?tab=a&b=c"}


def test_page_with_session_reaches_the_app_with_identity(site, signed_in):
    client, user = signed_in
    view = app_view(client.get("/dashboard"))
    assert_identity(view, user)
    assert view["uri"] == "/dashboard"
    assert_identity(app_view(client.get("/dashboard/reports?x=1")), user)


def test_expired_access_token_is_renewed_through_the_refresh_cookie(short_site):
    client = short_site.client()
    user = client.register(email=unique_email("renew"))
    assert_identity(app_view(client.get("/dashboard?tab=2")), user)
    old_access, old_refresh = client.access_token, client.refresh_token
    time.sleep(2.5)

    response = client.get("/dashboard?tab=2")
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/auth/renew?return_to=/dashboard?tab=2"
    # The browser sent only the access cookie to /dashboard...
    assert client.jar.header("/dashboard") == f"access_token={old_access}"
    # ...and sends both to /api/auth/renew, which rotates them and sends it back.
    renew = client.get("/api/auth/renew?return_to=/dashboard?tab=2")
    assert renew.status_code == 303, renew.text
    assert renew.headers["Location"] == "/dashboard?tab=2"
    assert client.access_token != old_access and client.refresh_token != old_refresh
    assert jwt_payload(client.refresh_token)["family"] == jwt_payload(old_refresh)["family"]
    view = app_view(client.get("/dashboard?tab=2"))
    assert_identity(view, user)


def test_expired_session_following_redirects_like_a_browser(short_site):
    client = short_site.client()
    user = client.register(email=unique_email("follow"))
    time.sleep(2.5)
    chain = client.follow(client.get("/dashboard"))
    assert [r.status_code for r in chain] == [303, 303, 200]
    assert_identity(app_view(chain[-1]), user)


def test_role_protected_page(site, signed_in, module_sql):
    client, user = signed_in
    response = client.get("/admin")
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    make_admin(module_sql, client, user)
    # The demo's /admin also requires a second factor ($jwt_authd_require_aal 2): an admin whose session used none is
    # sent to the step-up page (test_mfa.py follows it through).
    response = client.get("/admin/users")
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/mfa?stepUp=1&callbackUrl=/admin/users"


def test_role_protected_page_without_session_goes_to_renew(site):
    response = site.client().get("/admin")
    assert response.status_code == 303
    assert response.headers["Location"] == "/api/auth/renew?return_to=/admin"


def test_guest_pages(site, signed_in):
    client, _ = signed_in
    for path in ("/auth/login", "/auth/register"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/dashboard"
        response = site.client().get(path)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")


def test_guest_page_with_an_expired_token_is_shown(short_site):
    client = short_site.client()
    client.register()
    assert client.get("/auth/login").status_code == 303
    time.sleep(2.5)
    assert client.get("/auth/login").status_code == 200


def test_the_demo_login_form_works(site):
    """The guest page's form posts to the service, which answers with a 303 to the callback and the cookies."""
    email = unique_email("form")
    site.client().register(email=email)
    client = site.client()
    chain = client.follow(client.get("/dashboard"))
    callback = query_of(chain[1].headers["Location"])["callbackUrl"]
    response = client.post("/api/auth/login", data={"email": email, "password": PASSWORD, "callbackUrl": callback},
                           headers={"Origin": site.origin, "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    assert app_view(client.get("/dashboard"))["email"] == email


# --- APIs ------------------------------------------------------------------------------------------


def test_api_without_credentials_is_json_401(site):
    for method in ("GET", "POST", "DELETE"):
        response = site.client().request(method, "/api/protected/items")
        assert response.status_code == 401, method
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json()["code"] == "unauthorized"


def test_api_with_cookie_bearer_and_api_key(site, signed_in):
    client, user = signed_in
    assert_identity(app_view(client.get("/api/protected/items")), user)
    bearer = {"Authorization": f"Bearer {client.access_token}"}
    assert_identity(app_view(site.client().post("/api/protected/items", json={"a": 1}, headers=bearer)), user)
    created = client.post("/api/auth/api-keys", json={"name": "gate"})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    view = app_view(site.client().get("/api/protected/items", headers={"X-API-Key": key}))
    assert_identity(view, user, method="api-key")


def test_api_with_expired_token(short_site):
    client = short_site.client()
    client.register()
    time.sleep(2.5)
    response = client.get("/api/protected/items")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    # nginx says token_expired when the service tells it so (X-Auth-Error on /verify), else unauthorized.
    direct = client.get("/api/auth/verify")
    expected = "token_expired" if direct.headers.get("X-Auth-Error") == "token_expired" else "unauthorized"
    assert response.json()["code"] == expected


def test_role_protected_api(site, signed_in, module_sql):
    client, user = signed_in
    response = client.get("/api/protected/admin/stats")
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "forbidden"
    admin = make_admin(module_sql, client, user)
    assert_identity(app_view(client.get("/api/protected/admin/stats")), admin)


# --- what clients cannot forge ------------------------------------------------------------------------


def test_spoofed_identity_never_reaches_the_app(site, signed_in):
    client, user = signed_in
    for path in ("/dashboard", "/api/protected/items"):
        view = app_view(client.get(path, headers=SPOOFED))
        assert_identity(view, user)
    # Ungated and guest pages: the client's X-Auth-* headers are removed.
    view = app_view(site.client().get("/", headers={**SPOOFED, "X-Auth-Require-Role": "x", "X-Auth-Guest-Only": "1"}))
    assert {view[key] for key in ("userId", "email", "role", "authMethod", "scopes", "requireRole", "guestOnly",
                                  "emailVerified")} == {""}
    # A forged identity without credentials does not pass the gate at all.
    assert site.client().get("/api/protected/items", headers=SPOOFED).status_code == 401
    assert site.client().get("/dashboard", headers=SPOOFED).status_code == 303


def test_spoofed_gate_headers_never_reach_the_service_or_the_app(site, signed_in, module_sql):
    client, user = signed_in
    # Asking the service for "admin" on /dashboard would make it refuse: the header never arrives.
    view = app_view(client.get("/dashboard", headers={"X-Auth-Require-Role": "admin"}))
    assert view["requireRole"] == "" and view["userId"] == user["id"]
    # Asking for "user" on /admin would let a user in: nginx's own requirement wins.
    assert client.get("/admin", headers={"X-Auth-Require-Role": "user"}).status_code == 403
    assert client.get("/api/protected/admin/x", headers={"X-Auth-Require-Role": "user"}).status_code == 403
    # Guest-only would invert the check and refuse a signed-in user: it never arrives either.
    view = app_view(client.get("/dashboard", headers={"X-Auth-Guest-Only": "1"}))
    assert view["guestOnly"] == "" and view["userId"] == user["id"]
    # ...nor does its opposite on a guest page.
    assert client.get("/auth/login", headers={"X-Auth-Guest-Only": "0"}).status_code == 303
    # Header case and repetition do not matter to nginx.
    assert client.get("/admin", headers={"x-auth-require-role": "user"}).status_code == 403


def test_internal_gate_locations_are_not_reachable(site, signed_in):
    client, _ = signed_in
    for path in ("/_jwt_authd/verify", "/_jwt_authd/verify-guest", "/_jwt_authd/variables"):
        assert client.get(path).status_code == 404, path


# --- cross-site requests ----------------------------------------------------------------------------


def test_cross_site_post_with_cookie_is_refused(site, signed_in):
    client, user = signed_in
    evil = {"Origin": "https://evil.example"}
    # The service's own routes.
    response = client.post("/api/auth/logout-all", headers=evil)
    assert response.status_code == 403 and response.json()["code"] == "cross_site_request"
    response = client.post("/api/auth/logout-all", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    # A gated API: the gate applies the same rule to the gated request (X-Original-Method).
    response = client.post("/api/protected/items", json={"a": 1}, headers=evil)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "cross_site_request"
    response = client.request("DELETE", "/api/protected/items/1", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    # The method the service checks is nginx's, not a header the client sends.
    response = client.post("/api/protected/items", json={}, headers={**evil, "X-Original-Method": "GET"})
    assert response.status_code == 403
    # Reading is fine cross-site (SameSite=Lax sends the cookie on top-level GETs anyway), and so is a same-origin
    # write, and a write authenticated by a Bearer token (no ambient credential).
    assert_identity(app_view(client.get("/api/protected/items", headers=evil)), user)
    assert_identity(app_view(client.post("/api/protected/items", json={}, headers={"Origin": site.origin})), user)
    bearer = {"Authorization": f"Bearer {client.access_token}", **evil}
    assert_identity(app_view(site.client().post("/api/protected/items", json={}, headers=bearer)), user)
    assert client.me().status_code == 200


def test_renew_redirects_stay_on_the_site(site, signed_in):
    client, _ = signed_in
    for target in ("//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example"):
        response = client.get(f"/api/auth/renew?return_to={target}")
        assert response.status_code == 303
        assert_same_site(site, response.headers["Location"])
