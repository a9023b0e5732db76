"""The auth routes end to end: the development nginx in front of a real worker and MariaDB.

Everything goes through nginx (nginx/jwt-authd.conf), as a browser or an API client would send it. The service's
cookies are ``Secure`` (JWT_AUTHD_ENV=test), which ``requests`` never sends over http://127.0.0.1, so
``authsite.Client`` keeps them in its own jar and sends each only to paths under its Path, as a browser does.

Sites, all on this module's database (so the per-address throttling counters, kept in MariaDB, are shared: every
site but the throttling ones has large per-address limits, since every request here comes from 127.0.0.1):

  main       cheap hashing, JWT_REFRESH_GRACE=1s, 3 failed logins per account, 3 wrong current passwords, 4 KiB
             bodies
  short      access tokens of 2 s (token_expired)
  closed     JWT_REGISTRATION_ENABLED=false
  proxied    JWT_TRUSTED_PROXIES=127.0.0.1: X-Forwarded-For decides the client address; 3 failed logins and
             2 registrations per address
  untrusted  the same small limits, no trusted proxy
  origins    JWT_ALLOWED_ORIGINS=https://app.example
  eddsa      access tokens signed with an EdDSA key (the JWKS document)
"""

import base64
import json
import re
import secrets
import subprocess
import time
from urllib.parse import urlsplit

import pytest

import harness

from authsite import (ACCESS_CLEARED, CHEAP_HASHING, PASSWORD, REFRESH_CLEARED, TIMESTAMP_RE, UUID_RE,
                      access_cookie_re, assert_same_site, device_cookie_re, jwt_header, jwt_payload, query_of, refresh_cookie_re,
                      set_cookie_headers, unique_email)

pytestmark = pytest.mark.api

LENIENT = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000"}
MAIN = {**LENIENT, "JWT_REFRESH_GRACE": "1s", "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "3",
        "JWT_THROTTLE_PASSWORD_CHANGE": "3", "JWT_MAX_BODY_BYTES": "4096"}
INVALID_CREDENTIALS = {"error": "Invalid credentials", "code": "invalid_credentials"}
SUCCESS = {"success": True}
USER_KEYS = {"id", "email", "name", "role"}
SESSION_KEYS = {"id", "createdAt", "lastUsedAt", "expiresAt", "userAgent", "ip", "current"}
API_KEY_KEYS = {"id", "name", "prefix", "createdAt", "lastUsedAt", "expiresAt", "scope"}
MISSING_SESSION = "0190b5a4-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
def site(start_site):
    return start_site("main", MAIN)


@pytest.fixture
def account(site):
    """A registered user with a signed-in client: ``(client, email, user)``."""
    client = site.client()
    email = unique_email()
    user = client.register(email=email, name="Ada Lovelace")
    return client, email, user


def error_of(response, status, code=None):
    """Asserts an error answer's status, JSON shape and (optionally) code; returns the body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("code"), str), body
    assert set(body) <= {"error", "code", "fields", "retryAfter"}, body
    if code is not None:
        assert body["code"] == code, body
    return body


def ok_json(response, status=200):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def assert_auth_cookies(response, access_max_age=900, refresh_max_age=(604800, 604800), device=False):
    """Exactly the two auth cookies, attribute for attribute, and the device cookie when ``device`` (a login or a
    registration) and never otherwise; returns (access token, refresh token).

    The refresh cookie's Max-Age is the seconds until the refresh token expires: 604800 right after a login or a
    rotation, less for a token issued earlier (a replay within the grace window)."""
    headers = set_cookie_headers(response)
    devices = [h for h in headers if h.startswith("auth_device=")]
    assert len(devices) == (1 if device else 0), headers
    assert all(device_cookie_re().match(h) for h in devices), devices
    headers = [h for h in headers if h not in devices]
    assert len(headers) == 2, headers
    access = [m for h in headers if (m := access_cookie_re(access_max_age).match(h))]
    refresh = [m for h in headers if (m := refresh_cookie_re(None).match(h))]
    assert len(access) == 1 and len(refresh) == 1, headers
    low, high = refresh_max_age
    assert low <= int(refresh[0].group(2)) <= high, headers
    return access[0].group(1), refresh[0].group(1)


def assert_cleared_cookies(response):
    assert sorted(set_cookie_headers(response)) == sorted([ACCESS_CLEARED, REFRESH_CLEARED])


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def refresh_with_cookie(client, token):
    """POST /api/auth/refresh with exactly this refresh cookie (not the jar's)."""
    return client.post("/api/auth/refresh", cookies=False, headers={"Cookie": f"refresh_token={token}"})


# --- the seed's flow ---------------------------------------------------------------


def test_register_login_me_refresh_reuse_logout(site):
    """register → login → me → refresh → replay within the grace window → reuse after it (the session dies, newest
    tokens included) → login again → logout → me 401."""
    email = unique_email("Flow")
    registering = site.client()
    response = registering.post("/api/auth/register", json={"email": f"  {email}  ", "password": PASSWORD,
                                                             "name": "Flow Tester"})
    body = ok_json(response, 201)
    user = body["user"]
    assert body == {"user": {"id": user["id"], "email": email.lower(), "name": "Flow Tester", "role": "user"}}
    assert UUID_RE.match(user["id"])
    assert_auth_cookies(response, device=True)

    client = site.client()
    response = client.post("/api/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert ok_json(response) == {"user": user}
    access, refresh = assert_auth_cookies(response, device=True)

    claims = jwt_payload(access)
    assert jwt_header(access)["typ"] == "at+jwt"
    assert claims["sub"] == user["id"] and claims["role"] == "user" and claims["email"] == email.lower()
    assert claims["exp"] - claims["iat"] == 900
    session_id = claims["sid"]
    assert jwt_payload(refresh)["family"] == session_id

    response = client.me()
    assert ok_json(response) == {"user": {**user, "emailVerified": False}}

    response = client.post("/api/auth/refresh")
    assert ok_json(response) == SUCCESS
    access2, refresh2 = assert_auth_cookies(response)
    assert jwt_payload(refresh2)["jti"] != jwt_payload(refresh)["jti"]
    assert jwt_payload(refresh2)["family"] == session_id
    assert jwt_payload(access2)["jti"] != claims["jti"] and jwt_payload(access2)["sid"] == session_id
    assert ok_json(client.me())["user"]["id"] == user["id"]

    # Within the grace window (1 s here) the old token gets the session's current pair: same refresh jti.
    response = refresh_with_cookie(client, refresh)
    assert ok_json(response) == SUCCESS
    _, replayed = assert_auth_cookies(response, refresh_max_age=(604790, 604800))
    assert jwt_payload(replayed)["jti"] == jwt_payload(refresh2)["jti"]

    # After it: reuse. The session is revoked, and the answer clears both cookies.
    time.sleep(1.5)
    response = refresh_with_cookie(client, refresh)
    error_of(response, 401, "token_reused")
    assert_cleared_cookies(response)
    # The newest refresh token of the family stops working too, and so does its access token where the database
    # is read (/me).
    response = refresh_with_cookie(client, refresh2)
    assert error_of(response, 401)["code"] in ("session_revoked", "token_reused")
    error_of(client.me(cookies=False, headers=bearer(access2)), 401, "session_revoked")

    # A new login is a new session.
    client.jar.clear()
    client.login(email)
    assert jwt_payload(client.access_token)["sid"] != session_id
    before_logout_access, before_logout_refresh = client.access_token, client.refresh_token
    assert ok_json(client.me())["user"]["email"] == email.lower()

    response = client.post("/api/auth/logout")
    assert ok_json(response) == SUCCESS
    assert_cleared_cookies(response)
    assert set(client.jar.cookies) == {("auth_device", "/api/auth")}, "only the device cookie outlives a logout"
    error_of(client.me(), 401, "unauthorized")
    error_of(client.me(cookies=False, headers=bearer(before_logout_access)), 401, "session_revoked")
    error_of(client.post("/api/auth/refresh", cookies=False, json={"refreshToken": before_logout_refresh}), 401)


def test_every_answer_is_no_store(site, account):
    client, _, _ = account
    for response in (client.me(), client.get("/api/auth/sessions"), client.get("/api/auth/nope"),
                     client.get("/api/auth/login"), client.post("/api/auth/login", json={})):
        assert response.headers["Cache-Control"] == "no-store", (response.url, response.headers)


# --- Bearer, body-mode refresh, API keys, /verify -----------------------------------------


def test_bearer_token_authenticates_me_and_verify(site, account):
    client, email, user = account
    token = client.access_token
    assert ok_json(client.me(cookies=False, headers=bearer(token)))["user"]["id"] == user["id"]

    response = client.get("/api/auth/verify", cookies=False, headers=bearer(token))
    assert response.status_code == 204, response.text
    assert response.headers["X-Auth-User-Id"] == user["id"]
    assert response.headers["X-Auth-Email"] == email
    assert response.headers["X-Auth-Role"] == "user"
    assert response.headers["X-Auth-Method"] == "jwt"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content == b""

    # The cookie works the same.
    response = client.get("/api/auth/verify")
    assert response.status_code == 204 and response.headers["X-Auth-User-Id"] == user["id"]


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz",
                                           "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_bad_credentials_are_unauthorized(site, authorization):
    client = site.client()
    error_of(client.me(headers={"Authorization": authorization}), 401, "unauthorized")
    response = client.get("/api/auth/verify", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert "X-Auth-User-Id" not in response.headers


def test_refresh_token_is_not_an_access_token(site, account):
    client, _, _ = account
    error_of(client.me(cookies=False, headers=bearer(client.refresh_token)), 401, "unauthorized")
    error_of(client.me(cookies=False, headers={"Cookie": f"access_token={client.refresh_token}"}), 401)


def test_token_signed_with_another_key_is_refused(site, account):
    client, _, _ = account
    header, payload, _ = client.access_token.split(".")
    forged = f"{header}.{payload}." + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    error_of(client.me(cookies=False, headers=bearer(forged)), 401, "unauthorized")


def test_refresh_in_body_mode_returns_tokens_and_sets_no_cookie(site, account):
    client, _, user = account
    old_refresh = client.refresh_token
    response = client.post("/api/auth/refresh", cookies=False, json={"refreshToken": old_refresh})
    body = ok_json(response)
    assert set(body) == {"accessToken", "refreshToken", "expiresIn"}
    assert body["expiresIn"] == 900
    assert set_cookie_headers(response) == []
    assert jwt_payload(body["refreshToken"])["jti"] != jwt_payload(old_refresh)["jti"]
    assert ok_json(client.me(cookies=False, headers=bearer(body["accessToken"])))["user"]["id"] == user["id"]

    # Again, with the new one.
    response = client.post("/api/auth/refresh", cookies=False, json={"refreshToken": body["refreshToken"]})
    assert ok_json(response)["refreshToken"] != body["refreshToken"]

    # Garbage: 401, and no cookies touched in body mode.
    response = client.post("/api/auth/refresh", cookies=False, json={"refreshToken": "x.y.z"})
    error_of(response, 401, "unauthorized")
    assert set_cookie_headers(response) == []


def test_refresh_without_any_token_is_401_and_clears_cookies(site):
    response = site.client().post("/api/auth/refresh")
    error_of(response, 401, "unauthorized")
    assert_cleared_cookies(response)


def test_a_tossed_refresh_cookie_is_refused_not_guessed(site, account):
    """A sibling subdomain can plant refresh_token with Domain= and a longer path, which the browser sends first:
    the service refuses two values instead of rotating the first (which would sign the victim into the attacker's
    session), clears its own host-only cookies, and the gate refuses a doubled access cookie too."""
    import requests

    client, _, _ = account
    mine = client.refresh_token
    response = requests.post(site.url("/api/auth/refresh"), headers={
        "Cookie": f"refresh_token=attacker.planted.value; refresh_token={mine}", "Sec-Fetch-Site": "same-origin"})
    error_of(response, 400, "ambiguous_cookie")
    assert_cleared_cookies(response)
    # Neither value was used: the victim's own token still rotates.
    assert client.post("/api/auth/refresh").status_code == 200
    access = client.jar.get("access_token")
    gate = requests.get(site.url("/api/auth/verify"), headers={"Cookie": f"access_token={access}; access_token={access}"})
    assert gate.status_code == 401 and gate.headers.get("X-Auth-Error") == "ambiguous_cookie"


def test_api_keys(site, account):
    client, email, user = account
    expires = "2099-01-01T00:00:00.000Z"
    response = client.post("/api/auth/api-keys", json={"name": "  deploy bot  ", "expiresAt": expires})
    body = ok_json(response, 201)
    assert set(body) == {"apiKey", "key"}
    key, info = body["key"], body["apiKey"]
    assert re.fullmatch(r"jwta_[A-Za-z0-9_-]{43}", key)
    assert set(info) == API_KEY_KEYS
    assert UUID_RE.match(info["id"]) and info["name"] == "deploy bot" and info["prefix"] == key[:12]
    assert TIMESTAMP_RE.match(info["createdAt"]) and info["lastUsedAt"] is None
    assert info["expiresAt"] == expires

    listed = ok_json(client.get("/api/auth/api-keys"))
    assert listed == {"apiKeys": [info]}
    assert key not in json.dumps(listed)

    anonymous = site.client()
    response = anonymous.get("/api/auth/verify", headers={"X-API-Key": key})
    assert response.status_code == 204, response.text
    assert (response.headers["X-Auth-User-Id"], response.headers["X-Auth-Email"],
            response.headers["X-Auth-Method"]) == (user["id"], email, "api-key")
    assert ok_json(anonymous.me(headers={"X-API-Key": key}))["user"]["id"] == user["id"]
    # X-API-Key comes first: a bad Bearer beside a good key does not matter.
    assert anonymous.get("/api/auth/verify", headers={"X-API-Key": key, "Authorization": "Bearer x"}).status_code == 204

    # An API key cannot create API keys.
    response = anonymous.post("/api/auth/api-keys", json={"name": "child"}, headers={"X-API-Key": key})
    assert response.status_code in (401, 403), (response.status_code, response.text)

    # Without an expiry: 90 days (accounts.api_key_lifetime), full scope.
    second = ok_json(client.post("/api/auth/api-keys", json={"name": "ci"}), 201)
    expiry = time.mktime(time.strptime(second["apiKey"]["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(expiry - (time.time() + 90 * 86400)) < 120, second
    assert second["apiKey"]["scope"] == info["scope"] == "full"

    assert ok_json(client.delete(f"/api/auth/api-keys/{info['id']}")) == SUCCESS
    assert anonymous.get("/api/auth/verify", headers={"X-API-Key": key}).status_code == 401
    error_of(anonymous.me(headers={"X-API-Key": key}), 401, "unauthorized")
    error_of(client.delete(f"/api/auth/api-keys/{info['id']}"), 404, "not_found")
    assert [k["id"] for k in ok_json(client.get("/api/auth/api-keys"))["apiKeys"]] == [second["apiKey"]["id"]]

    # Another user's key is not found, and stays valid.
    other = site.client()
    other.register()
    error_of(other.delete(f"/api/auth/api-keys/{second['apiKey']['id']}"), 404, "not_found")
    assert anonymous.get("/api/auth/verify", headers={"X-API-Key": second["key"]}).status_code == 204


def test_api_key_cannot_manage_the_account(site, account):
    """An API key authenticates /verify, /me and gated locations, not the account routes: a leaked key must not
    list or end the user's sessions, change the password or mint more keys (docs/openapi.yaml: those routes need
    an access token)."""
    client, _, _ = account
    key = ok_json(client.post("/api/auth/api-keys", json={"name": "scoped"}), 201)["key"]
    sid = jwt_payload(client.access_token)["sid"]
    anonymous = site.client()
    for method, path, kwargs in (("GET", "/api/auth/sessions", {}),
                                 ("DELETE", f"/api/auth/sessions/{sid}", {}),
                                 ("POST", "/api/auth/logout-all", {}),
                                 ("POST", "/api/auth/password",
                                  {"json": {"currentPassword": PASSWORD, "newPassword": "n" * 12}}),
                                 ("GET", "/api/auth/api-keys", {}),
                                 ("POST", "/api/auth/api-keys", {"json": {"name": "child"}})):
        response = anonymous.request(method, path, headers={"X-API-Key": key}, **kwargs)
        assert response.status_code in (401, 403), (method, path, response.status_code, response.text)
    assert client.me().status_code == 200


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "   "}, {"name": "x" * 101}, {},
                                  {"name": "k", "expiresAt": "2001-01-01T00:00:00Z"},
                                  {"name": "k", "expiresAt": "tomorrow"}])
def test_api_key_validation(site, account, body):
    client, _, _ = account
    error_of(client.post("/api/auth/api-keys", json=body), 400, "invalid_request")


def test_unknown_api_key_is_unauthorized(site):
    response = site.client().get("/api/auth/verify", headers={"X-API-Key": "jwta_" + "A" * 43})
    assert response.status_code == 401


def test_verify_role_requirement(site, account, module_sql):
    client, email, user = account
    response = client.get("/api/auth/verify", headers={"X-Auth-Require-Role": "admin"})
    assert response.status_code == 403
    assert response.headers.get("X-Auth-User-Id") is None
    response = client.get("/api/auth/verify", headers={"X-Auth-Require-Role": "editor, user"})
    assert response.status_code == 204

    module_sql(f"UPDATE users SET role = 'admin' WHERE id = '{user['id']}'")
    # The role is in the access token: it shows after the next token.
    assert client.get("/api/auth/verify", headers={"X-Auth-Require-Role": "admin"}).status_code == 403
    client.post("/api/auth/refresh")
    response = client.get("/api/auth/verify", headers={"X-Auth-Require-Role": "admin"})
    assert response.status_code == 204 and response.headers["X-Auth-Role"] == "admin"


def test_verify_guest_only(site, account):
    client, _, _ = account
    assert client.get("/api/auth/verify", headers={"X-Auth-Guest-Only": "1"}).status_code == 403
    response = site.client().get("/api/auth/verify", headers={"X-Auth-Guest-Only": "1"})
    assert response.status_code == 204
    assert "X-Auth-User-Id" not in response.headers


def test_verify_without_credentials(site):
    response = site.client().get("/api/auth/verify")
    assert response.status_code == 401


# --- validation and media types -----------------------------------------------------------


def test_malformed_json_is_invalid_json(site):
    for body in (b'{"email": ', b"[1, 2", b"\xff\xfe", b"nul"):
        response = site.client().post("/api/auth/login", data=body, headers={"Content-Type": "application/json"})
        error_of(response, 400, "invalid_json")


@pytest.mark.parametrize("body, fields", [
    ({"email": "not-an-email", "password": PASSWORD}, {"email"}),
    ({"email": "a@b", "password": PASSWORD}, {"email"}),
    ({"password": PASSWORD}, {"email"}),
    ({"email": 42, "password": PASSWORD}, {"email"}),
    ({}, {"email", "password"}),
    ({"email": "ok@example.com", "password": PASSWORD, "name": "x" * 201}, {"name"}),
])
def test_register_invalid_request_names_fields(site, body, fields):
    response = site.client().post("/api/auth/register", json=body)
    error = error_of(response, 400, "invalid_request")
    assert set(error["fields"]) == fields, error
    assert all(isinstance(message, str) and message for message in error["fields"].values())


@pytest.mark.parametrize("password", ["short", "1234567", "x" * 1025])
def test_register_weak_password(site, password):
    response = site.client().post("/api/auth/register", json={"email": unique_email(), "password": password})
    error = error_of(response, 400)
    assert error["code"] in ("weak_password", "invalid_request"), error
    assert "password" in error["fields"], error
    if len(password) < 8:
        assert error["code"] == "weak_password"


def test_register_accepts_the_longest_password_and_a_null_name(site):
    client = site.client()
    email = unique_email()
    password = "p" * 1024
    user = client.register(email=email, password=password)
    assert user["name"] is None
    site.client().login(email, password)
    assert site.client().register(name=None)["name"] is None


def test_login_validation(site):
    error_of(site.client().post("/api/auth/login", json={"email": "x@example.com"}), 400, "invalid_request")
    error_of(site.client().post("/api/auth/login", json={"password": "x"}), 400, "invalid_request")
    error_of(site.client().post("/api/auth/login", json=["x@example.com", "pw"]), 400)


def test_unknown_fields_are_ignored_and_charset_is_allowed(site, account):
    _, email, _ = account
    response = site.client().post("/api/auth/login",
                                  data=json.dumps({"email": email, "password": PASSWORD, "remember": True}),
                                  headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path, content_type", [
    ("/api/auth/login", "text/plain"),
    ("/api/auth/login", "application/xml"),
    ("/api/auth/register", "multipart/form-data; boundary=x"),
    ("/api/auth/refresh", "application/x-www-form-urlencoded"),
    ("/api/auth/logout", "text/plain"),
    ("/api/auth/password", "application/x-www-form-urlencoded"),
])
def test_unsupported_media_type(site, account, path, content_type):
    client, _, _ = account
    response = client.post(path, data=b"a=b", headers={"Content-Type": content_type})
    error_of(response, 415, "unsupported_media_type")


def test_payload_too_large(site):
    body = json.dumps({"email": "x@example.com", "password": "p" * 5000})
    response = site.client().post("/api/auth/login", data=body, headers={"Content-Type": "application/json"})
    error_of(response, 413, "payload_too_large")


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/api/auth/login", "POST"),
    ("PUT", "/api/auth/register", "POST"),
    ("DELETE", "/api/auth/me", "GET, HEAD"),
    ("POST", "/api/auth/verify", "GET, HEAD"),
    ("GET", f"/api/auth/sessions/{MISSING_SESSION}", "DELETE"),
    ("POST", "/.well-known/jwks.json", "GET, HEAD"),
])
def test_method_not_allowed(site, method, path, allow):
    response = site.client().request(method, path)
    error_of(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


def test_unknown_route_is_not_found(site):
    assert error_of(site.client().get("/api/auth/unknown"), 404) == {"error": "Not found", "code": "not_found"}


# --- login and registration outcomes ----------------------------------------------------------


def test_email_taken_ignores_case(site, account):
    _, email, _ = account
    response = site.client().post("/api/auth/register", json={"email": email.upper(), "password": PASSWORD})
    error_of(response, 409, "email_taken")


def test_wrong_password_and_unknown_email_answer_the_same(site, account):
    _, email, _ = account
    wrong = site.client().post("/api/auth/login", json={"email": email, "password": "wrong password"})
    unknown = site.client().post("/api/auth/login", json={"email": unique_email("nobody"), "password": PASSWORD})
    for response in (wrong, unknown):
        assert error_of(response, 401) == INVALID_CREDENTIALS
        assert set_cookie_headers(response) == []


def test_login_throttled_per_account_with_retry_after(site, account):
    _, email, _ = account
    for _ in range(3):
        error_of(site.client().post("/api/auth/login", json={"email": email, "password": "nope nope"}), 401)
    # Now even the right password is refused until the window ends.
    response = site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD})
    body = error_of(response, 429, "throttled")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert body["retryAfter"] == retry_after


def test_a_known_browser_signs_in_while_an_attacker_locks_the_account(site, account):
    """#15 item 3: whoever knows an address can use up its anonymous guesses, but the owner's browser, which signed in
    before (its ``auth_device`` cookie), is counted on its own and still gets in."""
    owner, email, user = account
    device = owner.jar.get("auth_device")
    assert device and device_cookie_re().match(f"auth_device={device}; Path=/api/auth; Max-Age={365 * 86400}; "
                                                "HttpOnly; SameSite=Strict; Secure"), device
    assert_cleared_cookies(owner.post("/api/auth/logout"))
    assert owner.jar.get("auth_device") == device, "logout leaves the device cookie"

    for n in range(5):
        response = site.client().post("/api/auth/login", json={"email": email, "password": f"wrong guess {n}"})
        assert response.status_code in (401, 429), response.text
    error_of(site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD}), 429, "throttled")
    # Someone else's entry, a tampered copy of the owner's, or junk: all strangers.
    stranger = site.client()
    stranger.register()
    tampered = device[:10] + ("A" if device[10] != "A" else "B") + device[11:]
    for cookie in (stranger.jar.get("auth_device"), tampered, "junk"):
        response = site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD},
                                      cookies=False, headers={"Cookie": f"auth_device={cookie}"})
        error_of(response, 429, "throttled")

    # The owner's browser signs in, and its entry is renewed. A cookie planted beside it changes nothing.
    response = owner.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert ok_json(response) == {"user": user}
    assert_auth_cookies(response, device=True)
    assert owner.jar.get("auth_device") != device
    planted = site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD}, cookies=False,
                                 headers={"Cookie": f"auth_device=junk; auth_device={owner.jar.get('auth_device')}"})
    assert ok_json(planted) == {"user": user}
    # The lock still holds for everyone else.
    error_of(site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD}), 429, "throttled")

    # A known browser has a limit of its own (10 per window): then it waits too.
    for n in range(10):
        error_of(owner.post("/api/auth/login", json={"email": email, "password": f"typo {n}"}), 401)
    response = owner.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert int(error_of(response, 429, "throttled")["retryAfter"]) > 0


def test_registration_disabled(start_site):
    closed = start_site("closed", {**LENIENT, "JWT_REGISTRATION_ENABLED": "false"})
    response = closed.client().post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    error_of(response, 403, "registration_disabled")
    assert set_cookie_headers(response) == []


def test_expired_access_token(start_site):
    short = start_site("short", {**LENIENT, "JWT_ACCESS_TTL": "2s", "JWT_LEEWAY": "0s"})
    client = short.client()
    response = client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})
    assert response.status_code == 201
    assert_auth_cookies(response, access_max_age=2, device=True)
    assert client.me().status_code == 200
    time.sleep(2.5)
    error_of(client.me(), 401, "token_expired")
    assert client.get("/api/auth/verify").status_code == 401
    # The refresh token still works, and the new access token does too.
    assert client.post("/api/auth/refresh").status_code == 200
    assert client.me().status_code == 200


def test_deleted_user(site, account, module_sql):
    client, _, user = account
    module_sql(f"DELETE FROM users WHERE id = '{user['id']}'")
    response = client.me()
    # Its sessions went with it (ON DELETE CASCADE): either answer is right for a token of a deleted user.
    assert error_of(response, response.status_code)["code"] in ("user_not_found", "session_revoked"), response.text
    assert response.status_code in (401, 404)


# --- sessions, password change, logout-all -------------------------------------------------------


def test_sessions_list_and_revoke(site):
    email = unique_email()
    first = site.client(user_agent="Browser A/1.0")
    first.register(email=email)
    second = site.client(user_agent="Browser B/2.0")
    second.login(email)
    first_sid = jwt_payload(first.access_token)["sid"]
    second_sid = jwt_payload(second.access_token)["sid"]

    sessions = ok_json(first.get("/api/auth/sessions"))["sessions"]
    assert [s["id"] for s in sessions] == [second_sid, first_sid]  # most recently used first
    for session in sessions:
        assert set(session) == SESSION_KEYS
        for key in ("createdAt", "lastUsedAt", "expiresAt"):
            assert TIMESTAMP_RE.match(session[key]), session
        assert session["expiresAt"] > session["createdAt"]
        assert session["ip"] == "127.0.0.1"
    by_id = {s["id"]: s for s in sessions}
    assert by_id[first_sid]["current"] is True and by_id[second_sid]["current"] is False
    assert by_id[first_sid]["userAgent"] == "Browser A/1.0" and by_id[second_sid]["userAgent"] == "Browser B/2.0"
    # Seen with the other session's token, "current" moves.
    sessions = ok_json(second.get("/api/auth/sessions", cookies=False, headers=bearer(second.access_token)))
    assert {s["id"]: s["current"] for s in sessions["sessions"]} == {first_sid: False, second_sid: True}

    assert ok_json(first.delete(f"/api/auth/sessions/{second_sid}")) == SUCCESS
    error_of(second.me(), 401, "session_revoked")
    error_of(second.post("/api/auth/refresh"), 401)
    assert [s["id"] for s in ok_json(first.get("/api/auth/sessions"))["sessions"]] == [first_sid]

    # Someone else's session, an unknown one and a malformed id are all 404; nothing is revoked.
    stranger = site.client()
    stranger.register()
    stranger_sid = jwt_payload(stranger.access_token)["sid"]
    for session_id in (stranger_sid, MISSING_SESSION, "nope", stranger_sid.upper(), f"{stranger_sid}x"):
        error_of(first.delete(f"/api/auth/sessions/{session_id}"), 404, "not_found")
    assert stranger.me().status_code == 200
    error_of(site.client().get("/api/auth/sessions"), 401, "unauthorized")


def test_password_change_keeps_this_session_and_revokes_the_others(site):
    email = unique_email()
    here = site.client()
    here.register(email=email)
    elsewhere = site.client()
    elsewhere.login(email)
    new_password = "a whole new passphrase"

    error_of(here.post("/api/auth/password", json={"currentPassword": "wrong one!", "newPassword": new_password}),
             401, "invalid_credentials")
    error = error_of(here.post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "short"}),
                     400, "weak_password")
    assert "newPassword" in error["fields"]
    error = error_of(here.post("/api/auth/password", json={"currentPassword": PASSWORD}), 400)
    assert error["code"] in ("invalid_request", "weak_password") and "newPassword" in error["fields"], error
    error_of(site.client().post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": new_password}),
             401, "unauthorized")

    response = here.post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": new_password})
    assert ok_json(response) == SUCCESS
    # The session's cookies stay; the device cookie is renewed (the change forgot the account's devices).
    headers = set_cookie_headers(response)
    assert len(headers) == 1 and device_cookie_re().match(headers[0]), headers
    assert here.me().status_code == 200
    assert here.post("/api/auth/refresh").status_code == 200
    error_of(elsewhere.me(), 401, "session_revoked")
    error_of(elsewhere.post("/api/auth/refresh"), 401)
    assert error_of(site.client().post("/api/auth/login", json={"email": email, "password": PASSWORD}), 401) \
        == INVALID_CREDENTIALS
    site.client().login(email, new_password)


def test_password_change_is_throttled(site, account):
    client, _, _ = account
    for _ in range(3):
        error_of(client.post("/api/auth/password", json={"currentPassword": "wrong wrong", "newPassword": "n" * 12}),
                 401, "invalid_credentials")
    response = client.post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "n" * 12})
    body = error_of(response, 429, "throttled")
    assert body["retryAfter"] == int(response.headers["Retry-After"]) > 0


def test_logout_all(site):
    email = unique_email()
    clients = [site.client() for _ in range(3)]
    clients[0].register(email=email)
    for client in clients[1:]:
        client.login(email)
    response = clients[0].post("/api/auth/logout-all")
    assert ok_json(response) == {"success": True, "revoked": 3}
    assert_cleared_cookies(response)
    for client in clients[1:]:
        error_of(client.me(), 401, "session_revoked")
    error_of(site.client().post("/api/auth/logout-all"), 401, "unauthorized")


def test_logout_without_token_still_succeeds(site):
    response = site.client().post("/api/auth/logout")
    assert ok_json(response) == SUCCESS
    assert_cleared_cookies(response)


def test_logout_by_refresh_token_in_body(site, account):
    client, _, _ = account
    response = site.client().post("/api/auth/logout", json={"refreshToken": client.refresh_token})
    assert ok_json(response) == SUCCESS
    error_of(client.me(), 401, "session_revoked")


def test_logout_by_access_token_session(site, account):
    client, _, _ = account
    token = client.access_token
    assert ok_json(site.client().post("/api/auth/logout", headers=bearer(token))) == SUCCESS
    error_of(client.me(cookies=False, headers=bearer(token)), 401, "session_revoked")


# --- CSRF -----------------------------------------------------------------------------------------


REFUSED = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "SITE"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},
    {"Origin": "http://localhost"},
]
ALLOWED = [
    {},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "SITE"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "SITE"},
]


def csrf_headers(site, headers):
    return {name: value.replace("SITEHOST", site.host).replace("SITE", site.origin) for name, value in headers.items()}


@pytest.mark.parametrize("headers", REFUSED)
def test_cross_site_unsafe_request_with_cookie_is_refused(site, account, headers):
    client, _, _ = account
    headers = csrf_headers(site, headers)
    error_of(client.delete(f"/api/auth/sessions/{MISSING_SESSION}", headers=headers), 403, "cross_site_request")
    error_of(client.post("/api/auth/logout-all", headers=headers), 403, "cross_site_request")
    error_of(client.post("/api/auth/refresh", headers=headers), 403, "cross_site_request")
    assert client.me().status_code == 200  # nothing was revoked


@pytest.mark.parametrize("headers", ALLOWED)
def test_same_origin_unsafe_request_with_cookie_passes(site, account, headers):
    client, _, _ = account
    error_of(client.delete(f"/api/auth/sessions/{MISSING_SESSION}", headers=csrf_headers(site, headers)), 404)


def test_cross_site_request_authenticated_by_bearer_passes(site, account):
    client, _, _ = account
    headers = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", **bearer(client.access_token)}
    error_of(client.delete(f"/api/auth/sessions/{MISSING_SESSION}", headers=headers), 404, "not_found")


def test_cross_site_login_with_cookie_is_refused(site, account):
    client, email, _ = account
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD},
                           headers={"Origin": "https://evil.example"})
    error_of(response, 403, "cross_site_request")


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
def test_cross_site_login_and_registration_are_refused_without_cookie(site, path):
    """Login CSRF: a cross-site form must not sign the victim's browser into the attacker's account."""
    fields = {"email": unique_email(), "password": PASSWORD}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = site.client().post(path, data=fields, headers=headers)
        assert response.status_code in (303, 403), response.text
        assert set_cookie_headers(response) == []
        if response.status_code == 303:
            assert query_of(response.headers["Location"])["error"] == "cross_site_request"
        error_of(site.client().post(path, json=fields, headers=headers), 403, "cross_site_request")


def test_allowed_origins(start_site):
    origins = start_site("origins", {**LENIENT, "JWT_ALLOWED_ORIGINS": "https://app.example"})
    client = origins.client()
    client.register()
    allowed = {"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"}
    error_of(client.delete(f"/api/auth/sessions/{MISSING_SESSION}", headers=allowed), 404, "not_found")
    refused = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    error_of(client.delete(f"/api/auth/sessions/{MISSING_SESSION}", headers=refused), 403, "cross_site_request")


# --- client address ---------------------------------------------------------------------------


def test_forwarded_for_is_used_only_from_a_trusted_proxy(start_site):
    proxied = start_site("proxied", {**CHEAP_HASHING, "JWT_TRUSTED_PROXIES": "127.0.0.1",
                                     "JWT_THROTTLE_LOGIN_PER_IP": "3", "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "100000",
                                     "JWT_THROTTLE_REGISTER_PER_IP": "2"})

    def fail_login(address):
        return proxied.client().post("/api/auth/login", json={"email": unique_email(), "password": "wrong pass"},
                                     headers={"X-Forwarded-For": address})

    for _ in range(3):
        error_of(fail_login("203.0.113.10"), 401, "invalid_credentials")
    response = fail_login("203.0.113.10")
    body = error_of(response, 429, "throttled")
    assert body["retryAfter"] == int(response.headers["Retry-After"])
    # Another address is not throttled: the forwarded address is the client's.
    error_of(fail_login("203.0.113.11"), 401, "invalid_credentials")
    # The left part of X-Forwarded-For is whatever the client wrote: the nearest untrusted entry counts.
    error_of(fail_login("198.51.100.99, 203.0.113.10"), 429, "throttled")

    # Registrations count per forwarded address too, and the session records it.
    client = proxied.client()
    client.register(headers={"X-Forwarded-For": "203.0.113.20"})
    sessions = ok_json(client.get("/api/auth/sessions"))["sessions"]
    assert [s["ip"] for s in sessions] == ["203.0.113.20"]
    proxied.client().register(headers={"X-Forwarded-For": "203.0.113.20"})
    response = proxied.client().post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD},
                                     headers={"X-Forwarded-For": "203.0.113.20"})
    error_of(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0
    proxied.client().register(headers={"X-Forwarded-For": "203.0.113.21"})


def test_forwarded_for_is_ignored_without_a_trusted_proxy(start_site):
    untrusted = start_site("untrusted", {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "3",
                                         "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "100000",
                                         "JWT_THROTTLE_REGISTER_PER_IP": "100000"})
    statuses = []
    for n in range(5):
        response = untrusted.client().post("/api/auth/login", json={"email": unique_email(), "password": "wrong"},
                                           headers={"X-Forwarded-For": f"192.0.2.{n + 1}"})
        statuses.append(response.status_code)
    # Every attempt came from 127.0.0.1, whatever X-Forwarded-For said: the fourth at the latest is throttled
    # (earlier ones may be too: other tests' failures from 127.0.0.1 count in the shared database).
    assert 429 in statuses[:4], statuses
    assert set(statuses) <= {401, 429}, statuses


# --- redirects: renew and the form variants --------------------------------------------------


HOSTILE_TARGETS = [
    "//evil.example", "//evil.example/dashboard", "///evil.example", "https://evil.example", "http:evil.example",
    "HTTPS://evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "javascript:alert(1)",
    "JavaScript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "evil.example", "",
    "/\t/evil.example", "/\n/evil.example", "/ok\r\nSet-Cookie: x=1", "/%2F%2Fevil.example", "/%5Cevil.example",
    "/.//evil.example", "/dashboard//evil.example", " //evil.example",
]
GOOD_TARGETS = ["/dashboard", "/settings", "/settings?tab=security&x=1", "/a/b/c"]


def contract_target(value):
    """What the contract says a decoded return_to/callbackUrl becomes."""
    if (value.startswith("/") and "//" not in value and "\\" not in value
            and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)):
        return value
    return "/dashboard"


def assert_target(site, sent, location):
    """``location`` is what the contract makes of ``sent``; a service may also refuse, with /dashboard, a path
    that is only suspicious once decoded again (e.g. /%2F%2Fevil)."""
    assert_same_site(site, location)
    expected = contract_target(sent)
    if sent in GOOD_TARGETS or expected == "/dashboard":
        assert location == expected, (sent, location)
    else:
        assert location in (expected, "/dashboard"), (sent, location)


def test_renew_rotates_and_returns_to_a_same_site_path(site, account):
    client, _, _ = account
    for target in GOOD_TARGETS + HOSTILE_TARGETS:
        before = client.refresh_token
        response = client.get("/api/auth/renew", params={"return_to": target})
        assert response.status_code == 303, (target, response.status_code, response.text)
        assert_target(site, target, response.headers["Location"])
        assert_auth_cookies(response)
        assert client.refresh_token != before
        assert response.headers["Cache-Control"] == "no-store"


def test_renew_takes_the_raw_request_uri_nginx_sends(site, account):
    """The page gate sends ``?return_to=<raw $request_uri>`` (nginx cannot percent-encode): the whole rest of the
    query is the target."""
    client, _, _ = account
    response = client.get("/api/auth/renew?return_to=/dashboard/reports?tab=a&b=c")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/reports?tab=a&b=c"
    for raw in ("//evil.example", "/%2F%2Fevil.example", "/%5C%5Cevil.example", "https://evil.example",
                "/%09/evil.example", "/%0d%0aSet-Cookie:%20x=1"):
        response = client.get(f"/api/auth/renew?return_to={raw}")
        assert response.status_code == 303, raw
        assert_same_site(site, response.headers["Location"])


def test_renew_without_session_goes_to_login_with_callback(site):
    for target in GOOD_TARGETS + HOSTILE_TARGETS:
        client = site.client()
        response = client.get("/api/auth/renew", params={"return_to": target})
        assert response.status_code == 303, target
        location = response.headers["Location"]
        assert_same_site(site, location)
        assert urlsplit(location).path == "/auth/login"
        query = query_of(location)
        assert set(query) == {"callbackUrl"}, location
        assert_target(site, target, query["callbackUrl"])
        assert_cleared_cookies(response)


def test_renew_with_a_reused_refresh_token_goes_to_login(site, account):
    client, _, _ = account
    old = client.refresh_token
    client.post("/api/auth/refresh")
    access = client.access_token
    time.sleep(1.5)  # past the grace window
    response = client.get("/api/auth/renew?return_to=/dashboard", cookies=False,
                          headers={"Cookie": f"refresh_token={old}"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login?callbackUrl=%2Fdashboard"
    assert_cleared_cookies(response)
    error_of(client.me(cookies=False, headers=bearer(access)), 401, "session_revoked")


def form_post(client, path, fields, **kwargs):
    return client.post(path, data=fields, **kwargs)


def test_form_login_and_register_redirect_to_a_same_site_callback(site):
    for target in GOOD_TARGETS + HOSTILE_TARGETS:
        email = unique_email()
        client = site.client()
        response = form_post(client, "/api/auth/register",
                             {"email": email, "password": PASSWORD, "name": "Form", "callbackUrl": target})
        assert response.status_code == 303, (target, response.text)
        assert_target(site, target, response.headers["Location"])
        assert_auth_cookies(response, device=True)

        response = form_post(site.client(), "/api/auth/login",
                             {"email": email, "password": PASSWORD, "callbackUrl": target})
        assert response.status_code == 303, target
        assert_target(site, target, response.headers["Location"])
        assert_auth_cookies(response, device=True)


def test_form_without_callback_goes_to_dashboard(site, account):
    _, email, _ = account
    response = form_post(site.client(), "/api/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"


def test_form_failures_go_back_to_the_form_with_the_error(site, account):
    _, email, _ = account
    response = form_post(site.client(), "/api/auth/login",
                         {"email": email, "password": "not it", "callbackUrl": "/settings?tab=1"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert_same_site(site, location)
    assert urlsplit(location).path == "/auth/login"
    assert query_of(location) == {"error": "invalid_credentials", "callbackUrl": "/settings?tab=1"}
    assert set_cookie_headers(response) == []

    response = form_post(site.client(), "/api/auth/register",
                         {"email": email, "password": PASSWORD, "callbackUrl": "/welcome"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/register?error=email_taken&callbackUrl=%2Fwelcome"

    response = form_post(site.client(), "/api/auth/register", {"email": unique_email(), "password": "short"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/auth/register"
    assert query_of(response.headers["Location"])["error"] == "weak_password"

    # A hostile callback is carried back (encoded, for the form to post again) or dropped, never followed.
    response = form_post(site.client(), "/api/auth/login",
                         {"email": email, "password": "not it", "callbackUrl": "//evil.example"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert_same_site(site, location)
    assert urlsplit(location).path == "/auth/login"


def test_form_login_throttled_carries_retry_after(site):
    client = site.client()
    email = unique_email()
    client.register(email=email)
    for _ in range(3):
        form_post(site.client(), "/api/auth/login", {"email": email, "password": "no no no"})
    response = form_post(site.client(), "/api/auth/login",
                         {"email": email, "password": PASSWORD, "callbackUrl": "/dashboard"})
    assert response.status_code == 303
    query = query_of(response.headers["Location"])
    assert urlsplit(response.headers["Location"]).path == "/auth/login"
    assert query["error"] == "throttled" and query["callbackUrl"] == "/dashboard"
    assert int(query["retryAfter"]) > 0


# --- JWKS ------------------------------------------------------------------------------------------


def test_jwks_is_404_for_hs256(site):
    error_of(site.client().get("/.well-known/jwks.json"), 404, "not_found")


def test_jwks_publishes_the_eddsa_key_that_signs_access_tokens(start_site, authd_bin, rundir):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key_file = rundir / "access-eddsa.jwk"
    if not key_file.exists():
        subprocess.run([str(authd_bin), "keys", "generate", "--alg", "EdDSA", "--out", str(key_file)], check=True,
                       capture_output=True, timeout=30)
    eddsa = start_site("eddsa", {**LENIENT, "JWT_ACCESS_SECRET": None, "JWT_ACCESS_KEY_FILE": str(key_file)})
    response = eddsa.client().get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "public, max-age=300"
    [jwk] = response.json()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "alg", "use", "kid"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")

    client = eddsa.client()
    client.register()
    token = client.access_token
    header = jwt_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == jwk["kid"]
    signing_input, _, signature = token.rpartition(".")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)))
    public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), signing_input.encode())
    assert client.me().status_code == 200


# --- password reset by mail (#16) ---------------------------------------------------------------


def test_password_reset_by_mail_through_nginx(start_site, rundir):
    """Forgot → the message the service's own sender wrote (file transport) → the link's token → a new password that
    signs this browser in, with every other session and API key of the user ended; an unknown address gets the same
    answer and no mail; the token works once."""
    import email
    import email.policy
    folder = rundir / "mail-api"
    site = start_site("mail", {**LENIENT, "JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": str(folder),
                               "JWT_AUTHD_PUBLIC_URL": "https://site.example", "JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"})
    address = unique_email("reset")
    owner = site.client()
    user = owner.register(email=address)
    elsewhere = site.client()
    elsewhere.login(address)
    key = ok_json(owner.post("/api/auth/api-keys", json={"name": "ci"}), 201)["key"]

    known = site.client().post("/api/auth/password/forgot", json={"email": address.upper()})
    unknown = site.client().post("/api/auth/password/forgot", json={"email": unique_email("nobody")})
    for response in (known, unknown):
        assert ok_json(response, 202) == {"status": "accepted"}
        assert set_cookie_headers(response) == []
    def resets():
        # (Registration mailed a verification link too; only the reset messages count here.)
        return [path for path in folder.glob("*.eml") if b"Subject: Reset your Site password" in path.read_bytes()]

    harness.wait_until(lambda: folder.is_dir() and resets(), 5, "the mail sender to write the message")
    time.sleep(1.5)  # a second message, if one were wrongly queued for the unknown address, would be written by now
    files = resets()
    assert len(files) == 1, files
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == address
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Site", "noreply@site.example")
    assert message["Subject"] == "Reset your Site password" and message["Message-ID"].endswith("@site.example>")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = re.search(r"https://site\.example/auth/reset\?token=([A-Za-z0-9_-]{43})", text).group(1)
    assert f'href="https://site.example/auth/reset?token={token}"' in html

    browser = site.client()
    response = browser.post("/api/auth/password/reset", json={"token": token, "newPassword": "a brand new password"})
    assert ok_json(response) == {"user": user}
    assert_auth_cookies(response, device=True)
    assert ok_json(browser.me())["user"]["id"] == user["id"]
    error_of(owner.me(), 401, "session_revoked")
    error_of(elsewhere.me(), 401, "session_revoked")
    assert site.client().get("/api/auth/verify", headers={"X-API-Key": key}).status_code == 401
    site.client().login(address, password="a brand new password")
    error_of(site.client().post("/api/auth/login", json={"email": address, "password": PASSWORD}), 401)
    again = site.client().post("/api/auth/password/reset", json={"token": token, "newPassword": "yet another one!"})
    error_of(again, 400, "reset_token_invalid")
    # A cross-site page can neither ask for mail in a user's name nor sign a browser in with a token.
    for path, body in (("/api/auth/password/forgot", {"email": address}),
                       ("/api/auth/password/reset", {"token": token, "newPassword": "cross site pw"})):
        error_of(site.client().post(path, json=body, headers={"Sec-Fetch-Site": "cross-site",
                                                               "Origin": "https://evil.example"}), 403, "cross_site_request")


def test_forgot_without_mail_says_so(site):
    response = site.client().post("/api/auth/password/forgot", json={"email": unique_email()})
    error_of(response, 503, "mail_unavailable")
