"""HTTP-level helpers for the end-to-end tests of the auth routes and the nginx gate.

- :class:`Site`: a jwt-authd worker plus the development nginx in front of it
  (``nginx/dev/nginx.conf.template``: the service's locations, the gated demo
  locations and the demo app, which answers these clients with a JSON echo
  of the X-Auth-* headers and browsers with the pages of ``demo/``), started
  with environment overrides.
- :class:`CookieJar`: cookies kept by name and Path, sent the way a browser
  sends them (only to paths under the cookie's Path). The service marks its
  cookies ``Secure``, which ``requests`` would never send over
  http://127.0.0.1, so the jar ignores ``Secure`` on purpose.
- :class:`Client`: a browser-like client (a jar, redirects followed by hand)
  for one site.
- :func:`assert_same_site`: what an open-redirect check wants of a Location.

Standard library plus ``requests``.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import struct
import time
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

import harness

# Cheap password hashing for tests (the README's passwords.* keys).
CHEAP_HASHING = {"JWT_ARGON2_MEMORY_KIB": "64", "JWT_ARGON2_ITERATIONS": "1"}


def mfa_key_env(rundir, key_id="e2e"):
    """The environment entry of a second-factor key (32 random bytes in base64, private to the service), written
    into ``rundir`` once."""
    path = rundir / f"mfa-{key_id}.key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        path.chmod(0o600)
    return {"JWT_MFA_ENCRYPTION_KEYS": f"{key_id}:{path}"}


def totp(secret, at=None, digits=6, period=30):
    """RFC 6238 with SHA-1, written here from the RFC (independent of the service's implementation)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // period)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return str((int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF) % 10 ** digits).zfill(digits)


class Authenticator:
    """A user's authenticator app: hands out codes of steps not used yet (the service accepts each step once, from
    one step behind to one ahead), waiting for the next step only when all three are spent."""

    def __init__(self, secret, period=30):
        self.secret = secret
        self.period = period
        self.last_step = None

    def code(self):
        while True:
            now = int(time.time() // self.period)
            for step in (now - 1, now, now + 1):
                if self.last_step is None or step > self.last_step:
                    # A step about to fall out of the window is skipped (the request takes a moment).
                    if step == now - 1 and time.time() % self.period > self.period - 3:
                        continue
                    self.last_step = step
                    return totp(self.secret, at=step * self.period + 1, period=self.period)
            time.sleep(max(0.05, (now + 1) * self.period - time.time()))

PASSWORD = "correct horse battery staple"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JWT_RE = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
# ISO 8601 UTC with fractional seconds, e.g. 2026-11-29T05:33:49.123Z
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$")

ACCESS_CLEARED = "access_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
REFRESH_CLEARED = "refresh_token=; Path=/api/auth; Max-Age=0; HttpOnly; SameSite=Lax; Secure"


def access_cookie_re(max_age=900, secure=True):
    return re.compile(rf"^access_token=({JWT_RE}); Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
                      + ("; Secure" if secure else "") + "$")


def refresh_cookie_re(max_age=604800, secure=True):
    """``max_age`` None matches any Max-Age (group 2)."""
    age = r"(\d+)" if max_age is None else f"({max_age})"
    return re.compile(rf"^refresh_token=({JWT_RE}); Path=/api/auth; Max-Age={age}; HttpOnly; SameSite=Lax"
                      + ("; Secure" if secure else "") + "$")


DEVICE_ENTRY_RE = r"[A-Za-z0-9_-]{96}"


def device_cookie_re(max_age=365 * 86400, secure=True):
    """The device cookie (#15 item 3): one to five entries of 72 bytes in base64url, joined by dots (group 1)."""
    return re.compile(rf"^auth_device=({DEVICE_ENTRY_RE}(?:\.{DEVICE_ENTRY_RE}){{0,4}}); Path=/api/auth; "
                      rf"Max-Age={max_age}; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "") + "$")


def unique_email(prefix="user"):
    return f"{prefix}-{secrets.token_hex(5)}@example.com"


def set_cookie_headers(response):
    """Every Set-Cookie header of a ``requests`` response, raw and in order."""
    return list(response.raw.headers.getlist("Set-Cookie"))


def jwt_payload(token):
    """The claims of a JWT, NOT verified (for reading jti/sid/exp in tests)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def jwt_header(token):
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def path_matches(request_path, cookie_path):
    """RFC 6265 section 5.1.4 path-match."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


class CookieJar:
    """Cookies by (name, path). ``Max-Age=0`` (or a past Expires) deletes. Domain is ignored: one host."""

    def __init__(self):
        self.cookies = {}

    def update(self, response):
        for header in set_cookie_headers(response):
            self.store(header)

    def store(self, header):
        pair, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = pair.partition("=")
        path, max_age = "/", None
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            if key.lower() == "path":
                path = val
            elif key.lower() == "max-age":
                max_age = int(val)
        if max_age is not None and max_age <= 0:
            self.cookies.pop((name, path), None)
        else:
            self.cookies[(name, path)] = value

    def get(self, name, path=None):
        for (cookie_name, cookie_path), value in self.cookies.items():
            if cookie_name == name and (path is None or path == cookie_path):
                return value
        return None

    def set(self, name, value, path="/"):
        self.cookies[(name, path)] = value

    def delete(self, name):
        for key in [key for key in self.cookies if key[0] == name]:
            del self.cookies[key]

    def header(self, request_path):
        """The Cookie header a browser would send to ``request_path`` (longest Path first), or None."""
        matching = [(path, name, value) for (name, path), value in self.cookies.items()
                    if path_matches(request_path, path)]
        matching.sort(key=lambda item: -len(item[0]))
        return "; ".join(f"{name}={value}" for _, name, value in matching) or None

    def clear(self):
        self.cookies.clear()


def passkeys_env(origin, rp_id="localhost"):
    """The environment of a relying party ``rp_id`` whose pages are at ``origin`` (#18: WebAuthn refuses IP
    addresses, so a browser test uses http://localhost:PORT; explicit ``env`` entries of a site win)."""
    return {"JWT_PASSKEYS_RP_ID": rp_id, "JWT_PASSKEYS_ORIGINS": origin}


class BehindNginx:
    """What a :class:`Client` needs of a site: its nginx (``self.nginx``) reached at ``self.hostname``."""

    @property
    def port(self):
        return self.nginx.port

    @property
    def origin(self):
        return f"http://{self.hostname}:{self.port}"

    @property
    def host(self):
        return f"{self.hostname}:{self.port}"

    def url(self, path):
        return self.origin + path

    def client(self, **kwargs):
        return Client(self, **kwargs)


class Site(BehindNginx):
    """A worker and the development nginx in front of it; ``env`` overrides the module's service environment
    (a value of None removes the variable).

    ``passkeys=True``: a site a browser can use passkeys on. Its base URL is ``http://localhost:PORT`` (nginx
    still listens on 127.0.0.1 only, which ``localhost`` reaches) and the service gets the relying party id
    ``localhost`` with that origin (:func:`passkeys_env`), unless ``env`` sets those variables itself."""

    def __init__(self, binary, base_env, rundir, name, env=None, threads=8, keepalive=2, gate_cache=False,
                 passkeys=False):
        self.requested_env = {**base_env, **(env or {})}
        self.env = {key: value for key, value in self.requested_env.items() if value is not None}
        self.binary = binary
        self.rundir = rundir
        self.name = name
        self.threads = threads
        self.keepalive = keepalive
        self.gate_cache = gate_cache
        self.passkeys = passkeys
        self.hostname = "localhost" if passkeys else "127.0.0.1"
        self.worker = None
        self.nginx = None

    def start(self):
        port = harness.free_port()
        if self.passkeys:
            # The origin is known only with the port: the relying party's variables are set now.
            merged = {**passkeys_env(f"http://{self.hostname}:{port}"), **self.requested_env}
            self.env = {key: value for key, value in merged.items() if value is not None}
        self.worker = harness.Worker(self.binary, self.env, f"unix:{self.rundir}/{self.name}.sock", self.threads,
                                     self.rundir).start()
        try:
            self.nginx = harness.Nginx(harness.REPO, self.rundir / f"nginx-{self.name}", port,
                                       self.worker.address, keepalive=self.keepalive,
                                       gate_cache=self.gate_cache).start()
        except BaseException:
            self.worker.kill()
            raise
        return self

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop()
        if self.worker is not None:
            self.worker.kill()


class Client:
    """A browser-like client: cookies by Path, no automatic redirects, a fixed User-Agent."""

    def __init__(self, site, user_agent=None, headers=None):
        self.site = site
        self.jar = CookieJar()
        self.http = requests.Session()
        # Cookies are ours to manage (requests' jar would drop the Secure ones over http).
        self.http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.headers = {"User-Agent": user_agent or f"authsite-test/{secrets.token_hex(3)}"}
        self.headers.update(headers or {})

    def request(self, method, path, *, cookies=True, headers=None, timeout=10, **kwargs):
        """``path`` is site-relative (may hold a query). The jar's matching cookies are sent unless
        ``cookies=False``; Set-Cookie answers update the jar."""
        request_headers = dict(self.headers)
        if cookies:
            cookie_header = self.jar.header(urlsplit(path).path)
            if cookie_header:
                request_headers["Cookie"] = cookie_header
        request_headers.update(headers or {})
        response = self.http.request(method, self.site.url(path), headers=request_headers, allow_redirects=False,
                                     timeout=timeout, **kwargs)
        self.jar.update(response)
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def follow(self, response, limit=6, **kwargs):
        """Follow redirects by hand (GET, cookies per Path); returns every response, ``response`` first."""
        chain = [response]
        while chain[-1].status_code in (301, 302, 303, 307, 308):
            if len(chain) > limit:
                raise AssertionError(f"redirect loop: {[r.headers.get('Location') for r in chain]}")
            location = chain[-1].headers["Location"]
            assert_same_site(self.site, location)
            chain.append(self.get(relative(self.site, location), **kwargs))
        return chain

    # --- account shortcuts ---

    def register(self, email=None, password=PASSWORD, name=None, expect=201, **kwargs):
        body = {"email": email or unique_email(), "password": password}
        if name is not None:
            body["name"] = name
        response = self.post("/api/auth/register", json=body, **kwargs)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json().get("user") if expect == 201 else response

    def login(self, email, password=PASSWORD, expect=200, **kwargs):
        response = self.post("/api/auth/login", json={"email": email, "password": password}, **kwargs)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json().get("user") if expect == 200 else response

    def enrol_totp(self, name=None):
        """Adds a TOTP factor (the session must be recent): returns (Authenticator, recovery codes)."""
        response = self.post("/api/auth/mfa/totp", json={} if name is None else {"name": name})
        assert response.status_code == 200, (response.status_code, response.text)
        uri = response.json()["otpauthUri"]
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        app = Authenticator(secret)
        confirmed = self.post("/api/auth/mfa/totp/confirm", json={"code": app.code()})
        assert confirmed.status_code == 200, (confirmed.status_code, confirmed.text)
        return app, confirmed.json()["recoveryCodes"]

    def login_with_code(self, email, app, password=PASSWORD):
        """Login, then its second step with the app's next code; returns the user."""
        first = self.post("/api/auth/login", json={"email": email, "password": password})
        assert first.status_code == 200 and first.json().get("mfaRequired") is True, (first.status_code, first.text)
        second = self.post("/api/auth/mfa/verify", json={"code": app.code()})
        assert second.status_code == 200, (second.status_code, second.text)
        return second.json()["user"]

    @property
    def access_token(self):
        return self.jar.get("access_token")

    @property
    def refresh_token(self):
        return self.jar.get("refresh_token")

    def me(self, **kwargs):
        return self.get("/api/auth/me", **kwargs)


def relative(site, location):
    """A same-site Location as a site-relative path (with query)."""
    parts = urlsplit(urljoin(site.origin + "/", location))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def assert_same_site(site, location):
    """``location`` can only take a browser to this site: a relative path (or this origin), no scheme-relative
    //host, no backslash tricks, no control characters (browsers drop tabs and newlines from URLs)."""
    assert location is not None
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in location), f"control character in {location!r}"
    if location.startswith(site.origin):
        location = location[len(site.origin):] or "/"
    assert location.startswith("/"), f"not a path: {location!r}"
    # What a browser would make of it: backslashes are slashes in special URLs.
    browserish = location.replace("\\", "/")
    assert not browserish.startswith("//"), f"scheme-relative: {location!r}"
    resolved = urlsplit(urljoin(site.origin + "/", browserish))
    assert (resolved.scheme, resolved.netloc) == ("http", site.host), f"{location!r} leaves the site: {resolved}"


def query_of(location):
    """The query parameters of a Location (single values)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}
