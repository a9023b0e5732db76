"""Second factors end to end (#17), through the development nginx to a real worker and MariaDB: TOTP enrolment and
its confirmation, sign-in with a code or a recovery code, the pending sign-in's limits (including 32 concurrent
guesses), step-up and the reauthentication window of each sensitive route, the gate's AAL2 locations, a reset by mail
for a user with a factor, `mfa.required_roles` and `jwt-authd user mfa`. Codes come from the RFC written out in
authsite.totp, at the real time (the service's clock): each step once, as an authenticator app would."""

import concurrent.futures
import email
import email.policy
import re
import subprocess
import time

import pytest

import harness
from authsite import CHEAP_HASHING, PASSWORD, jwt_payload, mfa_key_env, set_cookie_headers, unique_email

pytestmark = pytest.mark.mfa

LENIENT = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000",
           "JWT_THROTTLE_FORGOT_PER_IP": "100000", "JWT_THROTTLE_MFA_PER_ACCOUNT": "8"}


@pytest.fixture(scope="module")
def site(start_site, rundir):
    return start_site("mfa", {**LENIENT, **mfa_key_env(rundir)})


def echo(response):
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def error_code(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["code"]


def test_enrol_confirm_then_sign_in_with_a_code_reaches_aal2(site):
    client = site.client()
    address = unique_email("totp")
    client.register(email=address)
    assert jwt_payload(client.access_token)["amr"] == ["pwd"]
    assert error_code(client.get("/api/protected/aal2/x"), 403) == "mfa_required"
    assert echo(client.get("/api/protected/x"))["aal"] == "1"

    begun = client.post("/api/auth/mfa/totp", json={"name": "phone"})
    assert begun.status_code == 200, begun.text
    body = begun.json()
    assert body["otpauthUri"].startswith("otpauth://totp/") and "secret=" in body["otpauthUri"]
    assert body["qrSvg"].startswith("<svg") and "data:" not in body["qrSvg"]
    assert begun.headers["Cache-Control"] == "no-store"
    # Nothing is active before the first code.
    listed = echo(client.get("/api/auth/mfa"))
    assert listed["factors"] == [] and listed["recoveryCodesLeft"] == 0 and listed["available"] is True

    assert error_code(client.post("/api/auth/mfa/totp/confirm", json={"code": "000000"}), 401) == "invalid_code"
    app, codes = client.enrol_totp(name="phone")  # a new enrolment replaces the unconfirmed one
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", code) for code in codes)
    # The confirming code was an authentication of this session: AAL2 from now on.
    claims = jwt_payload(client.access_token)
    assert claims["amr"] == ["pwd", "otp"] and isinstance(claims["auth_time"], int)
    view = echo(client.get("/api/protected/aal2/x"))
    assert (view["aal"], view["amr"]) == ("2", "pwd otp")
    listed = echo(client.get("/api/auth/mfa"))
    assert [(f["kind"], f["name"]) for f in listed["factors"]] == [("totp", "phone")]
    assert listed["recoveryCodesLeft"] == 10

    client.post("/api/auth/logout")
    browser = site.client()
    first = browser.post("/api/auth/login", json={"email": address, "password": PASSWORD})
    assert first.status_code == 200 and first.json() == {"mfaRequired": True, "factors": ["totp", "recovery_code"]}
    pending = [h for h in set_cookie_headers(first) if h.startswith("mfa_pending=")]
    assert len(pending) == 1
    assert all(part in pending[0] for part in ("Path=/api/auth/mfa", "Max-Age=300", "HttpOnly", "SameSite=Strict"))
    assert browser.access_token in (None, "") and browser.refresh_token in (None, "")
    token = browser.jar.get("mfa_pending", "/api/auth/mfa")

    # The pending cookie is no session anywhere.
    stranger = site.client()
    for header in ({"Cookie": f"access_token={token}"}, {"Authorization": f"Bearer {token}"}):
        assert stranger.get("/api/auth/me", headers=header, cookies=False).status_code == 401
        assert stranger.get("/api/protected/x", headers=header, cookies=False).status_code == 401
    assert stranger.post("/api/auth/refresh", headers={"Cookie": f"refresh_token={token}"}, cookies=False).status_code == 401
    assert stranger.post("/api/auth/mfa/verify", json={"code": app.code()}, cookies=False).status_code == 401

    assert error_code(browser.post("/api/auth/mfa/verify", json={"code": "123456"}), 401) == "invalid_code"
    code = app.code()
    done = browser.post("/api/auth/mfa/verify", json={"code": code})
    assert done.status_code == 200, done.text
    assert done.json()["user"]["email"] == address
    assert any(h.startswith("mfa_pending=;") for h in set_cookie_headers(done))
    claims = jwt_payload(browser.access_token)
    assert claims["amr"] == ["pwd", "otp"]
    assert echo(browser.get("/api/protected/aal2/x"))["aal"] == "2"
    # Refreshing carries the authentication on.
    assert browser.post("/api/auth/refresh").status_code == 200
    renewed = jwt_payload(browser.access_token)
    assert (renewed["amr"], renewed["auth_time"]) == (claims["amr"], claims["auth_time"])
    # The same code does not work twice (another sign-in, same step).
    again = site.client()
    assert again.post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]
    assert error_code(again.post("/api/auth/mfa/verify", json={"code": code}), 401) == "invalid_code"


def test_a_recovery_code_works_once(site):
    client = site.client()
    address = unique_email("recover")
    client.register(email=address)
    _, codes = client.enrol_totp()
    for attempt in range(2):
        browser = site.client()
        assert browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]
        # Case, spaces and dashes do not matter.
        response = browser.post("/api/auth/mfa/verify", json={"recoveryCode": codes[3].upper().replace("-", " ")})
        if attempt == 0:
            assert response.status_code == 200, response.text
            assert echo(browser.get("/api/auth/mfa"))["recoveryCodesLeft"] == 9
        else:
            assert error_code(response, 401) == "invalid_code"
    assert error_code(site.client().post("/api/auth/mfa/verify", json={"code": "1", "recoveryCode": "2"}), 400) == "invalid_request"


def test_a_pending_sign_in_dies_after_five_wrong_codes_even_under_32_concurrent_guesses(site, module_sql):
    client = site.client()
    address = unique_email("guess")
    client.register(email=address)
    app, _ = client.enrol_totp()
    attacker = site.client()
    assert attacker.post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]
    cookie = f"mfa_pending={attacker.jar.get('mfa_pending', '/api/auth/mfa')}"

    def guess(number):
        return site.client().post("/api/auth/mfa/verify", json={"code": f"{number:06d}"}, headers={"Cookie": cookie},
                                  cookies=False)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(guess, range(32)))
    assert sorted({r.status_code for r in answers}) == [401], [r.text for r in answers if r.status_code != 401]
    attempts = module_sql("SELECT MAX(attempts) FROM mfa_challenges")
    assert attempts.strip().splitlines()[-1] == "5", attempts
    # Void now: even the right code gets 401.
    assert error_code(attacker.post("/api/auth/mfa/verify", json={"code": app.code()}), 401) == "invalid_code"


def test_second_factor_attempts_are_limited_per_account(site):
    client = site.client()
    address = unique_email("limit")
    client.register(email=address)
    app, _ = client.enrol_totp()
    wrong = 0
    status = None
    for _ in range(3):
        browser = site.client()
        assert browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]
        for _ in range(4):
            status = browser.post("/api/auth/mfa/verify", json={"code": "000000"}).status_code
            if status == 429:
                break
            wrong += 1
        if status == 429:
            break
    assert (wrong, status) == (8, 429)  # JWT_THROTTLE_MFA_PER_ACCOUNT=8 in this site
    browser = site.client()
    assert browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]
    limited = browser.post("/api/auth/mfa/verify", json={"code": app.code()})
    assert error_code(limited, 429) == "throttled" and int(limited.headers["Retry-After"]) > 0


def test_the_reauthentication_window_guards_each_sensitive_route(start_site, rundir):
    site = start_site("mfa-window", {**LENIENT, **mfa_key_env(rundir), "JWT_REAUTH_WINDOW": "2s"})
    client = site.client()
    address = unique_email("window")
    client.register(email=address)
    app, _ = client.enrol_totp()
    factor = echo(client.get("/api/auth/mfa"))["factors"][0]["id"]
    time.sleep(2.5)
    stale = {
        "begin": client.post("/api/auth/mfa/totp", json={}),
        "remove": client.delete(f"/api/auth/mfa/{factor}"),
        "codes": client.post("/api/auth/mfa/recovery-codes"),
        "api key": client.post("/api/auth/api-keys", json={"name": "ci"}),
    }
    assert {name: error_code(r, 403) for name, r in stale.items()} == dict.fromkeys(stale, "reauthentication_required")
    # A route that takes the current password counts it as the reauthentication.
    changed = client.post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "another good password"})
    assert changed.status_code == 200, changed.text
    time.sleep(2.5)
    assert error_code(client.post("/api/auth/reauthenticate", json={"password": "wrong password"}), 401) == "invalid_credentials"
    before = jwt_payload(client.access_token)["auth_time"]
    assert client.post("/api/auth/reauthenticate", json={"password": "another good password"}).status_code == 200
    assert jwt_payload(client.access_token)["auth_time"] > before
    assert len(echo(client.post("/api/auth/mfa/recovery-codes"))["recoveryCodes"]) == 10
    time.sleep(2.5)
    assert error_code(client.post("/api/auth/reauthenticate", json={"code": "000000"}), 401) == "invalid_code"
    assert client.post("/api/auth/reauthenticate", json={"code": app.code()}).status_code == 200
    assert client.delete(f"/api/auth/mfa/{factor}").status_code == 200
    assert echo(client.get("/api/auth/mfa")) | {"assuranceLevel": 2} == {
        "available": True, "factors": [], "recoveryCodesLeft": 0, "assuranceLevel": 2}
    # Without a factor the sign-in needs no code again.
    assert site.client().login(address, password="another good password")["email"] == address


def test_aal2_pages_send_to_the_step_up_and_api_keys_never_pass(site, module_sql):
    client = site.client()
    address = unique_email("admin")
    user = client.register(email=address)
    module_sql(f"UPDATE users SET role = 'admin' WHERE id = '{user['id']}'")
    client.login(address)  # the role is in the next access token
    response = client.get("/admin/users?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/mfa?stepUp=1&callbackUrl=/admin/users?x=1"
    # A client's own headers neither lower the requirement nor fake the level.
    assert client.get("/admin", headers={"X-Auth-Require-AAL": "1", "X-Auth-AAL": "2"}).status_code == 303
    assert echo(client.get("/api/protected/x", headers={"X-Auth-AAL": "2"}))["aal"] == "1"
    app, _ = client.enrol_totp()
    view = echo(client.get("/admin/users"))
    assert (view["email"], view["role"], view["aal"]) == (address, "admin", "2")
    key = client.post("/api/auth/api-keys", json={"name": "ci"}).json()["key"]
    keyed = site.client().get("/api/protected/aal2/x", headers={"X-API-Key": key}, cookies=False)
    assert error_code(keyed, 403) == "mfa_required"
    # Reauthenticating with the password keeps the session's second factor (AAL stays 2).
    assert client.post("/api/auth/reauthenticate", json={"password": PASSWORD}).status_code == 200
    assert echo(client.get("/api/protected/aal2/x"))["amr"] == "pwd otp"


def test_a_form_sign_in_goes_through_the_mfa_page(site):
    client = site.client()
    address = unique_email("form")
    client.register(email=address)
    app, _ = client.enrol_totp()
    browser = site.client()
    origin = {"Origin": site.origin}
    first = browser.post("/api/auth/login", data={"email": address, "password": PASSWORD, "callbackUrl": "/dashboard"},
                         headers=origin)
    assert first.status_code == 303 and first.headers["Location"] == "/auth/mfa?callbackUrl=%2Fdashboard"
    wrong = browser.post("/api/auth/mfa/verify", data={"code": "000000", "callbackUrl": "/dashboard"}, headers=origin)
    assert wrong.status_code == 303 and wrong.headers["Location"] == "/auth/mfa?error=invalid_code&callbackUrl=%2Fdashboard"
    done = browser.post("/api/auth/mfa/verify", data={"code": app.code(), "callbackUrl": "/dashboard"}, headers=origin)
    assert done.status_code == 303 and done.headers["Location"] == "/dashboard"
    assert echo(browser.get("/dashboard"))["aal"] == "2"


def test_required_roles_send_users_without_a_factor_to_enrolment(start_site, rundir, module_sql):
    site = start_site("mfa-roles", {**LENIENT, **mfa_key_env(rundir), "JWT_MFA_REQUIRED_ROLES": "admin,ops"})
    client = site.client()
    address = unique_email("ops")
    user = client.register(email=address)
    module_sql(f"UPDATE users SET role = 'ops' WHERE id = '{user['id']}'")
    response = client.post("/api/auth/login", json={"email": address, "password": PASSWORD})
    assert response.json()["mfaEnrolmentRequired"] is True and jwt_payload(client.access_token)["amr"] == ["pwd"]
    form = site.client().post("/api/auth/login", data={"email": address, "password": PASSWORD, "callbackUrl": "/dashboard"},
                              headers={"Origin": site.origin})
    assert form.status_code == 303
    assert form.headers["Location"] == "/auth/security?enrol=required&callbackUrl=%2Fdashboard"
    client.enrol_totp()
    assert site.client().post("/api/auth/login", json={"email": address, "password": PASSWORD}).json()["mfaRequired"]


def test_a_reset_by_mail_does_not_pass_the_second_factor(start_site, rundir):
    folder = rundir / "mail-mfa"
    site = start_site("mfa-mail", {**LENIENT, **mfa_key_env(rundir), "JWT_AUTHD_MAIL_TRANSPORT": "file",
                                   "JWT_AUTHD_MAIL_DIR": str(folder), "JWT_AUTHD_PUBLIC_URL": "https://site.example",
                                   "JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"})
    client = site.client()
    address = unique_email("mfareset")
    client.register(email=address)
    app, _ = client.enrol_totp()
    assert site.client().post("/api/auth/password/forgot", json={"email": address}).status_code == 202

    def resets():
        return [p for p in folder.glob("*.eml") if b"Subject: Reset your Site password" in p.read_bytes()]

    harness.wait_until(lambda: folder.is_dir() and resets(), 10, "the reset message")
    message = email.message_from_bytes(resets()[0].read_bytes(), policy=email.policy.default)
    token = re.search(r"reset\?token=([A-Za-z0-9_-]{43})", message.get_body(("plain",)).get_content()).group(1)
    browser = site.client()
    reset = browser.post("/api/auth/password/reset", json={"token": token, "newPassword": "a brand new password"})
    assert reset.status_code == 200 and reset.json()["mfaRequired"] is True, reset.text
    assert browser.access_token in (None, "")
    assert browser.post("/api/auth/mfa/verify", json={"code": app.code()}).status_code == 200
    assert jwt_payload(browser.access_token)["amr"] == ["pwd", "otp"]
    # A reset's session is no recent authentication: adding a factor needs the password or a code again.
    assert error_code(browser.post("/api/auth/mfa/totp", json={}), 403) == "reauthentication_required"
    assert browser.post("/api/auth/reauthenticate", json={"password": "a brand new password"}).status_code == 200
    assert browser.post("/api/auth/mfa/totp", json={}).status_code == 200


def test_user_mfa_list_and_reset_from_the_command_line(site, authd_bin):
    client = site.client()
    address = unique_email("cli")
    client.register(email=address)
    client.enrol_totp(name="work phone")

    def cli(*args):
        return subprocess.run([authd_bin, *args], env=site.env, capture_output=True, text=True, timeout=60)

    listed = cli("user", "mfa", "list", address)
    assert listed.returncode == 0 and "totp  work phone" in listed.stdout and "recovery codes left: 10" in listed.stdout, listed
    reset = cli("user", "mfa", "reset", address)
    assert reset.returncode == 0 and "removed 1 second factor" in reset.stdout, reset
    assert client.me().status_code == 401  # its sessions ended with the factor
    assert site.client().login(address)["email"] == address
    assert "has no second factor" in cli("user", "mfa", "list", address).stdout
    assert cli("user", "mfa", "list", unique_email("nobody")).returncode != 0


def test_a_session_from_before_the_factor_cannot_undo_it(site):
    """Someone who had the password and signed in before the owner added a factor keeps an AAL1 session: it must not
    remove the factor, make recovery codes or API keys, or change the password, even with the password again."""
    address = unique_email("old")
    owner = site.client()
    owner.register(email=address)
    intruder = site.client()
    intruder.login(address)
    owner.enrol_totp()
    factor = echo(owner.get("/api/auth/mfa"))["factors"][0]["id"]
    assert intruder.post("/api/auth/reauthenticate", json={"password": PASSWORD}).status_code == 200
    attempts = {
        "remove": intruder.delete(f"/api/auth/mfa/{factor}"),
        "codes": intruder.post("/api/auth/mfa/recovery-codes"),
        "add": intruder.post("/api/auth/mfa/totp", json={}),
        "api key": intruder.post("/api/auth/api-keys", json={"name": "backdoor", "password": PASSWORD}),
        "password": intruder.post("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "taken over now"}),
    }
    assert {name: error_code(r, 403) for name, r in attempts.items()} == dict.fromkeys(attempts, "mfa_required")
    assert [f["id"] for f in echo(owner.get("/api/auth/mfa"))["factors"]] == [factor]
    assert error_code(intruder.get("/api/protected/aal2/x"), 403) == "mfa_required"
    # The owner's AAL2 session may.
    assert owner.post("/api/auth/mfa/recovery-codes").status_code == 200
    assert owner.get("/api/auth/mfa").json()["assuranceLevel"] == 2
