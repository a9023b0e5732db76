"""A real MariaDB Galera cluster on loopback, and jwt-authd hosts on it, for the cluster tier (#19, test_cluster.py).

- :class:`GaleraCluster`: three ``mariadbd`` nodes from Debian's ``mariadb-server`` with Debian's ``galera-4``
  provider, each with its own data directory, configuration file and ports (client, group communication, IST,
  rsync SST) under one folder; the first bootstraps (``--wsrep-new-cluster``), the others join it by rsync SST.
  Small buffer pools and caches, no flush per commit: throw-away test data; every InnoDB deadlock is written to the
  node's log. Nodes can be SIGKILLed and restarted (recovered with ``--wsrep-recover``, they rejoin by IST, or SST
  when the donor's cache no longer has what they missed), made to lag (``pause_applying``: FLUSH TABLES WITH READ
  LOCK, as a backup tool takes it), and their ``wsrep_*`` status read over their unix socket as the OS user
  (unix_socket authentication, as :class:`harness.MariaDB`).
- :class:`ClusterSite`: three jwt-authd supervisors ("hosts", each :class:`harness.Worker`), each with a
  ``DATABASE_URL`` listing the cluster's nodes over TCP in its own order of preference, and one development nginx
  (:class:`harness.Nginx`) whose upstream sends requests round robin to the three FastCGI sockets. Topologies:
  ``multi-writer`` (host i prefers node i, then the others) and ``single-node`` (every host prefers node 1).
  ``migrate`` runs from the three hosts at once before they start.

Standard library plus the test helpers (harness, authsite).
"""

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import authsite
import harness

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
PROGRAMS = ("mariadbd", "mariadb-install-db", "mariadb", "rsync", "wsrep_sst_rsync")
# wsrep_local_state 4: Synced.
SYNCED = "4"

# Group communication timeouts, a little shorter than Galera's defaults (suspect 5 s, inactive 15 s) so that a
# killed node leaves the primary component within seconds, but long enough for a busy 2-CPU machine not to suspect
# a live node.
PROVIDER_OPTIONS = ("gcache.size=64M; gcache.page_size=16M; evs.keepalive_period=PT0.5S; evs.suspect_timeout=PT3S; "
                    "evs.inactive_timeout=PT6S; evs.inactive_check_period=PT0.5S; evs.install_timeout=PT6S; "
                    "pc.wait_prim_timeout=PT30S")


def missing():
    """What this machine lacks to run a cluster (program names, the provider library), empty when nothing."""
    lacking = [name for name in PROGRAMS if shutil.which(name) is None]
    if not PROVIDER.exists():
        lacking.append(f"{PROVIDER} (Debian package galera-4)")
    return lacking


def write_rsync_wrapper(bindir):
    """An ``rsync`` first on the nodes' PATH: the SST script's joiner starts ``rsync --daemon`` with a configuration
    that names no ``uid``, and an rsync daemon started by root then writes as ``nobody`` (permission denied in the
    joiner's data directory). Real nodes run as ``mysql``; these run as the test's user, root in CI: keep it."""
    bindir.mkdir(parents=True, exist_ok=True)
    wrapper = bindir / "rsync"
    if not wrapper.exists():
        real = shutil.which("rsync")
        wrapper.write_text(f"""#!/bin/sh
for arg in "$@"; do
    if [ "$arg" = "--daemon" ]; then exec {real} --dparam=uid="$(id -u)" --dparam=gid="$(id -g)" "$@"; fi
done
exec {real} "$@"
""")
        wrapper.chmod(0o755)


class GaleraNode:
    """One node: ``dir/node.cnf``, ``dir/data``, ``dir/mysqld.sock``, ``dir/mysqld.log``."""

    def __init__(self, index, parent, cluster_address, host="127.0.0.1", wrapper=()):
        self.index = index
        # Where the node listens and talks group communication (cluster_netns.py: an address in a network namespace
        # of its own), and a command prefix for mariadbd (e.g. ``ip netns exec NS``); by default loopback, none.
        self.host = host
        self.wrapper = tuple(wrapper)
        self.name = f"node{index}"
        self.dir = Path(parent) / self.name
        self.datadir = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.log = self.dir / "mysqld.log"
        self.cnf = self.dir / "node.cnf"
        self.port = harness.free_port()
        self.gcomm_port = harness.free_port()
        self.ist_port = harness.free_port()
        self.sst_port = harness.free_port()
        self.cluster_address = cluster_address  # set by the cluster once every node has its ports
        self.user = harness.os_user()
        self.proc = None
        self.starts = 0

    @property
    def address(self):
        """``HOST:PORT`` (``127.0.0.1:PORT`` by default): how jwt-authd reaches this node (TCP)."""
        return f"{self.host}:{self.port}"

    @property
    def bindir(self):
        return self.dir.parent / "bin"

    def write_config(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.datadir.mkdir(exist_ok=True)
        write_rsync_wrapper(self.bindir)
        # A file rather than command-line options: the SST script (wsrep_sst_rsync) reads the node's settings with
        # my_print_defaults from the --defaults-file it is handed.
        self.cnf.write_text(f"""[mysqld]
user={self.user}
datadir={self.datadir}
socket={self.socket}
pid-file={self.dir / 'mysqld.pid'}
log-error={self.log}
port={self.port}
bind-address={self.host}
skip-name-resolve
max_connections=300
performance_schema=OFF
innodb_print_all_deadlocks=ON
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
innodb_autoinc_lock_mode=2
default_storage_engine=InnoDB
binlog_format=ROW
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=jwt_authd_test
wsrep_cluster_address={self.cluster_address}
wsrep_node_name={self.name}
wsrep_node_address={self.host}:{self.gcomm_port}
wsrep_node_incoming_address={self.host}:{self.port}
wsrep_sst_method=rsync
wsrep_sst_receive_address={self.host}:{self.sst_port}
wsrep_slave_threads=2
wsrep_provider_options="gmcast.listen_addr=tcp://{self.host}:{self.gcomm_port}; \
ist.recv_addr={self.host}:{self.ist_port}; {PROVIDER_OPTIONS}"
""")

    def install(self):
        """The system tables (only the bootstrap node needs them: the others receive everything by SST)."""
        if (self.datadir / "mysql").is_dir():
            return
        result = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--user={self.user}", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def recovered_position(self):
        """After a crash (``seqno: -1`` in grastate.dat): the position InnoDB committed last, ``uuid:seqno``, from
        ``mariadbd --wsrep-recover`` (what Debian's galera_recovery does before systemd starts a node), or None when
        the state file is clean. Started with it, the node asks a donor for IST (the write-sets it missed, from the
        donor's gcache) instead of a full SST."""
        grastate = self.datadir / "grastate.dat"
        if not grastate.exists() or not re.search(r"^seqno:\s+-1\s*$", grastate.read_text(), re.M):
            return None
        log = self.dir / "recover.log"
        log.unlink(missing_ok=True)
        subprocess.run([*self.wrapper, "mariadbd", f"--defaults-file={self.cnf}", "--wsrep-recover",
                        f"--log-error={log}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        found = re.findall(r"WSREP: Recovered position: (\S+:-?\d+)", log.read_text(errors="replace")
                           if log.exists() else "")
        return found[-1] if found and not found[-1].endswith(":-1") else None

    def start(self, bootstrap=False):
        """Starts ``mariadbd`` (returns at once; :meth:`wait_synced` waits); after a crash, from the position
        :meth:`recovered_position` finds."""
        assert not self.alive(), f"{self.name} is running"
        command = [*self.wrapper, "mariadbd", f"--defaults-file={self.cnf}"]
        if bootstrap:
            command.append("--wsrep-new-cluster")
        elif self.starts:
            position = self.recovered_position()
            if position:
                command.append(f"--wsrep-start-position={position}")
        self.starts += 1
        # mariadbd puts its own bin directory first on the SST script's PATH unless PATH already holds that exact
        # text (a strstr), and Debian's is "/usr//bin" (basedir "/usr/" + "/bin"): naming it after the wrapper's
        # folder keeps the wrapper first.
        env = {**os.environ, "PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}:/usr//bin"}
        with open(self.dir / "mariadbd.out", "ab") as out:
            out.write(f"--- start {self.starts}: {' '.join(command)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _client(self, *args, timeout=10):
        return subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", f"--user={self.user}",
                               "--connect-timeout=2", *args], capture_output=True, text=True, timeout=timeout)

    def sql(self, statement, timeout=30):
        """Runs SQL as the superuser over the node's socket; the batch output (tab-separated, with a header)."""
        result = self._client("--batch", "-e", statement, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: SQL failed: {statement}\n{result.stderr}")
        return result.stdout

    def status(self):
        """``{name: value}`` of ``SHOW GLOBAL STATUS LIKE 'wsrep%'`` (empty when the node does not answer)."""
        if not self.alive():
            return {}
        try:
            result = self._client("--batch", "--skip-column-names", "-e", "SHOW GLOBAL STATUS LIKE 'wsrep%'",
                                  timeout=5)
        except subprocess.TimeoutExpired:
            return {}
        if result.returncode != 0:
            return {}
        return dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)

    def global_status(self, *names):
        """``{name: int}`` of some global status counters (e.g. ``Questions``)."""
        quoted = ", ".join(f"'{name}'" for name in names)
        out = self.sql(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({quoted})")
        return {line.split("\t")[0]: int(line.split("\t")[1]) for line in out.splitlines()[1:] if "\t" in line}

    def synced(self, size=None):
        status = self.status()
        return (status.get("wsrep_ready") == "ON" and status.get("wsrep_local_state") == SYNCED
                and status.get("wsrep_cluster_status") == "Primary"
                and (size is None or status.get("wsrep_cluster_size") == str(size)))

    def wait_synced(self, timeout, size=None):
        def ready():
            if not self.alive():
                raise RuntimeError(f"{self.name}: mariadbd exited with {self.proc.returncode}:\n"
                                   f"{harness.tail(self.log)}")
            return self.synced(size)

        harness.wait_until(ready, timeout, f"{self.name} to be synced" + (f" in a cluster of {size}" if size else ""),
                           interval=0.2)

    def pause_applying(self):
        """``FLUSH TABLES WITH READ LOCK`` held in a session of its own (what a backup tool takes): Galera desyncs the
        node (Donor/Desynced, so flow control does not stop the others) and its appliers wait, so it falls behind
        the cluster while its connections keep reading. Returns the session: ``release(session)`` ends the pause."""
        session = subprocess.Popen(["mariadb", "--no-defaults", f"--socket={self.socket}", f"--user={self.user}",
                                    "--batch", "--skip-column-names", "--unbuffered"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        session.stdin.write("FLUSH TABLES WITH READ LOCK; SELECT 'paused';\n")
        session.stdin.flush()
        line = session.stdout.readline().strip()
        if line != "paused":
            session.kill()
            raise RuntimeError(f"{self.name}: FLUSH TABLES WITH READ LOCK failed: {line}")
        return session

    @staticmethod
    def release(session):
        """Ends a pause of :meth:`pause_applying` (idempotent)."""
        if session.poll() is None:
            try:
                session.stdin.write("UNLOCK TABLES;\n")
                session.stdin.close()
                session.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                session.kill()
                session.wait()

    def kill(self):
        """SIGKILL, as a crash or an OOM kill would; waits until the process is gone."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=30):
        if self.proc is None:
            return
        harness.stop_process(self.proc, (signal.SIGTERM,), timeout)

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class GaleraCluster:
    """Three nodes under ``parent``; :meth:`start` bootstraps the first and joins the others. ``hosts`` and
    ``wrappers`` (one per node, default loopback and none: :class:`GaleraNode`) and ``client_host`` (the address
    jwt-authd connects from, in :meth:`create_account` and :meth:`create_database`) are for cluster_netns.py."""

    def __init__(self, parent, size=3, hosts=None, wrappers=None, client_host="127.0.0.1"):
        self.dir = Path(parent)
        self.client_host = client_host
        self.nodes = [GaleraNode(index + 1, self.dir, None, host=hosts[index] if hosts else "127.0.0.1",
                                 wrapper=wrappers[index] if wrappers else ()) for index in range(size)]
        address = "gcomm://" + ",".join(f"{node.host}:{node.gcomm_port}" for node in self.nodes)
        for node in self.nodes:
            node.cluster_address = address
        self.timings = {}
        self.rejoins = []  # joiners started again after a failed state transfer (join)

    def start(self, timeout=90):
        started = time.monotonic()
        try:
            for node in self.nodes:
                node.write_config()
            first, *others = self.nodes
            first.install()
            first.start(bootstrap=True)
            first.wait_synced(timeout)
            self.timings["bootstrap"] = time.monotonic() - started
            # Join one at a time: two joiners asking the one synced node for SST at once would have one wait for a
            # donor anyway (a donor serves one SST at a time).
            for node in others:
                self.join(node, timeout)
            for node in self.nodes:
                node.wait_synced(timeout, size=len(self.nodes))
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - started
        return self

    def join(self, node, timeout, tries=2):
        """Starts a joiner and waits for it to be synced. A joiner whose state transfer failed aborts ("State
        transfer ... failed: No message of desired type", then "Will never receive state"): seen about once in 25
        cluster starts on this 2-CPU machine, with the rsync SST script on loopback. It is started again once on an
        empty data directory (it asks for the transfer anew); a second failure is the test's."""
        for attempt in range(1, tries + 1):
            node.start()
            try:
                node.wait_synced(timeout)
                return
            except RuntimeError:
                if attempt == tries or node.alive():
                    raise
                self.rejoins.append(node.name)
                shutil.rmtree(node.datadir, ignore_errors=True)
                node.datadir.mkdir()

    def stop(self):
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:
                node.kill()

    def sql(self, statement):
        """SQL on the first node that is synced (DDL and user statements replicate to all)."""
        for node in self.nodes:
            if node.synced():
                return node.sql(statement)
        raise RuntimeError("no synced node")

    def wait_all_synced(self, timeout):
        for node in self.nodes:
            node.wait_synced(timeout, size=len(self.nodes))

    def status_line(self):
        """One line for test output: each node's state, cluster size and a few counters."""
        parts = []
        for node in self.nodes:
            status = node.status()
            if not status:
                parts.append(f"{node.name}: down")
                continue
            parts.append(f"{node.name}: {status.get('wsrep_local_state_comment')} "
                         f"size={status.get('wsrep_cluster_size')} "
                         f"cert_failures={status.get('wsrep_local_cert_failures')} "
                         f"bf_aborts={status.get('wsrep_local_bf_aborts')}")
        return "; ".join(parts)

    def conflict_counters(self):
        """``{node: (wsrep_local_cert_failures, wsrep_local_bf_aborts)}``, for deltas around a check (a restarted
        node counts from 0 again)."""
        counters = {}
        for node in self.nodes:
            status = node.status()
            counters[node.name] = (int(status.get("wsrep_local_cert_failures", 0)),
                                   int(status.get("wsrep_local_bf_aborts", 0)))
        return counters

    def create_account(self, user, password):
        """The service's account, reachable over TCP from ``client_host`` (127.0.0.1 by default; jwt-authd connects
        over TCP to several hosts)."""
        harness._check_identifier(user)
        assert re.fullmatch(r"[A-Za-z0-9]+", password)
        self.sql(f"CREATE USER IF NOT EXISTS '{user}'@'{self.client_host}' IDENTIFIED BY '{password}'")

    def create_database(self, dbname, user):
        harness._check_identifier(dbname)
        harness._check_identifier(user)
        self.sql(f"CREATE DATABASE `{dbname}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
                 f"GRANT ALL PRIVILEGES ON `{dbname}`.* TO '{user}'@'{self.client_host}'")

    def drop_database(self, dbname):
        harness._check_identifier(dbname)
        self.sql(f"DROP DATABASE IF EXISTS `{dbname}`")

    def url(self, dbname, user, password, order, options=""):
        """A ``DATABASE_URL`` listing the nodes (0-based indexes) in ``order``."""
        hosts = ",".join(self.nodes[index].address for index in order)
        return f"mariadb://{user}:{password}@{hosts}/{dbname}" + (f"?{options}" if options else "")


TOPOLOGIES = {
    # host i prefers node i, then the next ones: every node takes writes.
    "multi-writer": ((0, 1, 2), (1, 2, 0), (2, 0, 1)),
    # every host prefers node 1 (and fails over in the same order): one writer node.
    "single-node": ((0, 1, 2), (0, 1, 2), (0, 1, 2)),
}


class ClusterSite(authsite.BehindNginx):
    """Three jwt-authd hosts on the cluster behind one nginx (round robin), for :class:`authsite.Client` as
    :class:`authsite.Site` is."""

    def __init__(self, binary, cluster, env, rundir, name, topology, database, url_options="", threads=16):
        self.binary = binary
        self.cluster = cluster
        self.env = env  # the service environment but DATABASE_URL (a value of None removes a variable)
        self.rundir = Path(rundir)
        self.name = name
        self.topology = topology
        self.orders = TOPOLOGIES[topology]
        self.database = database  # (name, user, password)
        self.url_options = url_options
        self.threads = threads
        self.hosts = []
        self.nginx = None
        self.hostname = "127.0.0.1"
        self.migrate_seconds = None

    def host_env(self, index):
        """Host ``index``'s environment: its ``DATABASE_URL`` lists the nodes in its topology's order."""
        dbname, user, password = self.database
        url = self.cluster.url(dbname, user, password, self.orders[index], self.url_options)
        return {key: value for key, value in {**self.env, "DATABASE_URL": url}.items() if value is not None}

    def migrate_all(self):
        """``jwt-authd migrate`` from the three hosts at once; every run must succeed."""
        started = time.monotonic()
        runs = []
        for index in range(len(self.orders)):
            log = open(self.rundir / f"migrate-{self.name}-{index + 1}.log", "ab")
            runs.append((subprocess.Popen([str(self.binary), "migrate"], env=self.host_env(index),
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT), log))
        failures = []
        for index, (proc, log) in enumerate(runs):
            try:
                status = proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = proc.wait()
            log.close()
            if status != 0:
                failures.append(f"host {index + 1}: exit {status}\n{harness.tail(log.name)}")
        self.migrate_seconds = time.monotonic() - started
        if failures:
            raise RuntimeError("concurrent migrate failed:\n" + "\n".join(failures))

    def start(self):
        try:
            for index in range(len(self.orders)):
                address = f"unix:{self.rundir}/{self.name}-h{index + 1}.sock"
                self.hosts.append(harness.Worker(self.binary, self.host_env(index), address, self.threads,
                                                 self.rundir).start())
            # The dev template's upstream has one "server @UPSTREAM@ max_fails=0;" line: the other servers ride in
            # its value. max_fails=0 everywhere: nginx never takes a host out, so each gets a third of the requests.
            upstream = " max_fails=0;\n        server ".join(host.address for host in self.hosts)
            self.nginx = harness.Nginx(harness.REPO, self.rundir / f"nginx-{self.name}", harness.free_port(),
                                       upstream, keepalive=16).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        for host in self.hosts:
            host.kill()

    def host_health(self, index, timeout=3.0):
        """``(status, body)`` of one host's health over its FastCGI socket directly (bypassing nginx)."""
        try:
            response = harness.health(self.hosts[index].address, timeout=timeout)
        except OSError as error:
            return None, str(error)
        return response.status, response.body.decode(errors="replace")

    def request_counts(self):
        """Requests each host has logged so far (its info line per request): which hosts a check reached."""
        return [host.log_text().count("http.status=") for host in self.hosts]

    def mail_senders(self):
        """The pid of each host's mail sender (a child of its supervisor, named in its log when started)."""
        pids = []
        for host in self.hosts:
            found = re.findall(r"pid=(\d+) \[ProcessManager\] mail sender started", host.log_text())
            assert found, f"no mail sender in {host.log_path}"
            pids.append(int(found[-1]))
        return pids


class Load:
    """Request loops on threads until :meth:`stop`; each loop appends ``(time, kind, status)`` to ``results``
    (status None for a transport error)."""

    def __init__(self):
        self.results = []
        self.stopping = threading.Event()
        self.threads = []
        self.lock = threading.Lock()

    def record(self, kind, status):
        with self.lock:
            self.results.append((time.monotonic(), kind, status))

    def add(self, kind, step):
        """``step()`` → a status; run again and again."""

        def loop():
            while not self.stopping.is_set():
                try:
                    status = step()
                except Exception:
                    status = None
                self.record(kind, status)

        thread = threading.Thread(target=loop, daemon=True, name=f"load-{kind}")
        self.threads.append(thread)

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)
