"""The cluster tier (#19) with network latency between the Galera nodes: each node in a network namespace of its
own whose outgoing packets are delayed (2 ms ± 1 ms by default: node-to-node round trips of about 4 ms; ``tc
netem`` on each node's veth, or where the kernel has no netem qdisc a user-space TUN switch doing the same: see
cluster_netns.py), jwt-authd's three hosts and nginx in the root namespace reaching node i at 10.77.0.(10+i),
multi-writer topology (each host on its own node). The rotation guarantees of test_cluster.py still hold:

1. 10 rounds × 32 refreshes of one token at once over the three hosts (grace 10 s): one successor per round, one
   live token, no 5xx, no 401;
2. with ``tokens.refresh_grace = 0s``: 10 rounds × 32: never two live successors, and a family revoked only
   together with a ``token_reused`` answer;
3. 300 sequential refreshes of one client through the round robin, and /me right after each of 30 logins: never
   a 401.

Needs root and usable ``ip netns`` (skipped otherwise, even with CI=true: a container without them is no
configuration error). ``CLUSTER_DELAY_MS`` and ``CLUSTER_JITTER_MS`` set the delay of each node's packets.
"""

import json
import os
import secrets

import pytest

import cluster
import cluster_netns
import harness
from conftest import require
from test_cluster import (DB_USER, RACERS, SITE, fivexx, racing_rounds_with_grace,
                          racing_rounds_without_grace, reads_after_writes, say, session_revoked)

pytestmark = pytest.mark.cluster

DELAY_MS = float(os.environ.get("CLUSTER_DELAY_MS", "2"))
JITTER_MS = float(os.environ.get("CLUSTER_JITTER_MS", "1"))
ROUNDS = 10
SEQUENTIAL_ROTATIONS = 300
LOGINS_THEN_ME = 30
TOPOLOGY = "multi-writer"


@pytest.fixture(scope="module")
def capture_manager(request):
    return request.config.pluginmanager.getplugin("capturemanager")


@pytest.fixture(scope="module")
def lab(tmp_path_factory, capture_manager):
    """The namespaces and their delayed links (removed at the end, also when something fails)."""
    reason = cluster_netns.unusable()
    if reason:
        pytest.skip(f"latency between Galera nodes needs network namespaces: {reason}")
    lacking = cluster.missing()
    require(not lacking, f"the cluster tier needs MariaDB with Galera: missing {', '.join(lacking)} "
                         "(apt-get install mariadb-server galera-4 rsync)")
    with cluster_netns.LatencyLab(3, DELAY_MS, JITTER_MS, log_dir=str(tmp_path_factory.mktemp("netns"))) as made:
        say(capture_manager, f"latency: {made.describe()}")
        yield made
    assert not made.leftovers(), made.leftovers()


@pytest.fixture(scope="module")
def galera(lab, tmp_path_factory, capture_manager):
    nodes = cluster.GaleraCluster(tmp_path_factory.mktemp("galera"), hosts=lab.addresses(), wrappers=lab.wrappers(),
                                  client_host=cluster_netns.GATEWAY)
    nodes.start(timeout=120)
    try:
        nodes.account = (DB_USER, secrets.token_hex(12))
        nodes.create_account(*nodes.account)
        say(capture_manager, f"latency: 3-node Galera cluster in namespaces synced in {nodes.timings['start']:.1f} s "
                             f"(bootstrap {nodes.timings['bootstrap']:.1f} s, two joins by rsync SST); "
                             f"{lab.rtt_line(1, 2)}; {lab.rtt_line(2, 3)}; {lab.rtt_line(3, 1)}")
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def site(galera, authd_bin, secret_pair, rundir):
    """Three hosts, each on its own node (multi-writer), behind one nginx, migrated from the three at once."""
    galera.wait_all_synced(60)
    dbname = f"cluster_latency_{secrets.token_hex(3)}"
    galera.create_database(dbname, galera.account[0])
    env = harness.service_env("", secret_pair, **SITE, JWT_AUTHD_MAIL_DIR=str(rundir / "mail-latency"))
    hosts = cluster.ClusterSite(authd_bin, galera, env, rundir, "lat", TOPOLOGY, (dbname, *galera.account))
    hosts.migrate_all()
    hosts.start()
    yield hosts
    hosts.stop()
    galera.drop_database(dbname)


def test_each_host_reaches_its_node_through_a_delayed_link(site, lab, capsys):
    """Health names each host's node at its namespace address (the first of its URL)."""
    answers = []
    for index, order in enumerate(site.orders):
        status, body = site.host_health(index)
        answers.append(body)
        assert status == 200, body
        node = site.cluster.nodes[order[0]]
        assert node.host == lab.address(order[0] + 1) and json.loads(body)["node"] == node.address, body
    say(capsys, f"latency: {TOPOLOGY}: migrate from 3 hosts at once {site.migrate_seconds:.1f} s; health {answers}")


def test_concurrent_refreshes_of_one_token_under_latency(site, capsys):
    """10 rounds × 32 refreshes of one token at once over the three hosts (grace 10 s): one successor per round,
    one live token of the family, nobody logged out (no 401), no 5xx."""
    totals, codes, family, size, watch = racing_rounds_with_grace(site, ROUNDS, "latency", capsys)
    assert not fivexx(totals), (codes, watch.error_lines())
    assert not session_revoked(site, family) and size == 1 + ROUNDS, size
    assert totals == {200: ROUNDS * RACERS}, (codes, watch.error_lines())


def test_grace_0_under_latency(site, authd_bin, rundir, capsys):
    """With ``tokens.refresh_grace = 0s`` (three more hosts): 10 rounds × 32 refreshes of one token at once never
    leave two live successors (none once the family is revoked), a family is revoked only together with a
    ``token_reused`` answer, and the successors handed out in a revoked round are refused afterwards; no token has
    two successors, and no answer names one it does not have; no 5xx."""
    hosts = cluster.ClusterSite(authd_bin, site.cluster, {**site.env, "JWT_REFRESH_GRACE": "0s"}, rundir,
                                "latg0", site.topology, site.database).start()
    try:
        totals, _, _, double, watch = racing_rounds_without_grace(hosts, ROUNDS, "latency: grace 0", capsys)
        assert not fivexx(totals), (totals, watch.error_lines())
        assert not double, double  # every 200 answer of a round names the one successor the family holds
    finally:
        hosts.stop()


def test_reads_right_after_a_write_under_latency(site, capsys):
    """One client refreshing 300 times in a row through the round robin, and /me right after each of 30 logins:
    never a 401 (nor a 5xx), with every write replicated over the delayed links."""
    reads_after_writes(site, "latency", SEQUENTIAL_ROTATIONS, LOGINS_THEN_ME, capsys)
