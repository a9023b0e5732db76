"""The benchmark suite's own arithmetic (bench/benchlib.py): which ratios carry a target, and what CPU time counts.

No service is involved: these check the report and the sampler that bench/run relies on, so a figure in the README
cannot come from a counting mistake.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
sys.path.insert(0, BENCH)
import benchlib  # noqa: E402

pytestmark = pytest.mark.bench

HZ = os.sysconf("SC_CLK_TCK")


def result(route, per_second, variant="default", pin="none", round_=1, workers=1):
    return {"workers": workers, "variant": variant, "route": route, "target": "x", "connections": 32,
            "round": round_, "per_second": per_second, "pin": pin, "requests": int(per_second * 10), "errors": 0}


def test_refresh_target_only_where_the_database_has_its_own_cpu():
    rows = benchlib.summarise([
        result("refresh", 3000), result("refresh-sql", 5000),
        result("refresh", 2900, variant="db-own-cpu"), result("refresh-sql", 3100, variant="db-own-cpu"),
    ])
    shared, own = rows[1, "default", "refresh"], rows[1, "db-own-cpu", "refresh"]
    assert shared["ratio_baseline"] == pytest.approx(0.6)
    assert shared["target_ratio"] is None and shared["target_met"] == ""
    assert own["ratio_baseline"] == pytest.approx(2900 / 3100)
    assert own["target_ratio"] == 0.80 and own["target_met"] == "yes"

    pinned = benchlib.summarise([result("refresh", 2000, pin="db"), result("refresh-sql", 3000, pin="db")])
    assert pinned[1, "default", "refresh"]["target_met"] == "no"


def test_login_target_only_where_nothing_is_pinned():
    # argon2-rate runs on every CPU; pinned servers get fewer: no comparison, no mark (the ratio is still shown).
    for pin, met in (("none", "yes"), ("db", ""), ("split", "")):
        rows = benchlib.summarise([result("login", 85, pin=pin), result("argon2", 90, pin=pin)])
        assert rows[1, "default", "login"]["target_met"] == met, pin
        assert rows[1, "default", "login"]["ratio_baseline"] == pytest.approx(85 / 90)


def test_other_targets_and_ratios_are_unchanged():
    rows = benchlib.summarise([
        result("c-responder", 30000), result("verify-bearer", 26000), result("me-bearer", 9000),
        result("login", 80), result("argon2", 90), result("refresh", 3000), result("refresh-sql", 5000),
    ])
    assert rows[1, "default", "verify-bearer"]["target_met"] == "no"  # 0.87 < 0.90
    assert rows[1, "default", "me-bearer"]["target_met"] == "no"  # 0.30 < 0.35
    assert rows[1, "default", "login"]["ratio_baseline"] == pytest.approx(80 / 90)
    assert rows[1, "default", "login"]["target_met"] == "no"
    # refresh and login are compared with their own baselines only: a ratio to the C responder is noise there.
    assert rows[1, "default", "refresh"]["ratio_c_responder"] is None
    assert rows[1, "default", "login"]["ratio_c_responder"] is None
    assert rows[1, "default", "verify-bearer"]["ratio_c_responder"] == pytest.approx(26000 / 30000)


def test_a_ratio_is_taken_within_each_round():
    rounds = [(3000, 3100), (2000, 2000), (2500, 3500)]
    rows = benchlib.summarise([r for i, (rate, base) in enumerate(rounds, 1) for r in (
        result("refresh", rate, variant="db-own-cpu", round_=i),
        result("refresh-sql", base, variant="db-own-cpu", round_=i))])
    # Within-round ratios 0.968, 1.0, 0.714: their median is 3000 / 3100. The ratio of the medians would be
    # 2500 / 3100 = 0.806: a slow round must not pair one route's fast run with the other's slow one.
    assert rows[1, "db-own-cpu", "refresh"]["ratio_baseline"] == pytest.approx(3000 / 3100)


def snapshot(processes, busy_ticks, t):
    # /proc/stat's cpu line: user nice system idle iowait irq softirq steal
    return processes, [busy_ticks, 0, 0, 1000, 0, 0, 0, 0], t


def test_an_exited_client_counts_only_what_it_used_after_the_first_reading():
    root, client = 100, 200
    before = snapshot({root: (1, "bash", 10), client: (root, "refresh-client", 5 * HZ)}, 0, 0.0)
    # The client ran for 8 s of CPU in all, 5 s of it before the window; it exited and the shell reaped it.
    after = snapshot({root: (1, "bash", 10 + 8 * HZ)}, 3 * HZ, 10.0)
    shares = benchlib._cpu_shares(before, after, root)
    assert shares["seconds_by_group"] == {"load client": pytest.approx(3.0)}


def test_a_running_process_counts_its_delta():
    before = snapshot({100: (1, "bash", 0), 300: (1, "mariadbd", 2 * HZ), 400: (1, "kworker/u8:1-events", 0)}, 0, 0)
    after = snapshot({100: (1, "bash", 0), 300: (1, "mariadbd", 5 * HZ), 401: (1, "kworker/u8:2-flush", HZ)}, 0, 1)
    groups = benchlib._cpu_shares(before, after, 100)["seconds_by_group"]
    assert groups == {"mariadbd": pytest.approx(3.0), "kernel threads": pytest.approx(1.0)}


def run_sampler(tmp_path, window):
    """A child burns 1 s of CPU, then creates the window file and idles: what does the sampler count?"""
    window_file = tmp_path / f"window-started-{window}"
    out = tmp_path / f"cpu-{window}.json"
    command = [sys.executable, os.path.join(BENCH, "benchlib.py"), "rss", "--out", str(out), "--interval", "0.1",
               "--root", str(os.getpid())]
    if window:
        command += ["--window-file", str(window_file)]
    sampler = subprocess.Popen(command)
    time.sleep(1.0)  # the sampler has started and taken its first reading (a loaded host starts Python slowly)
    child = subprocess.Popen([sys.executable, "-c", f"""
import pathlib, time
while time.process_time() < 1.0:
    pass
pathlib.Path({str(window_file)!r}).touch()
time.sleep(0.4)
"""])
    assert child.wait(timeout=30) == 0
    sampler.send_signal(signal.SIGTERM)
    assert sampler.wait(timeout=30) == 0
    return json.loads(out.read_text())["cpu"]["seconds_by_group"].get("load client", 0.0)


def test_the_cpu_reading_starts_when_the_window_file_appears(tmp_path):
    assert run_sampler(tmp_path, window=False) >= 0.8
    assert run_sampler(tmp_path, window=True) < 0.4
