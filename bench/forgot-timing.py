#!/usr/bin/env python3
"""Does `POST /api/auth/password/forgot` take as long for an unknown address as for a known one? (#16: no account
enumeration by timing.)

Against a running site (e.g. `scripts/run`, with the forgot limits raised for the measurement):

    JWT_THROTTLE_FORGOT_PER_ACCOUNT=100000 JWT_THROTTLE_FORGOT_PER_IP=100000 \
    JWT_THROTTLE_REGISTER_PER_IP=100000 PORT=8480 scripts/run &
    bench/forgot-timing.py --url http://127.0.0.1:8480 --requests 2000

It registers a few accounts, then sends forgot requests alternating known and unknown addresses (interleaved, so
that drift hits both alike) over one keep-alive connection, and reports each group's median, quartiles and p90 in
microseconds, the difference of the medians, and that difference against the noise: the interquartile range and a
bootstrap 95% interval of the difference. A difference whose interval holds 0, or that is small beside the IQR, does
not tell the two apart.
"""

import argparse
import random
import secrets
import statistics
import sys
import time

import requests


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the site's base URL (nginx in front of jwt-authd)")
    parser.add_argument("--requests", type=int, default=2000, help="forgot requests in all (half known, half unknown)")
    parser.add_argument("--accounts", type=int, default=8, help="known accounts to register")
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()

    http = requests.Session()
    run = secrets.token_hex(3)
    known = []
    for n in range(args.accounts):
        email = f"timing-{run}-{n}@example.com"
        response = http.post(f"{args.url}/api/auth/register", json={"email": email, "password": "timing password 1"})
        if response.status_code not in (201, 202):
            sys.exit(f"registering {email}: {response.status_code} {response.text}")
        known.append(email)
    http.cookies.clear()

    def forgot(email):
        started = time.perf_counter_ns()
        response = http.post(f"{args.url}/api/auth/password/forgot", json={"email": email})
        elapsed = (time.perf_counter_ns() - started) / 1000
        if response.status_code != 202:
            sys.exit(f"forgot: {response.status_code} {response.text} (raise the forgot limits for the measurement)")
        return elapsed

    for n in range(args.warmup):
        forgot(known[n % len(known)] if n % 2 else f"nobody-{run}-{n}@example.com")
    times = {"known": [], "unknown": []}
    for n in range(args.requests // 2):
        pair = [("known", random.choice(known)), ("unknown", f"nobody-{run}-{n}@example.com")]
        random.shuffle(pair)
        for group, email in pair:
            times[group].append(forgot(email))

    print(f"{'group':8} {'n':>5} {'median':>9} {'q1':>9} {'q3':>9} {'p90':>9}  (µs)")
    for group, values in times.items():
        print(f"{group:8} {len(values):5} {statistics.median(values):9.0f} {quantile(values, .25):9.0f} "
              f"{quantile(values, .75):9.0f} {quantile(values, .9):9.0f}")
    difference = statistics.median(times["known"]) - statistics.median(times["unknown"])
    iqr = quantile(times["unknown"], .75) - quantile(times["unknown"], .25)
    boot = []
    for _ in range(1000):
        a = [random.choice(times["known"]) for _ in times["known"]]
        b = [random.choice(times["unknown"]) for _ in times["unknown"]]
        boot.append(statistics.median(a) - statistics.median(b))
    boot.sort()
    low, high = boot[25], boot[974]
    print(f"median difference (known - unknown): {difference:.0f} µs; bootstrap 95% interval [{low:.0f}, {high:.0f}] µs;"
          f" the unknown group's IQR {iqr:.0f} µs ({100 * difference / max(iqr, 1):.0f}% of it)")


if __name__ == "__main__":
    main()
