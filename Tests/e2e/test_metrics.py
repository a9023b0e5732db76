"""Prometheus metrics: one coherent view of the whole worker pool, served only to allowed addresses."""

import os
import re
import signal

import pytest

from test_supervisor import workers_of, wait_for

pytestmark = pytest.mark.metrics


def series(text, name_and_labels):
    match = re.search(rf"^{re.escape(name_and_labels)} (\d+(?:\.\d+)?)$", text, re.M)
    assert match, f"{name_and_labels} missing:\n{text[:2000]}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def site(start_site):
    return start_site("metrics", env={"JWT_AUTHD_WORKERS": "2", "JWT_AUTHD_LOG_REQUESTS": "false"}, threads=2)


def test_metrics_sum_every_worker_and_survive_a_crash(site):
    client = site.client()
    client.register()
    anonymous = site.client()
    for _ in range(40):
        assert client.get("/api/auth/verify").status_code == 204
        assert anonymous.get("/api/auth/verify").status_code == 401
    text = anonymous.get("/api/auth/metrics").text
    verified = series(text, 'jwt_authd_requests_total{route="/api/auth/verify",status="2xx"}')
    refused = series(text, 'jwt_authd_requests_total{route="/api/auth/verify",status="4xx"}')
    assert verified >= 40 and refused >= 40
    assert series(text, 'jwt_authd_access_verifications_total{result="ok"}') >= 40
    assert series(text, "jwt_authd_token_pairs_issued_total") >= 1
    assert series(text, "jwt_authd_workers") == 2
    # A crash is counted, and the totals stay: the counters live in the supervisor's memory, not the worker's.
    victim = workers_of(site.worker)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(workers_of(site.worker)) == 2 and victim not in workers_of(site.worker), what="a replacement")
    after = anonymous.get("/api/auth/metrics").text
    assert series(after, 'jwt_authd_requests_total{route="/api/auth/verify",status="2xx"}') >= verified
    assert series(after, "jwt_authd_worker_crashes_total") == 1
    assert series(after, "jwt_authd_worker_replacements_total") >= 1
    assert "Content-Type" in anonymous.get("/api/auth/metrics").headers


def test_metrics_are_refused_off_the_allow_list(start_site):
    site = start_site("metrics-closed", env={"JWT_METRICS_ALLOW": "10.0.0.0/8"})
    response = site.client().get("/api/auth/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
