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
    forgot(site, address)
    forgot(site, unique_email("nobody"))
    [received] = wait_for_messages(smtp, 1, timeout=5)  # the first attempt within 5 s of the commit
    time.sleep(1.5)
    assert len(smtp.messages()) == 1, "an unknown address gets no mail"
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
    assert "250 2.0.0 Ok: queued as TEST1" in site.worker.log_text()


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
