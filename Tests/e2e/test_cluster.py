"""The cluster tier (#19): jwt-authd on a real 3-node MariaDB Galera cluster (Debian mariadb-server + galera-4 on
loopback, rsync SST; cluster.py), three hosts (supervisors) behind one nginx that sends requests round robin to
them, in two topologies: ``multi-writer`` (each host on its own node, the others after it in its DATABASE_URL) and
``single-node`` (every host on node 1). ``jwt-authd migrate`` runs from the three hosts at once before they start.

Every check prints its counts (answers by status, error codes, ``transaction_retry`` events in the hosts' logs,
Galera certification failures and brute-force aborts, requests per host) before it asserts, in both topologies
alike: no 5xx, limits exact, one successor per rotation.

Clients send ``X-Forwarded-For`` (nginx at 127.0.0.1 is a trusted proxy here), each check from addresses of its
own, so the per-address limits keep their defaults without one check spending another's.
"""

import collections
import email
import email.policy
import json
import os
import random
import re
import secrets
import signal
import threading
import time

import pytest

import cluster
import harness
from authsite import CHEAP_HASHING, PASSWORD, Authenticator, jwt_payload, mfa_key_env, unique_email
from conftest import require
from fcgi_client import fcgi_request, http_params

pytestmark = pytest.mark.cluster

DB_USER = "authd"
SITE = {
    **CHEAP_HASHING,
    "JWT_TRUSTED_PROXIES": "127.0.0.1",
    "JWT_AUTHD_WORKERS": "2",
    # Every login of a check may wait for a hash (the default queue is a quarter of the threads: 503 busy).
    "JWT_PASSWORD_HASH_QUEUE": "64",
    "JWT_AUTHD_LOG_LEVEL": os.environ.get("CLUSTER_LOG_LEVEL", "info"),  # debug: every refresh attempt
    "JWT_AUTHD_MAIL_TRANSPORT": "file",
    "JWT_AUTHD_PUBLIC_URL": "https://site.example",
    "JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>",
    "JWT_AUTHD_MAIL_RETRY_DELAY": "1s",
    "JWT_CLEANUP_INTERVAL": "0s",
    "JWT_MAIL_ANSWER_TIME": "0s",  # forgot answers at once (its equal timing for known and unknown addresses aside)
}
RESET_LINK = re.compile(r"https://site\.example/auth/reset\?token=([A-Za-z0-9_-]{43})")
RESET_SUBJECT = "Reset your Site password"
# As the issue asks: 1,000 sequential rotations (~7 s here) and /me after logins (200 rather than 60: a race that
# fails about 1 in 200 here needs that many to show); 20 rounds of 32 concurrent refreshes.
SEQUENTIAL_ROTATIONS = 1000
LOGINS_THEN_ME = 200
ROUNDS, RACERS = int(os.environ.get("CLUSTER_ROUNDS", "20")), 32
# Seconds between a connection's tries to move back to its preferred node (database.url failback=; default 30).
FAILBACK = 2
BACKLOG = 60  # accounts whose verification and reset messages wait for the stopped senders


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def galera(tmp_path_factory, capture_manager):
    lacking = cluster.missing()
    require(not lacking, f"the cluster tier needs MariaDB with Galera: missing {', '.join(lacking)} "
                         "(apt-get install mariadb-server galera-4 rsync)")
    nodes = cluster.GaleraCluster(tmp_path_factory.mktemp("galera")).start()
    nodes.account = (DB_USER, secrets.token_hex(12))
    nodes.create_account(*nodes.account)
    say(capture_manager, f"3-node Galera cluster synced in {nodes.timings['start']:.1f} s "
                       f"(bootstrap {nodes.timings['bootstrap']:.1f} s, two joins by rsync SST"
                       + (f"; started again after a failed state transfer: {nodes.rejoins}" if nodes.rejoins else "") + ")")
    yield nodes
    nodes.stop()


@pytest.fixture(scope="module")
def capture_manager(request):
    """pytest's capture manager, to print past the capture from a module-scope fixture (capsys is per test)."""
    return request.config.pluginmanager.getplugin("capturemanager")


def say(capture, line):
    """One line of counts in the test output, past pytest's capture (``capsys`` in a test, the capture manager in a
    fixture), as the load tier prints its counts."""
    disabled = capture.global_and_fixture_disabled() if hasattr(capture, "global_and_fixture_disabled") \
        else capture.disabled()
    with disabled:
        print(f"\n[cluster] {line}", flush=True)


@pytest.fixture(scope="module", params=list(cluster.TOPOLOGIES))
def site(request, galera, authd_bin, secret_pair, rundir, capture_manager):
    """Three hosts in one topology behind one nginx, on a database of their own, migrated from the three at once."""
    topology = request.param
    galera.wait_all_synced(60)
    dbname = f"cluster_{topology.split('-')[0]}_{secrets.token_hex(3)}"
    galera.create_database(dbname, galera.account[0])
    env = harness.service_env("", secret_pair, **SITE, **mfa_key_env(rundir),
                              JWT_AUTHD_MAIL_DIR=str(rundir / f"mail-{topology}"))
    hosts = cluster.ClusterSite(authd_bin, galera, env, rundir, topology.split("-")[0], topology,
                                (dbname, *galera.account), url_options=f"failback={FAILBACK}")
    hosts.migrate_all()
    hosts.start()
    hosts.mail_dir = rundir / f"mail-{topology}"
    yield hosts
    hosts.stop()
    galera.drop_database(dbname)


# --- helpers ----------------------------------------------------------------------------------------------------


def fresh_ip():
    """A random private client address (10/8), so that the per-address limits of one check are not another's."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def client_from(site, ip=None):
    return site.client(headers={"X-Forwarded-For": ip or fresh_ip()})


def code_of(response):
    try:
        return response.json().get("code")
    except ValueError:
        return None


class Watch:
    """What a check did to the cluster: ``transaction_retry`` events and other notable log lines of the hosts, Galera
    conflict counters, requests per host, time."""

    def __init__(self, site):
        self.site = site
        self.started = time.monotonic()
        self.requests = site.request_counts()
        self.lines = [len(host.log_text().splitlines()) for host in site.hosts]
        self.conflicts = site.cluster.conflict_counters()

    def new_lines(self):
        lines = []
        for index, host in enumerate(self.site.hosts):
            lines += [f"h{index + 1}: {line}" for line in host.log_text().splitlines()[self.lines[index]:]]
        return lines

    def summary(self):
        lines = self.new_lines()
        retries = [line for line in lines if "event=transaction_retry" in line]
        errnos = collections.Counter(re.search(r"db\.errno=(\d+)", line).group(1) for line in retries
                                     if re.search(r"db\.errno=(\d+)", line))
        errors = [line for line in lines if re.search(r"\b(error|critical)\b", line) and "http.status" not in line]
        conflicts = self.site.cluster.conflict_counters()

        def delta(node, which):
            before, after = self.conflicts.get(node, (0, 0))[which], conflicts[node][which]
            return after - before if after >= before else after  # restarted: counting from 0

        cert = sum(delta(node, 0) for node in conflicts)
        bf = sum(delta(node, 1) for node in conflicts)
        per_host = [after - before for before, after in zip(self.requests, self.site.request_counts())]
        return (f"transaction_retry {len(retries)} {dict(errnos) or ''}; error log lines {len(errors)}; "
                f"cert failures {cert}, bf aborts {bf}; requests per host {per_host}; "
                f"{time.monotonic() - self.started:.1f} s")

    def retries(self):
        """``transaction_retry`` events the hosts logged since the watch began."""
        return sum("event=transaction_retry" in line for line in self.new_lines())

    def error_lines(self, limit=6):
        return [line for line in self.new_lines() if re.search(r"\b(error|critical)\b", line)
                and "http.status" not in line][:limit]


def at_once(count, prepare, act):
    """``act(prepare(i))`` on ``count`` threads released together (each prepared first, e.g. a client with its
    connection to nginx open); the results in order (an exception is a result)."""
    prepared = [prepare(i) for i in range(count)]
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = act(prepared[index])
        except Exception as error:  # a timeout or a reset connection is a result too
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def warm(site, ip=None):
    client = client_from(site, ip)
    client.get("/api/auth/health")  # opens the kept connection to nginx before the race
    return client


def status_counts(responses):
    return collections.Counter(getattr(response, "status_code", type(response).__name__) for response in responses)


def error_codes(responses):
    """``{"503 service_unavailable": n, ...}`` of the answers that are not 2xx (and exceptions by type)."""
    return dict(collections.Counter(
        f"{response.status_code} {code_of(response)}" if hasattr(response, "status_code") else type(response).__name__
        for response in responses if getattr(response, "status_code", 0) // 100 != 2))


def without_5xx(counts):
    return {status for status in counts if isinstance(status, int) and status < 500}


def fivexx(counts):
    return {status: count for status, count in counts.items() if not isinstance(status, int) or status >= 500}


def db(site, statement):
    """SQL on node 1 after it applied everything the cluster committed (wsrep_sync_wait), in the site's database."""
    out = site.cluster.nodes[0].sql(f"SET SESSION wsrep_sync_wait = 15; USE `{site.database[0]}`; {statement}")
    return [line.split("\t") for line in out.splitlines()[1:]]


def host_request(site, index, method, path, body=None, headers=None):
    """One request to host ``index`` over its FastCGI socket directly (through nginx the round robin would pick the
    host): ``(status, the fcgi_client.Response, its JSON body or None)``."""
    data = json.dumps(body).encode() if body is not None else b""
    params = http_params(method, path, body_length=len(data) if body is not None else None,
                         content_type="application/json" if body is not None else None,
                         headers={"X-Forwarded-For": fresh_ip(), **(headers or {})})
    response = fcgi_request(site.hosts[index].address, params, stdin=data, timeout=20)
    try:
        payload = json.loads(response.body) if response.body else None
    except ValueError:
        payload = None
    return response.status, response, payload


def cookie_of(response, name):
    for key, value in response.header_list:
        if key.lower() == "set-cookie" and value.startswith(f"{name}="):
            return value.split(";")[0].split("=", 1)[1]
    return None


def code_of_payload(response):
    try:
        return json.loads(response.body).get("code")
    except (ValueError, AttributeError):
        return None


# --- checks -----------------------------------------------------------------------------------------------------


def test_each_host_uses_the_node_its_url_prefers(site, capsys):
    """``migrate`` ran from the three hosts at once (the fixture): every migration applied once, by one of them;
    health names the node each host is on: the first of its URL."""
    applied = collections.Counter()
    for index in range(len(site.hosts)):
        log = (site.rundir / f"migrate-{site.name}-{index + 1}.log").read_text(errors="replace")
        applied.update(int(version) for version in re.findall(r"migration\.version=(\d+) .*applying migration", log))
    versions = [int(row[0]) for row in db(site, "SELECT version FROM schema_migrations ORDER BY version")]
    answers = []
    for index, order in enumerate(site.orders):
        status, body = site.host_health(index)
        answers.append(body)
        assert status == 200, body
        assert json.loads(body) == {"status": "ok", "database": "ok", "node": site.cluster.nodes[order[0]].address}
    say(capsys, f"{site.topology}: migrate from 3 hosts at once ({site.migrate_seconds:.1f} s): schema versions "
                f"{versions}, applications per version {sorted(set(applied.values()))}; health {answers}")
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 9, versions
    assert applied == {version: 1 for version in versions}, applied


def sequential_refreshes(site, rotations):
    """One client refreshing ``rotations`` times in a row through the round robin (each request to the next host);
    after a refusal it signs in again and goes on. Returns (statuses, error codes, rotations before each refusal)."""
    client = client_from(site)
    email = unique_email("seq")
    client.register(email=email)
    counts, codes, broken_after = collections.Counter(), collections.Counter(), []
    since_login = 0
    for _ in range(rotations):
        response = client.post("/api/auth/refresh")
        counts[response.status_code] += 1
        since_login += 1
        if response.status_code != 200:
            codes[f"{response.status_code} {code_of(response)}"] += 1
            broken_after.append(since_login)
            since_login = 0
            client.jar.clear()
            client.login(email)
    return counts, codes, broken_after


def me_after_logins(site, logins):
    """``logins`` sign-ins of one account, each followed at once by /me (through the next host)."""
    email = unique_email("me")
    client_from(site).register(email=email)
    counts, codes = collections.Counter(), collections.Counter()
    for _ in range(logins):
        client = client_from(site)
        client.login(email)
        response = client.me()
        counts[response.status_code] += 1
        if response.status_code != 200:
            codes[f"{response.status_code} {code_of(response)}"] += 1
    return counts, codes


def test_reads_right_after_a_write_through_another_host(site, capsys):
    """One client refreshing sequentially through the round robin (1,000 rotations), and /me right after each of
    200 logins: never a 5xx and never a 401, on either topology. (Before the causal re-reads, the multi-writer
    topology measured 0 to 9 401s per 1,000 rotations and 0 to 4 per 200 logins: the next node had not applied the
    previous write yet. A read whose empty answer would refuse is now read again with wsrep_sync_wait.)"""
    reads_after_writes(site, site.topology, SEQUENTIAL_ROTATIONS, LOGINS_THEN_ME, capsys)


def reads_after_writes(site, label, rotations, logins, capsys):
    """One client refreshing ``rotations`` times in a row through the round robin, then /me right after each of
    ``logins`` logins, printed under ``label``: every answer 200."""
    watch = Watch(site)
    refreshes, refresh_codes, broken_after = sequential_refreshes(site, rotations)
    say(capsys, f"{label}: {rotations} sequential refreshes: {dict(refreshes)} {dict(refresh_codes)}; "
                f"logged out after {broken_after[:12]} rotations; {watch.summary()}")
    watch = Watch(site)
    me, me_codes = me_after_logins(site, logins)
    say(capsys, f"{label}: /me right after each of {logins} logins: {dict(me)} {dict(me_codes)}; {watch.summary()}")
    assert not fivexx(refreshes) and not fivexx(me), (refresh_codes, me_codes)
    assert refreshes == {200: rotations} and me == {200: logins}, (refresh_codes, me_codes)


def account_with_host_two_warm(site, prefix):
    """A new account (password PASSWORD), signed in through host 1, whose access token then goes to host 2 on
    every one of its threads at once: each thread opens its connection now, on host 2's first node (a connection
    opened while that node is desynced would pass it by). Returns its address."""
    email = unique_email(prefix)
    client_from(site).register(email=email)
    status, login, _ = host_request(site, 0, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, login.body
    bearer = {"Authorization": f"Bearer {cookie_of(login, 'access_token')}"}
    warmed = at_once(2 * site.threads + 16, lambda _: None,
                     lambda _: host_request(site, 1, "GET", "/api/auth/me", headers=bearer)[0])
    assert set(warmed) == {200}, collections.Counter(warmed)
    return email


def lagging_reads(site, node, probes=3, pause=1.5):
    """Writes through host 1 while ``node``'s appliers are paused (:meth:`cluster.GaleraNode.pause_applying`, for
    ``pause`` seconds), then the read that depends on them through host 2: a login then /me with its access token,
    and a rotation then a refresh with the new refresh token. Host 2's threads are first given their connections
    (on host 2's first node), since a connection opened during the pause would pass the desynced node by.
    Returns ``{"me": [(status, code, seconds)], "refresh": [...]}``."""
    email = account_with_host_two_warm(site, "lag")
    reads = {"me": [], "refresh": []}
    for _ in range(probes):
        session = node.pause_applying()
        timer = threading.Timer(pause, node.release, args=(session,))
        timer.start()
        try:
            status, login, _ = host_request(site, 0, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
            assert status == 200, login.body
            started = time.monotonic()
            status, me, _ = host_request(site, 1, "GET", "/api/auth/me",
                                         headers={"Authorization": f"Bearer {cookie_of(login, 'access_token')}"})
            reads["me"].append((status, code_of_payload(me), round(time.monotonic() - started, 2)))
            status, rotated, body = host_request(site, 0, "POST", "/api/auth/refresh",
                                                 {"refreshToken": cookie_of(login, "refresh_token")})
            assert status == 200, rotated.body
            started = time.monotonic()
            status, refreshed, _ = host_request(site, 1, "POST", "/api/auth/refresh",
                                                {"refreshToken": body["refreshToken"]})
            reads["refresh"].append((status, code_of_payload(refreshed), round(time.monotonic() - started, 2)))
        finally:
            timer.join()
            node.release(session)
        node.wait_synced(30)
    return reads


def lagging_sign_ins(site, node, probes=2, pause=1.5):
    """Sign-ins through host 2 that depend on writes through host 1 made while ``node``'s appliers are paused (for
    ``pause`` seconds each time): ``probes`` times a password change, then logins with the old password and the new
    (the old one first, then the new one first); once a TOTP factor added, then a login with the password. Returns ``{"old": [(status, code,
    seconds)], "new": [...], "factor": [(status, mfaRequired, access cookie set, seconds)]}``. (Host 2's threads get
    their connections first, as in :func:`lagging_reads`.)"""
    email = account_with_host_two_warm(site, "lagsign")
    password = PASSWORD
    results = {"old": [], "new": [], "factor": []}

    def paused(write_then_read):
        session = node.pause_applying()
        timer = threading.Timer(pause, node.release, args=(session,))
        timer.start()
        try:
            write_then_read()
        finally:
            timer.join()
            node.release(session)
        node.wait_synced(30)

    def sign_in(password, into):
        started = time.monotonic()
        status, response, body = host_request(site, 1, "POST", "/api/auth/login", {"email": email, "password": password})
        into.append((status, code_of_payload(response), round(time.monotonic() - started, 2)))
        return status, response, body, started

    for probe in range(probes):
        def change_then_sign_in(probe=probe):
            nonlocal password
            new = f"{PASSWORD} {probe}"
            status, login, _ = host_request(site, 0, "POST", "/api/auth/login", {"email": email, "password": password})
            assert status == 200, login.body
            status, changed, _ = host_request(site, 0, "POST", "/api/auth/password",
                                              {"currentPassword": password, "newPassword": new},
                                              headers={"Cookie": f"access_token={cookie_of(login, 'access_token')}"})
            assert status == 200, changed.body
            # Whichever comes first meets the node still behind: the old password first, then the new one first.
            order = [(password, results["old"]), (new, results["new"])]
            for attempt, into in (order if probe % 2 == 0 else order[::-1]):
                sign_in(attempt, into)
            password = new
        paused(change_then_sign_in)

    def add_factor_then_sign_in():
        status, login, _ = host_request(site, 0, "POST", "/api/auth/login", {"email": email, "password": password})
        assert status == 200, login.body
        cookie = {"Cookie": f"access_token={cookie_of(login, 'access_token')}"}
        status, begun, body = host_request(site, 0, "POST", "/api/auth/mfa/totp", {}, headers=cookie)
        assert status == 200, begun.body
        app = Authenticator(re.search(r"secret=([A-Z2-7]+)", body["otpauthUri"]).group(1))
        status, confirmed, _ = host_request(site, 0, "POST", "/api/auth/mfa/totp/confirm", {"code": app.code()},
                                            headers=cookie)
        assert status == 200, confirmed.body
        started = time.monotonic()
        status, response, body = host_request(site, 1, "POST", "/api/auth/login", {"email": email, "password": password})
        results["factor"].append((status, (body or {}).get("mfaRequired"), bool(cookie_of(response, "access_token")),
                                  round(time.monotonic() - started, 2)))
    paused(add_factor_then_sign_in)
    return results


def test_reads_through_a_node_that_lags(site, capsys):
    """Node 2's appliers paused for 1.5 s (FLUSH TABLES WITH READ LOCK, as a backup tool takes it): a session and a
    refresh token written through host 1 are read through host 2, three times each; a password changed and a factor
    added through host 1 decide the sign-ins through host 2 at once (the old password refused, the new one let in,
    the factor asked for). Where host 2 is on node 2
    (multi-writer) the read must wait for the node to catch up rather than refuse a valid session or token; where
    every host is on node 1 nothing lags."""
    watch = Watch(site)
    reads = lagging_reads(site, site.cluster.nodes[1])
    signs = lagging_sign_ins(site, site.cluster.nodes[1])
    say(capsys, f"{site.topology}: reads through host 2 while node 2 lags (paused 1.5 s): /me after a login "
                f"{reads['me']}; refresh after a rotation {reads['refresh']}; after a password change through host 1, "
                f"login with the old password {signs['old']}, the new {signs['new']}; after a factor added through "
                f"host 1, login (status, mfaRequired, session cookie, s) {signs['factor']}; {watch.summary()}")
    statuses = [status for status, _, _ in reads["me"] + reads["refresh"]]
    # A read whose empty answer would refuse waits for the node to catch up (the causal re-read) instead.
    assert statuses == [200] * 6, reads
    # A sign-in reads the account causally: never the old password, never the new refused, never a factor skipped.
    assert [(status, code) for status, code, _ in signs["old"]] == [(401, "invalid_credentials")] * 2, signs
    assert [status for status, _, _ in signs["new"]] == [200] * 2, signs
    assert [entry[:3] for entry in signs["factor"]] == [(200, True, False)], signs


def test_sync_wait_makes_reads_causal(site, authd_bin, rundir, capsys):
    """Three more hosts whose URL sets ``sync-wait=1`` (a read waits until its node has applied what the cluster
    committed before it): the lagging-node reads wait for node 2 and succeed, and 1,000 sequential refreshes and /me
    after 200 logins never answer 401. Multi-writer only (on one node reads are causal anyway)."""
    if site.topology != "multi-writer":
        pytest.skip("every host on one node: reads are causal without sync-wait")
    hosts = cluster.ClusterSite(authd_bin, site.cluster, site.env, rundir, f"{site.name[:5]}sw", site.topology,
                                site.database, url_options="sync-wait=1").start()
    try:
        watch = Watch(hosts)
        reads = lagging_reads(hosts, site.cluster.nodes[1])
        refreshes, refresh_codes, _ = sequential_refreshes(hosts, SEQUENTIAL_ROTATIONS)
        me, me_codes = me_after_logins(hosts, LOGINS_THEN_ME)
        say(capsys, f"{site.topology} with sync-wait=1: while node 2 lags /me {reads['me']}, refresh "
                    f"{reads['refresh']}; {SEQUENTIAL_ROTATIONS} sequential refreshes {dict(refreshes)} "
                    f"{dict(refresh_codes)}; /me after {LOGINS_THEN_ME} logins {dict(me)} {dict(me_codes)}; "
                    f"{watch.summary()}")
        assert [status for status, _, _ in reads["me"] + reads["refresh"]] == [200] * 6, reads
        assert refreshes == {200: SEQUENTIAL_ROTATIONS} and me == {200: LOGINS_THEN_ME}, (refresh_codes, me_codes)
    finally:
        hosts.stop()


def race_refreshes(site, token, count=RACERS):
    """``count`` refreshes of one refresh token at once (body mode), spread by nginx over the hosts."""
    return at_once(count, lambda _: warm(site),
                   lambda client: client.post("/api/auth/refresh", cookies=False, json={"refreshToken": token}))


def live_tokens(site, family):
    rows = db(site, f"SELECT COUNT(*) FROM refresh_tokens WHERE family = '{family}' AND revoked_at IS NULL "
                    "AND rotated_at IS NULL AND replaced_by IS NULL AND expires_at > UTC_TIMESTAMP(6)")
    return int(rows[0][0])


def family_size(site, family):
    """Refresh tokens the family has had: 1 + the rotations (a token rotated twice adds one more)."""
    return int(db(site, f"SELECT COUNT(*) FROM refresh_tokens WHERE family = '{family}'")[0][0])


def family_rows(site, family):
    """The family's tokens (id, replaced_by, rotated_at, revoked_at), for an assertion's message."""
    return db(site, f"SELECT id, replaced_by, rotated_at, revoked_at FROM refresh_tokens WHERE family = '{family}' "
                    "ORDER BY created_at")


def session_revoked(site, family):
    return db(site, f"SELECT revoked_at IS NOT NULL FROM sessions WHERE id = '{family}'")[0][0] == "1"


def successor_ids(responses):
    """The ``jti`` of each refresh token handed out in a 200 answer (a grace answer repeats the winner's)."""
    return {jwt_payload(response.json()["refreshToken"])["jti"] for response in responses
            if getattr(response, "status_code", None) == 200}


def racing_rounds_with_grace(site, rounds, label, capsys):
    """``rounds`` rounds of RACERS refreshes at once of one session's token (each round presents the successor of
    the one before), asserting per round one successor in every pair handed out and one live token; the counts
    printed under ``label``. Returns the answers by status, the error codes, the family, its number of tokens and
    the :class:`Watch` of the rounds."""
    watch = Watch(site)
    client = client_from(site)
    client.register()
    token = client.refresh_token
    family = jwt_payload(token)["family"]
    totals, codes = collections.Counter(), collections.Counter()
    for _ in range(rounds):
        responses = race_refreshes(site, token)
        totals.update(status_counts(responses))
        codes.update(error_codes(responses))
        successors = successor_ids(responses)
        assert len(successors) == 1, (status_counts(responses), successors, family_rows(site, family))
        assert live_tokens(site, family) == 1, family_rows(site, family)
        token = next(response.json()["refreshToken"] for response in responses
                     if getattr(response, "status_code", None) == 200)
    size = family_size(site, family)
    say(capsys, f"{label}: {rounds} rounds x {RACERS} concurrent refreshes of one token (grace 10 s): "
                f"{dict(totals)} {dict(codes)}; one successor per round, one live token; the family's tokens {size} "
                f"(1 + {rounds} rotations); {watch.summary()}")
    return totals, codes, family, size, watch


def test_concurrent_refreshes_of_one_token_never_fork_the_family(site, capsys):
    """20 rounds × 32 refreshes of one token at once over the three hosts (grace 10 s): every answer that is a pair
    carries the same successor, one refresh token of the family is live, nobody is logged out, no 5xx."""
    totals, codes, family, size, watch = racing_rounds_with_grace(site, ROUNDS, site.topology, capsys)
    assert not session_revoked(site, family) and size == 1 + ROUNDS, size
    assert totals == {200: ROUNDS * RACERS}, (codes, watch.error_lines())


def racing_rounds_without_grace(hosts, rounds, label, capsys):
    """``rounds`` rounds of RACERS refreshes at once of a new session's token, on hosts whose grace window is 0,
    asserting per round: never two live successors; a revoked family has none, was answered ``token_reused``, and
    the successors handed out in that round are refused afterwards; a kept family has one successor and no
    ``token_reused``; the family never has two successors of its token; the counts printed under ``label``.
    Returns the answers by status, the error codes, the families by outcome, the rounds whose 200 answers named two
    different successors (answers, the successors, the family's rows, the hosts' log lines of the family: asserted
    by the caller) and the :class:`Watch` of the rounds."""
    watch = Watch(hosts)
    totals, codes, outcomes = collections.Counter(), collections.Counter(), collections.Counter()
    double = []
    for _ in range(rounds):
        client = client_from(hosts)
        client.register()
        family = jwt_payload(client.refresh_token)["family"]
        responses = race_refreshes(hosts, client.refresh_token)
        counts = status_counts(responses)
        totals.update(counts)
        round_codes = collections.Counter(code_of(response) for response in responses
                                          if getattr(response, "status_code", 200) != 200
                                          and hasattr(response, "json"))
        codes.update(round_codes)
        successors = successor_ids(responses)
        handed_out = [response.json()["refreshToken"] for response in responses
                      if getattr(response, "status_code", None) == 200]
        revoked, live, size = session_revoked(hosts, family), live_tokens(hosts, family), family_size(hosts, family)
        outcomes["revoked" if revoked else "kept"] += 1
        # A token has one successor row at most (the conditional update, and the schema's unique `replaces`).
        assert size <= 2, (counts, size, family_rows(hosts, family))
        if len(successors) > 1:
            # With CLUSTER_LOG_LEVEL=debug the hosts log every attempt's decision (refresh_attempt) by family.
            attempts = [f"h{index + 1}: {line}" for index, host in enumerate(hosts.hosts)
                        for line in host.log_text().splitlines() if family in line]
            double.append((dict(counts), sorted(successors), family_rows(hosts, family), attempts))
        # Never two live successors; a revoked family has none, and its revocation was answered token_reused.
        assert live <= 1, (counts, round_codes, live, family_rows(hosts, family))
        if revoked:
            assert live == 0 and round_codes["token_reused"] >= 1, (counts, round_codes, live)
            for successor in set(handed_out):
                again = client_from(hosts).post("/api/auth/refresh", cookies=False, json={"refreshToken": successor})
                assert again.status_code == 401, again.text
        else:
            assert live == 1 and round_codes["token_reused"] == 0 and len(successors) == 1, (counts, live)
    say(capsys, f"{label}: {rounds} rounds x {RACERS} concurrent refreshes: {dict(totals)} codes {dict(codes)}; "
                f"families {dict(outcomes)}; rounds whose 200 answers named two successors {double}; rotations "
                f"whose commit did not hold (run again) "
                f"{sum('event=rotation_not_committed' in line for line in watch.new_lines())}; {watch.summary()}")
    return totals, codes, outcomes, double, watch


def test_grace_0_revokes_a_family_only_on_true_reuse(site, authd_bin, rundir, capsys):
    """With ``tokens.refresh_grace = 0s`` (three more hosts): 20 rounds × 32 refreshes of one token at once never
    leave two live successors (one successor at most, and none live once the family is revoked), and a family is
    revoked only together with a ``token_reused`` answer. Without a grace window every presentation of a token
    after its rotation is reuse, so a round of 32 revokes its family on one server too; a request that lost a race
    between nodes after its own update had won locally (certification, 1213) gets the winner's pair instead. No
    race, no revocation: sequential rotations through every host revoke nothing; a replay of a rotated token (true
    reuse) revokes the family with its newest token."""
    hosts = cluster.ClusterSite(authd_bin, site.cluster, {**site.env, "JWT_REFRESH_GRACE": "0s"}, rundir,
                                f"{site.name[:5]}g0", site.topology, site.database).start()
    try:
        totals, codes, outcomes, double, watch = racing_rounds_without_grace(
            hosts, ROUNDS, f"{site.topology} grace 0", capsys)

        # No race: sequential rotations through the round robin revoke nothing (a 401 here is a read that is not
        # causal yet: counted, and the chain goes on from a new login).
        sequential = collections.Counter()
        client = client_from(hosts)
        email = unique_email("g0")
        client.register(email=email)
        for _ in range(30):
            response = client.post("/api/auth/refresh")
            sequential[(response.status_code, code_of(response) if response.status_code != 200 else None)] += 1
            if response.status_code != 200:
                client.jar.clear()
                client.login(email)
        assert not any(code == "token_reused" for _, code in sequential), sequential
        # True reuse: a rotated token presented again, on every host in turn.
        replays = collections.Counter()
        for _ in range(3):
            client = client_from(hosts)
            client.register()
            old = client.refresh_token
            assert client.post("/api/auth/refresh").status_code == 200
            newest = client.refresh_token
            time.sleep(0.5)
            replay = client_from(hosts).post("/api/auth/refresh", cookies=False, json={"refreshToken": old})
            replays[(replay.status_code, code_of(replay))] += 1
            assert (replay.status_code, code_of(replay)) == (401, "token_reused"), replay.text
            family = jwt_payload(newest)["family"]
            assert session_revoked(hosts, family) and live_tokens(hosts, family) == 0
        say(capsys, f"{site.topology} grace 0: 30 sequential refreshes {dict(sequential)}; replays of a rotated "
                    f"token {dict(replays)} (family revoked each time)")
        assert not fivexx(totals), (totals, watch.error_lines())
        # Two 200 answers of one round naming different successors while the family holds one: one answer named a
        # token that does not exist (a node had answered OK to the COMMIT of a rotation the cluster did not keep; 1
        # round in ~40 before SessionService read rotations back on Galera).
        assert not double, double
    finally:
        hosts.stop()


def throttle_count(site, scope, subject):
    """The count of ``scope`` for ``subject`` (an address or an ASCII email, stored as the SHA-256 of scope, NUL,
    subject), or 0."""
    rows = db(site, f"SELECT failures FROM auth_throttle WHERE scope = '{scope}' AND subject = "
                    f"UNHEX(SHA2(CONCAT('{scope}', CHAR(0), '{subject}'), 256))")
    return int(rows[0][0]) if rows else 0


def test_concurrent_registrations(site, capsys):
    """One address registered 12 times at once (6 rounds): one account, one 201, the rest 409. 32 different addresses
    at once, each from a client address of its own (2 rounds): 32 accounts. 64 at once from one client address (4
    rounds): exactly the 20 of the per-address limit each time, and the address's count equal to the attempts
    answered. No 5xx."""
    watch = Watch(site)
    same, codes = collections.Counter(), collections.Counter()
    for _ in range(6):
        email = unique_email("same")
        responses = at_once(12, lambda _: warm(site), lambda client: client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}))
        counts = status_counts(responses)
        same.update(counts)
        codes.update(error_codes(responses))
        accounts = int(db(site, f"SELECT COUNT(*) FROM users WHERE email = '{email}'")[0][0])
        assert counts[201] <= 1 and without_5xx(counts) <= {201, 409} and accounts <= 1, (counts, accounts)
    different, different_watch = collections.Counter(), Watch(site)
    for _ in range(2):
        responses = at_once(32, lambda _: warm(site), lambda client: client.post(
            "/api/auth/register", json={"email": unique_email("diff"), "password": PASSWORD}))
        different.update(status_counts(responses))
        codes.update(error_codes(responses))
    different_retries = different_watch.retries()
    assert without_5xx(different) <= {201}, different
    limited, rounds = collections.Counter(), []
    for _ in range(4):
        ip = fresh_ip()
        responses = at_once(64, lambda _: warm(site, ip), lambda client: client.post(
            "/api/auth/register", json={"email": unique_email("lim"), "password": PASSWORD}))
        counts = status_counts(responses)
        limited.update(counts)
        codes.update(error_codes(responses))
        # Every attempt answered 201 or 429 committed its reservation; one answered 5xx may have (it failed after).
        counted = throttle_count(site, "register_ip", ip)
        rounds.append((dict(counts), counted, "OVER THE LIMIT" if counts[201] > 20 else "",
                       "LOST COUNTS" if counted < counts[201] + counts[429] else ""))
        assert without_5xx(counts) <= {201, 429} and counted <= 64, rounds
        assert counts[201] <= 20 and counted >= counts[201] + counts[429], rounds
    say(capsys, f"{site.topology}: registrations: 6 x 12 at once of one address {dict(same)}; 2 x 32 different "
                f"addresses at once {dict(different)} (transaction_retry {different_retries}); 4 x 64 at once from "
                f"one client address (limit 20; answers, the address's count) {rounds}; codes {dict(codes)}; "
                f"{watch.summary()}")
    assert not fivexx(same + different + limited), (dict(codes), watch.error_lines())
    if site.topology == "single-node":
        # Every host on one node: no certification conflict can happen, and a new account's verification token takes
        # no gap lock (OneTimeTokenStore.replace skips retiring older tokens for it): no re-run at all.
        assert different_retries == 0, different_retries
    assert same == {201: 6, 409: 66} and different == {201: 64} and limited == {201: 80, 429: 176}, rounds
    assert all(counted == 64 for _, counted, _, _ in rounds), rounds


def test_concurrent_logins_and_throttle_counts(site, capsys):
    """Per round (4): 8 right-password logins of one account at once (fewer than its limit of 10, which counts an
    attempt before its password is checked): 8 sessions; 32 wrong-password logins of
    another at once from one client address (limit 10 per account): at most 10 passwords checked (401), the rest
    throttled (429), and the account's count equals the attempts answered (each counted once, none twice); 16 right
    and 16 wrong at once on a third: answers of those kinds only. No 5xx."""
    watch = Watch(site)
    right, wrong, mixed = collections.Counter(), collections.Counter(), collections.Counter()
    codes, rounds = collections.Counter(), []
    for _ in range(4):
        right_email, wrong_email, mixed_email = unique_email("right"), unique_email("wrong"), unique_email("mixed")
        for address in (right_email, wrong_email, mixed_email):
            client_from(site).register(email=address)
        responses = at_once(8, lambda _: warm(site), lambda client: client.post(
            "/api/auth/login", json={"email": right_email, "password": PASSWORD}))
        counts = status_counts(responses)
        sessions = {jwt_payload(client_token(response))["family"] for response in responses
                    if getattr(response, "status_code", None) == 200}
        assert counts[200] == len(sessions) and without_5xx(counts) <= {200}, counts
        right.update(counts)
        codes.update(error_codes(responses))
        ip = fresh_ip()
        responses = at_once(32, lambda _: warm(site, ip), lambda client: client.post(
            "/api/auth/login", json={"email": wrong_email, "password": "not the password"}))
        wrong_round = status_counts(responses)
        counted = throttle_count(site, "login_account", wrong_email)
        assert without_5xx(wrong_round) <= {401, 429} and counted <= 32, (wrong_round, counted)
        assert wrong_round[401] <= 10 and counted >= wrong_round[401] + wrong_round[429], (wrong_round, counted)
        wrong.update(wrong_round)
        codes.update(error_codes(responses))
        responses = at_once(32, lambda i: (warm(site), PASSWORD if i % 2 == 0 else "not the password"),
                            lambda pair: pair[0].post("/api/auth/login",
                                                      json={"email": mixed_email, "password": pair[1]}))
        counts = status_counts(responses)
        assert without_5xx(counts) <= {200, 401, 429}, counts
        mixed.update(counts)
        codes.update(error_codes(responses))
        rounds.append((dict(wrong_round), counted, "OVER THE LIMIT" if wrong_round[401] > 10 else "",
                       "LOST COUNTS" if counted < wrong_round[401] + wrong_round[429] else ""))
    say(capsys, f"{site.topology}: logins, 4 rounds: 8 right at once {dict(right)}; 32 wrong at once (limit 10; "
                f"answers, the account's count) {rounds}; 16 right + 16 wrong at once {dict(mixed)}; codes "
                f"{dict(codes)}; {watch.summary()}")
    assert not fivexx(right + wrong + mixed), (dict(codes), watch.error_lines())
    assert right == {200: 32} and wrong == {401: 40, 429: 88}, (right, wrong)
    assert all(counted == 32 for _, counted, _, _ in rounds), rounds


def client_token(response):
    """The refresh cookie a login answer sets."""
    for header in response.raw.headers.getlist("Set-Cookie"):
        if header.startswith("refresh_token="):
            return header.split(";")[0].split("=", 1)[1]
    return None


class MailFolder:
    """The file transport's folder (any host's sender may write a message there), read once per file: ``(subject,
    recipient)`` of each ``.eml`` and its parsed message."""

    def __init__(self, folder):
        self.folder = folder
        self.seen = {}  # file name -> (subject, recipient, message)

    def messages(self, address, subject):
        if self.folder.is_dir():
            for path in self.folder.glob("*.eml"):
                if path.name not in self.seen:
                    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                    self.seen[path.name] = (message["Subject"], message["To"].addresses[0].addr_spec, message)
        return [message for found_subject, to, message in self.seen.values()
                if (found_subject, to) == (subject, address)]


_mail_folders = {}


def messages_to(site, address, subject):
    """The messages to ``address`` with ``subject`` that the hosts' senders wrote so far."""
    folder = _mail_folders.setdefault(site.mail_dir, MailFolder(site.mail_dir))
    return folder.messages(address, subject)


def reset_message(site, address):
    """The reset message to ``address``: from the mail folder, or while it is still queued, from the outbox (which
    keeps a message until it is sent): the token check does not wait on the senders (see the backlog test)."""
    sent = messages_to(site, address, RESET_SUBJECT)
    if sent:
        return sent[0]
    rows = db(site, f"SELECT HEX(message) FROM mail_outbox WHERE recipient = '{address}' AND status = 'queued'")
    for (blob,) in rows:
        message = email.message_from_bytes(bytes.fromhex(blob), policy=email.policy.default)
        if message["Subject"] == RESET_SUBJECT:
            return message
    return None


def reset_token(message):
    return RESET_LINK.search(message.get_body(("plain",)).get_content()).group(1)


def test_a_reset_token_used_twice_at_once_works_once(site, capsys):
    """Ten accounts each ask for a reset link, and each link is posted 8 times at once over the hosts, each post with
    a password of its own: one 200, seven 400 reset_token_invalid, no 5xx, and the password that works afterwards is
    the 200's (through two nodes two posts can both commit; the one the cluster kept is read back from the token's
    claim, and the other answers as a used link)."""
    watch = Watch(site)
    accounts = 10
    addresses = [unique_email("reset") for _ in range(accounts)]
    for address in addresses:
        client_from(site).register(email=address)
        response = client_from(site).post("/api/auth/password/forgot", json={"email": address})
        assert response.status_code == 202, response.text
    def collected():
        found = [reset_message(site, address) for address in addresses]
        return found if all(found) else None

    messages = harness.wait_until(collected, 10, "the reset messages (sent or queued)", interval=0.2)
    totals, codes = collections.Counter(), collections.Counter()
    for index, (address, message) in enumerate(zip(addresses, messages)):
        token = reset_token(message)
        passwords = [f"new password {index}-{post}" for post in range(8)]
        responses = at_once(8, lambda post: (warm(site), passwords[post]), lambda prepared: prepared[0].post(
            "/api/auth/password/reset", json={"token": token, "newPassword": prepared[1]}))
        counts = status_counts(responses)
        totals.update(counts)
        codes.update(error_codes(responses))
        assert counts[200] <= 1 and without_5xx(counts) <= {200, 400}, counts
        if counts[200] == 1:
            won = next(post for post, response in enumerate(responses) if getattr(response, "status_code", 0) == 200)
            signed_in = client_from(site).post("/api/auth/login", json={"email": address, "password": passwords[won]})
            assert signed_in.status_code == 200, (signed_in.text, "the 200's password is the account's")
            lost = passwords[(won + 1) % len(passwords)]
            refused = client_from(site).post("/api/auth/login", json={"email": address, "password": lost})
            assert refused.status_code == 401, (refused.text, "a 400's password is not")
    say(capsys, f"{site.topology}: reset links: {accounts} links x 8 posts at once {dict(totals)} {dict(codes)}; resets "
                f"whose commit did not hold (answered 400) "
                f"{sum('event=single_use_not_committed' in line for line in watch.new_lines())}; {watch.summary()}")
    assert not fivexx(totals), (codes, watch.error_lines())
    assert totals == {200: accounts, 400: 7 * accounts}, totals


def test_a_second_factor_used_at_once_works_once(site, capsys):
    """Six accounts with a TOTP factor sign in with their password, then post the pending sign-in's cookie with one
    code 8 times at once over the hosts: one 200 whose session works, the others 401 invalid_code (a used code, or
    the sign-in's five attempts spent), no 5xx; then the same with one recovery code on a new pending sign-in. Each
    race is a TOTP step, a recovery code and a challenge consumed through three nodes, each read back after its
    commit (through two nodes both commits can answer OK)."""
    watch = Watch(site)
    accounts = 6
    totals, codes = collections.Counter(), collections.Counter()

    def race(address, proof):
        pending = client_from(site)
        first = pending.post("/api/auth/login", json={"email": address, "password": PASSWORD})
        assert first.status_code == 200 and first.json().get("mfaRequired") is True, (first.status_code, first.text)
        token = pending.jar.get("mfa_pending", "/api/auth/mfa")
        clients = [warm(site) for _ in range(8)]
        responses = at_once(8, lambda index: clients[index], lambda client: client.post(
            "/api/auth/mfa/verify", json=proof, headers={"Cookie": f"mfa_pending={token}"}, cookies=False))
        counts = status_counts(responses)
        totals.update(counts)
        codes.update(error_codes(responses))
        assert counts[200] == 1 and set(counts) <= {200, 401}, (counts, error_codes(responses))
        won = next(index for index, response in enumerate(responses) if getattr(response, "status_code", 0) == 200)
        me = clients[won].get("/api/auth/me")  # the session it started, by its access cookie
        assert me.status_code == 200 and me.json()["user"]["email"] == address, me.text

    for _ in range(accounts):
        address = unique_email("factor")
        owner = client_from(site)
        owner.register(email=address)
        app, recovery = owner.enrol_totp()
        race(address, {"code": app.code()})
        race(address, {"recoveryCode": recovery[0]})
    say(capsys, f"{site.topology}: second factors: {accounts} accounts x (a code, a recovery code) x 8 posts at once "
                f"{dict(totals)} {dict(codes)}; uses whose commit did not hold "
                f"{sum('event=single_use_not_committed' in line for line in watch.new_lines())}; {watch.summary()}")
    assert totals == {200: 2 * accounts, 401: 14 * accounts}, totals


def test_a_mail_backlog_taken_by_three_senders(site, capsys):
    """The three hosts' mail senders stopped (SIGSTOP) while 60 accounts register and ask for a reset link (120
    messages queued), then released at once, as after a mail server outage: no sender's pass fails, every message is
    sent within 15 s, and none twice."""
    watch = Watch(site)
    senders = site.mail_senders()
    addresses = [unique_email("backlog") for _ in range(BACKLOG)]
    for pid in senders:
        os.kill(pid, signal.SIGSTOP)
    try:
        for address in addresses:
            client_from(site).register(email=address)
            response = client_from(site).post("/api/auth/password/forgot", json={"email": address})
            assert response.status_code == 202, response.text
    finally:
        for pid in senders:
            os.kill(pid, signal.SIGCONT)
    released = time.monotonic()
    recipients = ", ".join(f"'{address}'" for address in addresses)

    def unsent():
        return db(site, "SELECT COUNT(*), COALESCE(SUM(status = 'queued' AND lease_until > UTC_TIMESTAMP(6)), 0), "
                        f"COUNT(DISTINCT recipient) FROM mail_outbox WHERE recipient IN ({recipients}) "
                        "AND status <> 'sent'")[0]

    try:
        harness.wait_until(lambda: unsent()[0] == "0", 15, "the backlog to be sent", interval=0.5)
    except TimeoutError:
        pass
    seconds = time.monotonic() - released
    left = unsent()
    queued = int(db(site, f"SELECT COUNT(*) FROM mail_outbox WHERE recipient IN ({recipients})")[0][0])
    copies = [len(messages_to(site, address, RESET_SUBJECT)) for address in addresses]
    failed_passes = sum(line.count("mail delivery pass failed") for line in watch.new_lines())
    say(capsys, f"{site.topology}: mail backlog of {queued} released to 3 senders: after {seconds:.1f} s "
                f"{left[0]} not sent ({left[1]} of them claimed, lease running; {left[2]} recipients); reset "
                f"messages written {sum(1 for n in copies if n)}/{BACKLOG}, twice {sum(1 for n in copies if n > 1)}; "
                f"'mail delivery pass failed' {failed_passes}; {watch.summary()}")
    assert queued == 2 * BACKLOG and all(n <= 1 for n in copies), (queued, copies)
    assert failed_passes == 0 and left[0] == "0", (failed_passes, left)


def test_a_node_killed_under_load(site, capsys):
    """SIGKILL of a node under a load of /me, refresh and login through all hosts for 15 s (multi-writer: node 2,
    host 2's own; single-node: node 1, everyone's): at most 1 % of /me fail, every host's health is ok again within
    15 s and names a live node, the node restarted 5 s after the kill rejoins by IST and takes load again. (Refresh
    and login failures are counted; a refresh 401 on the multi-writer topology is mostly the race of
    test_reads_right_after_a_write_through_another_host.)"""
    galera = site.cluster
    victim = galera.nodes[1] if site.topology == "multi-writer" else galera.nodes[0]
    watch = Watch(site)
    load = cluster.Load()
    relogins = collections.Counter()

    def me_loop():
        client = client_from(site)
        client.register()
        return lambda: client.me().status_code

    def refresh_loop():
        client = client_from(site)
        email = unique_email("kr")
        client.register(email=email)

        def step():
            status = client.post("/api/auth/refresh").status_code
            if status != 200:
                relogins["refresh"] += 1
                client.jar.clear()
                client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            return status
        return step

    def login_loop():
        client = client_from(site)
        email = unique_email("kl")
        client.register(email=email)
        return lambda: client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code

    for _ in range(4):
        load.add("me", me_loop())
    for _ in range(2):
        load.add("refresh", refresh_loop())
    load.add("login", login_loop())

    health = {index: [] for index in range(3)}
    load.start()
    started = time.monotonic()
    restarted_at = recovered_at = None
    try:
        time.sleep(3)
        offset = victim.log.stat().st_size
        killed_at = time.monotonic()
        victim.kill()
        ok_streak = [0, 0, 0]
        while time.monotonic() - killed_at < 20:
            for index in range(3):
                status, body = site.host_health(index, timeout=2)
                node = json.loads(body).get("node") if status == 200 else None
                health[index].append((round(time.monotonic() - killed_at, 2), status, node))
                ok_streak[index] = ok_streak[index] + 1 if status == 200 and node != victim.address else 0
            if recovered_at is None and min(ok_streak) >= 3:
                recovered_at = time.monotonic() - killed_at
                break
            time.sleep(0.2)
        # The node comes back 5 s after the kill (mariadbd --wsrep-recover first): IST from a donor's gcache.
        time.sleep(max(0.0, 5 - (time.monotonic() - killed_at)))
        victim.start()
        restarted_at = time.monotonic() - killed_at
        time.sleep(max(0.0, 15 - (time.monotonic() - started)))
    finally:
        load.stop()
        if not victim.alive():
            victim.start()
        victim.wait_synced(90, size=3)
    rejoined_at = time.monotonic() - killed_at
    rejoin_log = victim.log.read_bytes()[offset:].decode(errors="replace")
    # With rsync the SST script runs either way: "rsync IST completed" when the donor's cache had what the node
    # missed (then applied as IST), "rsync SST completed" when the whole data directory was copied.
    transfer = "SST" if "rsync SST completed" in rejoin_log else ("IST" if "IST received" in rejoin_log else "?")
    ist_events = re.findall(r"Receiving IST\.\.\. 100\.0% \((\d+)/\d+ events\)", rejoin_log)
    transfer += f" ({ist_events[-1]} write-sets)" if ist_events else ""

    by_kind = collections.defaultdict(collections.Counter)
    for _, kind, status in load.results:
        by_kind[kind][status] += 1
    me = by_kind["me"]
    me_total = sum(me.values())
    me_failed = me_total - me[200]
    say(capsys, f"{site.topology}: {victim.name} SIGKILLed at 3 s of a 15 s load: /me {dict(me)} "
                f"({me_failed}/{me_total} = {100 * me_failed / max(me_total, 1):.2f} % failed); refresh "
                f"{dict(by_kind['refresh'])} (re-logins {relogins['refresh']}); login {dict(by_kind['login'])}; "
                f"every host healthy again {recovered_at if recovered_at is None else round(recovered_at, 1)} s after "
                f"the kill; restarted at {restarted_at and round(restarted_at, 1)} s, synced at {rejoined_at:.1f} s "
                f"by {transfer}; {watch.summary()}")
    for index in range(3):
        failures = [point[:2] for point in health[index] if point[1] != 200]
        nodes = sorted({point[2] for point in health[index] if point[2]})
        say(capsys, f"{site.topology}: host {index + 1} health after the kill: {len(health[index])} polls, "
                    f"{len(failures)} not 200 {failures[:6]}, nodes named {nodes}")

    assert recovered_at is not None and recovered_at <= 15, health
    assert me_total > 500 and me_failed <= me_total / 100, me
    assert transfer.startswith("IST"), rejoin_log[-3000:]

    # Takes load again: requests on every thread of every host (a thread whose connection moved during the outage
    # moves back at its first statement once `failback` seconds passed; the others reconnect in their URL's order),
    # then what the node served, and which node each host that prefers it names.
    time.sleep(FAILBACK + 0.5)
    client = client_from(site)
    client.register()
    bearer = {"Authorization": f"Bearer {client.access_token}"}
    before = victim.global_status("Com_select")["Com_select"]
    served = collections.Counter()
    for index in range(len(site.hosts)):
        served.update(at_once(2 * site.threads + 16, lambda _: None, lambda _, index=index: host_request(
            site, index, "GET", "/api/auth/me", headers=bearer)[0]))
    selects = victim.global_status("Com_select")["Com_select"] - before
    connections = [int(node.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                f"WHERE USER = '{DB_USER}'").splitlines()[1]) for node in galera.nodes]
    say(capsys, f"{site.topology}: after the rejoin, /me on every thread of every host {dict(served)}: {victim.name} "
                f"ran {selects} SELECTs; the service's connections per node {connections}")
    assert set(served) == {200}, served
    assert selects > 0 and connections[victim.index - 1] > 0, (selects, connections)
    preferring = [index for index, order in enumerate(site.orders) if order[0] == victim.index - 1]
    named = {index: collections.Counter(json.loads(site.host_health(index)[1]).get("node") for _ in range(40))
             for index in preferring}
    say(capsys, f"{site.topology}: failback ({FAILBACK} s): nodes named by 40 health polls of each host that prefers "
                f"{victim.name}: {named}")
    assert all(set(counts) == {victim.address} for counts in named.values()), named
