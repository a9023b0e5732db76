"""Headless Chromium for the browser tier (test_browser.py), driven by Selenium through chromedriver.

Debian's packages: ``chromium``, ``chromium-driver`` (``/usr/bin/chromedriver``), ``python3-selenium`` and
``python3-fido2`` (its CBOR decoder, for the passkey tests); run the tests with ``/usr/bin/python3``.
:class:`Browsers` opens browsers on demand for one test and, when the test fails, saves a screenshot, the page
source and the console of every open tab (see ``save_failure_artifacts``, called by conftest.py).
:class:`VirtualAuthenticator` is Chromium's virtual WebAuthn authenticator, for the passkey tests.
"""

import json
import re
import shutil
import time
from pathlib import Path

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    SELENIUM = True
except ImportError:  # the test module reports it (a failure with CI=true)
    SELENIUM = False

try:  # the passkey tests decode what Chromium's authenticator sends
    import fido2.cbor  # noqa: F401
    FIDO2 = True
except ImportError:
    FIDO2 = False

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def find_program(names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_requirements():
    """What is missing to run the browser tier, as a list of messages (empty: nothing)."""
    missing = []
    if not SELENIUM:
        missing.append("python3-selenium (import selenium failed; run pytest with /usr/bin/python3)")
    if find_program(CHROMIUM_NAMES) is None:
        missing.append("chromium")
    if find_program(DRIVER_NAMES) is None:
        missing.append("chromium-driver (chromedriver)")
    if not FIDO2:
        missing.append("python3-fido2 (import fido2 failed; run pytest with /usr/bin/python3)")
    return missing


class Browser:
    """One headless Chromium with a fresh profile. Tabs are window handles; :meth:`tab` opens one."""

    def __init__(self, origin, javascript=True, log_dir=None):
        self.origin = origin
        options = webdriver.ChromeOptions()
        options.binary_location = find_program(CHROMIUM_NAMES)
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,900", "--no-first-run", "--no-default-browser-check",
                         "--disable-extensions", "--disable-sync", "--password-store=basic",
                         # Timers of tabs in the background run on time, as in a visible window: the two-tab tests
                         # want the tabs to act at the same moment.
                         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                         "--disable-backgrounding-occluded-windows"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if not javascript:
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        service_args = []
        if log_dir is not None:
            service_args = [f"--log-path={Path(log_dir) / 'chromedriver.txt'}"]
        self.driver = webdriver.Chrome(service=Service(find_program(DRIVER_NAMES), service_args=service_args),
                                       options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(20)
        self.console = []  # browser console entries, collected by :meth:`collect_console`

    # --- navigation and tabs ---

    def url(self, path):
        return self.origin + path

    def get(self, path):
        self.driver.get(self.url(path))

    @property
    def path(self):
        """The current tab's path and query (relative to the origin)."""
        current = self.driver.current_url
        return current[len(self.origin):] if current.startswith(self.origin) else current

    def tab(self, path=None):
        """Open a new tab (and switch to it); returns its handle."""
        self.driver.switch_to.new_window("tab")
        if path is not None:
            self.get(path)
        return self.driver.current_window_handle

    def switch(self, handle):
        self.driver.switch_to.window(handle)

    @property
    def tabs(self):
        return list(self.driver.window_handles)

    # --- the page ---

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def fill(self, values):
        """``{"#email": "...", ...}``: clear and type into each field."""
        for css, value in values.items():
            element = self.find(css)
            element.clear()
            element.send_keys(value)

    def wait(self, condition, timeout=10, what="a condition"):
        """Wait until ``condition(browser)`` is truthy; returns its value."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda _: condition(self))
        except Exception as error:  # TimeoutException has no message worth keeping
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (at {self.path})") from error

    def wait_path(self, pattern, timeout=10):
        """Wait until the current path (with query) matches the regular expression ``pattern`` in full."""
        return self.wait(lambda b: re.fullmatch(pattern, b.path), timeout, f"the path to match {pattern!r}")

    def script(self, source, *args):
        return self.driver.execute_script(source, *args)

    def run_async(self, body, *args):
        """Run ``body`` (JavaScript, may ``await``; the extra arguments are ``args``) as an async function; returns
        its value or raises its error."""
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"(async (...args) => {{ {body} }})(...Array.from(arguments).slice(0, -1))"
            ".then(value => done({ok: true, value}), error => done({ok: false, error: String(error && error.stack || error)}));",
            *args)
        if not result["ok"]:
            raise AssertionError(f"script failed: {result['error']}")
        return result["value"]

    def dashboard_ready(self, timeout=10):
        """Wait until the demo dashboard has loaded the user and the sessions; returns the shown email."""
        self.wait(lambda b: b.script("return document.documentElement.dataset.ready === 'true'"), timeout,
                  "the dashboard to load")
        return self.text("#user-email")

    # --- cookies (DevTools: every cookie of the browser, HttpOnly ones and any Path included) ---

    def cookies(self):
        """The browser's cookies for this site, by name: DevTools' fields (path, httpOnly, sameSite, secure...)."""
        cookies = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        return {cookie["name"]: cookie for cookie in cookies if cookie["domain"] in ("127.0.0.1", "localhost")}

    def document_cookie(self):
        return self.script("return document.cookie")

    # --- passkeys (DevTools' WebAuthn domain) ---

    def virtual_authenticator(self, user_verification=True, credentials=()):
        """A virtual authenticator in this tab (:class:`VirtualAuthenticator`)."""
        return VirtualAuthenticator(self.driver, user_verification=user_verification, credentials=credentials)

    # --- diagnostics ---

    def collect_console(self):
        """Move the browser console's new entries into :attr:`console` (one log per driver, all tabs)."""
        try:
            self.console.extend(self.driver.get_log("browser"))
        except WebDriverException:
            pass
        return self.console

    def script_errors(self):
        """Console entries that are JavaScript errors or refused content (CSP), not failed network requests
        (a 401 from the service is logged as a failed resource load and is expected)."""
        return [entry for entry in self.collect_console()
                if entry.get("level") == "SEVERE" and entry.get("source") != "network"]

    def save_artifacts(self, directory, prefix):
        """A screenshot (PNG), the page source and the URL of every tab, and the console; returns the paths."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        try:
            current = self.driver.current_window_handle
        except WebDriverException:
            current = None
        for index, handle in enumerate(self.tabs):
            try:
                self.driver.switch_to.window(handle)
                base = directory / f"{prefix}-tab{index + 1}"
                png = base.with_suffix(".png")
                if self.driver.save_screenshot(str(png)):
                    paths.append(png)
                html = base.with_suffix(".html")
                html.write_text(f"<!-- {self.driver.current_url} -->\n{self.driver.page_source}")
                paths.append(html)
            except WebDriverException as error:
                paths.append(f"(tab {index + 1}: {error.msg})")
        if current is not None:
            try:
                self.driver.switch_to.window(current)
            except WebDriverException:
                pass
        console = directory / f"{prefix}-console.json"
        console.write_text(json.dumps(self.collect_console(), indent=1))
        paths.append(console)
        return paths

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass


class VirtualAuthenticator:
    """Chromium's virtual authenticator (DevTools protocol, WebAuthn domain) in one tab: CTAP2 with resident keys
    (discoverable passkeys), transport ``internal``. With ``user_verification`` it verifies its user (a PIN or
    biometric that succeeds: the UV flag); without, it cannot (no UV flag, which "preferred" accepts; Chromium makes
    a USB key without a PIN fail the registration instead). ``credentials`` (from :meth:`credentials` of another
    one) are put in it: the same authenticator in another browser. With presence simulated (the default) it answers every request at once,
    as if the user touched it: a conditional (autofill) request too, as if the user picked the passkey in the
    autofill. WebAuthn needs a secure context and refuses IP addresses: use it on a site at http://localhost:PORT."""

    # Installed in every new document of the tab before its scripts: window.webauthnRequests lists the requests
    # the page made ("create", or "get" with its mediation: "get:conditional" for an autofill), as they start.
    RECORDER = """(() => {
      const credentials = navigator.credentials;
      if (!credentials) return;
      const requests = window.webauthnRequests = [];
      const create = credentials.create.bind(credentials), get = credentials.get.bind(credentials);
      credentials.create = (options) => { requests.push('create'); return create(options); };
      credentials.get = (options) => {
        requests.push(`get:${(options && options.mediation) || 'optional'}`);
        return get(options);
      };
    })();"""

    def __init__(self, driver, user_verification=True, credentials=()):
        self.driver = driver
        driver.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": self.RECORDER})
        self.id = driver.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": user_verification, "isUserVerified": user_verification,
            "automaticPresenceSimulation": True}})["authenticatorId"]
        for credential in credentials:
            driver.execute_cdp_cmd("WebAuthn.addCredential", {"authenticatorId": self.id, "credential": {
                key: credential[key] for key in ("credentialId", "isResidentCredential", "rpId", "privateKey",
                                                 "userHandle", "signCount") if key in credential}})

    def credentials(self):
        """The credentials it holds: DevTools' fields (credentialId and userHandle in base64, rpId,
        isResidentCredential, signCount, privateKey...)."""
        return self.driver.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def simulate_presence(self, enabled):
        """Off: requests wait (one started meanwhile keeps waiting after it is turned on again), as when the user
        does not touch the authenticator; a page's autofill request then stays pending."""
        self.driver.execute_cdp_cmd("WebAuthn.setAutomaticPresenceSimulation",
                                    {"authenticatorId": self.id, "enabled": enabled})


class Browsers:
    """The browsers of one test: ``browsers.open(site)`` starts one; all are closed at the end of the test."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.opened = []

    def open(self, site, javascript=True):
        browser = Browser(site.origin, javascript=javascript, log_dir=self.log_dir)
        self.opened.append(browser)
        return browser

    def save_failure_artifacts(self, directory):
        """Called by conftest.py when the test failed: screenshots, page sources and consoles of every browser."""
        paths = []
        for number, browser in enumerate(self.opened, start=1):
            paths += browser.save_artifacts(Path(directory), f"browser{number}")
        return paths

    def close(self):
        for browser in self.opened:
            browser.quit()
        self.opened.clear()


def count_lines(path, needle):
    """Lines of a log file that contain ``needle`` (0 for a missing file)."""
    try:
        with open(path, errors="replace") as log:
            return sum(1 for line in log if needle in line)
    except FileNotFoundError:
        return 0


class RequestLog:
    """The service's request log lines (JWT_AUTHD_LOG_REQUESTS=true: one per request, with ``http.route=``)."""

    def __init__(self, path):
        self.path = Path(path)

    def count(self, route, status=None):
        needle = f"http.route={route} "
        if status is None:
            return count_lines(self.path, needle)
        with open(self.path, errors="replace") as log:
            return sum(1 for line in log if needle in line and f"http.status={status} " in line)

    def settled_count(self, route, quiet=0.5, timeout=10.0):
        """The count once it stopped changing for ``quiet`` seconds (log lines are written after the answer)."""
        deadline = time.monotonic() + timeout
        last, since = self.count(route), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.count(route)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def text(self):
        return self.path.read_text(errors="replace") if self.path.exists() else ""

