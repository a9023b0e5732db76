"""Dashboards and alerts (#21): deploy/prometheus/alerts.yml passes promtool's checks and its unit tests
(deploy/prometheus/alerts.test.yml), deploy/grafana/jwt-authd.json is a sound dashboard, and every metric, label and
label value the rules and the panels use is one that a live /api/auth/metrics exports. A renamed metric, label or
value fails here instead of leaving a panel empty or an alert silent.

promtool comes from Debian's prometheus package (apt also installs the prometheus server, enabled as a service on
port 9090 where systemd runs; nothing here uses it)."""

import importlib.util
import json
import re
import shutil
import subprocess

import pytest

import harness
from authsite import CHEAP_HASHING, unique_email
from conftest import require, require_programs

pytestmark = pytest.mark.metrics

ALERTS = harness.REPO / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = harness.REPO / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = harness.REPO / "deploy" / "grafana" / "jwt-authd.json"
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at the scrape, never in the exposition
SEVERITIES = {"critical", "warning", "info"}

# A metric name where PromQL uses one: followed by a selector, a range, the end of an argument or a space.
METRIC = re.compile(r"(?<![A-Za-z0-9_:])(jwt_authd_[A-Za-z0-9_:]*)(?=[\s{\[),]|$)")
ANY_METRIC = re.compile(r"(?<![A-Za-z0-9_:])jwt_authd_[A-Za-z0-9_:]*")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
SELECTOR = re.compile(r'(jwt_authd_[A-Za-z0-9_:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}')
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
GROUPING = re.compile(r"\b(by|without)\s*\(([^()]*)\)\s*\(")
TRAILING_GROUPING = re.compile(r"\)\s*(by|without)\s*\(")
MATCHING = re.compile(r"\b(on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
LABEL_VALUES = re.compile(r"^label_values\(\s*(?:(jwt_authd_[A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*)?"
                          r"([A-Za-z_][A-Za-z0-9_]*)\s*\)$")
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? \S+$")
LABEL_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

MAIL = {"JWT_AUTHD_MAIL_TRANSPORT": "file", "JWT_AUTHD_PUBLIC_URL": "https://site.example",
        "JWT_AUTHD_MAIL_FROM": "Site <noreply@site.example>"}


@pytest.fixture(scope="module")
def promtool():
    require_programs("promtool")  # apt-get install prometheus
    return shutil.which("promtool")


@pytest.fixture(scope="module")
def yaml():
    require(importlib.util.find_spec("yaml") is not None, "not installed: PyYAML (apt-get install python3-yaml)")
    import yaml
    return yaml


@pytest.fixture(scope="module")
def rules(yaml):
    """Every rule of alerts.yml, in file order."""
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def site(start_site, rundir):
    """Two workers and mail on (the file transport): the outbox's metrics are served only when mail.transport is
    not none."""
    return start_site("dashboards", env={**CHEAP_HASHING, **MAIL, "JWT_AUTHD_MAIL_DIR": str(rundir / "mail"),
                                         "JWT_AUTHD_WORKERS": "2", "JWT_AUTHD_LOG_REQUESTS": "false"}, threads=2)


def run(*command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=harness.REPO)
    shown = " ".join(map(str, command))
    assert result.returncode == 0, f"{shown}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def panels_of(dashboard):
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard):
    """(where, PromQL) of every panel target."""
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target.get('refId')}", target.get("expr", "")


def variable_queries(dashboard):
    """(where, query) of the query variables (label_values(...), not PromQL)."""
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']}", query["query"] if isinstance(query, dict) else query


def for_promtool(expr):
    """A dashboard expression with Grafana's variables replaced, so that promtool can parse it."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$__interval", "1m")
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".+", expr)


class Exposition:
    """What a scrape of /api/auth/metrics says: the families (# TYPE and # HELP lines) and, per series name, the
    label names and values its samples carry."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.families = set()
        self.labels = {}  # series name -> {label -> {values}}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                self.families.add(name)
            elif line.startswith("# HELP "):
                self.families.add(line.split(" ", 3)[2])
            elif line and not line.startswith("#"):
                match = SAMPLE.match(line)
                assert match, f"not a sample line: {line!r}"
                labels = self.labels.setdefault(match.group(1), {})
                for label, value in LABEL_PAIR.findall(match.group(2) or ""):
                    labels.setdefault(label, set()).add(value)

    def family(self, name):
        """The family a series name belongs to: itself, or a histogram's (or summary's) for its _bucket, _sum and
        _count series; None when the service exports no such family."""
        if name in self.families:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if name.endswith(suffix) and self.types.get(base) in ("histogram", "summary"):
                return base
        return None

    def label_names(self, names):
        """The labels that series of these names carry, and those Prometheus adds."""
        return TARGET_LABELS.union(*(self.labels.get(name, {}).keys() for name in names))

    def value(self, metric):
        """The value of one series, e.g. ``jwt_authd_logins_total{result="ok"}``."""
        match = re.search(rf"^{re.escape(metric)} (\S+)$", self.text, re.M)
        assert match, f"{metric} missing"
        return float(match.group(1))


def problems_of(where, expr, exposition, promql=True):
    """What is wrong with the metrics ``expr`` uses: unknown names, labels the series lack, equality matchers for
    values it never has, regex matchers that match none of its values. Label values with a Grafana variable
    and the labels Prometheus adds (job, instance) are taken on trust."""
    problems = []
    names = names_in(expr)
    if len(names) != len(ANY_METRIC.findall(STRING.sub('""', expr))):
        problems.append(f"{where}: a jwt_authd_ name is used in a way this test cannot read: {expr}")
    if not promql:
        names = []
        match = LABEL_VALUES.match(expr.strip())
        if not match:
            return problems + [f"{where}: not label_values(metric, label): {expr}"]
        name, label = match.groups()
        if name:
            names = [name]
            if exposition.family(name) and label not in exposition.label_names([name]):
                problems.append(f"{where}: {name} has no label {label!r}")
    for name in names:
        family = exposition.family(name)
        if family is None:
            problems.append(f"{where}: {name} is not exported")
        elif exposition.types.get(name) in ("histogram", "summary"):
            problems.append(f"{where}: {name} is a {exposition.types[name]}: use its _bucket, _sum or _count series")
        elif name not in exposition.labels:
            problems.append(f"{where}: {name} (of family {family}) has no samples")
    if problems:
        return problems
    for name, matchers in SELECTOR.findall(expr):
        known = exposition.labels[name]
        parsed = MATCHER.findall(matchers)
        if MATCHER.sub("", matchers).strip():
            problems.append(f"{where}: cannot read the matchers {{{matchers}}}")
        for label, operator, value in parsed:
            if label in TARGET_LABELS:
                continue
            if label not in known:
                problems.append(f"{where}: {name} has no label {label!r} (it has {sorted(known) or 'none'})")
            elif "$" in value or operator in ("!=", "!~"):
                continue
            elif operator == "=" and value not in known[label]:
                problems.append(f"{where}: {name}{{{label}={value!r}}} never occurs (values: {sorted(known[label])})")
            elif operator == "=~" and not any(re.fullmatch(value, seen) for seen in known[label]):
                problems.append(f"{where}: {name}{{{label}=~{value!r}}} matches none of {sorted(known[label])}")
    every_label = exposition.label_names(names)
    if TRAILING_GROUPING.search(expr):
        problems.append(f"{where}: write `by (...)` before the aggregation's argument: {expr}")
    for match in GROUPING.finditer(expr):
        argument = balanced(expr, match.end() - 1)
        inside = exposition.label_names(names_in(argument))
        for label in labels_in(match.group(2)):
            if label not in inside:
                problems.append(f"{where}: {match.group(1)} ({label}): no series in {argument} has that label")
    for match in MATCHING.finditer(expr):
        for label in labels_in(match.group(2)):
            if label not in every_label:
                problems.append(f"{where}: {match.group(1)} ({label}): no series in the expression has that label")
    return problems


def names_in(expr):
    """The jwt_authd_ metric names an expression uses (none from inside its strings)."""
    return METRIC.findall(STRING.sub('""', expr))


def labels_in(clause):
    return [label.strip() for label in clause.split(",") if label.strip()]


def balanced(text, start):
    """The parenthesised text that opens at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index + 1]
    raise AssertionError(f"unbalanced parentheses: {text[start:]}")


def test_promtool_accepts_the_rules(promtool):
    output = run(promtool, "check", "rules", ALERTS)
    assert "SUCCESS" in output, output


def test_the_rules_pass_their_unit_tests(promtool):
    """Refresh token reuse and worker crash loops fire and stay quiet as they should (and a few more)."""
    output = run(promtool, "test", "rules", ALERT_TESTS)
    assert "SUCCESS" in output, output
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert {"JwtAuthdRefreshTokenReuseSpike", "JwtAuthdWorkerCrashLoop"} <= tested


def test_every_rule_is_an_alert_with_a_severity_and_annotations(rules):
    names = [rule.get("alert") for rule in rules]
    assert None not in names, "alerts.yml holds alerting rules only"
    assert len(names) == len(set(names)), f"alert names repeat: {names}"
    for rule in rules:
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip() and annotations.get("description", "").strip(), rule["alert"]


def test_the_dashboard_is_importable_anywhere(dashboard, promtool, tmp_path):
    """Valid JSON, unique panel ids, panels that do not overlap, a target for every panel, the data source as a
    variable, and PromQL that parses (each target as a recording rule for promtool)."""
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] and dashboard["title"]
    panels = list(panels_of(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"
    cells = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['id']} {panel['title']!r} has no target"
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert all(target.get("expr", "").strip() for target in panel["targets"]), panel["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["job"]["type"] == variables["instance"]["type"] == "query"
    records = [{"record": f"dashboard_check:expr_{index}", "expr": for_promtool(expr)}
               for index, (_, expr) in enumerate(dashboard_queries(dashboard))]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))  # JSON is YAML
    run(promtool, "check", "rules", path)


def test_the_rules_and_the_dashboard_use_only_exported_metrics(site, rules, dashboard):
    """Scraped right after start and again after some traffic (a registration, logins right and wrong, the gate
    with and without a token, a refresh): the same families both times, none appears only after an event, and
    every name, label and value the rules, the panels and the variables use is there."""
    client = site.client()
    before = Exposition(client.get("/api/auth/metrics").text)
    email = unique_email("dash")
    client.register(email=email)
    client.login(email)
    site.client().login(email, password="not the password", expect=401)
    assert client.get("/api/auth/verify").status_code == 204
    assert site.client().get("/api/auth/verify").status_code == 401
    assert client.post("/api/auth/refresh").status_code == 200
    response = client.get("/api/auth/metrics")
    assert response.status_code == 200, response.text
    after = Exposition(response.text)
    assert before.families == after.families and before.types == after.types
    assert "jwt_authd_mail_messages" in after.families, "the site runs with mail on"
    for metric, least in [('jwt_authd_logins_total{result="ok"}', 1), ('jwt_authd_logins_total{result="failed"}', 1),
                          ('jwt_authd_refreshes_total{result="rotated"}', 1),
                          ('jwt_authd_access_verifications_total{result="ok"}', 1),
                          ('jwt_authd_access_verifications_total{result="refused"}', 1),
                          ("jwt_authd_token_pairs_issued_total", 3), ("jwt_authd_request_duration_seconds_count", 6)]:
        assert after.value(metric) >= least, metric

    problems = []
    used = set()
    for rule in rules:
        problems += problems_of(f"alert {rule['alert']}", rule["expr"], after)
        used.update(names_in(rule["expr"]))
    for where, expr in dashboard_queries(dashboard):
        problems += problems_of(where, expr, after)
        used.update(names_in(expr))
    for where, query in variable_queries(dashboard):
        problems += problems_of(where, query, after, promql=False)
    assert not problems, "\n".join(problems)
    assert {after.family(name) for name in used} >= {"jwt_authd_refreshes_total", "jwt_authd_worker_crashes_total",
                                                    "jwt_authd_request_duration_seconds", "jwt_authd_mail_messages"}
