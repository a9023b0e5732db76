"""Passkeys (#18) end to end, through the development nginx to a real worker and MariaDB, with real cookies: a
software authenticator written here (ECDSA P-256 with python3-cryptography, CBOR with python3-fido2's encoder)
registers passkeys, signs in without a password, answers the second step of a password sign-in and reauthenticates;
then everything that must be refused over HTTP (replayed challenges, wrong origin or rp id, tampered signatures, UP
missing, counters that go back, malformed credentials, a credential registered twice, stale sessions, cross-site
posts, a site without passkeys). Last, interop with an independent relying party: python-fido2 0.9.1's
``Fido2Server`` verifies ceremonies built against this service's options, and this service accepts ceremonies built
with python-fido2's own data classes.

The service compares the client data's origin exactly against ``passkeys.origins``: the origin written into the client
data here (``ORIGIN``) is configured, not the URL the tests connect to (browsers refuse an IP address as rp id, and the
test nginx listens on 127.0.0.1; the browser tier runs real ceremonies on http://localhost:PORT).
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import struct
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from fido2 import cbor

import harness
from authsite import (CHEAP_HASHING, PASSWORD, TIMESTAMP_RE, UUID_RE, access_cookie_re, device_cookie_re, jwt_payload,
                      mfa_key_env, refresh_cookie_re, set_cookie_headers, unique_email)

pytestmark = pytest.mark.mfa

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
PASSKEYS = {"JWT_PASSKEYS_RP_ID": RP_ID, "JWT_PASSKEYS_ORIGINS": ORIGIN, "JWT_PASSKEYS_RP_NAME": "Passkey E2E"}
NO_PASSKEYS = {"JWT_PASSKEYS_RP_ID": None, "JWT_PASSKEYS_ORIGINS": None, "JWT_AUTHD_PUBLIC_URL": None}
LENIENT = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000",
           "JWT_THROTTLE_FORGOT_PER_IP": "100000", "JWT_THROTTLE_MFA_PER_ACCOUNT": "1000"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
ZERO_AAGUID = "00000000-0000-0000-0000-000000000000"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data):
    return hashlib.sha256(data).digest()


class SoftAuthenticator:
    """One passkey in software, as a platform authenticator holds it: an ES256 key, a random credential id, the user
    handle it was created for, and a signature counter (``counter_step`` 0: a passkey that does not count, as synced
    passkeys do). ``create`` and ``get`` answer options the way ``PublicKeyCredential.toJSON()`` shows a browser's
    answer; keyword arguments bend one part of the answer for the negative tests."""

    def __init__(self, *, backup_eligible=False, backed_up=None, user_verifying=True, counter_step=1,
                 credential_id=None, transports=("internal", "hybrid"), aaguid=bytes(16)):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = credential_id if credential_id is not None else os.urandom(32)
        self.backup_eligible = backup_eligible
        self.backed_up = backup_eligible if backed_up is None else backed_up
        self.user_verifying = user_verifying
        self.counter_step = counter_step
        self.sign_count = 0
        self.transports = list(transports)
        self.aaguid = aaguid
        self.user_handle = None

    @property
    def id(self):
        return b64u(self.credential_id)

    def cose_key(self):
        numbers = self.key.public_key().public_numbers()
        return {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}

    def flags(self, up=True, uv=None, attested=False, be=None, bs=None):
        uv = self.user_verifying if uv is None else uv
        be = self.backup_eligible if be is None else be
        bs = (self.backed_up if be else False) if bs is None else bs
        return (0x01 if up else 0) | (0x04 if uv else 0) | (0x08 if be else 0) | (0x10 if bs else 0) | \
            (0x40 if attested else 0)

    @staticmethod
    def client_data(kind, challenge, origin, **extra):
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False, **extra},
                          separators=(",", ":")).encode()

    def attested_credential_data(self, cose_key=None):
        return (self.aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id
                + cbor.encode(cose_key or self.cose_key()))

    def sign(self, data):
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def create(self, options, *, origin=ORIGIN, rp_id=None, up=True, uv=None, kind="webauthn.create", challenge=None,
               fmt="none", attestation_signature=None, cose_key=None, int_keys=False, client_extra=None, raw_id=None,
               public_key_algorithm=-7):
        """Answers creation options (``navigator.credentials.create``)."""
        assert any(p == {"type": "public-key", "alg": -7} for p in options["pubKeyCredParams"]), options
        assert self.id not in [c["id"] for c in options["excludeCredentials"]], "excluded: a browser would refuse"
        self.user_handle = unb64u(options["user"]["id"])
        client_data = self.client_data(kind, challenge or options["challenge"], origin, **(client_extra or {}))
        auth_data = (sha256((rp_id or options["rp"]["id"]).encode()) + bytes([self.flags(up, uv, attested=True)])
                     + struct.pack(">I", self.sign_count) + self.attested_credential_data(cose_key))
        statement = {}
        if fmt == "packed":
            signature = self.sign(auth_data + sha256(client_data))
            statement = {"alg": -7, "sig": attestation_signature(signature) if attestation_signature else signature}
        members = {"fmt": fmt, "attStmt": statement, "authData": auth_data}
        if int_keys:  # the CTAP2 form (what an authenticator sends the browser), not WebAuthn's
            members = {1: fmt, 2: auth_data, 3: statement}
        shown = self.id if raw_id is None else b64u(raw_id)
        return {
            "id": shown, "rawId": shown, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64u(client_data), "attestationObject": b64u(cbor.encode(members)),
                "transports": self.transports, "publicKeyAlgorithm": public_key_algorithm,
                "publicKey": b64u(self.key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)),
                "authenticatorData": b64u(auth_data),
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(self, options, *, origin=ORIGIN, rp_id=None, up=True, uv=None, kind="webauthn.get", challenge=None,
            sign_count=None, be=None, user_handle=True, tamper_signature=False, check_allowed=True, client_extra=None):
        """Answers request options (``navigator.credentials.get``): the next counter value unless ``sign_count``."""
        allowed = [c["id"] for c in options["allowCredentials"]]
        if check_allowed and allowed:
            assert self.id in allowed, (self.id, allowed)
        if sign_count is None:
            self.sign_count += self.counter_step
            sign_count = self.sign_count
        client_data = self.client_data(kind, challenge or options["challenge"], origin, **(client_extra or {}))
        auth_data = (sha256((rp_id or options["rpId"]).encode()) + bytes([self.flags(up, uv, be=be)])
                     + struct.pack(">I", sign_count))
        signature = self.sign(auth_data + sha256(client_data))
        if tamper_signature:
            signature = bytearray(signature)
            signature[12] ^= 0x01  # inside r: still DER, no longer the signature
            signature = bytes(signature)
        handle = self.user_handle if user_handle is True else user_handle
        return {
            "id": self.id, "rawId": self.id, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64u(client_data), "authenticatorData": b64u(auth_data),
                "signature": b64u(signature), "userHandle": b64u(handle) if handle else None,
            },
            "clientExtensionResults": {},
        }


@pytest.fixture(scope="module")
def site(start_site, rundir):
    return start_site("passkeys", {**LENIENT, **mfa_key_env(rundir), **PASSKEYS})


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("Cache-Control") == "no-store"
    return response.json()


def error_code(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["code"]


def gate(client):
    """What the gate passes on for this client's access cookie (the demo app's echo of X-Auth-AAL and X-Auth-AMR)."""
    response = client.get("/api/protected/x")
    assert response.status_code == 200, (response.status_code, response.text)
    view = response.json()
    return view["aal"], view["amr"]


def new_account(site, prefix="pk"):
    client = site.client()
    address = unique_email(prefix)
    user = client.register(email=address)
    return client, address, user


def registration_options(client):
    return ok(client.post("/api/auth/passkeys/register/options"))


def register(client, authenticator, name=None, **bend):
    credential = authenticator.create(registration_options(client), **bend)
    body = {"credential": credential, **({"name": name} if name else {})}
    return client.post("/api/auth/passkeys/register", json=body)


def registered(client, authenticator, name=None):
    return ok(register(client, authenticator, name), 201)


def sign_in_options(client, email=None):
    return ok(client.post("/api/auth/passkeys/login/options", json={} if email is None else {"email": email}))


def sign_in(site, authenticator, email=None, client=None, headers=None, **bend):
    """A passwordless sign-in in a new browser (or ``client``); returns (client, response)."""
    client = client or site.client()
    assertion = authenticator.get(sign_in_options(client, email), **bend)
    return client, client.post("/api/auth/passkeys/login", json={"credential": assertion}, headers=headers)


def sessions_of(client):
    return len(ok(client.get("/api/auth/sessions"))["sessions"])


@pytest.fixture(scope="module")
def owner(site):
    """An account with one counting, user-verifying passkey: (client, address, authenticator)."""
    client, address, _ = new_account(site, "owner")
    authenticator = SoftAuthenticator()
    registered(client, authenticator, "owner key")
    return client, address, authenticator


# --- registration -----------------------------------------------------------------------------------------------


def test_registration_stores_the_passkey_gives_recovery_codes_and_makes_the_session_aal2(site):
    client, address, user = new_account(site, "reg")
    assert jwt_payload(client.access_token)["amr"] == ["pwd"]
    assert gate(client) == ("1", "pwd")

    options = registration_options(client)
    assert options["rp"] == {"id": RP_ID, "name": "Passkey E2E"}
    handle = unb64u(options["user"]["id"])
    assert len(handle) == 32 and address.encode() not in handle and user["id"].encode() not in handle
    assert (options["user"]["name"], options["user"]["displayName"]) == (address, address)
    assert len(unb64u(options["challenge"])) == 32
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["timeout"] == 300000 and options["excludeCredentials"] == []
    assert options["authenticatorSelection"] == {"residentKey": "preferred", "requireResidentKey": False,
                                                 "userVerification": "preferred"}
    assert options["attestation"] == "none"
    # The user handle is the account's, every time; the challenge is new every time.
    again = registration_options(client)
    assert again["user"]["id"] == options["user"]["id"] and again["challenge"] != options["challenge"]

    authenticator = SoftAuthenticator()
    response = client.post("/api/auth/passkeys/register",
                           json={"credential": authenticator.create(again), "name": "  laptop\t"})
    body = ok(response, 201)
    passkey = body["passkey"]
    assert UUID_RE.match(passkey["id"]) and TIMESTAMP_RE.match(passkey["createdAt"])
    assert {k: v for k, v in passkey.items() if k not in ("id", "createdAt")} == {
        "name": "laptop", "lastUsedAt": None, "synced": False, "backedUp": False, "userVerified": True,
        "transports": ["internal", "hybrid"], "aaguid": ZERO_AAGUID, "algorithm": -7}
    codes = body["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # A new access cookie, alone: the registration counted as an authentication with the passkey.
    cookies = set_cookie_headers(response)
    assert len(cookies) == 1 and access_cookie_re().match(cookies[0]), cookies
    claims = jwt_payload(client.access_token)
    assert claims["amr"] == ["pwd", "hwk"]
    assert gate(client) == ("2", "pwd hwk")
    view = client.get("/api/protected/aal2/x")
    assert view.status_code == 200 and view.json()["aal"] == "2"

    listed = ok(client.get("/api/auth/passkeys"))
    assert listed == {"available": True, "passkeys": [passkey]}
    factors = ok(client.get("/api/auth/mfa"))
    assert [(f["id"], f["kind"], f["name"]) for f in factors["factors"]] == [(passkey["id"], "passkey", "laptop")]
    assert factors["recoveryCodesLeft"] == 10 and factors["assuranceLevel"] == 2

    # The next options exclude it; a second passkey brings no new codes.
    options = registration_options(client)
    assert options["excludeCredentials"] == [{"type": "public-key", "id": authenticator.id,
                                             "transports": ["internal", "hybrid"]}]
    second = ok(register(client, SoftAuthenticator(backup_eligible=True, counter_step=0, transports=["hybrid"])), 201)
    assert "recoveryCodes" not in second and second["passkey"]["name"] is None
    assert (second["passkey"]["synced"], second["passkey"]["backedUp"]) == (True, True)
    assert jwt_payload(client.access_token)["amr"] == ["pwd", "hwk", "swk"]
    assert ok(client.get("/api/auth/mfa"))["recoveryCodesLeft"] == 10


def test_packed_self_attestation_is_verified(site):
    client, _, _ = new_account(site, "packed")
    good = SoftAuthenticator()
    assert ok(register(client, good, fmt="packed"), 201)["passkey"]["aaguid"] == ZERO_AAGUID
    bad = SoftAuthenticator()
    refused = register(client, bad, fmt="packed", attestation_signature=lambda s: s[:-1] + bytes([s[-1] ^ 1]))
    assert error_code(refused, 400) == "passkey_invalid"
    assert "attestation" in refused.json()["error"]


@pytest.fixture(scope="module")
def window_site(start_site, rundir):
    """A site whose reauthentication window is 2 s."""
    return start_site("passkeys-window", {**LENIENT, **mfa_key_env(rundir), **PASSKEYS, "JWT_REAUTH_WINDOW": "2s"})


def test_registration_needs_a_recent_authentication(window_site):
    client, _, _ = new_account(window_site, "stale")
    time.sleep(2.5)
    assert error_code(client.post("/api/auth/passkeys/register/options"), 403) == "reauthentication_required"
    assert ok(client.post("/api/auth/reauthenticate", json={"password": PASSWORD})) == {"success": True}
    registered(client, SoftAuthenticator())


def test_a_session_from_before_the_passkey_cannot_add_or_remove_one(site):
    address = unique_email("before")
    owner_client = site.client()
    owner_client.register(email=address)
    intruder = site.client()
    intruder.login(address)  # signed in with the password before the owner added the passkey
    authenticator = SoftAuthenticator()
    passkey = registered(owner_client, authenticator)["passkey"]
    assert ok(intruder.post("/api/auth/reauthenticate", json={"password": PASSWORD})) == {"success": True}
    assert error_code(intruder.post("/api/auth/passkeys/register/options"), 403) == "mfa_required"
    assert error_code(intruder.delete(f"/api/auth/passkeys/{passkey['id']}"), 403) == "mfa_required"
    assert [p["id"] for p in ok(owner_client.get("/api/auth/passkeys"))["passkeys"]] == [passkey["id"]]


# --- passwordless sign-in ----------------------------------------------------------------------------------------


def test_passwordless_sign_in_with_a_discoverable_passkey(site, owner):
    _, address, authenticator = owner
    options = sign_in_options(site.client())
    assert options["allowCredentials"] == [] and options["rpId"] == RP_ID
    assert options["userVerification"] == "preferred" and options["timeout"] == 300000
    assert len(unb64u(options["challenge"])) == 32

    browser, response = sign_in(site, authenticator)
    body = ok(response)
    assert body["user"]["email"] == address
    cookies = set_cookie_headers(response)
    assert access_cookie_re().match(cookies[0]) and refresh_cookie_re(max_age=None).match(cookies[1]), cookies
    assert device_cookie_re().match(cookies[2]), cookies
    claims = jwt_payload(browser.access_token)
    assert claims["amr"] == ["hwk", "mfa"] and claims["email"] == address
    # A user-verifying passkey is two factors: AAL2.
    assert gate(browser) == ("2", "hwk mfa")
    assert browser.get("/api/protected/aal2/x").status_code == 200
    assert ok(browser.me())["user"]["email"] == address
    assert ok(browser.post("/api/auth/refresh"))
    assert jwt_payload(browser.access_token)["amr"] == ["hwk", "mfa"]
    listed = ok(browser.get("/api/auth/passkeys"))["passkeys"]
    assert TIMESTAMP_RE.match(listed[0]["lastUsedAt"])


def test_passwordless_sign_in_with_an_address_and_without_user_verification(site, owner):
    _, address, authenticator = owner
    options = sign_in_options(site.client(), address.upper())
    # No credential ids for an address (they would tell that the account exists): the challenge names the account.
    assert options["allowCredentials"] == []
    # Without a user handle: the options named the account.
    browser, response = sign_in(site, authenticator, address, uv=False, user_handle=None)
    assert ok(response)["user"]["email"] == address
    assert jwt_payload(browser.access_token)["amr"] == ["hwk"]
    assert gate(browser) == ("1", "hwk")
    assert error_code(browser.get("/api/protected/aal2/x"), 403) == "mfa_required"
    # A discoverable sign-in (no address) must name its user.
    _, response = sign_in(site, authenticator, user_handle=None)
    assert error_code(response, 401) == "invalid_credentials"


def test_a_synced_passkey_signs_in_as_swk(site):
    client, address, _ = new_account(site, "synced")
    authenticator = SoftAuthenticator(backup_eligible=True, counter_step=0)
    registered(client, authenticator)
    assert jwt_payload(client.access_token)["amr"] == ["pwd", "swk"]
    for _ in range(2):  # a counter that stays 0 is a passkey that does not count, not a clone
        browser, response = sign_in(site, authenticator)
        assert ok(response)["user"]["email"] == address
        assert jwt_payload(browser.access_token)["amr"] == ["swk", "mfa"]
    # Backup eligibility is fixed at creation.
    _, response = sign_in(site, authenticator, be=False)
    assert error_code(response, 401) == "invalid_credentials"


# --- the second step of a password sign-in, reauthentication ----------------------------------------------------


def test_a_passkey_as_the_second_step_of_a_password_sign_in(site):
    client, address, _ = new_account(site, "second")
    authenticator = SoftAuthenticator(user_verifying=False)
    registered(client, authenticator)
    client.post("/api/auth/logout")

    browser = site.client()
    first = browser.post("/api/auth/login", json={"email": address, "password": PASSWORD})
    assert ok(first) == {"mfaRequired": True, "factors": ["passkey", "recovery_code"]}
    assert browser.access_token is None and browser.jar.get("mfa_pending", "/api/auth/mfa")
    # The options are the pending sign-in's: none without its cookie.
    assert error_code(site.client().post("/api/auth/mfa/passkey/options"), 401) == "invalid_code"
    forged = site.client().post("/api/auth/mfa/passkey/options", headers={"Cookie": "mfa_pending=" + "A" * 43},
                                cookies=False)
    assert error_code(forged, 401) == "invalid_code"
    options = ok(browser.post("/api/auth/mfa/passkey/options"))
    assert options["allowCredentials"] == [{"type": "public-key", "id": authenticator.id,
                                            "transports": ["internal", "hybrid"]}]
    # A passwordless sign-in's challenge does not answer it.
    wrong_purpose = authenticator.get(sign_in_options(site.client()))
    assert error_code(browser.post("/api/auth/mfa/verify", json={"passkey": wrong_purpose}), 401) == "invalid_code"

    done = browser.post("/api/auth/mfa/verify", json={"passkey": authenticator.get(options)})
    assert ok(done)["user"]["email"] == address
    assert any(h.startswith("mfa_pending=;") for h in set_cookie_headers(done))
    # The password and a passkey (without user verification): two factors, AAL2.
    assert jwt_payload(browser.access_token)["amr"] == ["pwd", "hwk"]
    assert gate(browser) == ("2", "pwd hwk")

    # With a TOTP factor as well (added on this AAL2, recent session), both are offered, the passkey first.
    app, _ = browser.enrol_totp()
    again = site.client()
    assert ok(again.post("/api/auth/login", json={"email": address, "password": PASSWORD}))["factors"] == [
        "passkey", "totp", "recovery_code"]
    assert ok(again.post("/api/auth/mfa/verify", json={"code": app.code()}))["user"]["email"] == address
    assert jwt_payload(again.access_token)["amr"] == ["pwd", "otp"]


def test_a_pending_sign_in_takes_only_its_own_challenge(site):
    """Two password sign-ins of one account wait for their second step: options fetched for one do not answer the
    other (the challenge is bound to its pending cookie)."""
    client, address, _ = new_account(site, "crossed")
    authenticator = SoftAuthenticator()
    registered(client, authenticator)
    first, second = site.client(), site.client()
    for browser in (first, second):
        assert ok(browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}))["mfaRequired"]
    options = ok(first.post("/api/auth/mfa/passkey/options"))
    assertion = authenticator.get(options)
    assert error_code(second.post("/api/auth/mfa/verify", json={"passkey": assertion}), 401) == "invalid_code"
    assert second.access_token is None
    # And the challenge went with that attempt: single use, even for its own sign-in.
    assert error_code(first.post("/api/auth/mfa/verify", json={"passkey": assertion}), 401) == "invalid_code"
    assert ok(first.post("/api/auth/mfa/verify",
                         json={"passkey": authenticator.get(ok(first.post("/api/auth/mfa/passkey/options")))}))


def test_reauthentication_with_a_passkey_and_the_list(window_site):
    site = window_site
    client, address, _ = new_account(site, "reauth")
    authenticator = SoftAuthenticator()
    passkey = registered(client, authenticator, "phone")["passkey"]
    other_client, _, _ = new_account(site, "reauth-other")
    other = registered(other_client, SoftAuthenticator())["passkey"]

    # Renaming: trimmed, at most 100 characters, none for null or empty; only one's own.
    def rename(name, passkey_id=passkey["id"]):
        return client.request("PATCH", f"/api/auth/passkeys/{passkey_id}", json={"name": name})

    assert ok(rename("  work key ")) == {"success": True}
    assert ok(client.get("/api/auth/passkeys"))["passkeys"][0]["name"] == "work key"
    assert error_code(rename("x" * 101), 400) == "invalid_request"
    assert error_code(rename("a\u0007b"), 400) == "invalid_request"
    assert error_code(rename(5), 400) == "invalid_request"
    assert ok(rename("é" * 100))
    assert ok(rename(None)) and ok(client.get("/api/auth/passkeys"))["passkeys"][0]["name"] is None
    assert error_code(rename("mine now", other["id"]), 404) == "not_found"
    assert error_code(rename("x", "00000000-0000-0000-0000-000000000000"), 404) == "not_found"
    assert error_code(rename("x", "not-an-id"), 404) == "not_found"
    assert ok(other_client.get("/api/auth/passkeys"))["passkeys"][0]["name"] is None

    time.sleep(2.5)
    assert error_code(client.delete(f"/api/auth/passkeys/{passkey['id']}"), 403) == "reauthentication_required"
    options = ok(client.post("/api/auth/passkeys/reauthenticate/options"))
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]
    # Another account's passkey does not reauthenticate this session.
    assert error_code(client.post("/api/auth/reauthenticate",
                                  json={"passkey": SoftAuthenticator().get(options, check_allowed=False)}),
                      401) == "invalid_code"
    options = ok(client.post("/api/auth/passkeys/reauthenticate/options"))
    before = jwt_payload(client.access_token)["auth_time"]
    response = client.post("/api/auth/reauthenticate", json={"passkey": authenticator.get(options)})
    assert ok(response) == {"success": True}
    cookies = set_cookie_headers(response)
    assert len(cookies) == 1 and access_cookie_re().match(cookies[0])
    claims = jwt_payload(client.access_token)
    assert claims["auth_time"] > before and claims["amr"] == ["pwd", "hwk", "mfa"]
    # Replayed: refused.
    assert error_code(client.post("/api/auth/reauthenticate", json={"passkey": authenticator.get(options)}),
                      401) == "invalid_code"

    assert error_code(client.delete(f"/api/auth/passkeys/{other['id']}"), 404) == "not_found"
    assert ok(client.delete(f"/api/auth/passkeys/{passkey['id']}")) == {"success": True}
    assert ok(client.get("/api/auth/passkeys"))["passkeys"] == []
    summary = ok(client.get("/api/auth/mfa"))
    assert (summary["factors"], summary["recoveryCodesLeft"]) == ([], 0)
    assert error_code(client.delete(f"/api/auth/passkeys/{passkey['id']}"), 404) == "not_found"
    assert error_code(client.post("/api/auth/passkeys/reauthenticate/options"), 404) == "not_found"
    # A removed passkey signs nobody in; the password alone does again.
    _, response = sign_in(site, authenticator)
    assert error_code(response, 401) == "invalid_credentials"
    assert site.client().login(address)["email"] == address


# --- what is refused ---------------------------------------------------------------------------------------------


ASSERTION_BENDS = {
    "another origin": {"origin": "http://localhost:5174"},
    "an origin on another scheme": {"origin": "https://localhost:5173"},
    "an origin with a path": {"origin": ORIGIN + "/"},
    "another top origin": {"client_extra": {"topOrigin": "https://evil.example"}},
    "another rp id": {"rp_id": "evil.localhost"},
    "a tampered signature": {"tamper_signature": True},
    "user presence missing": {"up": False},
    "the type of a registration": {"kind": "webauthn.create"},
    "a challenge never issued": {"challenge": b64u(os.urandom(32))},
    "a cross-origin frame": {"client_extra": {"crossOrigin": True, "topOrigin": "https://evil.example"}},
    "another user's handle": {"user_handle": os.urandom(32)},
}


@pytest.mark.parametrize("bend", ASSERTION_BENDS.values(), ids=ASSERTION_BENDS.keys())
def test_an_assertion_that_does_not_verify_signs_nobody_in(site, owner, bend):
    client, _, authenticator = owner
    before = sessions_of(client)
    browser, response = sign_in(site, authenticator, **bend)
    assert error_code(response, 401) == "invalid_credentials"
    assert response.json()["error"] == "Invalid credentials"  # the reason goes to the log only
    assert set_cookie_headers(response) == [] and browser.access_token is None
    assert sessions_of(client) == before
    # The passkey still works.
    assert sign_in(site, authenticator)[1].status_code == 200


def test_an_unknown_credential_signs_nobody_in(site, owner):
    _, address, authenticator = owner
    stranger = SoftAuthenticator()
    stranger.user_handle = authenticator.user_handle
    for email in (None, address):
        _, response = sign_in(site, stranger, email, check_allowed=False)
        assert error_code(response, 401) == "invalid_credentials"


def test_another_accounts_passkey_does_not_answer_an_address_bound_challenge(site, owner):
    _, address, _ = owner
    client, _, _ = new_account(site, "other")
    theirs = SoftAuthenticator()
    registered(client, theirs)
    _, response = sign_in(site, theirs, address, check_allowed=False)
    assert error_code(response, 401) == "invalid_credentials"


REGISTRATION_BENDS = {
    "another origin": ({"origin": "https://evil.example"}, "origin"),
    "another rp id": ({"rp_id": "evil.localhost"}, "rp id"),
    "user presence missing": ({"up": False}, "UP"),
    "the type of an assertion": ({"kind": "webauthn.get"}, "type"),
    "a challenge never issued": ({"challenge": b64u(os.urandom(32))}, "challenge"),
    "the CTAP2 form of the attestation object": ({"int_keys": True}, "fmt, attStmt and authData"),
    "an algorithm not offered": ({"cose_key": {1: 2, 3: -35, -1: 2, -2: bytes(48), -3: bytes(48)}}, "algorithm"),
    "a compressed point": ({"cose_key": {1: 2, 3: -7, -1: 1, -2: bytes(32)}}, "P-256"),
    "a rawId that is not the attested credential": ({"raw_id": os.urandom(32)}, "credential id"),
    "another publicKeyAlgorithm": ({"public_key_algorithm": -8}, "publicKeyAlgorithm"),
}


@pytest.mark.parametrize("bend, reason", REGISTRATION_BENDS.values(), ids=REGISTRATION_BENDS.keys())
def test_a_registration_that_does_not_verify_is_refused(site, bend, reason):
    client, _, _ = new_account(site, "badreg")
    response = register(client, SoftAuthenticator(), **bend)
    assert error_code(response, 400) == "passkey_invalid"
    assert reason in response.json()["error"], response.json()
    assert set_cookie_headers(response) == []
    assert jwt_payload(client.access_token)["amr"] == ["pwd"]
    assert ok(client.get("/api/auth/passkeys"))["passkeys"] == []
    assert ok(client.get("/api/auth/mfa"))["recoveryCodesLeft"] == 0


def test_a_challenge_answers_only_the_ceremony_it_was_issued_for(site, owner):
    client, address, authenticator = owner
    browser = site.client()
    assert ok(browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}))["mfaRequired"]
    issued = {
        "registration": {**registration_options(client), "rpId": RP_ID, "allowCredentials": []},
        "sign-in": sign_in_options(site.client()),
        "second step": ok(browser.post("/api/auth/mfa/passkey/options")),
        "reauthentication": ok(client.post("/api/auth/passkeys/reauthenticate/options")),
    }
    uses = {
        "sign-in": lambda a: site.client().post("/api/auth/passkeys/login", json={"credential": a}),
        "second step": lambda a: browser.post("/api/auth/mfa/verify", json={"passkey": a}),
        "reauthentication": lambda a: client.post("/api/auth/reauthenticate", json={"passkey": a}),
    }
    for issued_for, options in issued.items():
        for used_for, use in uses.items():
            if used_for != issued_for:
                response = use(authenticator.get(options))
                assert response.status_code == 401, (issued_for, used_for, response.text)
    # A use for another ceremony does not find the challenge (it is looked up with its purpose): its own still may.
    assert ok(uses["sign-in"](authenticator.get(issued["sign-in"])))["user"]["email"] == address
    assert ok(uses["second step"](authenticator.get(issued["second step"])))["user"]["email"] == address


def test_a_challenge_answers_once(site, owner):
    _, _, authenticator = owner
    browser = site.client()
    body = {"credential": authenticator.get(sign_in_options(browser))}
    assert ok(browser.post("/api/auth/passkeys/login", json=body))
    replayed = site.client().post("/api/auth/passkeys/login", json=body)
    assert error_code(replayed, 401) == "invalid_credentials" and set_cookie_headers(replayed) == []
    # Sent 8 times at once, a fresh one signs in once.
    body = {"credential": authenticator.get(sign_in_options(browser))}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: site.client().post("/api/auth/passkeys/login", json=body), range(8)))
    assert sorted(r.status_code for r in answers) == [200] + [401] * 7, [r.text for r in answers]
    # A registration's challenge too.
    client, _, _ = new_account(site, "replay")
    credential = SoftAuthenticator().create(registration_options(client))
    assert ok(client.post("/api/auth/passkeys/register", json={"credential": credential}), 201)
    again = client.post("/api/auth/passkeys/register", json={"credential": credential})
    assert error_code(again, 400) == "passkey_invalid" and "live challenge" in again.json()["error"]


def test_a_counter_that_goes_back_is_refused_and_starts_no_session(site):
    client, _, user = new_account(site, "clone")
    authenticator = SoftAuthenticator(user_verifying=True)
    passkey = registered(client, authenticator)["passkey"]
    assert ok(sign_in(site, authenticator, sign_count=7)[1])
    before = sessions_of(client)
    for count in (7, 6, 0):  # the same value, a lower one, and 0 after counting
        browser, response = sign_in(site, authenticator, sign_count=count)
        assert error_code(response, 401) == "invalid_credentials"
        assert set_cookie_headers(response) == [] and browser.access_token is None
    assert sessions_of(client) == before
    # Each is a security event: a cloned authenticator?
    marks = ("event=passkey_clone_suspected", f"user.id={user['id']}", f"mfa.id={passkey['id']}")
    harness.wait_until(lambda: sum(all(mark in line for mark in marks) for line in
                                   site.worker.log_path.read_text(errors="replace").splitlines()) == 3,
                       10, "three clone events in the log")
    # In a reauthentication too.
    options = ok(client.post("/api/auth/passkeys/reauthenticate/options"))
    stale = authenticator.get(options, sign_count=7)
    assert error_code(client.post("/api/auth/reauthenticate", json={"passkey": stale}), 401) == "invalid_code"
    # A higher count is accepted (the clone event is the log's; the passkey stays usable).
    assert ok(sign_in(site, authenticator, sign_count=8)[1])


def test_malformed_credentials_are_invalid_requests(site, owner):
    client, _, authenticator = owner
    browser = site.client()
    for body in ({}, {"credential": "x"}, {"credential": None}, {"credential": []}, {"credential": 1}):
        response = browser.post("/api/auth/passkeys/login", json=body)
        assert error_code(response, 400) == "invalid_request" and "credential" in response.json()["fields"], body
        response = client.post("/api/auth/passkeys/register", json=body)
        assert error_code(response, 400) == "invalid_request" and "credential" in response.json()["fields"], body
    assert error_code(browser.post("/api/auth/passkeys/login", data="{", headers={"Content-Type": "application/json"}),
                      400) == "invalid_json"
    form = browser.post("/api/auth/passkeys/login", data={"credential": "x"})
    assert error_code(form, 415) == "unsupported_media_type"
    # An object that is no credential: a failed sign-in (401), a refused registration (400 passkey_invalid).
    good = authenticator.get(sign_in_options(browser))
    broken = [{}, {**good, "type": "password"}, {**good, "rawId": b64u(os.urandom(32))},
              {**good, "response": {**good["response"], "signature": "***"}},
              {**good, "response": {**good["response"], "clientDataJSON": b64u(b"not json")}},
              {**good, "response": {**good["response"], "authenticatorData": b64u(b"short")}}]
    for credential in broken:
        response = browser.post("/api/auth/passkeys/login", json={"credential": credential})
        assert error_code(response, 401) == "invalid_credentials", credential
    response = client.post("/api/auth/passkeys/register", json={"credential": {"type": "public-key"}})
    assert error_code(response, 400) == "passkey_invalid"
    response = register(client, SoftAuthenticator(), name="x" * 101)
    assert error_code(response, 400) == "invalid_request" and "name" in response.json()["fields"]
    # The second step and the reauthentication alike.
    response = client.post("/api/auth/reauthenticate", json={"passkey": "x"})
    assert error_code(response, 400) == "invalid_request"
    response = client.post("/api/auth/reauthenticate", json={"passkey": good, "code": "123456"})
    assert error_code(response, 400) == "invalid_request"
    response = site.client().post("/api/auth/mfa/verify", json={"passkey": "x"})
    assert error_code(response, 400) == "invalid_request"
    response = browser.post("/api/auth/passkeys/login/options", json={"email": 5})
    assert error_code(response, 400) == "invalid_request" and "email" in response.json()["fields"]
    assert error_code(browser.post("/api/auth/passkeys/login/options", json={"email": ""}), 400) == "invalid_request"


def test_a_credential_is_registered_once(site):
    client, _, _ = new_account(site, "twice")
    authenticator = SoftAuthenticator()
    registered(client, authenticator)
    # The same one again (a browser would have excluded it; this client does not ask).
    options = registration_options(client)
    options["excludeCredentials"] = []
    response = client.post("/api/auth/passkeys/register", json={"credential": authenticator.create(options)})
    assert error_code(response, 400) == "passkey_invalid" and "already registered" in response.json()["error"]
    # Nor by another account, with a key of its own under the same id: the passkey would be taken over.
    thief, _, _ = new_account(site, "thief")
    copy = SoftAuthenticator(credential_id=authenticator.credential_id)
    response = register(thief, copy)
    assert error_code(response, 400) == "passkey_invalid"
    assert ok(thief.get("/api/auth/passkeys"))["passkeys"] == []
    [passkey] = ok(client.get("/api/auth/passkeys"))["passkeys"]
    assert ok(sign_in(site, authenticator)[1])["user"]["email"] == ok(client.me())["user"]["email"]
    # Once removed (here by the factors' own route), the credential may be registered again.
    assert ok(client.delete(f"/api/auth/mfa/{passkey['id']}")) == {"success": True}
    assert ok(client.get("/api/auth/passkeys"))["passkeys"] == []
    assert error_code(sign_in(site, authenticator)[1], 401) == "invalid_credentials"
    assert registered(client, authenticator)["passkey"]["id"] != passkey["id"]
    assert ok(sign_in(site, authenticator)[1])


def test_sign_in_options_for_an_address_do_not_tell_whether_the_account_exists(site, owner):
    _, address, authenticator = owner
    browser = site.client()
    _, no_passkey, _ = new_account(site, "nopk")
    client, no_transports, _ = new_account(site, "notransports")
    registered(client, SoftAuthenticator(transports=[]))
    answers = {email: sign_in_options(browser, email)
               for email in (address, no_passkey, no_transports, unique_email("nobody"), address.upper())}
    # The same members, the same empty list, fresh challenges: nothing tells a known address from an unknown one.
    assert {tuple(sorted(options)) for options in answers.values()} == {
        ("allowCredentials", "challenge", "rpId", "timeout", "userVerification")}
    assert all(options["allowCredentials"] == [] for options in answers.values())
    assert len({options["challenge"] for options in answers.values()}) == len(answers)
    # A challenge for an unknown address answers nothing, not even a real passkey; one for the owner's address
    # answers the owner's passkey only.
    unknown = unique_email("nobody")
    _, response = sign_in(site, authenticator, unknown, check_allowed=False)
    assert error_code(response, 401) == "invalid_credentials"
    stranger_client, _, _ = new_account(site, "stranger")
    stranger = SoftAuthenticator()
    registered(stranger_client, stranger)
    _, response = sign_in(site, stranger, address, check_allowed=False)
    assert error_code(response, 401) == "invalid_credentials"
    assert ok(sign_in(site, authenticator, address)[1])


def test_cross_site_posts_with_the_session_cookie_are_refused(site, owner):
    client, _, authenticator = owner
    passkey_id = ok(client.get("/api/auth/passkeys"))["passkeys"][0]["id"]
    attempts = {
        "register options": client.post("/api/auth/passkeys/register/options", headers=CROSS_SITE),
        "register": client.post("/api/auth/passkeys/register", json={"credential": {"type": "public-key"}},
                                headers=CROSS_SITE),
        "reauthenticate options": client.post("/api/auth/passkeys/reauthenticate/options", headers=CROSS_SITE),
        "reauthenticate": client.post("/api/auth/reauthenticate", json={"passkey": {"type": "public-key"}},
                                      headers=CROSS_SITE),
        "rename": client.request("PATCH", f"/api/auth/passkeys/{passkey_id}", json={"name": "evil"},
                                 headers=CROSS_SITE),
        "remove": client.delete(f"/api/auth/passkeys/{passkey_id}", headers=CROSS_SITE),
        "sign in": client.post("/api/auth/passkeys/login", json={"credential": authenticator.get(
            sign_in_options(site.client()))}, headers=CROSS_SITE),
    }
    assert {name: error_code(r, 403) for name, r in attempts.items()} == dict.fromkeys(attempts, "cross_site_request")
    assert ok(client.get("/api/auth/passkeys"))["passkeys"][0]["name"] == "owner key"
    # The second step of a sign-in: always checked (it signs the browser in).
    _, address, _ = owner
    browser = site.client()
    assert ok(browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}))["mfaRequired"]
    options = ok(browser.post("/api/auth/mfa/passkey/options"))
    refused = browser.post("/api/auth/mfa/verify", json={"passkey": authenticator.get(options)}, headers=CROSS_SITE)
    assert error_code(refused, 403) == "cross_site_request"


def test_a_cross_site_passwordless_sign_in_is_refused_like_login(site, owner):
    _, _, authenticator = owner
    victim = site.client()  # no cookies
    assertion = authenticator.get(sign_in_options(site.client()))
    response = victim.post("/api/auth/passkeys/login", json={"credential": assertion}, headers=CROSS_SITE)
    assert error_code(response, 403) == "cross_site_request"
    assert set_cookie_headers(response) == []


def test_a_site_without_passkeys_answers_503_and_keeps_their_factors_unskipped(site, start_site, rundir):
    off = start_site("passkeys-off", {**LENIENT, **mfa_key_env(rundir), **NO_PASSKEYS})
    # An account with a passkey made on the site that has them (the same database).
    client, address, _ = new_account(site, "off")
    authenticator = SoftAuthenticator()
    codes = registered(client, authenticator)["recoveryCodes"]

    # Its passkey cannot be checked here, and is not skipped: the second step takes a recovery code only.
    browser = off.client()
    first = browser.post("/api/auth/login", json={"email": address, "password": PASSWORD})
    assert ok(first) == {"mfaRequired": True, "factors": ["recovery_code"]} and browser.access_token is None
    assert error_code(browser.post("/api/auth/mfa/passkey/options"), 503) == "passkeys_unavailable"
    assert ok(browser.post("/api/auth/mfa/verify", json={"recoveryCode": codes[0]}))["user"]["email"] == address

    anonymous = off.client()
    answers = {
        "register options": browser.post("/api/auth/passkeys/register/options"),
        "register": browser.post("/api/auth/passkeys/register", json={"credential": {"type": "public-key"}}),
        "reauthenticate options": browser.post("/api/auth/passkeys/reauthenticate/options"),
        "sign-in options": anonymous.post("/api/auth/passkeys/login/options", json={}),
        "sign-in options with an address": anonymous.post("/api/auth/passkeys/login/options", json={"email": address}),
        "sign in": anonymous.post("/api/auth/passkeys/login", json={"credential": {"type": "public-key"}}),
    }
    assert {name: error_code(r, 503) for name, r in answers.items()} == dict.fromkeys(answers, "passkeys_unavailable")
    listed = ok(browser.get("/api/auth/passkeys"))
    assert listed["available"] is False and [p["id"] for p in listed["passkeys"]] == [
        p["id"] for p in ok(client.get("/api/auth/passkeys"))["passkeys"]]
    assert error_code(anonymous.post("/api/auth/mfa/passkey/options"), 401) == "invalid_code"


def test_user_verification_required(start_site, rundir):
    strict = start_site("passkeys-uv", {**LENIENT, **mfa_key_env(rundir), **PASSKEYS,
                                        "JWT_PASSKEYS_USER_VERIFICATION": "required"})
    client, _, _ = new_account(strict, "uv")
    options = registration_options(client)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    response = register(client, SoftAuthenticator(user_verifying=False))
    assert error_code(response, 400) == "passkey_invalid" and "UV" in response.json()["error"]
    authenticator = SoftAuthenticator()
    registered(client, authenticator)
    assert sign_in_options(strict.client())["userVerification"] == "required"
    assert error_code(sign_in(strict, authenticator, uv=False)[1], 401) == "invalid_credentials"
    assert jwt_payload(ok_client(sign_in(strict, authenticator)).access_token)["amr"] == ["hwk", "mfa"]


def ok_client(pair):
    client, response = pair
    ok(response)
    return client


def test_failed_passwordless_sign_ins_count_against_the_client_address(start_site, rundir):
    proxied = start_site("passkeys-proxied", {**CHEAP_HASHING, **mfa_key_env(rundir), **PASSKEYS,
                                              "JWT_TRUSTED_PROXIES": "127.0.0.1", "JWT_THROTTLE_LOGIN_PER_IP": "3",
                                              "JWT_THROTTLE_REGISTER_PER_IP": "100000"})
    client, _, _ = new_account(proxied, "throttle")
    authenticator = SoftAuthenticator()
    registered(client, authenticator)
    attacker = {"X-Forwarded-For": "203.0.113.50"}
    for _ in range(3):
        assert error_code(sign_in(proxied, authenticator, headers=attacker, tamper_signature=True)[1],
                          401) == "invalid_credentials"
    limited = sign_in(proxied, authenticator, headers=attacker)[1]
    assert error_code(limited, 429) == "throttled" and int(limited.headers["Retry-After"]) > 0
    assert limited.json()["retryAfter"] == int(limited.headers["Retry-After"]) and set_cookie_headers(limited) == []
    # The limit is the address's: another one signs in, as often as it likes (a success gives its count back).
    for _ in range(4):
        assert ok(sign_in(proxied, authenticator, headers={"X-Forwarded-For": "203.0.113.51"})[1])


# --- interop: python-fido2 0.9.1 as an independent relying party and client ------------------------------------


def independent_relying_party():
    """python-fido2's Fido2Server for the same rp id; its default origin check wants https, so it is told ours."""
    from fido2.server import Fido2Server
    from fido2.webauthn import PublicKeyCredentialRpEntity
    return Fido2Server(PublicKeyCredentialRpEntity(RP_ID, "Passkey E2E"), verify_origin=lambda origin: origin == ORIGIN)


def test_an_independent_relying_party_accepts_what_is_made_against_our_options(site):
    """Our options, read by python-fido2's typed WebAuthn dictionaries and fed to its Fido2Server with the same
    challenge; the authenticator's answers verify there and here alike, and what one refuses the other refuses."""
    from fido2.client import ClientData
    from fido2.cose import CoseKey
    from fido2.ctap2 import AttestationObject, AuthenticatorData
    from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions

    server = independent_relying_party()
    client, address, _ = new_account(site, "interop")
    options = registration_options(client)
    # residentKey is WebAuthn Level 2, which python-fido2 0.9.1 (Level 1) does not know: the rest is read strictly.
    selection = dict(options["authenticatorSelection"])
    assert selection.pop("residentKey") == "preferred"
    typed = PublicKeyCredentialCreationOptions._wrap({
        **options, "challenge": unb64u(options["challenge"]), "authenticatorSelection": selection,
        "user": {**options["user"], "id": unb64u(options["user"]["id"])}})
    assert typed.rp.id_hash == sha256(RP_ID.encode())
    assert {p.alg for p in typed.pub_key_cred_params} <= set(CoseKey.supported_algorithms())
    begun, state = server.register_begin(typed.user, challenge=typed.challenge,
                                         user_verification=typed.authenticator_selection.user_verification)
    theirs = begun["publicKey"]
    assert (theirs.rp, theirs.user, theirs.challenge) == (typed.rp, typed.user, typed.challenge)

    authenticator = SoftAuthenticator()
    credential = authenticator.create(options)
    client_data = ClientData(unb64u(credential["response"]["clientDataJSON"]))
    attestation = AttestationObject(unb64u(credential["response"]["attestationObject"]))
    attested = server.register_complete(state, client_data, attestation).credential_data
    assert attested.credential_id == authenticator.credential_id and attested.public_key == authenticator.cose_key()
    ok(client.post("/api/auth/passkeys/register", json={"credential": credential}), 201)

    def both_verify(options, send, **bend):
        """The authenticator answers ``options``; Fido2Server and ``send`` (our service) judge the answer."""
        typed = PublicKeyCredentialRequestOptions._wrap({**options, "challenge": unb64u(options["challenge"])})
        assert typed.rp_id == RP_ID and typed.user_verification == "preferred"
        _, state = server.authenticate_begin([attested] if typed.allow_credentials else None,
                                             user_verification=typed.user_verification, challenge=typed.challenge)
        assertion = authenticator.get(options, **bend)
        try:
            server.authenticate_complete(
                state, [attested], unb64u(assertion["rawId"]),
                ClientData(unb64u(assertion["response"]["clientDataJSON"])),
                AuthenticatorData(unb64u(assertion["response"]["authenticatorData"])),
                unb64u(assertion["response"]["signature"]))
            theirs = True
        except ValueError:
            theirs = False
        return theirs, send(assertion)

    def passwordless(email=None):
        def send(assertion):
            return site.client().post("/api/auth/passkeys/login", json={"credential": assertion}).status_code
        return sign_in_options(site.client(), email), send

    assert both_verify(*passwordless()) == (True, 200)
    assert both_verify(*passwordless(address)) == (True, 200)
    for bend in ({"origin": "https://evil.example"}, {"rp_id": "evil.localhost"}, {"tamper_signature": True},
                 {"up": False}, {"kind": "webauthn.create"}):
        assert both_verify(*passwordless(), **bend) == (False, 401), bend

    browser = site.client()
    assert ok(browser.post("/api/auth/login", json={"email": address, "password": PASSWORD}))["mfaRequired"]
    assert both_verify(ok(browser.post("/api/auth/mfa/passkey/options")),
                       lambda a: browser.post("/api/auth/mfa/verify", json={"passkey": a}).status_code) == (True, 200)
    assert both_verify(ok(client.post("/api/auth/passkeys/reauthenticate/options")),
                       lambda a: client.post("/api/auth/reauthenticate",
                                             json={"passkey": a}).status_code) == (True, 200)


FIDO2_KEYS = {
    # name: (make a private key, sign)
    "ES256": (lambda: ec.generate_private_key(ec.SECP256R1()),
              lambda key, data: key.sign(data, ec.ECDSA(hashes.SHA256()))),
    "EdDSA": (ed25519.Ed25519PrivateKey.generate, lambda key, data: key.sign(data)),
    "RS256": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
              lambda key, data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())),
}


@pytest.mark.parametrize("algorithm", FIDO2_KEYS)
def test_ceremonies_built_with_python_fido2_are_accepted(site, algorithm):
    """A registration (packed self attestation) and assertions put together with python-fido2's own data classes:
    ClientData.build (its JSON, spaces and a clientExtensions member included), AttestedCredentialData.create,
    AuthenticatorData.create, AttestationObject.create (CTAP2's integer keys, turned into WebAuthn's string keys as a
    browser does), and its COSE key classes."""
    from fido2 import cose
    from fido2.client import ClientData
    from fido2.ctap2 import AttestationObject, AttestedCredentialData, AuthenticatorData

    make_key, sign = FIDO2_KEYS[algorithm]
    key = make_key()
    public_key = getattr(cose, algorithm).from_cryptography_key(key.public_key())
    client, address, _ = new_account(site, f"fido2-{algorithm.lower()}")
    options = registration_options(client)
    handle = options["user"]["id"]
    credential_id = os.urandom(16)
    aaguid = bytes.fromhex("adce000235bcc60a648b0b25f1f05503")
    client_data = ClientData.build(type="webauthn.create", origin=ORIGIN, challenge=options["challenge"],
                                   clientExtensions={})
    auth_data = AuthenticatorData.create(sha256(RP_ID.encode()), 0x45, 0,
                                         AttestedCredentialData.create(aaguid, credential_id, public_key))
    attestation = AttestationObject.create("packed", auth_data, {"alg": public_key.ALGORITHM,
                                                                 "sig": sign(key, auth_data + client_data.hash)})
    credential = {"id": b64u(credential_id), "rawId": b64u(credential_id), "type": "public-key",
                  "response": {"clientDataJSON": client_data.b64,
                               "attestationObject": b64u(attestation.with_string_keys())},
                  "clientExtensionResults": {}}
    # Independent check first: the same bytes, as Fido2Server sees them.
    _, state = independent_relying_party().register_begin(
        {"id": unb64u(options["user"]["id"]), "name": address}, challenge=unb64u(options["challenge"]))
    independent_relying_party().register_complete(state, client_data, attestation.with_string_keys())
    passkey = ok(client.post("/api/auth/passkeys/register", json={"credential": credential}), 201)["passkey"]
    assert (passkey["algorithm"], passkey["aaguid"]) == (public_key.ALGORITHM, "adce0002-35bc-c60a-648b-0b25f1f05503")
    assert passkey["transports"] == [] and passkey["userVerified"] is True

    for counter, email in ((1, None), (2, address)):
        options = sign_in_options(site.client(), email)
        client_data = ClientData.build(type="webauthn.get", origin=ORIGIN, challenge=options["challenge"],
                                       clientExtensions={})
        auth_data = AuthenticatorData.create(sha256(RP_ID.encode()), 0x05, counter)
        assertion = {"id": b64u(credential_id), "rawId": b64u(credential_id), "type": "public-key",
                     "response": {"clientDataJSON": client_data.b64, "authenticatorData": b64u(auth_data),
                                  "signature": b64u(sign(key, auth_data + client_data.hash)),
                                  "userHandle": handle},
                     "clientExtensionResults": {}}
        browser = site.client()
        assert ok(browser.post("/api/auth/passkeys/login", json={"credential": assertion}))["user"]["email"] == address
        assert jwt_payload(browser.access_token)["amr"] == ["hwk", "mfa"]


def test_passkeys_without_second_factor_keys(start_site, rundir):
    """A site with passkeys but no `mfa.encryption_keys`: a passkey is still a second factor, with no recovery codes
    (they need the keys), and the second step offers the passkey alone."""
    keyless = start_site("passkeys-keyless", {**LENIENT, **PASSKEYS, "JWT_MFA_ENCRYPTION_KEYS": None})
    client, address, _ = new_account(keyless, "keyless")
    authenticator = SoftAuthenticator()
    body = registered(client, authenticator)
    assert "recoveryCodes" not in body and jwt_payload(client.access_token)["amr"] == ["pwd", "hwk"]
    browser = keyless.client()
    assert ok(browser.post("/api/auth/login", json={"email": address, "password": PASSWORD})) == {
        "mfaRequired": True, "factors": ["passkey"]}
    options = ok(browser.post("/api/auth/mfa/passkey/options"))
    assert ok(browser.post("/api/auth/mfa/verify", json={"passkey": authenticator.get(options)}))
    assert gate(browser) == ("2", "pwd hwk mfa")
