"""The demo site (demo/) and the browser client (clients/js/auth.js) in a real browser: headless Chromium driven by
Selenium, against the full stack (the development nginx config, a jwt-authd worker, MariaDB).

Two sites, both with the refresh grace window off (JWT_REFRESH_GRACE=0s: a refresh token presented twice revokes
its session, so only the client's single flight can keep two tabs signed in) and the request log on (refreshes
are counted from the service's ``http.route=/api/auth/refresh`` lines):

  site        access tokens of 15 minutes (the default), and a second-factor key (#17: TOTP enrolment, sign-in
              with a code, the step-up before /admin); the role "ops" requires a second factor
  short_site  access tokens of 3 s and no leeway (JWT_ACCESS_TTL=3s, JWT_LEEWAY=0s): expiry within a test. The
              demo takes the lifetime from localStorage["jwt-authd-demo.accessTtl"] (its default is 900 s).

and, for passkeys (#18), passkey_site at http://localhost:PORT (WebAuthn refuses IP addresses), the relying party
localhost, with a second-factor key; Chromium's virtual authenticator (DevTools' WebAuthn domain) plays the
device (browser.VirtualAuthenticator).

The service runs with JWT_AUTHD_ENV=test, so its cookies carry Secure: Chromium accepts Secure cookies from
http://127.0.0.1 (a potentially trustworthy origin), so nothing is relaxed for the browser.

On a failure, screenshots and page sources of every tab go to <run dir>/artifacts/<test>/ (printed in the report).
Needs Debian's chromium, chromium-driver, python3-selenium and python3-fido2; with CI=true their absence fails the
tier.
"""

import base64
import re
import time
from urllib.parse import quote

import pytest
import requests

from authsite import CHEAP_HASHING, PASSWORD, Authenticator, mfa_key_env, unique_email
from browser import Browsers, RequestLog, missing_requirements
from conftest import require

pytestmark = pytest.mark.browser

SHORT_TTL = 3
ENV = {
    **CHEAP_HASHING,
    "JWT_REFRESH_GRACE": "0s",
    "JWT_LEEWAY": "0s",
    "JWT_AUTHD_LOG_REQUESTS": "true",
    "JWT_THROTTLE_LOGIN_PER_ACCOUNT": "3",
    "JWT_THROTTLE_LOGIN_PER_IP": "100000",
    "JWT_THROTTLE_REGISTER_PER_IP": "100000",
}
REFRESH = "/api/auth/refresh"
RENEW = "/api/auth/renew"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.fixture(scope="module")
def chromium():
    missing = missing_requirements()
    require(not missing, f"the browser tier needs: {', '.join(missing)} (apt-get install chromium chromium-driver "
                         "python3-selenium python3-fido2)")


@pytest.fixture(scope="module")
def site(start_site, rundir):
    return start_site("web", {**ENV, **mfa_key_env(rundir), "JWT_MFA_REQUIRED_ROLES": "ops"})


@pytest.fixture(scope="module")
def short_site(start_site):
    return start_site("web-short", {**ENV, "JWT_ACCESS_TTL": f"{SHORT_TTL}s"})


@pytest.fixture
def browsers(chromium, rundir):
    opened = Browsers(rundir)
    yield opened
    opened.close()


# --- helpers -------------------------------------------------------------------------------------------------


def account(site, name=None):
    """A new user, registered over HTTP (whose session is then closed); returns its email."""
    email = unique_email("web")
    client = site.client()
    client.register(email=email, name=name)
    assert client.post("/api/auth/logout").status_code == 200
    return email


def submit_login(b, email, password=PASSWORD):
    """Fill and send the login form of the current page."""
    b.fill({"#email": email, "#password": password})
    b.find("#login-form button[type=submit]").click()


def sign_in(b, email, ttl=None):
    """Sign in through the login page (with JavaScript); returns once the dashboard shows the user."""
    b.get("/auth/login")
    if ttl is not None:
        b.script("localStorage.setItem('jwt-authd-demo.accessTtl', arguments[0])", str(ttl))
    submit_login(b, email)
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    return b.driver.current_window_handle


def form_settled(b):
    """The login/register form is idle again after a submit handled by JavaScript, with a message shown."""
    return b.script("const f = document.querySelector('form[data-auth-form]');"
                    "return !f.hasAttribute('aria-busy') && document.getElementById('form-error').textContent !== '';")


def api_call(b):
    """Press the dashboard's protected-API button; returns (status, body text)."""
    b.script("document.getElementById('api-result').removeAttribute('data-status')")
    b.find("#call-api").click()
    status = b.wait(lambda b: b.find("#api-result").get_attribute("data-status"), what="the API call")
    return int(status), b.text("#api-result")


def active_sessions(module_sql, email):
    out = module_sql("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                     f"WHERE u.email = '{email}' AND s.revoked_at IS NULL")
    return int(out.split()[-1])


def page_ready(b, timeout=10):
    """Wait until the page's script finished setting up (<html data-ready="true">: the MFA and security pages)."""
    b.wait(lambda b: b.script("return document.documentElement.dataset.ready === 'true'"), timeout, "the page's script")
    assert "error occurred while processing" not in b.driver.page_source  # nginx's SSI failed


def no_script_errors(*browsers):
    for b in browsers:
        errors = b.script_errors()
        assert errors == [], f"JavaScript errors in the console: {errors}"


# --- signing in ------------------------------------------------------------------------------------------------


def test_login_shows_the_user_and_sets_httponly_cookies(site, browsers):
    email = account(site, name="Grace Hopper")
    b = browsers.open(site)
    sign_in(b, email)
    assert b.text("#user-name") == "Grace Hopper"
    assert b.text("#user-role") == "user"
    # The page itself came through the gate: nginx passed the identity to the app (rendered by SSI).
    assert b.text("#gate-email") == email

    cookies = b.cookies()
    access, refresh = cookies["access_token"], cookies["refresh_token"]
    assert (access["path"], access["httpOnly"], access["sameSite"], access["secure"]) == ("/", True, "Lax", True)
    assert (refresh["path"], refresh["httpOnly"], refresh["sameSite"], refresh["secure"]) == \
        ("/api/auth", True, "Lax", True)
    assert 900 - 120 <= access["expires"] - time.time() <= 901  # Max-Age=900
    assert 7 * 86400 - 120 <= refresh["expires"] - time.time() <= 7 * 86400 + 1
    # HttpOnly: invisible to the page's scripts.
    assert b.document_cookie() == ""

    rows = b.find_all("#sessions-body tr")
    assert [row.get_attribute("data-current") for row in rows] == ["true"]
    assert "this device" in rows[0].text

    status, body = api_call(b)
    assert status == 200 and f'"email": "{email}"' in body and '"authMethod": "jwt"' in body
    no_script_errors(b)


def test_register_page_with_errors_and_markup_in_the_name(site, browsers):
    taken = account(site)
    b = browsers.open(site)
    b.get("/auth/register")
    b.fill({"#name": "Ada", "#email": taken, "#password": PASSWORD})
    b.find("#register-form button[type=submit]").click()
    b.wait(form_settled, what="the error message")
    assert b.text("#form-error") == "An account with this email address already exists."
    assert b.path == "/auth/register"

    email = unique_email("web")
    b.fill({"#name": "Ada <b>Lovelace</b> <img src=x onerror=window.pwned=1>", "#email": email})
    b.find("#register-form button[type=submit]").click()
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    # Shown as text, never as markup.
    assert b.text("#user-name") == "Ada <b>Lovelace</b> <img src=x onerror=window.pwned=1>"
    assert b.find_all("#user-name *") == [] and b.find_all("#greeting *") == []
    assert b.script("return window.pwned") is None
    no_script_errors(b)


def test_protected_page_sends_a_guest_to_login_and_back(site, browsers):
    email = account(site)
    b = browsers.open(site)
    b.get("/dashboard?tab=sessions")
    # nginx's gate -> /api/auth/renew (no session) -> the login page, remembering where the user was going.
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard%3Ftab%3Dsessions"))
    assert b.find("#callbackUrl").get_attribute("value") == "/dashboard?tab=sessions"
    submit_login(b, email)
    b.wait_path(re.escape("/dashboard?tab=sessions"))
    assert b.dashboard_ready() == email
    # Signed in, the guest-only pages send the user to the dashboard.
    b.get("/auth/login")
    b.wait_path("/dashboard")
    no_script_errors(b)


def test_login_errors_are_shown_and_nothing_from_the_url_becomes_markup(site, browsers):
    email = account(site)
    b = browsers.open(site)
    b.get("/auth/login")
    submit_login(b, email, "wrong password")
    b.wait(form_settled, what="the error message")
    error = b.find("#form-error")
    assert error.text == "Wrong email or password."
    assert error.is_displayed() and error.get_attribute("role") == "alert"
    assert b.path == "/auth/login" and b.find("#password").get_attribute("value") == ""

    # The account's failures reach the limit (3 here): then every attempt is refused with a retry time.
    for _ in range(5):
        if error.text.startswith("Too many attempts"):
            break
        submit_login(b, email, "wrong password")
        b.wait(form_settled, what="the error message")
    assert re.fullmatch(r"Too many attempts\. Try again in \d+ seconds\.", error.text), error.text
    submit_login(b, email, PASSWORD)
    b.wait(form_settled, what="the error message")
    assert error.text.startswith("Too many attempts"), "the right password is refused while throttled"

    # ?error= and ?callbackUrl= come from anyone's link: only fixed messages are shown, only a local path kept.
    hostile = quote("<img src=x onerror=window.pwned=1>", safe="")
    b.get(f"/auth/login?error={hostile}&callbackUrl={quote('https://evil.example/', safe='')}")
    assert b.text("#form-error") == "Something went wrong. Please try again."
    assert b.find_all("#form-error *") == []
    assert b.find("#callbackUrl").get_attribute("value") == "/dashboard"
    for target in ("//evil.example/x", "/\\evil.example", "/%2F%2Fevil.example", "javascript:alert(1)", "/ok\nx"):
        b.get(f"/auth/login?callbackUrl={quote(target, safe='')}")
        assert b.find("#callbackUrl").get_attribute("value") == "/dashboard", target
    assert b.script("return window.pwned") is None
    no_script_errors(b)


def test_forms_work_without_javascript(site, browsers):
    b = browsers.open(site, javascript=False)
    email = unique_email("nojs")
    b.get("/auth/register")
    b.fill({"#name": "No Script", "#email": email, "#password": PASSWORD})
    b.find("#register-form button[type=submit]").click()
    # Form post -> 303 to callbackUrl with the cookies; the page shows the identity nginx passed (SSI).
    b.wait_path("/dashboard")
    assert b.text("#gate-email") == email
    assert b.find("html").get_attribute("data-auth") is None  # no script ran
    assert not b.find("#user").is_displayed()
    assert {"access_token", "refresh_token"} <= set(b.cookies())

    # Sign out: a form post to logout answers 303 to the login page, with both cookies cleared.
    b.find("#logout").click()
    b.wait_path("/auth/login")
    assert not {"access_token", "refresh_token"} & set(b.cookies())

    b.get("/auth/register")
    b.fill({"#email": email, "#password": PASSWORD})
    b.find("#register-form button[type=submit]").click()
    b.wait_path(re.escape("/auth/register?error=email_taken&callbackUrl=%2Fdashboard"))
    assert b.text("#form-error") == "An account with this email address already exists."

    b.get("/dashboard")
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))
    submit_login(b, email, "wrong password")
    b.wait_path(re.escape("/auth/login?error=invalid_credentials&callbackUrl=%2Fdashboard"))
    assert b.text("#form-error") == "Wrong email or password."
    submit_login(b, email)
    b.wait_path("/dashboard")
    assert b.text("#gate-email") == email

    # The page copies callbackUrl from its query still encoded; the service decodes it once more and keeps it.
    b.find("#logout").click()
    b.wait_path("/auth/login")
    b.get("/dashboard?tab=sessions")
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard%3Ftab%3Dsessions"))
    submit_login(b, email)
    b.wait_path(re.escape("/dashboard?tab=sessions"))

    # Throttled: the message carries the retry time (the form's ?retryAfter=, checked to be a number).
    b.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    for _ in range(6):
        b.get("/auth/login")
        submit_login(b, email, "wrong password")
        b.wait_path(r"/auth/login\?error=.*")
        if "error=throttled" in b.path:
            break
    assert re.fullmatch(r"/auth/login\?error=throttled&callbackUrl=%2Fdashboard&retryAfter=\d+", b.path), b.path
    retry_after = b.path.rsplit("=", 1)[1]
    assert b.text("#form-error") == f"Too many attempts. Try again in {retry_after} seconds."


# --- renewal ---------------------------------------------------------------------------------------------------


def test_expired_access_token_is_renewed_without_a_login_prompt(short_site, browsers):
    log = RequestLog(short_site.worker.log_path)
    email = account(short_site)
    b = browsers.open(short_site)
    sign_in(b, email, ttl=SHORT_TTL)

    # Away from the site (no script of ours running) until the access token has expired.
    b.driver.get("about:blank")
    time.sleep(SHORT_TTL + 0.7)
    renewals = log.settled_count(RENEW)
    b.get("/dashboard")
    # The gate sent the browser through /api/auth/renew (refresh cookie) and straight back: no login page.
    assert b.dashboard_ready() == email
    assert b.path == "/dashboard"
    assert log.settled_count(RENEW) == renewals + 1

    # On the page: the automatic refresh off, the token expires; the API call gets 401, the client refreshes once
    # and retries.
    b.script("window.demoAuth.stop()")
    time.sleep(SHORT_TTL + 0.7)
    refreshes = log.settled_count(REFRESH)
    sent = b.script("return window.demoAuth.stats.refreshes")
    status, body = api_call(b)
    assert status == 200 and f'"email": "{email}"' in body
    assert log.settled_count(REFRESH) == refreshes + 1
    assert b.script("return window.demoAuth.stats.refreshes") == sent + 1
    no_script_errors(b)


def test_two_tabs_refreshing_at_the_same_moment_refresh_once(site, browsers, module_sql):
    """Grace window 0: had both tabs presented the refresh token, the second would be reuse and the session
    revoked. The Web Lock makes the second tab wait; it then finds the renewal done and skips its request."""
    log = RequestLog(site.worker.log_path)
    email = account(site)
    b = browsers.open(site)
    tabs = [sign_in(b, email), b.tab("/dashboard")]
    assert b.dashboard_ready() == email
    refreshes, renewals = log.settled_count(REFRESH), log.count(RENEW)

    # Both tabs, at one wall-clock instant, need tokens newer than that instant (as their automatic refresh,
    # scheduled from the same last renewal, does).
    at = int(time.time() * 1000) + 1500
    for tab in tabs:
        b.switch(tab)
        b.script("""
            window.refreshResult = null;
            setTimeout(() => window.demoAuth.refresh({since: arguments[0]}).then(
                ok => { window.refreshResult = {ok, stats: {...window.demoAuth.stats}}; },
                error => { window.refreshResult = {error: String(error)}; }), arguments[0] - Date.now());""", at)
    results = []
    for tab in tabs:
        b.switch(tab)
        results.append(b.wait(lambda b: b.script("return window.refreshResult"), what="the refresh"))
    assert [result.get("ok") for result in results] == [True, True], results
    assert sorted(result["stats"]["refreshes"] for result in results) == [0, 1], results
    assert sorted(result["stats"]["skipped"] for result in results) == [0, 1], results

    assert log.settled_count(REFRESH) == refreshes + 1
    assert log.count(RENEW) == renewals
    assert active_sessions(module_sql, email) == 1
    for tab in tabs:
        b.switch(tab)
        assert b.run_async("return (await window.demoAuth.me())?.email") == email
        b.driver.refresh()
        assert b.dashboard_ready() == email
    no_script_errors(b)


def test_two_tabs_stay_signed_in_across_expiry(short_site, browsers, module_sql):
    """Access tokens of 3 s: both tabs schedule the automatic refresh for the same instant (80 % of the lifetime
    after the last renewal, shared through localStorage); one refresh per period reaches the server."""
    log = RequestLog(short_site.worker.log_path)
    email = account(short_site)
    b = browsers.open(short_site)
    tabs = [sign_in(b, email, ttl=SHORT_TTL), b.tab("/dashboard")]
    assert b.dashboard_ready() == email
    refreshes = log.settled_count(REFRESH, quiet=0.2)
    failures = log.count(REFRESH, status=401)
    window = 6.0
    steps, last, started = [], refreshes, time.monotonic()  # (seconds into the window, refreshes logged since)
    while time.monotonic() - started < window:
        time.sleep(0.1)
        now = log.count(REFRESH)
        if now != last:
            steps.append((round(time.monotonic() - started, 2), now - last))
            last = now
    sent = log.settled_count(REFRESH, quiet=0.2) - refreshes
    # One refresh per period (80 % of 3 s), fewer when the machine is busy; the window's edges may each catch one.
    assert 1 <= sent <= int(window / (SHORT_TTL * 0.8)) + 2, (sent, steps)
    # Not one per tab: the tabs share one schedule, so the refreshes come a period apart, never two at once.
    gaps = [later[0] - earlier[0] for earlier, later in zip(steps, steps[1:])]
    assert all(count == 1 for _, count in steps) and all(gap >= 1.0 for gap in gaps), steps
    assert log.count(REFRESH, status=401) == failures
    assert active_sessions(module_sql, email) == 1
    for tab in tabs:
        b.switch(tab)
        assert b.script("return window.demoAuth.getState().status") == "signed-in"
        status, body = api_call(b)
        assert status == 200 and f'"email": "{email}"' in body
    no_script_errors(b)


def test_concurrent_refreshes_take_turns_under_the_lock(site, browsers, module_sql):
    """Three clients in one page refresh at once, each sending its request (force: no skipping). Under a lock
    (Web Locks, or the localStorage lease used where Web Locks are missing) they take turns, each presenting the
    newest refresh token, and the session lives. Without one (the control), they present the same token at once
    and, with no grace window, the service revokes the session: what the two-tab tests would catch if the single
    flight broke."""
    log = RequestLog(site.worker.log_path)
    email = account(site)
    b = browsers.open(site)
    sign_in(b, email)
    b.script("window.demoAuth.stop()")
    for lock, survives in (("locks", True), ("storage", True), ("none", False)):
        refreshes = log.settled_count(REFRESH)
        results = b.run_async("""
            const [lock] = args;
            const { createAuthClient } = await import('/assets/auth.js');
            const clients = [1, 2, 3].map(() => createAuthClient({ lock, namespace: `race-${lock}` }));
            const settled = await Promise.allSettled(clients.map(client => client.refresh({ force: true })));
            return settled.map(result => result.status === 'fulfilled' ? result.value : String(result.reason));
        """, lock)
        assert log.settled_count(REFRESH) == refreshes + 3, lock
        if survives:
            assert results == [True, True, True], (lock, results)
            assert active_sessions(module_sql, email) == 1, lock
            assert b.run_async("return (await window.demoAuth.me())?.email") == email, lock
        else:
            assert False in results, (lock, results)
            assert active_sessions(module_sql, email) == 0, lock
            assert "event=refresh_token_reuse" in log.text()


# --- signing out -----------------------------------------------------------------------------------------------


def test_logout_sends_every_tab_to_login_and_drops_the_refresh_cookie(site, browsers, module_sql):
    email = account(site)
    b = browsers.open(site)
    tabs = [sign_in(b, email), b.tab("/dashboard")]
    assert b.dashboard_ready() == email
    old_refresh = b.cookies()["refresh_token"]["value"]

    b.switch(tabs[0])
    b.find("#logout").click()
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))
    b.switch(tabs[1])  # told by the first tab (BroadcastChannel)
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))

    assert not {"access_token", "refresh_token"} & set(b.cookies())
    b.get("/dashboard")
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))
    assert active_sessions(module_sql, email) == 0
    # The old refresh token is dead at the service too.
    response = requests.post(site.url(REFRESH), json={"refreshToken": old_refresh}, timeout=10)
    assert response.status_code == 401, response.text
    no_script_errors(b)


def test_sign_out_another_device(site, browsers, module_sql):
    phone = site.client(user_agent=IPHONE)
    email = unique_email("web")
    phone.register(email=email)  # the phone's session
    b = browsers.open(site)
    sign_in(b, email)
    rows = b.find_all("#sessions-body tr")
    assert sorted(row.get_attribute("data-current") for row in rows) == ["false", "true"]
    other = next(row for row in rows if row.get_attribute("data-current") == "false")
    assert other.text.startswith("Safari on iOS")
    other.find_element("css selector", "button").click()
    b.wait(lambda b: len(b.find_all("#sessions-body tr")) == 1, what="the session list to shrink")
    assert b.find("#sessions-body tr").get_attribute("data-current") == "true"
    assert b.text("#status") == "Signed out Safari on iOS."
    assert phone.post(REFRESH).status_code == 401
    assert active_sessions(module_sql, email) == 1
    b.driver.refresh()
    assert b.dashboard_ready() == email
    no_script_errors(b)


# --- second factors (#17) ---------------------------------------------------------------------------------------


WRONG_CODE = "That code did not work. Enter the code your app shows now (each code works once)."


def enter_code(b, code, form="#code-form", field="#code"):
    b.fill({field: code})
    b.find(f"{form} button[type=submit]").click()


def test_second_factor_enrolment_sign_in_and_step_up(site, browsers, module_sql):
    """An admin adds an authenticator app on the security page (the key read from the page, the codes computed
    here: authsite.Authenticator, each 30-second step once), sees the recovery codes once, reauthenticates in the
    page's dialog when the sign-in is no longer recent, signs in again through the code step, and reaches /admin
    (role admin and a second factor). Two other devices signed in with the password before the app was added: one
    is asked for a code, not the password, before it may replace the recovery codes; the other is sent to the
    step-up page on its way to /admin and comes back with a code. Without JavaScript, the code step's forms post to
    the service (here with a recovery code)."""
    email = account(site)
    module_sql(f"UPDATE users SET role = 'admin' WHERE email = '{email}'")
    b = browsers.open(site)
    sign_in(b, email)
    other = browsers.open(site)  # other devices: their sessions used the password only
    sign_in(other, email)
    tablet = browsers.open(site)
    sign_in(tablet, email)

    # No factor yet: /admin sends the session to the step-up page, which can only point to the security settings.
    b.get("/admin")
    b.wait_path(re.escape("/auth/mfa?stepUp=1&callbackUrl=/admin"))
    page_ready(b)
    assert b.find("#no-factor").is_displayed() and not b.find("#code-form").is_displayed()
    assert b.find("#enrol-link").get_attribute("href") == site.url("/auth/security?callbackUrl=%2Fadmin")

    # The dashboard links to the security settings.
    b.get("/dashboard")
    b.dashboard_ready()
    assert b.text("#gate-aal") == "signed in with the password only"
    b.find("#security-link").click()
    b.wait_path("/auth/security")
    page_ready(b)
    assert b.find("#summary").get_attribute("data-factors") == "0"
    b.fill({"#totp-name": "Pixel"})
    b.find("#add-totp").click()
    b.wait(lambda b: b.find("#enrol").is_displayed(), what="the enrolment panel")
    # The QR code: the service's SVG, inserted as SVG elements (a <rect> and a <path>, nothing else).
    assert b.script("""const svg = document.querySelector('#totp-qr > svg');
        return svg instanceof SVGSVGElement && [...svg.querySelectorAll('*')].map(e => e.localName).join() === 'rect,path'
            && svg.querySelector('path').getAttribute('d').length > 100""")
    secret = b.text("#totp-secret").replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    assert f"secret={secret}" in b.find("#totp-link").get_attribute("href")
    app = Authenticator(secret)

    enter_code(b, "000000", "#confirm-form", "#totp-code")
    b.wait(lambda b: b.text("#confirm-error"), what="the wrong code's message")
    assert b.text("#confirm-error") == WRONG_CODE
    enter_code(b, app.code(), "#confirm-form", "#totp-code")
    b.wait(lambda b: b.find("#codes").is_displayed(), what="the recovery codes")
    codes = [item.text for item in b.find_all("#recovery-codes li")]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes), codes
    assert not b.find("#enrol").is_displayed() and b.text("#totp-secret") == ""
    b.wait(lambda b: b.find("#summary").get_attribute("data-factors") == "1", what="the list of factors")
    assert b.text("#summary") == "On: one authenticator app, 10 recovery codes left."
    assert b.text("#factors-body tr td") == "Pixel"
    assert b.text("#session-aal") == "signed in with a second factor"
    # Shown once: not after a reload.
    b.driver.refresh()
    page_ready(b)
    assert b.find_all("#recovery-codes li") == [] and not b.find("#codes").is_displayed()

    # Past the reauthentication window (the sessions' last authentication an hour ago): new recovery codes need the
    # password again, asked in a dialog; the request is then sent again.
    module_sql("UPDATE sessions s JOIN users u ON u.id = s.user_id SET s.auth_time = s.auth_time - INTERVAL 1 HOUR "
               f"WHERE u.email = '{email}'")
    b.find("#new-codes").click()
    b.wait(lambda b: b.find("#reauth").is_displayed(), what="the reauthentication dialog")
    assert b.find("#reauth-code-form").is_displayed()
    b.fill({"#reauth-password": "wrong password"})
    b.find("#reauth-password-form button[type=submit]").click()
    b.wait(lambda b: b.text("#reauth-error") == "Wrong password.", what="the wrong password's message")
    b.fill({"#reauth-password": PASSWORD})
    b.find("#reauth-password-form button[type=submit]").click()
    b.wait(lambda b: b.find("#codes").is_displayed(), what="the new recovery codes")
    assert not b.find("#reauth").is_displayed()
    new_codes = [item.text for item in b.find_all("#recovery-codes li")]
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)

    # A device whose session used only the password: once the account has a factor, changing factors needs a
    # session that used it (a password would only lead to mfa_required): the dialog asks for a code (here a recovery
    # code), not for the password.
    tablet.get("/auth/security")
    page_ready(tablet)
    tablet.find("#new-codes").click()
    tablet.wait(lambda b: b.find("#reauth").is_displayed(), what="the reauthentication dialog")
    assert not tablet.find("#reauth-password-form").is_displayed()
    enter_code(tablet, new_codes[1], "#reauth-code-form", "#reauth-code")
    tablet.wait(lambda b: b.find("#codes").is_displayed(), what="the new recovery codes")
    latest = [item.text for item in tablet.find_all("#recovery-codes li")]
    assert len(latest) == 10 and not set(latest) & set(new_codes)
    assert tablet.text("#session-aal") == "signed in with a second factor"

    # The other device: the gate sends it to the step-up page (the query of the page kept), a code, and back.
    other.get("/admin?tab=users&x=1")
    other.wait_path(re.escape("/auth/mfa?stepUp=1&callbackUrl=/admin?tab=users&x=1"))
    page_ready(other)
    enter_code(other, app.code())
    other.wait_path(re.escape("/admin?tab=users&x=1"))
    assert (other.text("#gate-email"), other.text("#gate-aal"), other.text("#gate-amr")) == (email, "2", "pwd otp")

    # Signing in again: the password, then the code step (a wrong code first).
    b.get("/dashboard")
    b.dashboard_ready()
    b.find("#logout").click()
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))
    submit_login(b, email)
    # The login page passes on the factors the service named: the code step shows what fits (no passkey here).
    b.wait_path(re.escape("/auth/mfa?factors=totp%2Crecovery_code&callbackUrl=%2Fdashboard"))
    page_ready(b)
    assert b.find("#code-form").is_displayed() and not b.find("#passkey-step").is_displayed()
    assert "mfa_pending" in b.cookies() and not {"access_token", "refresh_token"} & set(b.cookies())
    enter_code(b, "000000")
    b.wait(lambda b: b.text("#form-error"), what="the wrong code's message")
    assert b.text("#form-error") == WRONG_CODE and b.path.startswith("/auth/mfa")
    enter_code(b, app.code())
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    assert b.text("#gate-aal") == "signed in with a second factor"
    assert "mfa_pending" not in b.cookies()
    b.get("/admin")
    b.wait_path("/admin")
    assert (b.text("#gate-email"), b.text("#gate-aal")) == (email, "2")
    no_script_errors(b, other, tablet)

    # Without JavaScript: the login form's redirect to the code step, a recovery code, the dashboard. The step-up
    # page keeps the gate's raw callbackUrl whole (SSI), and the service's encoded one.
    plain = browsers.open(site, javascript=False)
    plain.get("/auth/mfa?stepUp=1&callbackUrl=/admin?tab=users&x=1")
    assert plain.find("#code-form").get_attribute("action") == site.url("/api/auth/reauthenticate")
    assert plain.find("#code-form input[name=callbackUrl]").get_attribute("value") == "/admin?tab=users&x=1"
    plain.get("/auth/mfa?stepUp=1&error=throttled&callbackUrl=%2Fadmin%3Ftab%3Dusers&retryAfter=5")
    assert plain.find("#code-form input[name=callbackUrl]").get_attribute("value") == "%2Fadmin%3Ftab%3Dusers"
    assert plain.text("#form-error") == "Too many attempts. Try again in 5 seconds."
    assert "error occurred while processing" not in plain.driver.page_source
    plain.get("/auth/login")
    submit_login(plain, email)
    plain.wait_path(re.escape("/auth/mfa?callbackUrl=%2Fdashboard"))
    assert plain.find("#code-form").get_attribute("action") == site.url("/api/auth/mfa/verify")
    plain.find("#recovery summary").click()
    enter_code(plain, latest[0].upper(), "#recovery-form", "#recoveryCode")
    plain.wait_path("/dashboard")
    assert plain.text("#gate-email") == email
    assert plain.text("#gate-aal") == "signed in with a second factor"


def add_authenticator(b):
    """On the security page: add an app (the key read from the page), confirm with its code; returns
    (Authenticator, recovery codes shown)."""
    b.find("#add-totp").click()
    b.wait(lambda b: b.find("#enrol").is_displayed(), what="the enrolment panel")
    app = Authenticator(b.text("#totp-secret").replace(" ", ""))
    enter_code(b, app.code(), "#confirm-form", "#totp-code")
    b.wait(lambda b: b.find("#codes").is_displayed(), what="the recovery codes")
    return app, [item.text for item in b.find_all("#recovery-codes li")]


def test_a_role_that_needs_a_second_factor_is_sent_to_add_one(site, browsers, module_sql):
    """mfa.required_roles (here "ops"): the login answers mfaEnrolmentRequired; the login page sends the user to the
    security settings with a banner, and after the app is added, on to where the user was going."""
    email = account(site)
    module_sql(f"UPDATE users SET role = 'ops' WHERE email = '{email}'")
    b = browsers.open(site)
    b.get("/auth/login?callbackUrl=%2Fdashboard%3Ftab%3Dsessions")
    submit_login(b, email)
    b.wait_path(re.escape("/auth/security?enrol=required&callbackUrl=%2Fdashboard%3Ftab%3Dsessions"))
    page_ready(b)
    assert b.find("#enrol-required").is_displayed() and not b.find("#continue").is_displayed()
    assert b.script("return window.demoAuth.getState().mfaEnrolmentRequired") is False  # a new page, a new client
    _, codes = add_authenticator(b)
    assert len(codes) == 10 and b.find_all("#enrol-required") == []
    b.find("#codes-done").click()
    assert b.find_all("#recovery-codes li") == [] and not b.find("#codes").is_displayed()
    b.find("#continue-link").click()
    b.wait_path(re.escape("/dashboard?tab=sessions"))
    assert b.dashboard_ready() == email
    assert b.text("#gate-aal") == "signed in with a second factor"

    # Removing the app: the button asks first (a second press), then the list is empty.
    b.find("#security-link").click()
    b.wait_path("/auth/security")
    page_ready(b)
    b.wait(lambda b: b.find("#summary").get_attribute("data-factors") == "1", what="the list of factors")
    remove = b.find("#factors-body .remove-factor")
    remove.click()
    assert remove.text == "Press again to remove"
    remove.click()
    b.wait(lambda b: b.find("#summary").get_attribute("data-factors") == "0", what="the factor's removal")
    assert b.text("#summary") == "Off: signing in takes only your password."
    assert not b.find("#factors").is_displayed() and not b.find("#new-codes").is_displayed()
    no_script_errors(b)


# --- passkeys (#18): Chromium's virtual authenticator ------------------------------------------------------------


@pytest.fixture(scope="module")
def passkey_site(start_site, rundir):
    """At http://localhost:PORT, the relying party localhost (authsite.Site(passkeys=True)), with a second-factor
    key: a first passkey comes with recovery codes."""
    return start_site("web-passkeys", {**ENV, **mfa_key_env(rundir)}, passkeys=True)


LOGIN_OPTIONS = "/api/auth/passkeys/login/options"
PASSKEY_LOGIN = "/api/auth/passkeys/login"

# Keeps the browser's answer to navigator.credentials.create() (its toJSON()) in window.createdCredential.
KEEP_CREATED = """const create = navigator.credentials.create.bind(navigator.credentials);
navigator.credentials.create = async (options) => {
  const credential = await create(options);
  window.createdCredential = credential.toJSON();
  return credential;
};"""

# Takes the browser's JSON helpers away from this page: auth.js converts by hand (its fallback for older browsers).
WITHOUT_JSON_HELPERS = """delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
return [typeof PublicKeyCredential.parseCreationOptionsFromJSON, typeof PublicKeyCredential.parseRequestOptionsFromJSON,
        typeof PublicKeyCredential.prototype.toJSON];"""


def without_json_helpers(b):
    assert b.script(WITHOUT_JSON_HELPERS) == ["undefined"] * 3


def autofill_waiting(b):
    """On the login page: the email field offers passkeys (autocomplete="username webauthn") and the page's
    conditional request has started (VirtualAuthenticator.RECORDER), with a moment for it to reach the
    authenticator (which answers it only if presence is simulated by then)."""
    b.wait(lambda b: b.script("return (window.webauthnRequests || []).includes('get:conditional')"),
           what="the passkey autofill's request")
    time.sleep(0.5)
    assert b.find("#email").get_attribute("autocomplete") == "username webauthn"
    assert b.script("return document.documentElement.dataset.passkeyAutofill") == "on"


def sign_out_to_login(b):
    """From the dashboard: sign out; the browser lands on the login page."""
    b.get("/dashboard")
    b.dashboard_ready()
    b.find("#logout").click()
    b.wait_path(re.escape("/auth/login?callbackUrl=%2Fdashboard"))


def sign_counts(module_sql, email):
    out = module_sql("SELECT p.sign_count FROM passkeys p JOIN users u ON u.id = p.user_id "
                     f"WHERE u.email = '{email}' ORDER BY p.factor_id")
    return [int(value) for value in out.split()[1:]]


def is_canonical_cbor(data):
    """CTAP2 canonical form (RFC 7049 §3.9 as CTAP2 restates it: shortest lengths, map keys sorted by length then
    bytes, definite lengths), as python-fido2 encodes: what decoding and encoding again gives back unchanged."""
    from fido2 import cbor
    return cbor.encode(cbor.decode(data)) == data


def attested_key(auth_data):
    """The COSE public key's bytes in authenticator data with attested credential data (WebAuthn §6.1)."""
    from fido2 import cbor
    length = int.from_bytes(auth_data[53:55], "big")
    start = 55 + length
    _, rest = cbor.decode_from(auth_data[start:])
    return auth_data[start:len(auth_data) - len(rest)]


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_passkey_registration_passwordless_sign_in_autofill_and_aal2(passkey_site, browsers, module_sql,
                                                                     record_property):
    """A user signed in with the password adds a passkey on the security page (the browser's create() through
    auth.js; recovery codes with the first factor) and renames it; signs out and back in with "Sign in with a
    passkey" alone (discoverable: no address given), user verification making the session AAL2, so /admin and the
    AAL2 API let it through without a step-up; then the login page's autofill (conditional mediation) signs in as
    soon as the passkey is picked. The authenticator's counter grows with each use and the service records it.
    Measured: Chromium's attestation object (and the COSE key in it) is in CTAP2 canonical CBOR."""
    email = account(passkey_site)
    module_sql(f"UPDATE users SET role = 'admin' WHERE email = '{email}'")
    log = RequestLog(passkey_site.worker.log_path)
    b = browsers.open(passkey_site)
    assert b.origin.startswith("http://localhost:")
    key = b.virtual_authenticator(user_verification=True)
    sign_in(b, email)  # the password (the login page's autofill has no passkey to offer yet)

    # (a) Registration on the security page.
    b.find("#security-link").click()
    b.wait_path("/auth/security")
    page_ready(b)
    assert b.find("#passkeys-summary").get_attribute("data-passkeys") == "0"
    assert b.text("#passkeys-summary") == "No passkey yet." and not b.find("#passkeys-table").is_displayed()
    b.script(KEEP_CREATED)
    b.fill({"#passkey-name": "Laptop"})
    b.find("#add-passkey").click()
    b.wait(lambda b: b.find("#passkeys-summary").get_attribute("data-passkeys") == "1", what="the new passkey")
    assert b.find("#codes").is_displayed()
    codes = [item.text for item in b.find_all("#recovery-codes li")]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes), codes
    assert b.text("#status") == "The passkey Laptop was added."
    assert b.text("#passkeys-body .passkey-name") == "Laptop"
    assert b.text("#summary") == "On: one passkey, 10 recovery codes left."
    assert b.text("#session-aal") == "signed in with a second factor"  # the password and now the passkey
    [credential] = key.credentials()
    assert (credential["rpId"], credential["isResidentCredential"]) == ("localhost", True)
    assert len(base64.b64decode(credential["userHandle"])) == 32  # the service's random handle, not the address
    counts = [credential["signCount"]]
    assert sign_counts(module_sql, email) == counts

    # What Chromium sent: its attestation object, and the COSE key inside, in CTAP2 canonical CBOR? (The service
    # does not require it; docs/security.md reports this measurement.)
    created = b.script("return window.createdCredential")
    assert b64url(created["id"]) == base64.b64decode(credential["credentialId"])
    attestation = b64url(created["response"]["attestationObject"])
    from fido2 import cbor
    decoded = cbor.decode(attestation)
    assert decoded["fmt"] == "none" and decoded["attStmt"] == {}
    canonical = is_canonical_cbor(attestation) and is_canonical_cbor(attested_key(decoded["authData"]))
    record_property("chromium_attestation_canonical_cbor", canonical)
    assert canonical, "Chromium's attestation object is not in CTAP2 canonical form"

    # Renaming in place.
    b.find("#passkeys-body .rename-passkey").click()
    b.fill({"#passkeys-body .rename-form input": "Work laptop"})
    b.find("#passkeys-body .rename-form button[type=submit]").click()
    b.wait(lambda b: b.find_all("#passkeys-body .passkey-name")
           and b.text("#passkeys-body .passkey-name") == "Work laptop", what="the new name")
    listed = b.run_async("return await window.demoAuth.listPasskeys()")
    assert listed["available"] is True
    [entry] = listed["passkeys"]
    assert (entry["name"], entry["synced"], entry["userVerified"], entry["transports"], entry["algorithm"]) == (
        "Work laptop", False, True, ["internal"], -7)

    # (b) Passwordless, with the button. The authenticator stops answering by itself first, so that the login
    # page's autofill request keeps waiting; the button aborts it and makes a request of its own.
    key.simulate_presence(False)
    sign_out_to_login(b)
    autofill_waiting(b)
    options, logins = log.settled_count(LOGIN_OPTIONS, quiet=0.3), log.count(PASSKEY_LOGIN, 200)
    key.simulate_presence(True)
    b.find("#passkey-login").click()
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    assert log.settled_count(LOGIN_OPTIONS, quiet=0.3) == options + 1
    assert b.text("#gate-aal") == "signed in with a second factor"  # user verification: AAL2
    assert {"access_token", "refresh_token"} <= set(b.cookies())
    counts.append(key.credentials()[0]["signCount"])

    # (d) AAL2 locations: the page (role admin and a second factor) and the API, without a step-up.
    b.get("/admin")
    b.wait_path("/admin")
    assert (b.text("#gate-email"), b.text("#gate-aal"), b.text("#gate-amr")) == (email, "2", "hwk mfa")
    status, body = b.run_async(
        "const r = await fetch('/api/protected/aal2/report'); return [r.status, await r.json()];")
    assert status == 200 and (body["email"], body["aal"], body["amr"]) == (email, "2", "hwk mfa")

    # Autofill: signed out, the login page offers the passkey in the email field; the virtual authenticator picks
    # it at once (as the user would in the autofill list), and the page signs in without a click (too fast to
    # catch the login page on the way: the service's log tells).
    b.get("/dashboard")
    b.dashboard_ready()
    access = b.cookies()["access_token"]["value"]
    b.find("#logout").click()
    b.wait(lambda b: log.count(PASSKEY_LOGIN, 200) == logins + 2, what="the autofill's sign-in")
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    assert b.cookies()["access_token"]["value"] != access
    log.settled_count(PASSKEY_LOGIN, quiet=0.3)
    assert log.count(PASSKEY_LOGIN, 200) == logins + 2
    counts.append(key.credentials()[0]["signCount"])

    # (e) The counter: one more for each use, as the service recorded it.
    assert counts == [counts[0], counts[0] + 1, counts[0] + 2], counts
    assert sign_counts(module_sql, email) == [counts[-1]]
    assert b.run_async("return (await window.demoAuth.listPasskeys()).passkeys[0].lastUsedAt") is not None
    no_script_errors(b)


def test_passkey_as_second_factor_step_up_and_removal(passkey_site, browsers, module_sql):
    """An authenticator that cannot verify its user (no PIN or biometric), and auth.js converting by hand (the
    browser's JSON helpers taken away): a passkey added after a password sign-in becomes the second step of the next
    password sign-in (the code step shows "Use your passkey", no code form). Chromium does not offer such an
    authenticator to a sign-in without the password (the options name no credential). Another computer whose
    session used only the password, with the same credential, is sent to the step-up page by /admin; the passkey
    there (after the password: two factors) lets it through. Removing the passkey needs a recent sign-in: the
    security page's dialog takes the passkey; the next password sign-in asks for nothing more."""
    email = account(passkey_site)
    module_sql(f"UPDATE users SET role = 'admin' WHERE email = '{email}'")
    other = browsers.open(passkey_site)  # another computer: its session used the password only
    sign_in(other, email)
    b = browsers.open(passkey_site)
    key = b.virtual_authenticator(user_verification=False)
    sign_in(b, email)
    b.get("/auth/security")
    page_ready(b)
    without_json_helpers(b)
    b.find("#add-passkey").click()  # no name
    b.wait(lambda b: b.find("#passkeys-summary").get_attribute("data-passkeys") == "1", what="the new passkey")
    assert len(b.find_all("#recovery-codes li")) == 10
    assert b.text("#passkeys-body .passkey-name") == "Passkey"
    entry = b.run_async("return (await window.demoAuth.listPasskeys()).passkeys[0]")
    assert (entry["name"], entry["userVerified"]) == (None, False)

    # (c) The password, then the passkey as the second factor. (Chromium offers passkeys in the autofill only with
    # a platform authenticator that verifies its user: the login page shows the button alone.)
    sign_out_to_login(b)
    assert b.run_async("return await window.demoAuth.passkeyAutofillAvailable()") is False
    assert b.script("return window.webauthnRequests") == []
    assert b.find("#passkey-login").is_displayed() and b.find("#email").get_attribute("autocomplete") == "username"
    submit_login(b, email)
    b.wait_path(re.escape("/auth/mfa?factors=passkey%2Crecovery_code&callbackUrl=%2Fdashboard"))
    page_ready(b)
    assert b.find("#passkey-step").is_displayed() and b.find("#recovery").is_displayed()
    assert not b.find("#code-form").is_displayed()
    assert b.text("#intro") == "Your password was right. Use your passkey to finish signing in."
    assert "mfa_pending" in b.cookies() and not {"access_token", "refresh_token"} & set(b.cookies())
    without_json_helpers(b)
    b.find("#passkey-verify").click()
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    assert b.text("#gate-aal") == "signed in with a second factor"
    assert "mfa_pending" not in b.cookies()
    b.get("/admin")
    b.wait_path("/admin")
    assert (b.text("#gate-aal"), b.text("#gate-amr")) == ("2", "pwd hwk")

    # Without the password: the sign-in options name no credential, and Chromium offers none of this
    # authenticator's to such a request (NotAllowedError at once); the page says so and stays.
    sign_out_to_login(b)
    b.find("#passkey-login").click()
    b.wait(lambda b: b.text("#form-error"), what="the browser's refusal")
    assert b.text("#form-error") == "No passkey was used: the request was cancelled or timed out."
    assert b.path.startswith("/auth/login") and not {"access_token", "refresh_token"} & set(b.cookies())

    # The other computer, with the same credential (a synced passkey, or the same key plugged in): /admin sends its
    # password-only session to the step-up page, which offers the passkey (no code form: the account has no app).
    other_key = other.virtual_authenticator(user_verification=False, credentials=key.credentials())
    other.get("/admin")
    other.wait_path(re.escape("/auth/mfa?stepUp=1&callbackUrl=/admin"))
    page_ready(other)
    assert other.find("#passkey-step").is_displayed() and not other.find("#code-form").is_displayed()
    assert other.text("#intro") == "The page you asked for needs a sign-in with a second factor. Use your passkey."
    other.find("#passkey-verify").click()
    other.wait_path("/admin")
    assert (other.text("#gate-email"), other.text("#gate-aal"), other.text("#gate-amr")) == (email, "2", "pwd hwk")

    # Removal after the reauthentication window: the dialog offers the passkey.
    other.get("/auth/security")
    page_ready(other)
    module_sql("UPDATE sessions s JOIN users u ON u.id = s.user_id SET s.auth_time = s.auth_time - INTERVAL 1 HOUR "
               f"WHERE u.email = '{email}'")
    remove = other.find("#passkeys-body .remove-passkey")
    remove.click()
    assert remove.text == "Press again to remove"
    remove.click()
    other.wait(lambda b: b.find("#reauth").is_displayed(), what="the reauthentication dialog")
    assert other.find("#reauth-passkey").is_displayed()
    other.find("#reauth-passkey-button").click()
    other.wait(lambda b: b.find("#passkeys-summary").get_attribute("data-passkeys") == "0", what="the removal")
    assert not other.find("#reauth").is_displayed()
    assert other.text("#summary") == "Off: signing in takes only your password."
    assert sign_counts(module_sql, email) == []
    assert len(other_key.credentials()) == 1  # still on the authenticator: only the site forgot it
    # The counter went on from the first computer's uses (registration, second step) with the step-up and dialog.
    assert other_key.credentials()[0]["signCount"] > key.credentials()[0]["signCount"]

    # The password alone signs in again.
    b.get("/auth/login")
    submit_login(b, email)
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    no_script_errors(b, other)


# --- account mail (#16): a real SMTP server, the links' pages ---------------------------------------------------


@pytest.fixture(scope="module")
def smtp_server():
    from smtp_server import SMTPServer
    import harness
    server = SMTPServer(harness.free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_site(start_site, smtp_server):
    return start_site("web-mail", {**ENV, "JWT_AUTHD_MAIL_TRANSPORT": "smtp",
                                   "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
                                   "JWT_AUTHD_PUBLIC_URL": "https://site.example", "JWT_AUTHD_MAIL_RETRY_DELAY": "1s",
                                   "JWT_AUTHD_MAIL_FROM": "Demo <noreply@site.example>"})


def mailed_link(server, email, subject, page):
    """The path and query of the link to ``page`` in the newest message to ``email`` with ``subject`` (the site's
    public URL is https://site.example: the browser opens the same path on the test site)."""
    import harness

    def newest():
        found = [m.message for m in server.messages() if m.rcpt_tos == [email] and m.message["Subject"] == subject]
        return found[-1] if found else None

    message = harness.wait_until(newest, 10, f"the message {subject!r} to {email}")
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"https://site\.example({re.escape(page)}\?token=[A-Za-z0-9_-]{{43}})", text).group(1)


def test_forgot_password_by_mail_then_a_new_password_signs_in(mail_site, smtp_server, browsers):
    """Login page → "Forgot your password?" → the form → the message at the SMTP server → its link → a new password
    → the dashboard, signed in. The link works once."""
    email = account(mail_site)
    b = browsers.open(mail_site)
    b.get("/auth/login")
    b.find("a[href='/auth/forgot']").click()
    b.wait_path("/auth/forgot")
    b.fill({"#email": email})
    b.find("#forgot-form button[type=submit]").click()
    b.wait_path(r"/auth/forgot\?status=accepted")
    assert "on its way" in b.text("#status")
    link = mailed_link(smtp_server, email, "Reset your Demo password", "/auth/reset")
    b.get(link)
    b.fill({"#newPassword": "a brand new passphrase"})
    b.find("#reset-form button[type=submit]").click()
    b.wait_path("/dashboard")
    assert b.dashboard_ready() == email
    assert requests.post(mail_site.url("/api/auth/login"), json={"email": email, "password": PASSWORD}).status_code == 401
    # The link again: the page still shows the form (opening uses nothing), and posting it says the link is spent.
    b.get(link)
    b.fill({"#newPassword": "yet another passphrase"})
    b.find("#reset-form button[type=submit]").click()
    b.wait_path(r"/auth/reset\?error=reset_token_invalid&token=.*")
    assert "not valid any more" in b.text("#form-error")
    no_script_errors(b)


def test_the_verification_link_confirms_the_address_only_when_its_button_is_pressed(mail_site, smtp_server, browsers):
    email = account(mail_site)
    link = mailed_link(smtp_server, email, "Confirm your email address for Demo", "/auth/verify-email")
    b = browsers.open(mail_site)
    sign_in(b, email)
    b.get("/account")
    b.wait_path(r"/auth/verify-email\?status=unverified")
    assert "Confirm your address first" in b.text("#status")
    b.get(link)
    b.find("#verify-form button[type=submit]")  # shown, not yet pressed: the address is not confirmed by opening
    client = mail_site.client()
    client.login(email)
    assert client.me().json()["user"]["emailVerified"] is False
    b.find("#verify-form button[type=submit]").click()
    b.wait_path(r"/auth/verify-email\?status=verified")
    assert "Your address is confirmed" in b.text("#status")
    assert client.me().json()["user"]["emailVerified"] is True
    # The browser's access token still says unverified until the next rotation: without it, the gate sends the
    # browser through the renew route, whose new token says verified, and the verified-only page opens.
    b.driver.delete_cookie("access_token")
    b.get("/account")
    b.wait_path("/account")
    assert b.dashboard_ready() == email
    no_script_errors(b)
