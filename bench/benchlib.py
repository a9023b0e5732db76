"""Helpers of bench/run (Debian's /usr/bin/python3, standard library plus python3-matplotlib for the charts).

    benchlib.py parse-wrk META_JSON < wrk-output           one JSON line: META + requests, per_second, p50_ms, ...
    benchlib.py tag META_JSON < tool-json                  one JSON line: META + the tool's JSON object
    benchlib.py rss --out FILE [--supervisor PID] [--pid PID]... [--interval S]
                                                           sample VmRSS/VmHWM until SIGTERM/SIGINT, then write JSON
    benchlib.py rss-now [--supervisor PID] [--pid PID]...  one sample now, as JSON
    benchlib.py summary < result-line                      one line of progress for a result
    benchlib.py report RESULTS_JSONL CSV [--chart PNG] [--quick]
                                                           medians, the table, the CSV, the chart; exit 1 on errors
    benchlib.py soak-report SAMPLES_JSON RESULTS_JSONL CSV [--chart PNG] [--from-fraction 0.2]
"""
import argparse
import collections
import csv
import json
import os
import re
import signal
import statistics
import sys
import time

KIB_PER_MIB = 1024.0


# --- wrk output -----------------------------------------------------------------------------------------------------

def _duration_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unknown wrk duration {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(text):
    """The figures of `wrk --latency` output."""
    result = {"non2xx": 0, "socket_errors": 0, "socket_error_detail": {}}
    for line in text.splitlines():
        line = line.strip()
        if match := re.match(r"(\d+) requests in ([\d.]+)(\w+),", line):
            result["requests"] = int(match.group(1))
            result["seconds"] = _duration_ms(match.group(2) + match.group(3)) / 1e3
        elif match := re.match(r"Requests/sec:\s+([\d.]+)", line):
            result["per_second"] = float(match.group(1))
        elif match := re.match(r"(50|90|99)%\s+([\d.]+\w+)", line):
            result[f"p{match.group(1)}_ms"] = round(_duration_ms(match.group(2)), 3)
        elif match := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            result["non2xx"] = int(match.group(1))
        elif match := re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line):
            detail = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups())))
            result["socket_error_detail"] = detail
            result["socket_errors"] = sum(detail.values())
        elif match := re.match(r"Latency\s+([\d.]+\w+)\s+[\d.]+\w+\s+([\d.]+\w+)", line):
            result["max_ms"] = round(_duration_ms(match.group(2)), 3)
    if "requests" not in result or "per_second" not in result:
        raise ValueError("not wrk output:\n" + text)
    result["errors"] = result["non2xx"] + result["socket_errors"]
    return result


# --- RSS of worker processes ----------------------------------------------------------------------------------------

def _status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM", "Threads"):
                    fields[name] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return fields if "VmRSS" in fields else None


def _workers(supervisor):
    """jwt-authd's worker processes: the supervisor's children started as `serve --worker` (not `cleanup`)."""
    pids = []
    try:
        children = open(f"/proc/{supervisor}/task/{supervisor}/children").read().split()
    except FileNotFoundError:
        return pids
    for child in children:
        try:
            argv = open(f"/proc/{child}/cmdline", "rb").read().split(b"\0")
        except FileNotFoundError:
            continue
        if b"--worker" in argv:
            pids.append(int(child))
    return pids


def _rollup(pid):
    """From /proc/PID/smaps_rollup: PSS (shared pages divided among the processes that map them), the private pages
    (clean + dirty: what this process alone holds) and the anonymous ones, in KiB; {} if unreadable."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name in ("Pss", "Private_Clean", "Private_Dirty", "Anonymous"):
                    fields[name] = int(value.split()[0])
    except OSError:
        return {}
    if "Pss" not in fields:
        return {}
    return {"pss_kib": fields["Pss"], "private_kib": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
            "anon_kib": fields.get("Anonymous", 0)}


def _sample(supervisor, pids, detail=False):
    sample = {}
    for pid in (_workers(supervisor) if supervisor else []) + list(pids):
        status = _status(pid)
        if status:
            sample[str(pid)] = {"rss_kib": status["VmRSS"], "hwm_kib": status["VmHWM"],
                                "threads": status.get("Threads", 0)}
            if detail:
                sample[str(pid)].update(_rollup(pid))
    return sample


def _cpu_snapshot():
    """(per-process {pid: (ppid, comm, ticks incl. reaped children)}, /proc/stat cpu fields, monotonic time)."""
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                data = file.read()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        rest = data[data.rindex(")") + 2:].split()
        processes[int(entry)] = (int(rest[1]), comm, sum(int(x) for x in rest[11:15]))
    with open("/proc/stat") as file:
        fields = [int(x) for x in file.readline().split()[1:]]
    return processes, fields, time.monotonic()


def _cpu_shares(first, last, root, our_comms=("c-responder",)):
    """CPU use between two snapshots, in % of the whole machine: busy, ours (the bench's process tree), foreign
    (everything else: other jobs on a shared host), steal (the hypervisor's)."""
    processes, fields, t1 = last
    before, fields0, t0 = first
    deltas = [b - a for a, b in zip(fields0, fields)]
    total = sum(deltas) or 1
    idle = deltas[3] + (deltas[4] if len(deltas) > 4 else 0)
    steal = deltas[7] if len(deltas) > 7 else 0

    def ours(pid):
        seen = 0
        while pid > 1 and seen < 64:
            if pid == root or processes.get(pid, (0, ""))[1] in our_comms:
                return True
            pid = processes.get(pid, (0, "", 0))[0]
            seen += 1
        return False

    # A process that exited in between is counted in its parent's reaped-children time, whole: take off what it had
    # used by the first snapshot (a load client started before a window that began later).
    exited = {}
    for pid, (ppid, _, ticks) in before.items():
        if pid not in processes:
            exited[ppid] = exited.get(ppid, 0) + ticks

    our_ticks = 0
    by_group = {}
    for pid, (_, comm, ticks) in processes.items():
        # Kernel threads rename themselves with their work item (kworker/u8:1-events_unbound): match by kind.
        kind = comm.split("/")[0].split("-")[0]
        earlier = before.get(pid)
        used = ticks - (earlier[2] if earlier and earlier[1].split("/")[0].split("-")[0] == kind else 0)
        used -= exited.get(pid, 0)
        if used <= 0:
            continue
        if ours(pid):
            our_ticks += used
        group = _cpu_group(comm, ours(pid))
        by_group[group] = by_group.get(group, 0) + used
    busy = total - idle - steal
    hz = os.sysconf("SC_CLK_TCK")
    return {"busy_pct": round(100 * busy / total, 1), "ours_pct": round(100 * min(our_ticks, busy) / total, 1),
            "foreign_pct": round(100 * max(0, busy - our_ticks) / total, 1), "steal_pct": round(100 * steal / total, 1),
            "seconds_by_group": {g: round(t / hz, 2) for g, t in sorted(by_group.items())}}


def _cpu_group(comm, ours):
    """Who used the CPU: the servers by name, the bench's load generators, the kernel's threads (I/O completion,
    fsync work, softirqs), or other processes."""
    for name in ("mariadbd", "jwt-authd", "nginx", "c-responder"):
        if comm.startswith(name):
            return name
    if comm.startswith(("wrk", "refresh-client", "refresh-sql", "argon2-rate")):
        return "load client"
    if comm.startswith(("kworker", "ksoftirqd", "kblockd", "jbd2", "rcu", "kswapd", "irq/")):
        return "kernel threads"
    # (A load client that has exited is counted in its parent's reaped-children time: the bench's shell.)
    return "load client" if ours else "other"


def rss_now(args):
    print(json.dumps(_sample(args.supervisor, args.pid, detail=True)))


def rss_sampler(args):
    """Samples until told to stop; writes {peak: {pid: {...}}, series: [[t, {pid: rss_kib}], ...]}."""
    stop = False

    def handler(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    start = time.monotonic()
    cpu_first = _cpu_snapshot() if args.root else None
    # With a window file, the CPU reading restarts when the load client creates it (its measured window starts),
    # checked every 50 ms at most; without one (or if it never appears), it covers the whole sampling.
    window_file = getattr(args, "window_file", None)

    def window_started():
        nonlocal cpu_first, window_file
        if window_file and os.path.exists(window_file):
            window_file = None
            if args.root:
                cpu_first = _cpu_snapshot()

    peak, series = {}, []
    next_at = start
    while True:
        window_started()
        sample = _sample(args.supervisor, args.pid)
        series.append([round(time.monotonic() - start, 1), {pid: s["rss_kib"] for pid, s in sample.items()}])
        for pid, s in sample.items():
            entry = peak.setdefault(pid, {"rss_kib": 0, "hwm_kib": 0, "threads": 0})
            entry["rss_kib"] = max(entry["rss_kib"], s["rss_kib"])
            entry["hwm_kib"] = max(entry["hwm_kib"], s["hwm_kib"])
            entry["threads"] = max(entry["threads"], s["threads"])
        if stop:
            break
        next_at += args.interval
        while not stop and time.monotonic() < next_at:
            time.sleep(min(0.05, max(0.0, next_at - time.monotonic())))
            window_started()
    result = {"peak": peak, "series": series}
    if cpu_first:
        result["cpu"] = _cpu_shares(cpu_first, _cpu_snapshot(), args.root)
    with open(args.out, "w") as file:
        json.dump(result, file)


# --- the report -----------------------------------------------------------------------------------------------------

ROUTE_ORDER = ["static", "c-responder", "page", "page-c-gate", "page-gate", "page-gate-cached", "api", "api-gate",
               "api-gate-cached", "verify-bearer", "verify-cookie", "me-bearer", "me-cookie", "health",
               "refresh", "refresh-sql", "login", "argon2", "gate-unloaded", "gate-flood", "refresh-client-ceiling"]
ROUTE_LABEL = {
    "static": "nginx return 204 (/__static)",
    "c-responder": "C libfcgi responder",
    "page": "static page, no gate",
    "page-c-gate": "static page, C responder gate",
    "page-gate": "static page, gate",
    "page-gate-cached": "static page, gate cached",
    "api": "API (proxy_pass), no gate",
    "api-gate": "API (proxy_pass), gate",
    "api-gate-cached": "API (proxy_pass), gate cached",
    "verify-bearer": "GET verify (Bearer)",
    "verify-cookie": "GET verify (cookie)",
    "me-bearer": "GET me (Bearer)",
    "me-cookie": "GET me (cookie)",
    "health": "GET health (DB ping)",
    "refresh": "POST refresh (body)",
    "refresh-sql": "raw MariaDB rotation txn",
    "login": "POST login (Argon2id)",
    "argon2": "libargon2 argon2id_verify",
    "gate-unloaded": "GET verify, wrk -t1 -c16",
    "gate-flood": "the same, under a login flood",
    "refresh-client-ceiling": "refresh-client vs /__static",
}
# The project's targets: route -> [(reference route, minimum ratio), ...]; a route with several targets gets its ✓
# only when every one of them holds (each ratio is printed with its own mark).
TARGETS = {
    "verify-bearer": [("c-responder", 0.90)], "verify-cookie": [("c-responder", 0.90)],
    "me-bearer": [("c-responder", 0.35)], "me-cookie": [("c-responder", 0.35)],
    "refresh": [("refresh-sql", 0.80)], "login": [("argon2", 0.90)], "gate-flood": [("gate-unloaded", 0.40)],
    # #20: the gate's own cost stays at the FastCGI floor (the same page gated by the C responder), and the gate
    # cache makes a protected page at least 2.5 times as fast and keeps 40 % of the unprotected page's rate.
    "page-gate": [("page-c-gate", 0.90)],
    "page-gate-cached": [("page-gate", 2.5), ("page", 0.40)],
}
# Ratios printed without a target (after the targets' own): route -> [reference route, ...]. The gated pages and APIs
# against the unprotected ones: what the gate leaves of nginx's rate (also the ratio on the chart's bars).
REFERENCES = {
    "page-c-gate": ["page"], "page-gate": ["page"],
    "api-gate": ["api"], "api-gate-cached": ["api-gate", "api"],
}
# A latency target besides the rate: route -> the p99 it must stay under (ms).
P99_TARGETS_MS = {"gate-flood": 100}
CHART_LABEL = {
    "static": "nginx\nreturn 204", "c-responder": "C libfcgi\nresponder", "verify-bearer": "verify\n(Bearer)",
    "verify-cookie": "verify\n(cookie)", "me-bearer": "me\n(Bearer)", "me-cookie": "me\n(cookie)",
    "page": "page\nno gate", "page-c-gate": "page\nC gate", "page-gate": "page\ngate",
    "page-gate-cached": "page\ngate cached", "api": "API\nno gate", "api-gate": "API\ngate",
    "api-gate-cached": "API\ngate cached",
    "health": "health\n(DB ping)", "refresh": "refresh\n(body)", "refresh-sql": "raw MariaDB\nrotation txn",
    "login": "login\n(Argon2id)", "argon2": "libargon2\nverify", "gate-unloaded": "verify\n-t1 -c16",
    "gate-flood": "verify under\na login flood",
}
JWT_AUTHD_ROUTES = {"verify-bearer", "verify-cookie", "me-bearer", "me-cookie", "health", "refresh", "login"}
# Routes whose ÷ C is printed (refresh and login are compared with their own baselines; their ÷ C is noise).
C_RATIO_ROUTES = JWT_AUTHD_ROUTES - {"refresh", "login"}
# Refresh's target applies where MariaDB has a CPU of its own (the db-own-cpu variant, or a run with --pin db): both
# refresh and its baseline are then bounded by the database. Where every process shares the CPUs, the ratio is
# printed without a mark: it measures the CPU the HTTP stack takes from MariaDB (bench/README.md).
DB_OWN_CPU_TARGETS = {"refresh"}


# Login's baseline (argon2-rate) runs unpinned on every CPU: with pinned servers the two are not comparable.
UNPINNED_TARGETS = {"login"}


def _database_has_own_cpu(row):
    return row["variant"] == "db-own-cpu" or row.get("pin") == "db"


def _target_applies(row):
    if row["route"] in DB_OWN_CPU_TARGETS:
        return _database_has_own_cpu(row)
    if row["route"] in UNPINNED_TARGETS:
        return row.get("pin", "none") == "none"
    return True


def _load(path):
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def _median(values):
    return statistics.median(values) if values else None


def _fmt(value, digits=0):
    if value is None or value == "":
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value):
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.4f}"


def _peak_rss_mib(results):
    peaks = [max((p["rss_kib"] for p in r.get("rss", {}).values()), default=0) for r in results]
    peaks = [p for p in peaks if p]
    return max(peaks) / KIB_PER_MIB if peaks else None


def summarise(results):
    """(workers, variant, route) -> summary row, medians over rounds."""
    groups = collections.defaultdict(list)
    for r in results:
        groups[r["workers"], r["variant"], r["route"]].append(r)
    rows = {}
    for key, runs in groups.items():
        rates = [r["per_second"] for r in runs]
        rows[key] = {
            "workers": key[0], "variant": key[1], "route": key[2], "target": runs[0]["target"],
            "connections": runs[0]["connections"], "rounds": len(runs), "pin": runs[0].get("pin", "none"),
            "per_second": _median(rates), "per_second_min": min(rates), "per_second_max": max(rates),
            "p50_ms": _median([r.get("p50_ms") for r in runs if r.get("p50_ms") is not None]),
            "p99_ms": _median([r.get("p99_ms") for r in runs if r.get("p99_ms") is not None]),
            "max_ms": max((r.get("max_ms") or 0 for r in runs), default=None),
            "loadavg_max": max((r.get("loadavg_1m") or 0 for r in runs), default=None),
            "foreign_cpu_pct": _median([r["cpu"]["foreign_pct"] for r in runs if r.get("cpu")]),
            "foreign_cpu_pct_max": max((r["cpu"]["foreign_pct"] for r in runs if r.get("cpu")), default=None),
            "steal_pct": _median([r["cpu"]["steal_pct"] for r in runs if r.get("cpu")]),
            "requests": sum(r.get("requests", 0) for r in runs),
            "errors": sum(r.get("errors", 0) for r in runs),
            "rss_peak_mib": _peak_rss_mib(runs),
            "rss_idle_mib": max((r.get("rss_idle_mib") or 0 for r in runs), default=0) or None,
            "rss_idle_pss_mib": max((r.get("rss_idle_pss_mib") or 0 for r in runs), default=0) or None,
            "rss_idle_private_mib": max((r.get("rss_idle_private_mib") or 0 for r in runs), default=0) or None,
            "cpu_us": _median_by_key([r["cpu"].get("us_per_request") for r in runs
                                      if r.get("cpu") and r["cpu"].get("us_per_request")]),
            "db": _median_by_key([r.get("db_per_request") for r in runs if r.get("db_per_request")]),
        }
    # Ratios: for each round, the route's rate over its reference's rate in the same round (seconds apart on the same
    # machine, so slow drifts of a shared host cancel out); the median of these. A variant without its own reference
    # (refresh-sql, argon2 are only measured in the default variant) uses the default variant's median.
    by_round = {(r["workers"], r["variant"], r["route"], r["round"]): r["per_second"] for r in results}

    def ratio(workers, variant, route, reference):
        if (workers, variant, reference) not in rows:
            base = rows.get((workers, "default", reference))
            return rows[workers, variant, route]["per_second"] / base["per_second"] if base and base["per_second"] else None
        values = [rate / by_round[workers, variant, reference, rnd]
                  for (w, v, rt, rnd), rate in by_round.items()
                  if (w, v, rt) == (workers, variant, route) and by_round.get((workers, variant, reference, rnd))]
        return _median(values)

    for (workers, variant, route), row in rows.items():
        row["ratio_c_responder"] = ratio(workers, variant, route, "c-responder") if route in C_RATIO_ROUTES else None
        row["baseline"], row["ratio_baseline"], row["target_ratio"], row["target_met"] = "", None, None, ""
        # Every ratio of the row, targets first: {reference, ratio, minimum (None: no target here), met (yes/no/"")}.
        # baseline, ratio_baseline and target_ratio are the first one's; target_met is "yes" when every target that
        # applies holds, "no" when one does not, "" when none applies.
        row["ratios"] = []
        applies = _target_applies(row)
        for base_route, minimum in TARGETS.get(route, []):
            value = ratio(workers, variant, route, base_route)
            if value is None:
                continue
            entry = {"reference": base_route, "ratio": value, "minimum": None, "met": ""}
            if applies:
                entry["minimum"] = minimum
                entry["met"] = "yes" if value >= minimum else "no"
            row["ratios"].append(entry)
        for base_route in REFERENCES.get(route, []):
            if any(entry["reference"] == base_route for entry in row["ratios"]):
                continue
            value = ratio(workers, variant, route, base_route)
            if value is not None:
                row["ratios"].append({"reference": base_route, "ratio": value, "minimum": None, "met": ""})
        if row["ratios"]:
            first = row["ratios"][0]
            row["baseline"], row["ratio_baseline"], row["target_ratio"] = first["reference"], first["ratio"], first["minimum"]
            marks = [entry["met"] for entry in row["ratios"] if entry["met"]]
            if marks:
                row["target_met"] = "yes" if all(mark == "yes" for mark in marks) else "no"
                if route in P99_TARGETS_MS and (row["p99_ms"] or 0) >= P99_TARGETS_MS[route]:
                    row["target_met"] = "no"
        elif route == "health":
            row["baseline"] = "c-responder"
            row["ratio_baseline"] = row["ratio_c_responder"]
    return rows


def ratio_to(row, reference):
    """The row's ratio to a reference route (a target's or a printed one), or None."""
    return next((entry["ratio"] for entry in row.get("ratios", []) if entry["reference"] == reference), None)


def _targets_text(row):
    """The CSV's `targets` column: every ratio of the row with its target, e.g. "page-gate 3.10 >= 2.5 yes"."""
    parts = []
    for entry in row.get("ratios", []):
        text = f"{entry['reference']} {entry['ratio']:.3f}"
        if entry["minimum"] is not None:
            text += f" >= {entry['minimum']} {entry['met']}"
        parts.append(text)
    return "; ".join(parts)


def _sort_key(row):
    variant_order = {"default": 0, "keepalive-off": 1, "log-requests": 2, "db-own-cpu": 3}
    return (variant_order.get(row["variant"], 9), row["workers"],
            ROUTE_ORDER.index(row["route"]) if row["route"] in ROUTE_ORDER else 99)


def _median_by_key(dicts):
    """{key: median over the dicts that have it}."""
    keys = sorted({k for d in dicts for k in d})
    return {k: _median([d[k] for d in dicts if k in d]) for k in keys}


# CPU groups in the breakdown's order, and the MariaDB counters it shows.
CPU_GROUPS = ["mariadbd", "jwt-authd", "c-responder", "nginx", "load client", "kernel threads", "other"]
DB_SHOWN = [("Questions", "statements"), ("Innodb_data_fsyncs", "fsyncs")]


def memory_summary(rows):
    """Worker RSS by kind of load, per worker count (default variant): idle, under the gate and me, after logins."""
    lines = []
    default = [r for r in rows if r["variant"] == "default"]
    groups = [("under verify/me load", ("verify-bearer", "verify-cookie", "me-bearer", "me-cookie", "health")),
              ("under the page/API gates", ("page-gate", "page-gate-cached", "api-gate", "api-gate-cached")),
              ("during logins (refresh, login)", ("refresh", "login"))]
    for workers in sorted({r["workers"] for r in default}):
        mine = [r for r in default if r["workers"] == workers]
        idle = max((r["rss_idle_mib"] or 0 for r in mine), default=0)
        pss = max((r.get("rss_idle_pss_mib") or 0 for r in mine), default=0)
        private = max((r.get("rss_idle_private_mib") or 0 for r in mine), default=0)
        parts = [f"idle {idle:.1f}" + (f" (PSS {pss:.1f}, private {private:.1f})" if pss else "")] if idle else []
        for label, routes in groups:
            peaks = [r["rss_peak_mib"] for r in mine if r["route"] in routes and r["rss_peak_mib"]]
            if peaks:
                parts.append(f"{label} {max(peaks):.1f}")
        if parts:
            lines.append(f"  {workers} worker{'s' if workers > 1 else ''}: " + ", ".join(parts) + " MiB (peak of the "
                         "largest worker)")
    return lines


def cost_breakdown(rows):
    """Where each route's time goes: CPU microseconds per request by process group (all CPUs together, so with the
    CPUs saturated the sum is about CPUs / rate), and MariaDB's statements and fsyncs per request."""
    lines = []
    for row in rows:
        cpu = row.get("cpu_us") or {}
        if not cpu:
            continue
        parts = [f"{g} {cpu[g]:.0f}" for g in CPU_GROUPS if cpu.get(g, 0) >= 0.5]
        total = sum(cpu.values())
        db = row.get("db") or {}
        db_text = ", ".join(f"{label} {db[key]:.2f}" for key, label in DB_SHOWN if db.get(key))
        lines.append(f"{row['workers']:>2} {row['variant']:<13} {ROUTE_LABEL.get(row['route'], row['route']):<30} "
                     f"{total:>6.0f} µs = {', '.join(parts)}" + (f"; MariaDB per request: {db_text}" if db_text else ""))
    return lines


def report(args):
    results = _load(args.results)
    if not results:
        print("bench: no results", file=sys.stderr)
        return 1
    rows = sorted(summarise(results).values(), key=_sort_key)
    fields = ["workers", "variant", "route", "target", "connections", "rounds", "per_second", "per_second_min",
              "per_second_max", "p50_ms", "p99_ms", "max_ms", "requests", "errors", "ratio_c_responder", "baseline",
              "ratio_baseline", "target_ratio", "target_met", "targets", "rss_idle_mib", "rss_idle_pss_mib", "rss_idle_private_mib", "rss_peak_mib", "foreign_cpu_pct", "foreign_cpu_pct_max", "steal_pct",
              "loadavg_max"]
    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            values = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k in fields}
            values["targets"] = _targets_text(row)
            writer.writerow(values)

    header = (f"{'W':>2} {'variant':<13} {'route':<30} {'conns':>5} {'req/s':>9} {'±%':>5} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'errors':>6} {'÷ C':>6} {'÷ baseline':>28} {'RSS idle':>8} {'RSS peak':>8} {'others':>6}")
    print()
    print(header)
    print("-" * len(header))
    previous = None
    for row in rows:
        if previous and (previous["workers"], previous["variant"]) != (row["workers"], row["variant"]):
            print()
        previous = row
        spread = ((row["per_second_max"] - row["per_second_min"]) / 2 / row["per_second"] * 100
                  if row["per_second"] else 0)
        base_parts = []
        ratio_c = _ratio(row["ratio_c_responder"])
        for entry in row["ratios"]:
            mark = {"yes": "✓", "no": "✗"}.get(entry["met"], "")
            if entry["reference"] == "c-responder":
                ratio_c += mark
            else:
                base_parts.append(f"{_ratio(entry['ratio'])} {entry['reference']}{mark}")
        base = " ".join(base_parts)
        print(f"{row['workers']:>2} {row['variant']:<13} {ROUTE_LABEL.get(row['route'], row['route']):<30} "
              f"{row['connections']:>5} {_fmt(row['per_second']):>9} {spread:>5.1f} {_fmt(row['p50_ms'], 2):>8} "
              f"{_fmt(row['p99_ms'], 2):>8} {_fmt(row['max_ms'], 0):>8} {row['errors']:>6} {ratio_c:>6} {base:>28} "
              f"{_fmt(row['rss_idle_mib'], 1):>8} {_fmt(row['rss_peak_mib'], 1):>8} "
              f"{_fmt(row['foreign_cpu_pct_max'], 0) + '%' if row['foreign_cpu_pct_max'] is not None else '-':>6}")
    print()
    print("req/s, p50, p99: medians over the rounds; ±%: half the range of req/s over the rounds; max: the slowest "
          "request of all rounds; errors: sum over rounds (non-2xx + socket errors)")
    print("÷ C: req/s over the C responder's (same workers), ÷ baseline: refresh over the raw MariaDB transaction, "
          "login over libargon2,\n  the gated pages and APIs over the C-gated, uncached or unprotected one named; "
          "each ratio is the median over rounds of\n  the ratio within a round; ✓/✗: the project's target (refresh's "
          "only where MariaDB has a CPU of its own: the db-own-cpu\n  rows or --pin db; elsewhere the ratio has no "
          "mark)")
    print("RSS: MiB per jwt-authd worker process (the largest worker); idle before load, peak sampled during the route")
    for line in memory_summary(rows):
        print(line)
    print("others: CPU used by processes outside the bench (other jobs on a shared host), in % of all CPUs, the worst "
          "round; above a few % the row is disturbed")
    breakdown = cost_breakdown(rows)
    if breakdown:
        print()
        print("CPU per request, by process (µs, all CPUs; medians over rounds), and MariaDB's work per request:")
        for line in breakdown:
            print(line)
    print(f"written to {args.csv}")

    if args.chart:
        chart(rows, args.chart)
        print(f"chart: {args.chart}")

    failed = [r for r in rows if r["errors"] > 0]
    empty = [r for r in rows if r["requests"] <= 0]
    for r in failed:
        print(f"bench: FAILED: {r['route']} (workers {r['workers']}, {r['variant']}): {r['errors']} errors",
              file=sys.stderr)
    for r in empty:
        print(f"bench: FAILED: {r['route']} (workers {r['workers']}, {r['variant']}): no requests", file=sys.stderr)
    return 1 if failed or empty else 0


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default = [r for r in rows if r["variant"] == "default"]
    workers = sorted({r["workers"] for r in default})
    routes = [route for route in ROUTE_ORDER if route != "refresh-client-ceiling"
              and any(r["route"] == route for r in default)]
    by = {(r["workers"], r["route"]): r for r in default}
    fig, ax = plt.subplots(figsize=(15, 5.5), dpi=110)
    width = 0.8 / max(1, len(workers))
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for index, w in enumerate(workers):
        xs = [i + (index - (len(workers) - 1) / 2) * width for i in range(len(routes))]
        ys = [by[w, route]["per_second"] if (w, route) in by else 0 for route in routes]
        bars = ax.bar(xs, ys, width, label=f"{w} worker process{'es' if w > 1 else ''}",
                      color=colours[index % len(colours)])
        for bar, route in zip(bars, routes):
            row = by.get((w, route))
            if not row:
                continue
            # The C responder's ratio; refresh, login: their baseline's; the gated pages and APIs: the unprotected one's.
            ratio = row["ratio_c_responder"]
            if ratio is None:
                ratio = ratio_to(row, {"page": "page", "api": "api"}.get(row["route"].split("-")[0], ""))
            if ratio is None and row["route"] in ("refresh", "login"):
                ratio = row["ratio_baseline"]
            label = f"{row['per_second']:,.0f}"
            if ratio is not None:
                label += f"\n×{ratio:.2f}"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=6.5, xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(range(len(routes)))
    ax.set_xticklabels([CHART_LABEL[r] for r in routes], fontsize=8)
    ax.set_ylabel("requests per second (log scale; median of rounds)")
    own_cpu = [r for r in rows if r["variant"] == "db-own-cpu" and r["route"] == "refresh"
               and r["ratio_baseline"] is not None]
    pins = {r.get("pin", "none") for r in default}
    refresh_note = "refresh ÷ raw MariaDB transaction (" + (
        "all on shared CPUs" if pins == {"none"} else "pinned: --pin " + "/".join(sorted(pins)))
    for r in own_cpu:
        refresh_note += f"; MariaDB on its own CPU, {r['workers']} worker{'s' if r['workers'] > 1 else ''}: " \
                        f"×{r['ratio_baseline']:.2f}"
    ax.set_title("jwt-authd through nginx (FastCGI, persistent connections) — throughput by route and worker count\n"
                 f"×: ratio to the C responder; {refresh_note}); login ÷ libargon2; pages and APIs ÷ the "
                 "unprotected one", fontsize=9.5)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)


# --- soak -----------------------------------------------------------------------------------------------------------

def soak_report(args):
    data = json.load(open(args.samples))
    series = data["series"]
    results = _load(args.results) if args.results and os.path.exists(args.results) else []
    if not series:
        print("bench: no soak samples", file=sys.stderr)
        return 1
    end_t = series[-1][0]
    from_t = end_t * args.from_fraction
    pids = sorted({pid for _, sample in series for pid in sample}, key=int)
    rows = []
    for pid in pids:
        points = [(t, s[pid]) for t, s in series if pid in s]
        if not points:
            continue
        at_from = min(points, key=lambda p: abs(p[0] - from_t))
        last = points[-1]
        rows.append({"pid": pid, "first_s": points[0][0], "first_mib": points[0][1] / KIB_PER_MIB,
                     "from_s": at_from[0], "from_mib": at_from[1] / KIB_PER_MIB, "end_s": last[0],
                     "end_mib": last[1] / KIB_PER_MIB, "growth_mib": (last[1] - at_from[1]) / KIB_PER_MIB,
                     "peak_mib": max(v for _, v in points) / KIB_PER_MIB})
    with open(args.csv, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["t_s"] + [f"rss_kib_{pid}" for pid in pids])
        for t, sample in series:
            writer.writerow([t] + [sample.get(pid, "") for pid in pids])
    print(f"\nsoak: {end_t:.0f} s of verify + me load, RSS sampled every {args.interval} s")
    for r in results:
        print(f"  {r['route']:<14} {r['per_second']:>9,.0f} req/s  p99 {r.get('p99_ms', 0):.2f} ms  "
              f"requests {r['requests']:,}  errors {r['errors']}")
    print(f"  {'worker pid':>10} {'start MiB':>9} {f'at {from_t:.0f}s':>9} {'end MiB':>8} {'growth':>8} {'peak':>8}")
    for r in rows:
        print(f"  {r['pid']:>10} {r['first_mib']:>9.1f} {r['from_mib']:>9.1f} {r['end_mib']:>8.1f} "
              f"{r['growth_mib']:>+8.2f} {r['peak_mib']:>8.1f}")
    print(f"growth: RSS at the end minus RSS at {args.from_fraction:.0%} of the run (minute 2 of a 10-minute soak)")
    print(f"series written to {args.csv}")
    if args.chart:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
        for pid in pids:
            points = [(t, s[pid] / KIB_PER_MIB) for t, s in series if pid in s]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=f"worker {pid}")
        ax.axvline(from_t, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("seconds under verify + me load")
        ax.set_ylabel("VmRSS (MiB)")
        ax.set_ylim(bottom=0)
        ax.set_title("jwt-authd worker RSS during the soak", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.chart)
        print(f"chart: {args.chart}")
    return 1 if any(r["errors"] for r in results) else 0


def summary(args):
    r = json.loads(sys.stdin.read())
    rss = max((p["rss_kib"] for p in r.get("rss", {}).values()), default=0) / KIB_PER_MIB
    print(f"    {r['route']:<22} {r['per_second']:>10,.1f}/s  p50 {r.get('p50_ms', 0):>7.2f} ms  "
          f"p99 {r.get('p99_ms', 0):>8.2f} ms  requests {r['requests']:>8,}  errors {r['errors']}  "
          f"worker RSS {rss:.1f} MiB")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse-wrk")
    p.add_argument("meta")
    p = sub.add_parser("tag")
    p.add_argument("meta")
    for name in ("rss", "rss-now"):
        p = sub.add_parser(name)
        p.add_argument("--supervisor", type=int)
        p.add_argument("--pid", type=int, action="append", default=[])
        if name == "rss":
            p.add_argument("--out", required=True)
            p.add_argument("--interval", type=float, default=0.5)
            p.add_argument("--root", type=int, help="the bench's PID: CPU of its process tree is 'ours'")
            p.add_argument("--window-file", help="start the CPU reading when this file appears")
    sub.add_parser("summary")
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("csv")
    p.add_argument("--chart")
    p = sub.add_parser("soak-report")
    p.add_argument("samples")
    p.add_argument("results")
    p.add_argument("csv")
    p.add_argument("--chart")
    p.add_argument("--interval", type=float, default=10)
    p.add_argument("--from-fraction", type=float, default=0.2)
    args = parser.parse_args()

    if args.command == "parse-wrk":
        meta = json.loads(args.meta)
        meta.update(parse_wrk(sys.stdin.read()))
        print(json.dumps(meta))
    elif args.command == "tag":
        meta = json.loads(args.meta)
        meta.update(json.loads(sys.stdin.read()))
        print(json.dumps(meta))
    elif args.command == "rss":
        rss_sampler(args)
    elif args.command == "summary":
        summary(args)
    elif args.command == "rss-now":
        rss_now(args)
    elif args.command == "report":
        sys.exit(report(args))
    elif args.command == "soak-report":
        sys.exit(soak_report(args))


if __name__ == "__main__":
    main()
