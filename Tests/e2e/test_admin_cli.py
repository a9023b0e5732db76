"""The admin commands against a real MariaDB, and start-up refusing a bad configuration."""

import subprocess

import pytest

import harness
from fcgi_client import fcgi_request

pytestmark = pytest.mark.cli


def cli(authd_bin, env, *args, stdin=""):
    return subprocess.run([authd_bin, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_user_lifecycle_from_the_command_line(authd_bin, base_env, start_worker):
    env = {**base_env, "JWT_ARGON2_MEMORY_KIB": "64", "JWT_ARGON2_ITERATIONS": "1"}
    added = cli(authd_bin, env, "user", "add", "Admin@Example.com", "--name", "Admin", "--role", "admin", "--verified",
                stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert "admin@example.com" in added.stdout
    assert "correct horse" not in added.stdout + added.stderr
    duplicate = cli(authd_bin, env, "user", "add", "admin@example.com", stdin="another password\n")
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    listed = cli(authd_bin, env, "user", "list")
    assert "admin@example.com  admin  verified" in listed.stdout
    assert cli(authd_bin, env, "user", "role", "admin@example.com", "owner").returncode == 0
    assert "owner" in cli(authd_bin, env, "user", "list").stdout
    assert cli(authd_bin, env, "user", "passwd", "admin@example.com", stdin="a new password\n").returncode == 0
    missing = cli(authd_bin, env, "user", "passwd", "nobody@example.com", stdin="whatever pw\n")
    assert missing.returncode != 0 and "no user" in missing.stderr
    empty = cli(authd_bin, env, "user", "passwd", "admin@example.com", stdin="")
    assert empty.returncode != 0

    created = cli(authd_bin, env, "apikey", "create", "admin@example.com", "--name", "deploy", "--days", "30")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("jwta_")
    worker = start_worker(env=env)
    verified = fcgi_request(worker.address, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/auth/verify",
                                             "REQUEST_URI": "/api/auth/verify", "HTTP_X_API_KEY": key,
                                             "REMOTE_ADDR": "127.0.0.1"})
    assert verified.status == 204
    assert verified.headers["x-auth-role"] == "owner" and verified.headers["x-auth-method"] == "api-key"
    key_id = cli(authd_bin, env, "apikey", "list", "admin@example.com").stdout.split()[0]
    assert cli(authd_bin, env, "apikey", "revoke", "admin@example.com", key_id).returncode == 0
    assert cli(authd_bin, env, "apikey", "revoke", "admin@example.com", key_id).returncode != 0
    assert cli(authd_bin, env, "sessions", "revoke", "admin@example.com", "--all").stdout.startswith("revoked 0")
    assert cli(authd_bin, env, "cleanup").returncode == 0
    assert cli(authd_bin, env, "user", "delete", "admin@example.com").returncode == 0
    assert "admin@example.com" not in cli(authd_bin, env, "user", "list").stdout


def test_a_bad_configuration_stops_start_up_naming_the_key(authd_bin, base_env, rundir):
    cases = [
        ({"JWT_ACCESS_SECRET": None}, "tokens.access_secret (JWT_ACCESS_SECRET)"),
        ({"JWT_REFRESH_SECRET": "too-short"}, "tokens.refresh_secret (JWT_REFRESH_SECRET)"),
        ({"DATABASE_URL": "postgres://x@y/z"}, "database.url (DATABASE_URL)"),
        ({"JWT_ACCESS_TTL": "soon"}, "tokens.access_ttl (JWT_ACCESS_TTL)"),
        ({"JWT_ACCESS_KEY_FILE": "/nonexistent.jwk", "JWT_ACCESS_SECRET": None}, "tokens.access_key_file"),
    ]
    for overrides, named in cases:
        env = dict(base_env)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        result = cli(authd_bin, env, "serve", "--listen", f"unix:{rundir}/never.sock")
        assert result.returncode == 78, (overrides, result.stderr)
        assert named in result.stderr, (overrides, result.stderr)
        for secret in (base_env["JWT_ACCESS_SECRET"], base_env["JWT_REFRESH_SECRET"]):
            assert secret not in result.stderr
    # A configuration file that cannot be read: the system's reason, in a sentence.
    missing = cli(authd_bin, base_env, "serve", "--config", f"{rundir}/missing.toml")
    assert missing.returncode == 78
    assert f"{rundir}/missing.toml: cannot be read: check the path and permissions (No such file or directory)" \
        in missing.stderr
    directory = cli(authd_bin, base_env, "serve", "--config", str(rundir))
    assert directory.returncode == 78 and "cannot be read: check the path and permissions (Is a directory)" \
        in directory.stderr
    checked = cli(authd_bin, {**base_env, "JWT_AUTHD_LISTEN": "127.0.0.1:9000"}, "config", "check")
    assert checked.returncode == 0 and "tokens.access_secret = ****" in checked.stdout
    assert base_env["JWT_ACCESS_SECRET"] not in checked.stdout


def test_key_rotation_keeps_old_tokens_valid(authd_bin, base_env, start_worker, rundir):
    env = {**base_env, "JWT_ARGON2_MEMORY_KIB": "64", "JWT_ARGON2_ITERATIONS": "1"}
    assert "access  signs    HS256" in cli(authd_bin, env, "keys", "list").stdout
    old_worker = start_worker(env=env)
    body = b'{"email":"rotate@example.com","password":"correct horse"}'
    registered = fcgi_request(old_worker.address, {
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/auth/register", "REQUEST_URI": "/api/auth/register",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1"}, stdin=body)
    assert registered.status == 201
    old_token = next(value.split("access_token=")[1].split(";")[0] for name, value in registered.header_list
                     if name.lower() == "set-cookie" and value.startswith("access_token="))
    new_key = rundir / "access-new.jwk"
    rotated = cli(authd_bin, env, "keys", "rotate", "--type", "access", "--alg", "EdDSA", "--out", str(new_key))
    assert rotated.returncode == 0, rotated.stderr
    previous = rundir / "access-new.jwk.previous.jwk"
    assert oct(new_key.stat().st_mode & 0o777) == "0o600" and previous.exists()
    assert cli(authd_bin, env, "keys", "rotate", "--type", "access", "--out", str(new_key)).returncode != 0, "never overwrite"
    # An empty value counts as unset (the worker fixture merges over the module's environment).
    env_rotated = {**env, "JWT_ACCESS_KEY_FILE": str(new_key), "JWT_ACCESS_VERIFY_KEY_FILES": str(previous),
                   "JWT_ACCESS_SECRET": ""}
    listed = cli(authd_bin, env_rotated, "keys", "list").stdout
    assert "access  signs    EdDSA" in listed and "access  verifies  HS256" in listed
    new_worker = start_worker(env=env_rotated)
    verified = fcgi_request(new_worker.address, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/auth/verify",
                                                 "REQUEST_URI": "/api/auth/verify", "REMOTE_ADDR": "127.0.0.1",
                                                 "HTTP_AUTHORIZATION": f"Bearer {old_token}"})
    assert verified.status == 204, "a token signed before the rotation still verifies"
    jwks = fcgi_request(new_worker.address, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/.well-known/jwks.json",
                                             "REQUEST_URI": "/.well-known/jwks.json", "REMOTE_ADDR": "127.0.0.1"})
    assert jwks.status == 200 and b'"kty":"OKP"' in jwks.body


def test_a_world_readable_key_file_is_refused(authd_bin, base_env, rundir):
    key = rundir / "loose.jwk"
    made = cli(authd_bin, base_env, "keys", "generate", "--alg", "ES256", "--out", str(key))
    assert made.returncode == 0, made.stderr
    key.chmod(0o644)
    env = {**base_env, "JWT_ACCESS_KEY_FILE": str(key), "JWT_ACCESS_SECRET": ""}
    result = cli(authd_bin, env, "serve", "--listen", f"unix:{rundir}/loose.sock")
    assert result.returncode == 78 and "tokens.access_key_file" in result.stderr and "readable by every user" in result.stderr


def test_a_log_file_that_is_a_symbolic_link_or_not_a_file_is_refused(authd_bin, base_env, rundir, tmp_path):
    """Started as root, a link planted at log.file would make the service append to (and chown) any file."""
    import os
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    os.chmod(victim, 0o600)
    link = tmp_path / "service.log"
    link.symlink_to(victim)
    result = cli(authd_bin, {**base_env, "JWT_AUTHD_LOG_FILE": str(link)}, "serve", "--listen", f"unix:{rundir}/sym.sock")
    assert result.returncode == 78, result.stderr
    assert f"cannot open the log file {link}: it is a symbolic link" in result.stderr
    assert victim.read_text() == "untouched\n" and (victim.stat().st_mode & 0o777) == 0o600
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    result = cli(authd_bin, {**base_env, "JWT_AUTHD_LOG_FILE": str(fifo)}, "serve", "--listen", f"unix:{rundir}/fifo.sock")
    assert result.returncode == 78 and "it is not a regular file" in result.stderr, result.stderr


def test_every_secret_file_must_be_private_and_owned_by_root_or_the_service(authd_bin, base_env, rundir, tmp_path):
    """Not only the signing keys: *_FILE secrets, verify-only keys that can sign, and a configuration file with an
    inline secret are refused when others can read or change them, or when another user owns them."""
    import os
    import pwd

    def serve(env, *args):
        """``config check``: the same checks as a start (ServiceGraph), without serving."""
        merged = {**base_env, **env, "JWT_AUTHD_LISTEN": "127.0.0.1:9"}
        return cli(authd_bin, {k: v for k, v in merged.items() if v is not None}, "config", "check", *args)

    secret = tmp_path / "refresh.secret"
    secret.write_text(base_env["JWT_REFRESH_SECRET"] + "\n")
    for mode, words in [(0o644, "readable by every user"), (0o620, "can be changed by other users"),
                        (0o602, "can be changed by other users")]:
        os.chmod(secret, mode)
        result = serve({"JWT_REFRESH_SECRET": None, "JWT_REFRESH_SECRET_FILE": str(secret)})
        assert result.returncode == 78 and "tokens.refresh_secret" in result.stderr and words in result.stderr, result.stderr
    os.chmod(secret, 0o640)
    env = {"JWT_REFRESH_SECRET": None, "JWT_REFRESH_SECRET_FILE": str(secret)}
    fine = serve(env)
    assert fine.returncode == 0, ("0640 is fine", fine.stderr)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(secret, nobody.pw_uid, nobody.pw_gid)
        result = serve(env)
        assert result.returncode == 78 and f"belongs to uid {nobody.pw_uid}" in result.stderr, result.stderr
        os.chown(secret, 0, 0)
    # A verify-only HS256 key can sign: it is a secret file too.
    hs = tmp_path / "old-hs256.jwk"
    assert cli(authd_bin, base_env, "keys", "generate", "--alg", "HS256", "--out", str(hs)).returncode == 0
    os.chmod(hs, 0o644)
    result = serve({"JWT_ACCESS_VERIFY_KEY_FILES": str(hs)})
    assert result.returncode == 78 and "tokens.access_verify_key_files" in result.stderr, result.stderr
    # A configuration file with an inline secret.
    toml = tmp_path / "inline.toml"
    toml.write_text(f'[tokens]\nrefresh_secret = "{base_env["JWT_REFRESH_SECRET"]}"\n')
    os.chmod(toml, 0o644)
    result = cli(authd_bin, {k: v for k, v in base_env.items() if k != "JWT_REFRESH_SECRET"}, "config", "check",
                 "--config", str(toml), "--listen", "127.0.0.1:9")
    assert result.returncode == 78 and f"{toml} is readable by every user" in result.stderr, result.stderr


def test_mail_deliver_writes_each_queued_message_once_to_the_folder(authd_bin, base_env, mariadb, rundir):
    """#16 (first step): the outbox delivered by ``mail deliver`` through the ``file`` transport: each message as
    ``<id>.eml``, mode 0600 (it holds a live link), once; ``mail queue`` counts. A message is queued by hand here (the
    routes that queue them are the next step)."""
    import os
    import stat
    folder = rundir / "mail-out"
    env = {**base_env, "JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": str(folder),
           "JWT_AUTHD_PUBLIC_URL": "https://site.example"}
    dbname = base_env["DATABASE_URL"].split("?")[0].rsplit("/", 1)[-1]
    message = "From: <a@example.com>\\r\\nTo: <b@example.com>\\r\\nSubject: hi\\r\\n\\r\\nhello\\r\\n"
    mariadb.sql(f"INSERT INTO `{dbname}`.mail_outbox (id, recipient, message, next_attempt_at, created_at) VALUES "
                f"('0190b5a4-0000-7000-8000-00000000e2e1', 'b@example.com', '{message}', NOW(6), NOW(6))")
    assert "queued 1" in cli(authd_bin, env, "mail", "queue").stdout
    first = cli(authd_bin, env, "mail", "deliver", "--once")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "sent 1, retried 0, failed 0"
    written = folder / "0190b5a4-0000-7000-8000-00000000e2e1.eml"
    assert written.read_bytes() == b"From: <a@example.com>\r\nTo: <b@example.com>\r\nSubject: hi\r\n\r\nhello\r\n"
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == [written.name], "no temporary file left"
    assert cli(authd_bin, env, "mail", "deliver", "--once").stdout.strip() == "sent 0, retried 0, failed 0"
    assert "queued 0" in cli(authd_bin, env, "mail", "queue").stdout and "sent 1" in cli(authd_bin, env, "mail", "queue").stdout
    # Without a transport there is nothing to deliver with; without a folder the file transport cannot start.
    off = cli(authd_bin, base_env, "mail", "deliver", "--once")
    assert off.returncode != 0 and "mail.transport is none" in off.stderr
    nofolder = cli(authd_bin, {**base_env, "JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_PUBLIC_URL": "https://site.example"},
                   "mail", "deliver", "--once")
    assert nofolder.returncode == 78 and "mail.file_dir" in nofolder.stderr
    bad = cli(authd_bin, {**base_env, "JWT_AUTHD_MAIL_TRANSPORT": "carrier-pigeon"}, "mail", "queue")
    assert bad.returncode == 78 and "mail.transport" in bad.stderr


def test_serve_starts_the_mail_sender_which_delivers_within_seconds(authd_bin, base_env, mariadb, rundir, start_worker):
    """``serve`` runs the outbox's sender beside its workers when mail leaves at all: a queued message is written
    within 5 s of its commit; the sender stops with the service."""
    import os
    import signal
    import time
    folder = rundir / "mail-served"
    worker = start_worker(env={"JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": str(folder),
                               "JWT_AUTHD_PUBLIC_URL": "https://site.example"})
    dbname = base_env["DATABASE_URL"].split("?")[0].rsplit("/", 1)[-1]
    mariadb.sql(f"INSERT INTO `{dbname}`.mail_outbox (id, recipient, message, next_attempt_at, created_at) VALUES "
                f"('0190b5a4-0000-7000-8000-00000000e2e2', 'c@example.com', 'Subject: served\\r\\n\\r\\nhi\\r\\n', "
                f"NOW(6), NOW(6))")
    written = folder / "0190b5a4-0000-7000-8000-00000000e2e2.eml"
    harness.wait_until(written.exists, 5, "the mail sender to write the message", interval=0.1)
    assert "mail sender started" in harness.tail(worker.log_path)
    senders = subprocess.run(["pgrep", "-P", str(worker.proc.pid), "-f", "mail deliver"], capture_output=True,
                             text=True).stdout.split()
    assert len(senders) == 1, "the sender runs as a child process of the supervisor"
    os.kill(worker.proc.pid, signal.SIGTERM)  # the supervisor only: it must stop its sender itself
    worker.proc.wait(timeout=20)

    def a_sender_runs():
        for pid in senders:
            try:
                with open(f"/proc/{pid}/cmdline") as cmdline:
                    if "mail\x00deliver" in cmdline.read():
                        return True
            except OSError:
                pass
        return False

    harness.wait_until(lambda: not a_sender_runs(), 10, "the mail sender to stop with the service", interval=0.1)

    # A supervisor that is killed outright (no chance to stop its children) takes its sender with it too.
    worker = start_worker(env={"JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_MAIL_DIR": str(folder),
                               "JWT_AUTHD_PUBLIC_URL": "https://site.example"})
    harness.wait_until(lambda: subprocess.run(["pgrep", "-P", str(worker.proc.pid), "-f", "mail deliver"],
                                              capture_output=True).returncode == 0, 5, "the sender to start")
    senders = subprocess.run(["pgrep", "-P", str(worker.proc.pid), "-f", "mail deliver"], capture_output=True,
                             text=True).stdout.split()
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(timeout=20)
    harness.wait_until(lambda: not a_sender_runs(), 10, "the orphaned sender to end", interval=0.1)


def test_mfa_keys_are_checked_at_start_and_rotate_key_runs(authd_bin, base_env, rundir):
    """mfa.encryption_keys: files of 32 random bytes in base64, private to the service; a wrong one stops the start
    naming the key; `mfa rotate-key` re-seals under the first key (nothing to do on a new database)."""
    import base64
    import os
    first, second = rundir / "mfa-k1.key", rundir / "mfa-k2.key"
    for path in (first, second):
        path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        path.chmod(0o600)
    env = {**base_env, "JWT_MFA_ENCRYPTION_KEYS": f"k2:{second},k1:{first}"}
    rotated = cli(authd_bin, env, "mfa", "rotate-key")
    assert rotated.returncode == 0 and "re-sealed 0 factor secrets under k2" in rotated.stdout, rotated.stderr
    short = rundir / "mfa-short.key"
    short.write_text(base64.b64encode(os.urandom(16)).decode())
    short.chmod(0o600)
    for keys, words in ((f"k1:{short}", "must hold 32 random bytes"), (f"k1:{first},k1:{second}", "given twice"),
                        ("k1:relative/path", "ID:/absolute/path"), (f"k1:{rundir}/missing.key", "cannot be read")):
        refused = cli(authd_bin, {**base_env, "JWT_MFA_ENCRYPTION_KEYS": keys}, "mfa", "rotate-key")
        assert refused.returncode == 78 and "mfa.encryption_keys" in refused.stderr and words in refused.stderr, (keys, refused.stderr)
    first.chmod(0o644)
    loose = cli(authd_bin, env, "mfa", "rotate-key")
    assert loose.returncode == 78 and str(first) in loose.stderr, loose.stderr



def test_the_packaged_configuration_is_valid_once_its_secret_files_exist(authd_bin, base_env, tmp_path):
    """#21: the Debian package's /etc/jwt-authd/jwt-authd.toml (deploy/debian) names only keys the service knows and
    needs nothing but the three files it points to: with them in place (here under a temporary folder), ``config
    check`` passes with no environment at all; without them it names each (78)."""
    import os
    from pathlib import Path
    packaged = (Path(__file__).resolve().parents[2] / "deploy/debian/jwt-authd.toml").read_text()
    toml = tmp_path / "jwt-authd.toml"
    toml.write_text(packaged.replace("/etc/jwt-authd/", f"{tmp_path}/"))
    os.chmod(toml, 0o640)
    bare = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    missing = cli(authd_bin, bare, "config", "check", "--config", str(toml))
    assert missing.returncode == 78, missing.stderr
    for key in ("database.url", "tokens.access_secret", "tokens.refresh_secret"):
        assert key in missing.stderr, missing.stderr
    files = {"database-url": base_env["DATABASE_URL"], "access.secret": base_env["JWT_ACCESS_SECRET"],
             "refresh.secret": base_env["JWT_REFRESH_SECRET"]}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
        os.chmod(tmp_path / name, 0o400)
    checked = cli(authd_bin, bare, "config", "check", "--config", str(toml))
    assert checked.returncode == 0, checked.stderr
