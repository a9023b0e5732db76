"""Contract test: docs/openapi.yaml against the live service, through nginx, with schemathesis.

schemathesis generates requests from the document (examples, boundary values, schema-invalid data, unexpected
methods) and checks every answer against it: status codes, strict response schemas, required headers, content types,
5xx, ignored authentication, 405 with Allow. Bounded: at most ``MAX_EXAMPLES`` generated cases per operation and
phase, and a hard timeout per run, well under two minutes for the module.

schemathesis is not a Debian package: it lives in a virtualenv, ``.local/contract-venv`` (``scripts/test`` creates
it; see ``Tests/e2e/requirements-contract.txt``), or wherever ``JWT_AUTHD_SCHEMATHESIS`` points (its ``st``
program). Without it the tests skip, and with ``CI=true`` they fail.

The run is authenticated with a registered user's Bearer token; logout and logout-all, and the revocation of one
session (schemathesis finds the session's own id in the listing), which would end that session for every later
case, run separately with tokens of their own. The service signs access tokens with an EdDSA key here, so
/.well-known/jwks.json answers 200, and has a second-factor key, so the MFA routes answer as where second factors
are offered; its public URL (https://site.example) makes it a WebAuthn relying party (rp id site.example), so the
passkey routes answer as where passkeys are offered.

schemathesis cannot make a passkey (it would need an authenticator's signatures), so the answers of real passkey
ceremonies, driven by test_passkeys.py's software authenticator, are checked against the document apart: status
documented, required headers present, body valid (schemathesis's own response validation).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import authsite
import harness
from authsite import PASSWORD, set_cookie_headers
from conftest import require
from test_passkeys import SoftAuthenticator

pytestmark = pytest.mark.contract

SCHEMA = harness.REPO / "docs" / "openapi.yaml"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_EXAMPLES = int(os.environ.get("JWT_AUTHD_CONTRACT_EXAMPLES", "20"))
SEED = os.environ.get("JWT_AUTHD_CONTRACT_SEED", "20261129")


def find_schemathesis():
    candidates = [os.environ.get("JWT_AUTHD_SCHEMATHESIS"),
                  str(harness.REPO / ".local" / "contract-venv" / "bin" / "st"),
                  shutil.which("st"), shutil.which("schemathesis")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def st():
    path = find_schemathesis()
    require(path is not None, "schemathesis is not installed (scripts/test creates .local/contract-venv; "
                              "or set JWT_AUTHD_SCHEMATHESIS to its st program)")
    return path


@pytest.fixture(scope="module")
def site(start_site, authd_bin, rundir):
    key = rundir / "contract-access.jwk"
    if not key.exists():
        subprocess.run([str(authd_bin), "keys", "generate", "--alg", "EdDSA", "--out", str(key)], check=True,
                       capture_output=True, timeout=30)
    return start_site("contract", env={
        **authsite.CHEAP_HASHING,
        "JWT_ACCESS_SECRET": None,
        "JWT_ACCESS_KEY_FILE": str(key),
        # Let generated registrations and logins through rather than spend the run on 429s.
        "JWT_THROTTLE_REGISTER_PER_IP": "100000",
        "JWT_THROTTLE_LOGIN_PER_IP": "100000",
        "JWT_THROTTLE_FORGOT_PER_IP": "100000",
        # Mail on (written to files), so that the reset routes answer as a site with mail does.
        "JWT_AUTHD_MAIL_TRANSPORT": "file",
        "JWT_AUTHD_MAIL_DIR": str(rundir / "contract-mail"),
        "JWT_AUTHD_PUBLIC_URL": "https://site.example",
        # A second-factor key, so that the MFA routes (#17) answer as on a site that offers them rather than 503.
        **authsite.mfa_key_env(rundir),
    })


def bearer_token(site):
    client = site.client()
    client.register()
    assert client.access_token
    return client.access_token


def run_schemathesis(st, site, rundir, name, token, extra, timeout):
    report_dir = rundir / f"schemathesis-{name}"
    command = [
        str(st), "--config-file", str(CONFIG), "--no-color", "run", str(SCHEMA),
        "--url", site.origin,
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", SEED,
        "--workers", "2",
        "--request-timeout", "5",
        "--generation-database", "none",
        "--generation-with-security-parameters", "false",
        "--header", f"Authorization: Bearer {token}",
        "--report", "junit", "--report-dir", str(report_dir),
        *extra,
    ]
    try:
        result = subprocess.run(command, cwd=rundir, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)})
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"schemathesis ({name}) did not finish within {timeout} s:\n{(error.stdout or '')[-6000:]}")
    output = result.stdout + result.stderr
    (rundir / f"schemathesis-{name}.log").write_text(output)
    assert result.returncode == 0, f"schemathesis ({name}) found problems (seed {SEED}):\n{output[-12000:]}"
    return output


def test_openapi_document_is_valid(st):
    """openapi-spec-validator, from the same virtualenv (or this interpreter)."""
    python = st.parent / "python"
    interpreter = str(python) if python.exists() else sys.executable
    result = subprocess.run([interpreter, "-m", "openapi_spec_validator", str(SCHEMA)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_live_service_conforms(st, site, rundir):
    output = run_schemathesis(st, site, rundir, "main", bearer_token(site),
                              ["--exclude-path", "/api/auth/logout", "--exclude-path", "/api/auth/logout-all",
                               "--exclude-path", "/api/auth/sessions/{id}"],
                              timeout=80)
    assert "No issues found" in output or " passed" in output, output[-3000:]


def test_logout_routes_conform(st, site, rundir):
    run_schemathesis(st, site, rundir, "logout", bearer_token(site),
                     ["--include-path", "/api/auth/logout", "--include-path", "/api/auth/logout-all"],
                     timeout=25)


def test_session_revocation_conforms(st, site, rundir):
    """The listing supplies the session's own id, so its revocation is reached (200) here and not in the main run."""
    run_schemathesis(st, site, rundir, "sessions", bearer_token(site),
                     ["--include-path", "/api/auth/sessions", "--include-path", "/api/auth/sessions/{id}"],
                     timeout=25)


# Checks recorded answers against the document, in schemathesis's virtualenv: argv[1] the document, argv[2] the
# answers (JSON: method, path template, url, status, headers as [name, value] pairs, body).
VALIDATE_ANSWERS = r"""
import json, sys
import requests, schemathesis, yaml
from schemathesis import Response

document = yaml.safe_load(open(sys.argv[1]))
schema = schemathesis.openapi.from_path(sys.argv[1])


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


problems = []
for answer in json.load(open(sys.argv[2])):
    where = f"{answer['method']} {answer['path']} {answer['status']}"
    documented = document["paths"][answer["path"]][answer["method"].lower()]["responses"]
    if str(answer["status"]) not in documented:
        problems.append(f"{where}: status not documented")
        continue
    names = {name.lower() for name, _ in answer["headers"]}
    for name, header in (resolve(documented[str(answer["status"])]).get("headers") or {}).items():
        if resolve(header).get("required") and name.lower() not in names:
            problems.append(f"{where}: required header {name} missing")
    headers = {}
    for name, value in answer["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    response = Response(status_code=answer["status"], headers=headers, content=answer["body"].encode(),
                        request=requests.Request(answer["method"], answer["url"]).prepare(), elapsed=0.0, verify=True)
    try:
        schema[answer["path"]][answer["method"]].validate_response(response)
    except Exception as error:
        problems.append(f"{where}: {error}")
print("\n".join(problems) or f"{len(json.load(open(sys.argv[2])))} answers conform")
sys.exit(1 if problems else 0)
"""


def test_passkey_ceremonies_conform(st, site, rundir):
    """Registration, the list, renaming, sign-in options and a passwordless sign-in, the second step of a password
    sign-in, reauthentication, refusals, removal: every answer of real ceremonies against the document."""
    origin = "https://site.example"  # the contract site's public URL (rp id site.example)
    answers = []

    def record(path, response):
        headers = [(name, value) for name, value in response.headers.items() if name.lower() != "set-cookie"]
        headers += [("Set-Cookie", value) for value in set_cookie_headers(response)]
        answers.append({"method": response.request.method, "path": path, "url": response.url,
                        "status": response.status_code, "headers": headers, "body": response.text})
        return response

    client = site.client()
    address = authsite.unique_email("contract-pk")
    client.register(email=address)
    authenticator = SoftAuthenticator()
    options = record("/api/auth/passkeys/register/options", client.post("/api/auth/passkeys/register/options")).json()
    credential = authenticator.create(options, origin=origin)
    registered = record("/api/auth/passkeys/register", client.post(
        "/api/auth/passkeys/register", json={"credential": credential, "name": "contract"}))
    assert registered.status_code == 201, registered.text
    passkey_id = registered.json()["passkey"]["id"]
    refused = SoftAuthenticator().create(client.post("/api/auth/passkeys/register/options").json(), origin=origin,
                                         rp_id="evil.example")
    record("/api/auth/passkeys/register", client.post("/api/auth/passkeys/register", json={"credential": refused}))
    record("/api/auth/passkeys", client.get("/api/auth/passkeys"))
    record("/api/auth/mfa", client.get("/api/auth/mfa"))
    record("/api/auth/passkeys/{id}", client.request("PATCH", f"/api/auth/passkeys/{passkey_id}", json={"name": "x"}))

    browser = site.client()
    for body in ({}, {"email": address}, {"email": authsite.unique_email("nobody")}):
        record("/api/auth/passkeys/login/options", browser.post("/api/auth/passkeys/login/options", json=body))
    assertion = authenticator.get(browser.post("/api/auth/passkeys/login/options", json={}).json(), origin=origin)
    signed_in = record("/api/auth/passkeys/login",
                       browser.post("/api/auth/passkeys/login", json={"credential": assertion}))
    assert signed_in.status_code == 200, signed_in.text
    record("/api/auth/passkeys/login", site.client().post("/api/auth/passkeys/login", json={"credential": assertion}))

    pending = site.client()
    record("/api/auth/login", pending.post("/api/auth/login", json={"email": address, "password": PASSWORD}))
    options = record("/api/auth/mfa/passkey/options", pending.post("/api/auth/mfa/passkey/options")).json()
    record("/api/auth/mfa/verify", pending.post("/api/auth/mfa/verify",
                                                json={"passkey": authenticator.get(options, origin=origin)}))
    options = record("/api/auth/passkeys/reauthenticate/options",
                     browser.post("/api/auth/passkeys/reauthenticate/options")).json()
    record("/api/auth/reauthenticate", browser.post("/api/auth/reauthenticate",
                                                    json={"passkey": authenticator.get(options, origin=origin)}))
    record("/api/auth/passkeys/{id}", browser.delete(f"/api/auth/passkeys/{passkey_id}"))
    assert [a["status"] for a in answers] == [200, 201, 400, 200, 200, 200, 200, 200, 200, 200, 401, 200, 200, 200,
                                              200, 200, 200], [(a["path"], a["status"], a["body"]) for a in answers]

    recorded = rundir / "passkey-answers.json"
    recorded.write_text(json.dumps(answers))
    python = st.parent / "python"
    result = subprocess.run([str(python), "-c", VALIDATE_ANSWERS, str(SCHEMA), str(recorded)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
