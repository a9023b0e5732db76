"""The gate cache (#20, opt-in: nginx/jwt-authd-gate-cache.conf): nginx reuses the service's answer to the gate's
subrequest for a credential, as long as the service's X-Accel-Expires allows. What must hold: an answer is never
served for another credential, another requirement or an unsafe method, never after the token's exp, and a revoked
API key stops passing within gate.cache_api_keys. The demo's /api/protected/ echo shows the subrequest's cache status
(MISS, HIT, BYPASS) in `gateCache`."""

import time

import pytest

import authsite
from authsite import CHEAP_HASHING, PASSWORD, unique_email

pytestmark = pytest.mark.gate

LENIENT = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000"}


@pytest.fixture(scope="module")
def sites(authd_bin, base_env, rundir, nginx_installed):
    started = {}

    def start(name, env=None, gate_cache=True):
        if name not in started:
            started[name] = authsite.Site(authd_bin, base_env, rundir, name, env={**LENIENT, **(env or {})},
                                          gate_cache=gate_cache).start()
        return started[name]

    yield start
    for site in started.values():
        site.stop()


def echo(response):
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def test_an_answer_is_reused_only_for_its_own_credential_and_requirement(sites, module_sql):
    site = sites("cache", {"JWT_GATE_CACHE_API_KEYS": "2s"})
    ann, bob = site.client(), site.client()
    ann_user = ann.register(email=unique_email("ann"))
    bob_user = bob.register(email=unique_email("bob"))
    first = echo(ann.get("/api/protected/x"))
    again = echo(ann.get("/api/protected/y"))
    assert (first["gateCache"], again["gateCache"]) == ("MISS", "HIT")
    assert first["userId"] == again["userId"] == ann_user["id"]
    # Another credential: its own answer, whatever is cached.
    views = [echo(bob.get("/api/protected/x")), echo(bob.get("/api/protected/x"))]
    assert [v["gateCache"] for v in views] == ["MISS", "HIT"] and {v["userId"] for v in views} == {bob_user["id"]}
    bearer = echo(site.client().get("/api/protected/x", headers={"Authorization": f"Bearer {ann.access_token}"}))
    assert bearer["userId"] == ann_user["id"] and bearer["gateCache"] == "MISS"
    for _ in range(2):
        assert site.client().get("/api/protected/x", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
        assert site.client().get("/api/protected/x").status_code == 401
    # Another requirement: the role check is not skipped because /api/protected/ was cached for this token.
    assert ann.get("/api/protected/admin/x").json()["code"] == "forbidden"
    module_sql(f"UPDATE users SET role = 'admin' WHERE id = '{ann_user['id']}'")
    assert ann.get("/api/protected/admin/x").status_code == 403, "a role change shows with the next token, as uncached"
    assert ann.post("/api/auth/refresh").status_code == 200
    assert echo(ann.get("/api/protected/admin/x"))["role"] == "admin"
    # Two access cookies are refused by the service, never answered from the cache for the first one.
    doubled = site.client().get("/api/protected/x", cookies=False,
                                headers={"Cookie": f"access_token={bob.access_token}; access_token={bob.access_token}"})
    assert doubled.status_code == 401
    # No answer carries cookies: the gate never sets any, cached or not.
    assert "Set-Cookie" not in bob.get("/api/protected/x").headers


def test_unsafe_methods_never_use_the_cache(sites):
    site = sites("cache", {"JWT_GATE_CACHE_API_KEYS": "2s"})
    client = site.client()
    client.register(email=unique_email("post"))
    assert echo(client.get("/api/protected/x"))["gateCache"] == "MISS"
    assert echo(client.get("/api/protected/x"))["gateCache"] == "HIT"
    # The cross-site check depends on Origin and Sec-Fetch-Site: a cached GET answer must not let this through.
    refused = client.post("/api/protected/x", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and refused.json()["code"] == "cross_site_request"
    same = client.post("/api/protected/x", headers={"Origin": site.origin})
    assert echo(same)["gateCache"] == "BYPASS"


def test_a_cached_answer_never_outlives_the_token_nor_gate_cache_max(sites):
    site = sites("cache-short", {"JWT_ACCESS_TTL": "5s", "JWT_GATE_CACHE_MAX": "2s"})
    client = site.client()
    client.register(email=unique_email("short"))
    started = time.monotonic()
    assert [echo(client.get("/api/protected/x"))["gateCache"] for _ in range(2)] == ["MISS", "HIT"]
    # nginx counts whole seconds: an entry of 2 s lives into its third second at most.
    time.sleep(max(0, started + 3.1 - time.monotonic()))
    assert echo(client.get("/api/protected/x"))["gateCache"] in ("MISS", "EXPIRED"), "reused past gate.cache_max"
    time.sleep(max(0, started + 5.2 - time.monotonic()))
    expired = client.get("/api/protected/x")
    assert expired.status_code == 401, "served from the cache after the token's exp"


def test_a_revoked_api_key_stops_passing_within_its_cache_time(sites):
    site = sites("cache", {"JWT_GATE_CACHE_API_KEYS": "2s"})
    owner = site.client()
    owner.register(email=unique_email("key"))
    created = owner.post("/api/auth/api-keys", json={"name": "ci"})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["apiKey"]["id"]
    caller = site.client()
    headers = {"X-API-Key": key}
    assert [echo(caller.get("/api/protected/x", headers=headers))["gateCache"] for _ in range(2)] == ["MISS", "HIT"]
    assert owner.delete(f"/api/auth/api-keys/{key_id}").status_code == 200
    revoked_at = time.monotonic()
    deadline = revoked_at + 2 + 1.5
    while caller.get("/api/protected/x", headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key passed longer than gate.cache_api_keys"
        time.sleep(0.1)
    assert caller.get("/api/protected/x", headers=headers).status_code == 401


def test_the_cache_is_off_unless_turned_on(sites):
    site = sites("uncached", gate_cache=False)
    client = site.client()
    client.register(email=unique_email("off"))
    assert [echo(client.get("/api/protected/x"))["gateCache"] for _ in range(2)] == ["", ""]
    assert client.login(client.me().json()["user"]["email"], password=PASSWORD)
