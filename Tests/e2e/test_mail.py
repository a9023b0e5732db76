"""Mail through a real SMTP server (#16): the service's own sender (a child of its supervisor) delivering the
transactional outbox over libcurl's SMTP to Debian's aiosmtpd on a loopback port, plain and with STARTTLS (a test
CA) and AUTH; the mail server down and back; two supervisors on one database; a 5xx refusal; `jwt-authd mail test`
and `mail queue`; the sendmail transport through msmtp, a real sendmail-compatible client."""

import re
import subprocess
import time

import pytest

import authsite
import harness
from authsite import CHEAP_HASHING, unique_email
from smtp_server import SMTPServer, make_test_ca

pytestmark = pytest.mark.mail

SITE = {**CHEAP_HASHING, "JWT_THROTTLE_LOGIN_PER_IP": "100000", "JWT_THROTTLE_REGISTER_PER_IP": "100000",
        "JWT_THROTTLE_FORGOT_PER_IP": "100000", "JWT_AUTHD_PUBLIC_URL": "https://site.example",
        "JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>", "JWT_AUTHD_MAIL_TRANSPORT": "smtp",
        "JWT_AUTHD_MAIL_RETRY_DELAY": "1s"}
LINK = re.compile(r"https://site\.example/auth/reset\?token=([A-Za-z0-9_-]{43})")


def cli(authd_bin, env, *args):
    return subprocess.run([authd_bin, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def start_site(nginx_installed, authd_bin, base_env, rundir):
    """Sites (supervisor, workers, mail sender, nginx) on the module's database, stopped after the test: a sender
    left running would take the next test's messages."""
    started = []

    def start(name, env):
        site = authsite.Site(authd_bin, base_env, rundir, name, env=env).start()
        started.append(site)
        return site

    yield start
    for site in started:
        site.stop()


@pytest.fixture
def smtp():
    """A plain SMTP server on a free loopback port; stopped after the test."""
    server = SMTPServer(harness.free_port()).start()
    yield server
    server.stop()


def forgot(site, address):
    response = site.client().post("/api/auth/password/forgot", json={"email": address})
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}


def wait_for_messages(server, count, timeout=15):
    harness.wait_until(lambda: len(server.messages()) >= count, timeout, f"{count} message(s) at the SMTP server")
    return server.messages()


def outbox(module_sql):
    """``{status: count}`` of the outbox."""
    rows = module_sql("SELECT status, COUNT(*) FROM mail_outbox GROUP BY status").split("\n")[1:]
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in rows if line.strip()}


def test_a_reset_link_arrives_over_smtp_and_resets_the_password(start_site, smtp):
    site = start_site("plain", {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    address = unique_email("smtp")
    owner = site.client()
    user = owner.register(email=address)
    wait_for_messages(smtp, 1, timeout=5)  # the registration's verification link
    forgot(site, address)
    forgot(site, unique_email("nobody"))
    received = wait_for_messages(smtp, 2, timeout=5)[1]  # the first attempt within 5 s of the commit
    time.sleep(1.5)
    assert len(smtp.messages()) == 2, "an unknown address gets no mail"
    assert received.mail_from == "noreply@site.example" and received.rcpt_tos == [address]
    assert not received.tls and received.login is None, "a loopback relay is spoken to in plain"
    message = received.message
    assert message["To"].addresses[0].addr_spec == address
    assert (message["From"].addresses[0].display_name, message["From"].addresses[0].addr_spec) == ("Site", "noreply@site.example")
    assert message["Subject"] == "Reset your Site password"
    assert re.fullmatch(r"<[0-9a-f-]{36}@site\.example>", message["Message-ID"])
    assert message["Date"] and message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = LINK.search(text).group(1)
    assert f'href="https://site.example/auth/reset?token={token}"' in html
    browser = site.client()
    response = browser.post("/api/auth/password/reset", json={"token": token, "newPassword": "a new password by mail"})
    assert response.status_code == 200 and response.json() == {"user": user}
    assert owner.me().status_code == 401
    site.client().login(address, password="a new password by mail")
    harness.wait_until(lambda: "mail sent" in site.worker.log_text(), 5, "the sender's log line")
    assert "250 2.0.0 Ok: queued as TEST2" in site.worker.log_text()


def test_starttls_with_verification_and_auth(authd_bin, base_env, rundir):
    """STARTTLS is required for a server that is not on loopback, and chosen here for one that is; the certificate is
    checked against mail.smtp_ca_file; AUTH uses the URL's credentials (percent-decoded), given through a _FILE; the
    password never reaches the output or the log."""
    ca, context = make_test_ca(rundir / "smtp-ca")
    password = "p@ss:w/rd %secret"
    server = SMTPServer(harness.free_port(), tls_context=context, credentials=("mailer", password)).start()
    try:
        url_file = rundir / "smtp-url"
        url_file.write_text(f"smtp://mailer:p%40ss%3Aw%2Frd%20%25secret@localhost:{server.port}\n")
        url_file.chmod(0o600)
        env = {**base_env, **SITE, "JWT_AUTHD_SMTP_URL_FILE": str(url_file), "JWT_AUTHD_SMTP_TLS": "starttls",
               "JWT_AUTHD_SMTP_CA_FILE": str(ca)}
        sent = cli(authd_bin, env, "mail", "test", "--to", "admin@example.com")
        assert sent.returncode == 0, sent.stderr
        assert "accepted: 250 2.0.0 Ok: queued as TEST1" in sent.stdout
        assert "STARTTLS required" in sent.stdout and "smtp://***@localhost" in sent.stdout
        [received] = server.messages()
        assert received.tls and received.login == "mailer" and received.rcpt_tos == ["admin@example.com"]
        assert received.message["Subject"] == "Site: test message"

        # The system's CAs do not know the test CA: no message, a clear reason, and a later attempt could work.
        system_cas = {key: value for key, value in env.items() if key != "JWT_AUTHD_SMTP_CA_FILE"}
        untrusted = cli(authd_bin, system_cas, "mail", "test", "--to", "a@example.com")
        assert untrusted.returncode != 0 and "not delivered" in untrusted.stderr
        assert re.search(r"(?i)certificate|SSL", untrusted.stderr), untrusted.stderr
        # A wrong password: refused at AUTH, which is the configuration's trouble, not the message's (not final).
        url_file.write_text(f"smtp://mailer:wrong@localhost:{server.port}\n")
        denied = cli(authd_bin, env, "mail", "test", "--to", "a@example.com")
        assert denied.returncode != 0 and "not delivered" in denied.stderr and "535" in denied.stderr
        # Without STARTTLS forced, auto speaks plain to loopback: this server refuses to authenticate without TLS.
        url_file.write_text(f"smtp://mailer:x@127.0.0.1:{server.port}\n")
        plain = cli(authd_bin, {**env, "JWT_AUTHD_SMTP_TLS": "auto"}, "mail", "test", "--to", "a@example.com")
        assert plain.returncode != 0 and "not delivered" in plain.stderr
        assert len(server.messages()) == 1
        for result in (sent, untrusted, denied, plain):
            assert "p@ss" not in result.stdout + result.stderr and "%40" not in result.stdout + result.stderr
    finally:
        server.stop()


def test_the_mail_server_down_then_back_with_two_supervisors_nothing_lost_nothing_twice(start_site, module_sql):
    """Requests answer 202 while the server is down; both hosts' senders retry (back-off bounded by
    mail.retry_delay) and, once it is back, every message arrives exactly once."""
    port = harness.free_port()
    env = {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    first, second = start_site("host-a", env), start_site("host-b", env)
    addresses = [unique_email(f"down{n}") for n in range(8)]
    for n, address in enumerate(addresses):
        first.client().register(email=address)
    module_sql("DELETE FROM mail_outbox")
    for n, address in enumerate(addresses):
        forgot(first if n % 2 else second, address)
    harness.wait_until(lambda: "mail delayed" in first.worker.log_text() + second.worker.log_text(), 10,
                       "a failed attempt while the server is down")
    assert outbox(module_sql).get("queued") == len(addresses)
    server = SMTPServer(port).start()
    try:
        received = wait_for_messages(server, len(addresses), timeout=20)
        time.sleep(2.5)  # a duplicate, if a message were sent twice, would have come by now
        received = server.messages()
        assert sorted(m.rcpt_tos[0] for m in received) == sorted(addresses)
        ids = [m.message["Message-ID"] for m in received]
        assert len(set(ids)) == len(ids) == len(addresses)
        harness.wait_until(lambda: outbox(module_sql).get("sent") == len(addresses), 5, "every row marked sent")
        logs = first.worker.log_text() + second.worker.log_text()
        assert "mail sent" in first.worker.log_text() or "mail sent" in second.worker.log_text()
        assert "event=mail_retry" in logs
    finally:
        server.stop()


def test_a_5xx_refusal_is_final_and_a_4xx_is_retried(start_site, smtp, module_sql):
    site = start_site("refuse", {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://localhost:{smtp.port}"})
    rejected, busy = unique_email("reject"), unique_email("busy")
    for address in (rejected, busy):
        site.client().register(email=address)
    module_sql("DELETE FROM mail_outbox")
    forgot(site, rejected)
    forgot(site, busy)
    harness.wait_until(lambda: "event=mail_rejected" in site.worker.log_text(), 10, "the refusal to be logged")
    # The sender takes the two in turn: the busy one's answer may come a moment after the refusal's log line.
    harness.wait_until(lambda: "try again later" in module_sql(f"SELECT last_error FROM mail_outbox WHERE recipient = "
                                                               f"'{busy}'"), 10, "the busy server's answer recorded")
    rows = module_sql("SELECT recipient, status, attempts, last_error FROM mail_outbox ORDER BY recipient")
    assert re.search(rf"{re.escape(busy)}\tqueued\t\d+\t451 4.3.0 try again later", rows), rows
    assert re.search(rf"{re.escape(rejected)}\tfailed\t1\t550 5.1.1", rows), rows
    time.sleep(2.5)
    assert f"{rejected}\tfailed\t1\t" in module_sql("SELECT recipient, status, attempts, last_error FROM mail_outbox"), \
        "a refused message is never tried again"
    assert smtp.messages() == []
    # The queue as the admin sees it: the failed one with its reason, the busy one waiting.
    queue = cli(site.binary, site.env, "mail", "queue")
    assert queue.returncode == 0, queue.stderr
    assert "failed 1" in queue.stdout and f"failed  attempts 1  to {rejected}" in queue.stdout
    assert "550 5.1.1" in queue.stdout and f"queued  attempts" in queue.stdout
    failed_id = re.search(rf"^(\S+)  failed  attempts 1  to {re.escape(rejected)}", queue.stdout, re.M).group(1)
    assert cli(site.binary, site.env, "mail", "queue", "--drop", failed_id).returncode == 0
    assert cli(site.binary, site.env, "mail", "queue", "--drop", failed_id).returncode != 0
    assert cli(site.binary, site.env, "mail", "queue", "--retry", "all").returncode == 0


def test_sendmail_transport_through_msmtp(authd_bin, base_env, rundir, smtp):
    """`mail.transport = sendmail` pipes the message to `sendmail -t -i -f <from>`: here msmtp, configured by the
    service user's ~/.msmtprc, relays it to the SMTP server; a relay that is down is "not delivered" (retried)."""
    home = rundir / "msmtp-home"
    home.mkdir(exist_ok=True)
    rc = home / ".msmtprc"
    rc.write_text(f"defaults\ntls off\nauth off\naccount default\nhost 127.0.0.1\nport {smtp.port}\n")
    rc.chmod(0o600)
    env = {**base_env, **SITE, "JWT_AUTHD_MAIL_TRANSPORT": "sendmail", "JWT_AUTHD_SENDMAIL": "/usr/bin/msmtp",
           "HOME": str(home)}
    sent = cli(authd_bin, env, "mail", "test", "--to", "owner@example.com")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "accepted: handed to /usr/bin/msmtp" in sent.stdout
    [received] = smtp.messages()
    assert received.mail_from == "noreply@site.example" and received.rcpt_tos == ["owner@example.com"]
    assert received.message["Subject"] == "Site: test message" and b"\r\r" not in received.data
    rc.write_text(f"defaults\ntls off\nauth off\naccount default\nhost 127.0.0.1\nport {harness.free_port()}\n")
    down = cli(authd_bin, env, "mail", "test", "--to", "owner@example.com")
    assert down.returncode != 0 and "not delivered" in down.stderr and "/usr/bin/msmtp exited with" in down.stderr
    missing = cli(authd_bin, {**env, "JWT_AUTHD_SENDMAIL": "/nonexistent/sendmail"}, "mail", "test", "--to", "o@example.com")
    assert missing.returncode != 0 and "could not be started" in missing.stderr


def test_mail_configuration_mistakes_stop_the_start_naming_the_key(authd_bin, base_env):
    cases = [
        ({"JWT_AUTHD_SMTP_URL": None}, "mail.smtp_url (JWT_AUTHD_SMTP_URL)", "is required"),
        ({"JWT_AUTHD_SMTP_URL": "http://mail.example.com"}, "mail.smtp_url", "smtp://"),
        ({"JWT_AUTHD_SMTP_URL": "smtp://mail.example.com:99999"}, "mail.smtp_url", "port"),
        ({"JWT_AUTHD_SMTP_URL": "smtp://u:p%zz@mail.example.com"}, "mail.smtp_url", "escaped"),
        ({"JWT_AUTHD_SMTP_URL": "smtps://mail.example.com", "JWT_AUTHD_SMTP_TLS": "none"}, "mail.smtp_tls", "smtps"),
        ({"JWT_AUTHD_SMTP_URL": "smtp://mail.example.com", "JWT_AUTHD_SMTP_TLS": "maybe"}, "mail.smtp_tls", "one of"),
        ({"JWT_AUTHD_MAIL_TRANSPORT": "sendmail", "JWT_AUTHD_SENDMAIL": "sendmail"}, "mail.sendmail_path", "absolute"),
    ]
    for overrides, key, words in cases:
        env = {k: v for k, v in {**base_env, **SITE, **overrides}.items() if v is not None}
        result = cli(authd_bin, env, "mail", "test", "--to", "a@example.com")
        assert result.returncode != 0 and key in result.stderr and words in result.stderr, (overrides, result.stderr)
        assert "p%zz" not in result.stderr


VERIFY_LINK = re.compile(r"https://site\.example/auth/verify-email\?token=([A-Za-z0-9_-]{43})")


def link_token(received, pattern=VERIFY_LINK):
    message = received.message
    text = message.get_body(("plain",)).get_content()
    token = pattern.search(text).group(1)
    assert f'href="https://site.example/auth/verify-email?token={token}"' in message.get_body(("html",)).get_content() \
        or pattern is not VERIFY_LINK
    return token


def messages_to(server, address):
    return [m for m in server.messages() if m.rcpt_tos == [address]]


def test_verify_resend_and_change_email_through_nginx(start_site, smtp):
    """Registration mails a verification link; the link's page posts it; the access token and the gate then say
    verified. A change of address mails the new one a link and the old one a notice; the change happens on the
    link; the old address no longer signs in. Tokens are single-use and of one purpose."""
    site = start_site("verify", {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    address = unique_email("verify")
    client = site.client()
    user = client.register(email=address)
    harness.wait_until(lambda: messages_to(smtp, address), 5, "the verification message")
    [welcome] = messages_to(smtp, address)
    assert welcome.message["Subject"] == "Confirm your email address for Site"
    token = link_token(welcome)
    # Opening the link's page consumes nothing: it shows a button that posts the token.
    page = site.client().get(f"/auth/verify-email?token={token}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and f'value="{token}"' in page.text and 'action="/api/auth/email/verify"' in page.text
    gate = client.get("/api/protected/verified/x")
    assert gate.status_code == 403 and gate.json()["code"] == "email_unverified"
    assert client.get("/account", headers={"Accept": "text/html"}).headers["Location"] == "/auth/verify-email?status=unverified"
    assert client.get("/api/protected/x").json()["emailVerified"] == "false"
    # A verification token is no reset token; a reset token is no verification token.
    wrong = site.client().post("/api/auth/password/reset", json={"token": token, "newPassword": "whatever it is"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "reset_token_invalid"
    verified = site.client().post("/api/auth/email/verify", json={"token": token})
    assert verified.status_code == 200 and verified.json()["user"]["emailVerified"] is True
    again = site.client().post("/api/auth/email/verify", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "email_token_invalid"
    assert client.post("/api/auth/refresh").status_code == 200  # the next access token says verified
    assert client.get("/api/protected/verified/x").json()["emailVerified"] == "true"
    assert client.get("/account", headers={"Accept": "text/html"}).status_code == 200
    # Verified: a resend answers the same and mails nothing.
    assert site.client().post("/api/auth/email/verify/resend", json={"email": address}).status_code == 202
    time.sleep(1.5)
    assert len(messages_to(smtp, address)) == 1

    new_address = unique_email("moved")
    wrong_password = client.post("/api/auth/email/change", json={"newEmail": new_address, "password": "not my password"})
    assert wrong_password.status_code == 401
    changed = client.post("/api/auth/email/change", json={"newEmail": new_address, "password": authsite.PASSWORD})
    assert changed.status_code == 202 and changed.json() == {"status": "accepted"}
    harness.wait_until(lambda: messages_to(smtp, new_address) and len(messages_to(smtp, address)) == 2, 5, "both messages")
    notice = messages_to(smtp, address)[-1].message
    assert notice["Subject"] == "Your Site email address is about to change"
    assert new_address in notice.get_body(("plain",)).get_content() and "token=" not in notice.as_string()
    confirm = link_token(messages_to(smtp, new_address)[0])
    assert client.me().json()["user"]["email"] == address, "nothing changes before the link is used"
    done = site.client().post("/api/auth/email/verify", data={"token": confirm},
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 303 and done.headers["Location"] == "/auth/verify-email?status=verified"
    assert client.me().json()["user"] == {**user, "email": new_address, "emailVerified": True}
    site.client().login(new_address)
    assert site.client().post("/api/auth/login", json={"email": address, "password": authsite.PASSWORD}).status_code == 401
    # Taken addresses: the same answer, and nothing mailed.
    other = unique_email("other")
    site.client().register(email=other)
    harness.wait_until(lambda: messages_to(smtp, other), 5, "the other's verification")
    before = len(smtp.messages())
    assert client.post("/api/auth/email/change", json={"newEmail": other, "password": authsite.PASSWORD}).status_code == 202
    time.sleep(1.5)
    assert len(smtp.messages()) == before


def test_a_site_that_requires_verified_addresses(start_site, smtp):
    """Registration signs no one in and mails a link; login answers 403 email_unverified (only with the right
    password) until the address is verified; the resend route needs no session. Enumeration-safe registration
    answers a taken address the same and mails its owner."""
    site = start_site("strict", {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
                                 "JWT_REQUIRE_VERIFIED_EMAIL": "true", "JWT_REGISTRATION_ENUMERATION_SAFE": "true"})
    address = unique_email("strict")
    registered = site.client().post("/api/auth/register", json={"email": address, "password": authsite.PASSWORD})
    assert registered.status_code == 202 and registered.json() == {"status": "verification_required"}
    assert "Set-Cookie" not in registered.headers
    taken = site.client().post("/api/auth/register", json={"email": address.upper(), "password": "another password"})
    assert (taken.status_code, taken.json()) == (202, {"status": "verification_required"})
    harness.wait_until(lambda: len(messages_to(smtp, address)) == 2, 5, "the link and the owner's notice")
    subjects = sorted(m.message["Subject"] for m in messages_to(smtp, address))
    assert subjects == ["Confirm your email address for Site", "You already have a Site account"]
    wrong = site.client().post("/api/auth/login", json={"email": address, "password": "wrong password"})
    assert wrong.status_code == 401
    unverified = site.client().post("/api/auth/login", json={"email": address, "password": authsite.PASSWORD})
    assert unverified.status_code == 403 and unverified.json()["code"] == "email_unverified"
    assert "Set-Cookie" not in unverified.headers
    resent = site.client().post("/api/auth/email/verify/resend", json={"email": address})
    assert resent.status_code == 202
    harness.wait_until(lambda: len(messages_to(smtp, address)) == 3, 5, "the new link")
    newest = messages_to(smtp, address)[-1]
    older = [m for m in messages_to(smtp, address)[:-1] if "verify-email" in m.message.get_body(("plain",)).get_content()]
    stale = site.client().post("/api/auth/email/verify", json={"token": link_token(older[0])})
    assert stale.status_code == 400, "a newer link ends the older one"
    assert site.client().post("/api/auth/email/verify", json={"token": link_token(newest)}).status_code == 200
    site.client().login(address)


def test_templates_from_a_folder_replace_the_built_in_texts(authd_bin, base_env, rundir, smtp):
    folder = rundir / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "test.subject").write_text("Hello from {{site}} to {{email}}\n")
    (folder / "test.html").write_text("<p>{{site}} says hi to {{email}}</p>\n")
    env = {**base_env, **SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "JWT_AUTHD_MAIL_TEMPLATES_DIR": str(folder),
           "JWT_AUTHD_MAIL_FROM": "A&B <noreply@site.example>"}
    sent = cli(authd_bin, env, "mail", "test", "--to", "t@example.com")
    assert sent.returncode == 0, sent.stderr
    message = smtp.messages()[-1].message
    assert message["Subject"] == "Hello from A&B to t@example.com"
    assert message.get_body(("html",)).get_content() == "<p>A&amp;B says hi to t@example.com</p>\n", "escaped in HTML"
    assert "Its mail settings work" in message.get_body(("plain",)).get_content(), "the text part stays built in"
    # Mistakes stop the start, naming the file.
    (folder / "test.txt").write_text("Hi {{nmae}}\n")
    typo = cli(authd_bin, env, "mail", "test", "--to", "t@example.com")
    assert typo.returncode == 78 and "mail.templates_dir" in typo.stderr and "test.txt uses {{nmae}}" in typo.stderr
    (folder / "test.txt").unlink()
    (folder / "pasword-reset.txt").write_text("x")
    stray = cli(authd_bin, env, "mail", "test", "--to", "t@example.com")
    assert stray.returncode == 78 and "pasword-reset.txt is no template" in stray.stderr
    missing = cli(authd_bin, {**env, "JWT_AUTHD_MAIL_TEMPLATES_DIR": str(rundir / "nowhere")}, "mail", "test", "--to", "t@example.com")
    assert missing.returncode == 78 and "is not a readable folder" in missing.stderr


def test_held_answers_leave_nginx_kept_connections_usable(start_site, smtp):
    """The routes that may mail answer after `accounts.mail_answer_time` from the worker's held-answer queue; the kept
    FastCGI connection nginx asked for is handed back afterwards, not closed under it (a close raced nginx's next
    request on that connection: a 502 for a POST)."""
    site = start_site("held", {**SITE, "JWT_AUTHD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    client = site.client()
    statuses = []
    for n in range(30):
        started = time.monotonic()
        response = client.post("/api/auth/password/forgot", json={"email": f"held-{n}@example.com"})
        statuses.append((response.status_code, time.monotonic() - started >= 0.095))
        statuses.append((client.get("/api/auth/health").status_code, True))
    assert statuses == [(202, True), (200, True)] * 30, statuses
    errors = site.nginx.error_log.read_text()
    assert "Broken pipe" not in errors and "prematurely closed" not in errors, errors[-2000:]
