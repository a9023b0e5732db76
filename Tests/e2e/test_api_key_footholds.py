"""#15 item 5 end to end: an API key needs a recent authentication, expires, has a scope that the nginx gate
enforces, and ends with a password change or logout everywhere unless the user keeps it on purpose.

One site with a re-authentication window of 2 s, so that a session becomes "not recent" within the test.
"""

import time

import pytest

from authsite import CHEAP_HASHING, PASSWORD, unique_email

pytestmark = pytest.mark.api

ENV = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000",
       "JWT_REAUTH_WINDOW": "2s"}


@pytest.fixture(scope="module")
def site(start_site):
    return start_site("footholds", ENV)


def code_of(response):
    return response.json().get("code")


def gate(site, key, method="GET"):
    """A request to the protected API demo location with an API key: nginx asks the service, then the echo app."""
    return site.client().request(method, "/api/protected/thing", headers={"X-API-Key": key})


def test_a_stale_session_needs_the_password_again(site):
    client = site.client()
    client.register(email=unique_email("reauth"))
    assert client.post("/api/auth/api-keys", json={"name": "fresh"}).status_code == 201
    time.sleep(2.5)
    stale = client.post("/api/auth/api-keys", json={"name": "stale"})
    assert stale.status_code == 403 and code_of(stale) == "reauthentication_required", stale.text
    wrong = client.post("/api/auth/api-keys", json={"name": "stale", "password": "not the password"})
    assert wrong.status_code == 401 and code_of(wrong) == "invalid_credentials", wrong.text
    ok = client.post("/api/auth/api-keys", json={"name": "stale", "password": PASSWORD})
    assert ok.status_code == 201, ok.text
    # The password made the session's authentication recent again; a refresh does not.
    assert client.post("/api/auth/api-keys", json={"name": "right after"}).status_code == 201
    time.sleep(2.5)
    assert client.post("/api/auth/refresh").status_code == 200
    assert code_of(client.post("/api/auth/api-keys", json={"name": "after refresh"})) == "reauthentication_required"
    names = [key["name"] for key in client.get("/api/auth/api-keys").json()["apiKeys"]]
    assert sorted(names) == ["fresh", "right after", "stale"]


def test_a_read_key_passes_the_gate_for_safe_methods_only(site):
    client = site.client()
    user = client.register(email=unique_email("scope"))
    read = client.post("/api/auth/api-keys", json={"name": "dashboard", "scope": "read"}).json()
    full = client.post("/api/auth/api-keys", json={"name": "deploy", "scope": "full"}).json()
    assert read["apiKey"]["scope"] == "read" and full["apiKey"]["scope"] == "full"
    response = gate(site, read["key"])
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["userId"], view["authMethod"], view["scopes"]) == (user["id"], "api-key", "read")
    assert gate(site, read["key"], "HEAD").status_code == 200
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        refused = gate(site, read["key"], method)
        assert refused.status_code == 403 and code_of(refused) == "insufficient_scope", (method, refused.text)
    posted = gate(site, full["key"], "POST")
    assert posted.status_code == 200 and posted.json()["scopes"] == "full", posted.text
    bad = client.post("/api/auth/api-keys", json={"name": "x", "scope": "admin"})
    assert bad.status_code == 400 and code_of(bad) == "invalid_request"


def test_a_password_change_and_logout_everywhere_end_the_keys_unless_kept(site):
    client = site.client()
    email = unique_email("revoke")
    client.register(email=email)

    def new_key():
        response = client.post("/api/auth/api-keys", json={"name": "k", "password": PASSWORD})
        assert response.status_code == 201, response.text
        return response.json()["key"]

    key = new_key()
    assert client.post("/api/auth/password", json={
        "currentPassword": PASSWORD, "newPassword": "battery staple 2", "keepApiKeys": True}).status_code == 200
    assert gate(site, key).status_code == 200, "kept on purpose"
    assert client.post("/api/auth/password", json={
        "currentPassword": "battery staple 2", "newPassword": PASSWORD}).status_code == 200
    assert gate(site, key).status_code == 401, "a password change ends the keys"

    key = new_key()
    assert client.post("/api/auth/logout-all", json={"keepApiKeys": True}).status_code == 200
    assert gate(site, key).status_code == 200, "kept on purpose"
    client.login(email)
    assert client.post("/api/auth/logout-all").status_code == 200
    assert gate(site, key).status_code == 401, "logout everywhere ends the keys"
