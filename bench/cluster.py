#!/usr/bin/python3
"""bench/run --cluster: jwt-authd on MariaDB Galera, 1 host on 1 node against 3 hosts on 3 nodes (#19).

Started by bench/run (which parses the options and finds the binary); reuses Tests/e2e/cluster.py's GaleraCluster
and ClusterSite (real mariadbd nodes with Debian's galera-4 on loopback, jwt-authd supervisors behind one nginx that
sends requests round robin to their FastCGI sockets) and bench/benchlib.py's wrk parser and CPU accounting.

Configurations, each started afresh in every round (routes and configurations interleaved, so noise on a shared
host hits them alike):

    1-host-1-node         one host on a single-node Galera cluster of its own (bootstrapped alone: every commit
                          is still certified and goes through the provider, but no other node takes part)
    3-hosts-3-nodes       three hosts on a 3-node cluster, host i preferring node i (multi-writer), nginx round robin
    3-hosts-sync-wait     the same with `sync-wait=1` in every host's DATABASE_URL (wsrep_sync_wait=1: every read
                          first waits until its node has applied what the cluster committed); me and refresh only

Routes (the load generators of bench/run): me (wrk GET /api/auth/me, Bearer), refresh (bench/refresh-client.c: a
rotation chain per connection; consecutive requests of a chain go to different hosts), login (wrk +
bench/login.lua, 16 users, Argon2id m=19456 t=2 p=1).

Per run: req/s, p50/p99/max latency, non-2xx and socket errors, `transaction_retry` events in the hosts' logs,
Galera certification failures and brute-force aborts on every node, write sets replicated per request (the
commits each request costs the cluster, counted by `wsrep_replicated`), and CPU per request by process (ours only;
other jobs' CPU is shown apart). Any error fails the run (exit 1) after the report.
"""

import argparse
import collections
import csv
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Tests/e2e first: its cluster.py, not this file (the script's own folder is already on the path).
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "Tests" / "e2e"))

import benchlib  # noqa: E402
import cluster  # noqa: E402
import harness  # noqa: E402

USERS = int(os.environ.get("BENCH_USERS", "16"))
PASSWORD = "bench-password-1"
DB_USER = "authd"
DB_NAME = "bench"
NGINX_WORKERS = 2  # nginx/dev/nginx.conf.template
KEEPALIVE = 16  # ClusterSite's upstream pool per nginx worker

CONFIGS = {
    # name: (hosts, nodes, url options, routes)
    "1-host-1-node": (1, 1, "", ("me", "refresh", "login")),
    "3-hosts-3-nodes": (3, 3, "", ("me", "refresh", "login")),
    "3-hosts-sync-wait": (3, 3, "sync-wait=1", ("me", "refresh")),
}
ROUTE_ORDER = ("me", "refresh", "login")


def say(line):
    print(f"bench cluster: {line}", file=sys.stderr, flush=True)


# --- CPU by process, ours apart from other jobs' ---------------------------------------------------------------------

def cpu_by_group(first, last, root):
    """Seconds of CPU between two benchlib._cpu_snapshot()s by group of this run's processes: mariadbd (every node),
    jwt-authd (every host), nginx, load client; kernel threads; `other` for processes outside this run's tree."""
    processes, _, _ = last
    before, _, _ = first

    def ours(pid):
        for _ in range(64):
            if pid <= 1:
                return False
            if pid == root:
                return True
            pid = processes.get(pid, (0, "", 0))[0]
        return False

    hz = os.sysconf("SC_CLK_TCK")
    groups = collections.Counter()
    for pid, (_, comm, ticks) in processes.items():
        earlier = before.get(pid)
        used = ticks - (earlier[2] if earlier and earlier[1] == comm else 0)
        if used <= 0:
            continue
        mine = ours(pid)
        group = benchlib._cpu_group(comm, mine)
        if not mine and group not in ("kernel threads",):
            group = "other"
        groups[group] += used / hz
    return dict(groups)


# --- the run ---------------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.state = Path(tempfile.mkdtemp(prefix="jwt-authd-bench-cluster."))
        self.logs = self.state / "logs"
        self.logs.mkdir()
        self.clusters = {}
        self.site = None
        self.results = []
        self.workers = args.workers
        self.threads = math.ceil((KEEPALIVE * NGINX_WORKERS + args.connections) / self.workers) + 8
        self.secrets = (harness.random_secret(), harness.random_secret())
        self.db_password = secrets.token_hex(12)
        self.start_count = 0
        self.env = harness.service_env(
            "", self.secrets,
            JWT_AUTHD_LOG_LEVEL=os.environ.get("JWT_AUTHD_LOG_LEVEL", "notice"),
            JWT_AUTHD_LOG_REQUESTS="false",
            JWT_AUTHD_WORKERS=str(self.workers),
            JWT_ACCESS_TTL="12h",
            JWT_THROTTLE_LOGIN_PER_IP="1000000",
            JWT_THROTTLE_LOGIN_PER_ACCOUNT="1000000",
            JWT_THROTTLE_REGISTER_PER_IP="1000000",
            JWT_ARGON2_MEMORY_KIB="19456",
            JWT_ARGON2_ITERATIONS="2",
            JWT_ARGON2_PARALLELISM="1",
            JWT_AUTHD_DRAIN_TIMEOUT="5s",
            JWT_CLEANUP_INTERVAL="0s",
        )

    # --- set-up ---

    def build_clients(self):
        out = self.state / "bin" / "refresh-client"
        out.parent.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-pthread", "-o", str(out),
                        str(REPO / "bench" / "refresh-client.c")], check=True)
        self.refresh_client = out

    def start_clusters(self):
        for size in (1, 3):
            say(f"starting a {size}-node Galera cluster")
            nodes = cluster.GaleraCluster(self.state / f"galera-{size}", size=size).start()
            self.clusters[size] = nodes
            say(f"{size}-node cluster synced in {nodes.timings['start']:.1f} s")
            nodes.create_account(DB_USER, self.db_password)
            nodes.create_database(DB_NAME, DB_USER)
            host_env = self.host_env(size, (0, 1, 2)[:size], "")
            harness.migrate(self.args.bin, host_env, self.logs / f"migrate-{size}-node.log")
            for i in range(USERS):
                subprocess.run([str(self.args.bin), "user", "add", f"bench-{i}@example.com", "--verified"],
                               input=PASSWORD + "\n", text=True, env=host_env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            say(f"{size}-node cluster: migrated, {USERS} users")
        # A binary older than the `sync-wait` URL option refuses the sync-wait hosts' URL: say so now, not after the
        # other configurations ran (migrate is idempotent and parses the URL first).
        probe = subprocess.run([str(self.args.bin), "migrate"], env=self.host_env(3, (0, 1, 2), "sync-wait=1"),
                               capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            raise RuntimeError(f"{self.args.bin} refuses a DATABASE_URL with sync-wait=1 (a build older than the "
                               f"option?):\n{probe.stdout}{probe.stderr}")

    def host_env(self, size, order, options):
        url = self.clusters[size].url(DB_NAME, DB_USER, self.db_password, order, options)
        return {**self.env, "DATABASE_URL": url}

    # --- one configuration ---

    def start_site(self, name):
        hosts, nodes, options, _ = CONFIGS[name]
        self.start_count += 1
        rundir = self.logs / f"start-{self.start_count}-{name}"
        rundir.mkdir()
        topology = "single-node" if hosts == 1 else "multi-writer"
        site = cluster.ClusterSite(self.args.bin, self.clusters[nodes], self.env, rundir, name, topology,
                                   (DB_NAME, DB_USER, self.db_password), url_options=options, threads=self.threads)
        if hosts == 1:
            site.orders = ((0,),)  # one host, one node (the single-node cluster)
        self.site = site
        site.start()
        base = site.origin
        deadline = time.monotonic() + 20
        while any(site.host_health(i)[0] != 200 for i in range(hosts)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: a host does not answer health 200: "
                                   f"{[site.host_health(i) for i in range(hosts)]}")
            time.sleep(0.2)
        self.token = self.login_token(base)
        warmup = 1 if self.args.quick else 2
        subprocess.run(["wrk", "-t1", f"-c{self.args.connections}", f"-d{warmup}s", "-H",
                        f"Authorization: Bearer {self.token}", base + "/api/auth/me"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        say(f"{name}: {hosts} host(s) x {self.workers} workers x {self.threads} threads on {nodes} node(s)"
            f"{' (' + options + ')' if options else ''}, nginx round robin on port {site.port}")

    def login_token(self, base):
        body = json.dumps({"email": "bench-0@example.com", "password": PASSWORD}).encode()
        request = urllib.request.Request(base + "/api/auth/login", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            for header, value in response.getheaders():
                if header.lower() == "set-cookie" and value.startswith("access_token="):
                    return value.split(";", 1)[0].split("=", 1)[1]
        raise RuntimeError("login gave no access token")

    def stop_site(self):
        site, self.site = self.site, None
        if site is None:
            return
        if site.nginx is not None:
            site.nginx.stop()
            site.nginx = None
        for host in site.hosts:
            # A graceful stop (the supervisor drains and stops its workers), then the host's process group.
            if host.alive():
                host.send_signal(signal.SIGTERM)
        for host in site.hosts:
            try:
                host.wait(15)
            except TimeoutError:
                pass
            try:
                os.killpg(host.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            host.kill()

    # --- counters ---

    def counters(self, nodes):
        """Per node: write sets replicated, certification failures, brute-force aborts; and the hosts' log events."""
        values = {}
        for node in self.clusters[nodes].nodes:
            status = node.status()
            for key in ("wsrep_replicated", "wsrep_local_cert_failures", "wsrep_local_bf_aborts",
                        "wsrep_flow_control_sent"):
                values[key] = values.get(key, 0) + int(status.get(key, 0))
        texts = [host.log_text() for host in self.site.hosts]
        values["transaction_retry"] = sum(text.count("event=transaction_retry") for text in texts)
        values["log_warnings"] = sum(sum(1 for line in text.splitlines()
                                         if line.split(" ", 2)[1:2] in (["warning"], ["error"], ["critical"]))
                                     for text in texts)
        return values

    # --- routes ---

    def run_route(self, name, route, round_):
        hosts, nodes, options, _ = CONFIGS[name]
        base = self.site.origin
        duration = self.args.duration
        conns = self.args.login_connections if route == "login" else self.args.connections
        window = self.state / "window-started"
        window.unlink(missing_ok=True)
        before = {"counters": self.counters(nodes), "cpu": benchlib._cpu_snapshot()}
        if route == "refresh":
            command = [str(self.refresh_client), "--port", str(self.site.port), "--connections", str(conns),
                       "--duration", str(duration), "--users", str(USERS), "--password", PASSWORD,
                       "--window-file", str(window)]
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

            # The measured window starts after the chains' logins: take the counters then.
            def at_window():
                while proc.poll() is None and not window.exists():
                    time.sleep(0.02)
                if window.exists():
                    before.update(counters=self.counters(nodes), cpu=benchlib._cpu_snapshot())

            watcher = threading.Thread(target=at_window)
            watcher.start()
            out, err = proc.communicate(timeout=duration + 120)
            watcher.join()
            with open(self.logs / "tools.log", "a") as log:
                log.write(f"### {name} round {round_} {route}\n{err}{out}\n")
            if proc.returncode != 0:
                raise RuntimeError(f"refresh-client failed: {err}")
            line = json.loads(out)
        else:
            command = ["wrk", "--latency", "--timeout", "5s", "-t2", f"-c{conns}", f"-d{duration}s"]
            if route == "me":
                command += ["-H", f"Authorization: Bearer {self.token}", base + "/api/auth/me"]
            else:
                command += ["-s", str(REPO / "bench" / "login.lua"), base + "/api/auth/login"]
            result = subprocess.run(command, capture_output=True, text=True,
                                    env={**os.environ, "BENCH_USERS": str(USERS), "BENCH_PASSWORD": PASSWORD})
            with open(self.logs / "wrk.log", "a") as log:
                log.write(f"### {name} round {round_} {route}\n{result.stdout}{result.stderr}\n")
            if result.returncode != 0:
                raise RuntimeError(f"wrk failed for {route}: {result.stderr}")
            line = benchlib.parse_wrk(result.stdout)
        after = {"counters": self.counters(nodes), "cpu": benchlib._cpu_snapshot()}
        delta = {k: after["counters"][k] - before["counters"][k] for k in after["counters"]}
        requests = line.get("requests") or 0
        cpu = cpu_by_group(before["cpu"], after["cpu"], os.getpid())
        row = {
            "config": name, "hosts": hosts, "nodes": nodes, "url_options": options, "route": route, "round": round_,
            "connections": conns, "workers_per_host": self.workers, "threads": self.threads,
            "loadavg_1m": float(open("/proc/loadavg").read().split()[0]),
            **line,
            "transaction_retry": delta["transaction_retry"],
            "log_warnings": delta["log_warnings"],
            "cert_failures": delta["wsrep_local_cert_failures"],
            "bf_aborts": delta["wsrep_local_bf_aborts"],
            "flow_control_sent": delta["wsrep_flow_control_sent"],
            "write_sets": delta["wsrep_replicated"],
            "write_sets_per_request": round(delta["wsrep_replicated"] / requests, 3) if requests else None,
            "cpu_us_per_request": {g: round(s * 1e6 / requests, 1) for g, s in sorted(cpu.items())} if requests else {},
            # Other jobs' CPU in % of the machine: busy time (/proc/stat) less ours, as bench/run's "others" column
            # (a parent's reaped-children time makes per-process figures of foreign processes unreliable).
            "other_cpu_pct": benchlib._cpu_shares(before["cpu"], after["cpu"], os.getpid())["foreign_pct"],
        }
        self.results.append(row)
        say(f"  {name:<18} {route:<8} {row['per_second']:>9,.1f}/s  p50 {row.get('p50_ms', 0):>7.2f} ms  "
            f"p99 {row.get('p99_ms', 0):>8.2f} ms  errors {row['errors']}  transaction_retry "
            f"{row['transaction_retry']}  cert failures {row['cert_failures']}  bf aborts {row['bf_aborts']}  "
            f"write sets/request {row['write_sets_per_request']}  other jobs' CPU {row['other_cpu_pct']}%")
        return row

    def run(self):
        self.build_clients()
        self.start_clusters()
        load_start = open("/proc/loadavg").read().split()[0]
        say(f"{self.args.rounds} round(s) of {self.args.duration} s per route; wrk -t2 -c{self.args.connections} "
            f"(login -c{self.args.login_connections}); load average {load_start}")
        for round_ in range(1, self.args.rounds + 1):
            for name, (_, _, _, routes) in CONFIGS.items():
                self.start_site(name)
                try:
                    say(f"round {round_}/{self.args.rounds}: {name}")
                    for route in routes:
                        self.run_route(name, route, round_)
                finally:
                    self.stop_site()
        self.load_end = open("/proc/loadavg").read().split()[0]
        self.load_start = load_start

    def stop(self):
        self.stop_site()
        for nodes in self.clusters.values():
            nodes.stop()
        for size, nodes in self.clusters.items():
            for node in nodes.nodes:
                if node.log.exists():
                    shutil.copy(node.log, self.logs / f"galera-{size}-{node.name}.log")


# --- report ----------------------------------------------------------------------------------------------------------

def summarise(results):
    groups = collections.defaultdict(list)
    for r in results:
        groups[r["config"], r["route"]].append(r)
    rows = []
    for name in CONFIGS:
        for route in ROUTE_ORDER:
            runs = groups.get((name, route))
            if not runs:
                continue
            rates = [r["per_second"] for r in runs]
            cpu = benchlib._median_by_key([r["cpu_us_per_request"] for r in runs])
            rows.append({
                "config": name, "hosts": runs[0]["hosts"], "nodes": runs[0]["nodes"],
                "url_options": runs[0]["url_options"], "route": route, "rounds": len(runs),
                "connections": runs[0]["connections"],
                "per_second": statistics.median(rates), "per_second_min": min(rates), "per_second_max": max(rates),
                "p50_ms": benchlib._median([r.get("p50_ms") for r in runs if r.get("p50_ms") is not None]),
                "p99_ms": benchlib._median([r.get("p99_ms") for r in runs if r.get("p99_ms") is not None]),
                "max_ms": max((r.get("max_ms") or 0 for r in runs), default=None),
                "requests": sum(r.get("requests", 0) for r in runs),
                "errors": sum(r.get("errors", 0) for r in runs),
                "non2xx": sum(r.get("non2xx", 0) for r in runs),
                "socket_errors": sum(r.get("socket_errors", 0) for r in runs),
                "transaction_retry": sum(r["transaction_retry"] for r in runs),
                "cert_failures": sum(r["cert_failures"] for r in runs),
                "bf_aborts": sum(r["bf_aborts"] for r in runs),
                "log_warnings": sum(r["log_warnings"] for r in runs),
                "write_sets_per_request": benchlib._median([r["write_sets_per_request"] for r in runs
                                                            if r["write_sets_per_request"] is not None]),
                "cpu_us_mariadbd": cpu.get("mariadbd"), "cpu_us_jwt_authd": cpu.get("jwt-authd"),
                "cpu_us_nginx": cpu.get("nginx"), "cpu_us_load_client": cpu.get("load client"),
                "other_cpu_pct_max": max((r["other_cpu_pct"] or 0 for r in runs), default=None),
            })
    # 3 hosts / 1 host, and sync-wait / without, per round (seconds apart), then the median.
    by_round = {(r["config"], r["route"], r["round"]): r["per_second"] for r in results}
    for row in rows:
        reference = {"3-hosts-3-nodes": "1-host-1-node", "3-hosts-sync-wait": "3-hosts-3-nodes"}.get(row["config"])
        ratios = [rate / by_round[reference, route, rnd] for (c, route, rnd), rate in by_round.items()
                  if c == row["config"] and route == row["route"] and by_round.get((reference, route, rnd))]
        row["reference"] = reference or ""
        row["ratio"] = benchlib._median(ratios)
    return rows


def markdown(rows):
    f = benchlib._fmt
    lines = ["| configuration | route | req/s | ±% | ÷ reference | p50 ms | p99 ms | max ms | non-2xx + socket errors "
             "| transaction_retry | cert failures / BF aborts | write sets per request | mariadbd µs/req | "
             "jwt-authd µs/req | other jobs' CPU (max) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        spread = 50 * (r["per_second_max"] - r["per_second_min"]) / r["per_second"] if r["per_second"] else 0
        ratio = f"{r['ratio']:.2f} ({r['reference']})" if r["ratio"] is not None else "-"
        lines.append(
            f"| {r['config']} | {r['route']} | {f(r['per_second'])} | {spread:.0f} | {ratio} | {f(r['p50_ms'], 2)} | "
            f"{f(r['p99_ms'], 2)} | {f(r['max_ms'], 1)} | {r['errors']} | {r['transaction_retry']} | "
            f"{r['cert_failures']} / {r['bf_aborts']} | {f(r['write_sets_per_request'], 2)} | "
            f"{f(r['cpu_us_mariadbd'])} | {f(r['cpu_us_jwt_authd'])} | {f(r['other_cpu_pct_max'])} % |")
    return "\n".join(lines)


def report(results, bench, out_dir, name):
    rows = summarise(results)
    fields = ["config", "hosts", "nodes", "url_options", "route", "rounds", "connections", "per_second",
              "per_second_min", "per_second_max", "reference", "ratio", "p50_ms", "p99_ms", "max_ms", "requests",
              "errors", "non2xx", "socket_errors", "transaction_retry", "cert_failures", "bf_aborts", "log_warnings",
              "write_sets_per_request", "cpu_us_mariadbd", "cpu_us_jwt_authd", "cpu_us_nginx", "cpu_us_load_client",
              "other_cpu_pct_max"]
    with open(out_dir / f"{name}.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    version = subprocess.run([str(bench.args.bin), "version"], capture_output=True, text=True).stdout.split()[-1]
    cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                     "?")
    header = (f"jwt-authd {version} ({bench.args.bin}), {os.cpu_count()} x {cpu_model}; everything on this machine "
              f"(nodes, hosts, nginx, load generators); {bench.workers} worker(s) x {bench.threads} threads per host; "
              f"{bench.args.rounds} round(s) of {bench.args.duration} s; load average (1 min) {bench.load_start} at "
              f"the start, {bench.load_end} at the end")
    me = {r["config"]: r for r in rows if r["route"] == "me"}
    sync_line = ""
    if "3-hosts-sync-wait" in me and "3-hosts-3-nodes" in me:
        a, b = me["3-hosts-3-nodes"], me["3-hosts-sync-wait"]
        sync_line = (f"wsrep_sync_wait=1 on /me: {b['per_second']:,.0f} req/s against {a['per_second']:,.0f} "
                     f"(x {b['ratio']:.2f} per round), p50 {a['p50_ms']:.2f} -> {b['p50_ms']:.2f} ms, "
                     f"p99 {a['p99_ms']:.2f} -> {b['p99_ms']:.2f} ms")
    table = markdown(rows)
    (out_dir / f"{name}.md").write_text(f"{header}\n\n{table}\n\n{sync_line}\n")
    print()
    print(header)
    print()
    print(table)
    if sync_line:
        print()
        print(sync_line)
    errors = sum(r["errors"] for r in rows)
    if errors:
        print(f"\nFAILED: {errors} non-2xx answers or socket errors (see {out_dir / (name + '-logs')})")
    return 1 if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8, help="seconds per route and round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--login-connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="jwt-authd worker processes per host")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    lacking = cluster.missing()
    if lacking:
        sys.exit(f"bench cluster: missing {', '.join(lacking)} (apt-get install mariadb-server galera-4 rsync)")
    name = "cluster-quick" if args.quick else "cluster"
    args.results.mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    status = 1

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        bench.run()
        with open(args.results / f"{name}.jsonl", "w") as file:
            for row in bench.results:
                file.write(json.dumps(row) + "\n")
        status = report(bench.results, bench, args.results, name)
    except KeyboardInterrupt:
        status = 130
    except Exception as error:  # noqa: BLE001 - reported, the run fails, the state is kept
        say(f"failed: {error}")
        import traceback
        traceback.print_exc()
    finally:
        bench.stop()
        logs_out = args.results / f"{name}-logs"
        shutil.rmtree(logs_out, ignore_errors=True)
        shutil.copytree(bench.logs, logs_out, symlinks=True, ignore=shutil.ignore_patterns("*.sock", "*_temp"),
                        dirs_exist_ok=True)
        if status == 0 and not args.keep:
            shutil.rmtree(bench.state, ignore_errors=True)
        else:
            say(f"state kept in {bench.state} (logs also in {logs_out})")
    sys.exit(status)


if __name__ == "__main__":
    main()
