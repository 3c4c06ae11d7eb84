#!/usr/bin/env python3
"""Grafana: the dashboards and provisioning in deploy/grafana against the InfluxDB sink's data
contract (docs/grafana.md, docs/influxdb.md).

  GeneratedFilesTest    dashboards/*.json equal what deploy/grafana/generate.py writes now;
                        fixed uids, schemaVersion 39, unique panel ids, every target's
                        datasource is a dashboard variable that defaults to a provisioned uid
  ProvisioningTest      the provisioning YAML, structurally (PyYAML when installed, and always
                        a small line-based reader, so the check also runs without it); every
                        $VAR it reads has a default in deploy/grafana/grafana.env
  InfluxQLTest          influxd 1.6 on free loopback ports, database txpipe, loaded by
                        `txpipe run` (load_through_txpipe); then EVERY InfluxQL query of the InfluxQL dashboard
                        (panels, annotations, variables), with Grafana's macros and variables
                        substituted as Grafana does, for every window size and raw-measurement
                        choice, must answer without error, with rows, non-null values in every
                        column and non-empty GROUP BY tags; per-dimension rates must add up to
                        the total; the loaded schema must keep CONTRACT (its fields with
                        their types, exactly its tags)
  FluxTest              every Flux query of the Flux dashboard, substituted the same way, must
                        parse and pass is_valid_flux (tests/grafana_queries.mjs, with
                        @influxdata/flux-lsp-node from web/node_modules; no InfluxDB 2 runs
                        here), and name only measurements, fields, tags and tag values of
                        CONTRACT
  PrometheusTest        the PromQL of the pipeline panels against VictoriaMetrics on loopback,
                        fed samples of txpipe's metrics; src/ registers those metric names

The data comes from txpipe itself (load_through_txpipe): generated finance and car events
through both analytics processors into two InfluxDB sinks (lean and seed), so the dashboards
are checked against what the sink really writes, and the sink against the written contract.

Usage: grafana_test.py PATH/TO/txpipe [unittest args]
"""
import datetime
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Influxd, die_with_parent, free_ports, http, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy", "grafana")
DASHBOARDS = {"influxql": os.path.join(DEPLOY, "dashboards", "txpipe-influxql.json"),
              "flux": os.path.join(DEPLOY, "dashboards", "txpipe-flux.json")}
TXPIPE = None
DATABASE = "txpipe"
SEED = 20261204
RANGE_MS = 3600 * 1000          # the dashboards' time range in this test: the last hour
MAX_DATA_POINTS = 1000          # ~ a panel's width in pixels (Grafana's maxDataPoints)
MIN_INTERVAL_MS = 10_000        # the datasources' timeInterval (provisioning YAML)
SCRAPE_INTERVAL_S = 15          # the Prometheus datasource's timeInterval


# ------------------------------------------------------------------------------ the contract
# What txpipe's InfluxDB sink writes (docs/influxdb.md, "Points"), written down independently of
# the dashboards so the two check each other. tags: name -> allowed values (None: any);
# fields: name -> InfluxDB type.

FINANCE_ENUMS = {
    "transaction_type": ["deposit", "withdrawal", "transfer", "payment"],
    "currency": ["USD", "EUR", "JPY", "GBP"],
    "branch": ["Main Street", "Second Avenue", "Third Boulevard", "Fourth Square"],
    "customer_gender": ["Male", "Female", "Other"],
    "transaction_channel": ["online", "ATM", "branch", "mobile"],
    "transaction_status": ["completed", "pending", "failed"],
    "location_city": ["New York", "San Francisco", "London", "Tokyo", "Berlin"],
    "location_country": ["USA", "UK", "Japan", "Germany"],
}
CARS_ENUMS = {
    "brand": ["Toyota", "Honda", "Ford", "BMW", "Mercedes-Benz", "Tesla", "Volkswagen",
              "Hyundai"],
    "payment_method": ["cash", "card", "loan", "lease"],
    "status": ["completed", "pending", "failed", "cancelled"],
    "currency": ["USD", "EUR", "GBP", "JPY"],
    "log_level": ["INFO", "WARNING", "ERROR"],
}
AGE_BANDS = ["<18", "18-25", "26-35", "36-45", "46-55", "56-65", "66+"]
WINDOWS = {"10s": 10, "1m": 60}

DIMENSIONS = {  # stream -> dimension -> values (None: any string)
    "finance": {"total": ["all"], **FINANCE_ENUMS, "customer_age_band": AGE_BANDS},
    "cars": {"total": ["all"], "brand": CARS_ENUMS["brand"],
             "payment_method": CARS_ENUMS["payment_method"], "status": CARS_ENUMS["status"],
             "currency": CARS_ENUMS["currency"], "city": None, "country": None,
             "log_level": CARS_ENUMS["log_level"]},
}
MEASURES = {"finance": ["amount", "amount_usd", "account_balance", "customer_age"],
            "cars": ["price", "price_usd", "customer_age", "year"]}


def _window_fields(stream):
    fields = {"count": "integer"}
    for m in MEASURES[stream]:
        for agg in ("sum", "min", "max", "avg"):
            fields[f"{m}_{agg}"] = "float"
    if stream == "finance":
        fields["failed_ratio"] = "float"
    return fields


CONTRACT = {
    "finance_windows": {"tags": {"window": list(WINDOWS), "dimension": list(DIMENSIONS["finance"]),
                                 "value": None},
                        "fields": _window_fields("finance")},
    "cars_windows": {"tags": {"window": list(WINDOWS), "dimension": list(DIMENSIONS["cars"]),
                              "value": None},
                     "fields": _window_fields("cars")},
    "alerts": {"tags": {"rule": None, "kind": ["event", "threshold", "velocity"],
                        "severity": ["warning", "critical"], "stream": ["finance", "cars"]},
               "fields": {"id": "string", "key": "string", "message": "string",
                          "values": "string"}},
    "finance_transactions": {  # per_event = "lean"
        "tags": dict(FINANCE_ENUMS),
        "fields": {"transaction_id": "string", "account_id": "string", "merchant_id": "string",
                   "description": "string", "amount": "float", "account_balance": "float",
                   "customer_age": "integer"}},
    "finance_transaction_data": {  # per_event = "seed": the seed's Spark job
        "tags": {"transaction_id": None, "account_id": None,
                 "transaction_type": FINANCE_ENUMS["transaction_type"],
                 "currency": FINANCE_ENUMS["currency"], "branch": FINANCE_ENUMS["branch"]},
        "fields": {"amount": "float", "account_balance": "float", "customer_age": "integer",
                   "transaction_date": "string", "description": "string",
                   "customer_gender": "string", "transaction_channel": "string",
                   "transaction_status": "string", "merchant_id": "string",
                   "location_city": "string", "location_country": "string"}},
    "car_transactions": {
        "tags": dict(CARS_ENUMS),
        "fields": {"transaction_id": "string", "dealer_id": "string", "model": "string",
                   "customer_id": "string", "city": "string", "country": "string",
                   "message": "string", "price": "float", "year": "integer",
                   "customer_age": "integer"}},
}
# The metrics the pipeline panels read (txpipe's GET /metrics, docs/http.md).
METRICS = ["txpipe_consumer_lag", "txpipe_log_end_offset", "txpipe_http_ingest_events_total"]


# ------------------------------------------------------------------------------------ the data

# The alert rules load_through_txpipe configures (the `rule` variable's values).
ALERT_RULES = ("big_online_payment", "busy_10s", "big_car_sale")


def load_through_txpipe(influx, now_ms):
    """Fills influx's database DATABASE the way users will: `txpipe run` with spool folders of
    generated finance and car events (the last 20 minutes), both analytics processors (10s
    and 1m windows, a warning and a critical alert rule each) and two InfluxDB sinks (lean:
    windows, alerts, raw events; seed: finance_transaction_data). Returns the points written.
    The schema and every query are then checked against what txpipe really wrote."""
    finance, cars = 20_000, 5_000
    tmp = tempfile.mkdtemp(prefix="grafana-test-txpipe-")
    try:
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 - 1200))
        for kind, count, folder in (("finance", finance, "spool/finance"),
                                    ("cars", cars, "spool/cars")):
            r = subprocess.run([TXPIPE, "generate", kind, "--out", os.path.join(tmp, folder),
                                "--rate", "max", "--count", str(count), "--seed", str(SEED),
                                "--start", start, "--file-seconds", "1000", "--no-fsync", "-q"],
                               capture_output=True, timeout=300)
            assert r.returncode == 0, r.stderr
        config = os.path.join(tmp, "pipeline.toml")
        with open(config, "w") as f:
            f.write(f"""data_dir = "{tmp}"
[sources.finance_files]
type = "spooldir"
spool_dir = "spool/finance"
topic = "finance"
key_field = "account_id"
min_file_age_ms = 0
[sources.car_files]
type = "spooldir"
spool_dir = "spool/cars"
topic = "car-transactions-logs"
key_field = "customer_id"
min_file_age_ms = 0
[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
windows = ["10s", "1m"]
idle_timeout = "1s"
[[processors.finance.alerts]]
name = "big_online_payment"
rule = 'amount > 4900 and transaction_channel == "online"'
severity = "warning"
[[processors.finance.alerts]]
name = "busy_10s"
rule = "count > 100 over 10s"
severity = "critical"
[processors.cars]
type = "analytics"
topic = "car-transactions-logs"
schema = "cars"
windows = ["10s", "1m"]
idle_timeout = "1s"
[[processors.cars.alerts]]
name = "big_car_sale"
rule = "price > 90000"
severity = "warning"
[sinks.lean]
type = "influxdb"
topics = ["finance.windows", "car-transactions-logs.windows", "alerts", "finance",
          "car-transactions-logs"]
url = "{influx.url}"
database = "{DATABASE}"
[sinks.seed]
type = "influxdb"
topics = ["finance"]
url = "{influx.url}"
database = "{DATABASE}"
per_event = "seed"
""")
        log_path = os.path.join(tmp, "txpipe.log")

        def scalar(q):
            return influx.scalar(DATABASE, q)

        def done():
            return (scalar("SELECT count(amount) FROM finance_transactions") == finance and
                    scalar("SELECT count(amount) FROM finance_transaction_data") == finance and
                    scalar("SELECT count(price) FROM car_transactions") == cars and
                    all(scalar(f'SELECT sum("count") FROM {m} WHERE "window" = \'{w}\' '
                               f"AND dimension = 'total'") == n
                        for m, n in (("finance_windows", finance), ("cars_windows", cars))
                        for w in ("10s", "1m")) and
                    scalar("SELECT count(id) FROM alerts WHERE severity = 'critical'") > 0 and
                    scalar("SELECT count(id) FROM alerts WHERE severity = 'warning'") > 0)
        with open(log_path, "wb") as log:
            p = subprocess.Popen([TXPIPE, "run", "-c", config], stdout=log, stderr=log)
        try:
            wait_for(lambda: p.poll() is not None or done(), 240, "txpipe to write everything")
        finally:
            p.send_signal(2)  # SIGINT
            rc = p.wait(timeout=120)
        with open(log_path, errors="replace") as f:
            assert rc == 0 and done(), f"txpipe run exited {rc}:\n{f.read()[-3000:]}"
        return scalar("SELECT count(*) FROM /.*/") or 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------- Grafana's substitutions

# Grafana's roundInterval (packages/grafana-data rangeutil / pkg/tsdb intervalv2): a raw
# interval below each bound (ms) becomes the value next to it.
_ROUND = [(15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
          (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
          (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
          (900000, 600000), (1350000, 900000), (2250000, 1200000), (3150000, 1800000),
          (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
          (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
          (1814400000, 604800000), (3628800000, 2592000000)]


def grafana_interval_ms(range_ms, max_data_points=MAX_DATA_POINTS, min_ms=MIN_INTERVAL_MS):
    raw = range_ms / max_data_points
    rounded = next((v for bound, v in _ROUND if raw < bound), 31536000000)
    return max(rounded, min_ms)


def format_interval(ms):
    """gtime.FormatInterval: what $__interval becomes (10s, 1m, 200ms, ...)."""
    for unit, size in (("y", 31536000000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000), ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def go_duration(ms):
    """Go's time.Duration.String() of whole milliseconds: v.windowPeriod in Flux (1m0s)."""
    if ms < 1000:
        return f"{ms}ms"
    h, rest = divmod(ms, 3600000)
    m, rest = divmod(rest, 60000)
    s = f"{rest // 1000}" + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "") + "s"
    if h:
        return f"{h}h{m}m{s}"
    if m:
        return f"{m}m{s}"
    return s


def rfc3339nano(ms):
    """Go's time.RFC3339Nano of a UTC time: trailing zeros of the fraction dropped."""
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    frac = f".{ms % 1000:03d}".rstrip("0") if ms % 1000 else ""
    return t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def escape_regex(s):
    """Grafana's escapeRegex (what :regex and InfluxDB multi-value formatting apply)."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), s)


class Var:
    """A variable's current selection: values (list), text, and allValue if All is chosen."""

    def __init__(self, values, text=None, all_value=None, multi=False):
        self.values, self.text, self.all_value, self.multi = values, text, all_value, multi

    def format(self, fmt):
        if self.all_value is not None and fmt not in ("text",):
            return self.all_value
        if fmt == "text":
            return self.text if self.text is not None else " + ".join(self.values)
        if fmt == "regex" or (fmt is None and self.multi):
            escaped = [escape_regex(v) for v in self.values]
            return escaped[0] if len(escaped) == 1 and not self.multi else \
                "(" + "|".join(escaped) + ")"
        if fmt in (None, "raw"):
            return ",".join(self.values) if len(self.values) > 1 else self.values[0]
        raise AssertionError(f"format {fmt} not simulated")


_VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")


def interpolate(query, variables):
    """templateSrv.replace: dashboard variables ($v, ${v}, ${v:fmt}, [[v]]); the rest is left
    for the datasource (macros such as $timeFilter, $__interval)."""
    def sub(m):
        name = m.group(1) or m.group(3) or m.group(5)
        fmt = m.group(2) or m.group(4)
        if name not in variables:
            return m.group(0)
        return variables[name].format(fmt)
    return _VAR_RE.sub(sub, query)


def influxql_macros(query, from_ms, to_ms, interval_ms, frontend=False):
    """pkg/tsdb/influxdb/models/query.go (backend), or datasource.ts getTimeFilter (frontend:
    annotations and variables in the classic path) for a range ending now."""
    if frontend:
        tf = f"time >= now() - {format_interval(to_ms - from_ms)} and time <= now()"
    else:
        tf = f"time >= {from_ms}ms and time <= {to_ms}ms"
    text = format_interval(interval_ms)
    return (query.replace("$timeFilter", tf).replace("$__interval_ms", str(interval_ms))
            .replace("$__interval", text).replace("$interval", text))


def flux_macros(query, from_ms, to_ms, interval_ms, bucket=DATABASE):
    """pkg/tsdb/influxdb/flux/macros.go."""
    return (query.replace("v.timeRangeStart", rfc3339nano(from_ms))
            .replace("v.timeRangeStop", rfc3339nano(to_ms))
            .replace("v.windowPeriod", go_duration(interval_ms))
            .replace("v.defaultBucket", json.dumps(bucket))
            .replace("v.organization", json.dumps("txpipe"))
            .replace("$__interval_ms", str(interval_ms))
            .replace("$__interval", format_interval(interval_ms)))


LEFT_OVER = re.compile(r"\$\{|\$[A-Za-z_]|\[\[|\bv\.(timeRange|windowPeriod|defaultBucket)")


# ---------------------------------------------------------------------------- the dashboards

def load_dashboard(dialect):
    with open(DASHBOARDS[dialect], encoding="utf-8") as f:
        return json.load(f)


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard_queries(d):
    """[(label, where, query, holder)] of every query: panel targets, annotations, variables;
    `holder` is the target, annotation or variable the query is in."""
    out = []
    for p in all_panels(d["panels"]):
        for t in p.get("targets", []):
            q = t.get("query", t.get("expr"))
            out.append((f"panel {p['id']} {p['title']!r} {t['refId']}", "panel", q, t))
    for a in d["annotations"]["list"]:
        if a.get("builtIn"):
            continue
        out.append((f"annotation {a['name']!r}", "annotation", a["target"]["query"], a))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append((f"variable {v['name']}", "variable", v["query"], v))
    return out


def used_variables(query):
    return {m.group(1) or m.group(3) or m.group(5) for m in _VAR_RE.finditer(query)}


def custom_choices(d):
    """name -> [Var] for every option of every custom variable."""
    out = {}
    for v in d["templating"]["list"]:
        if v["type"] == "custom":
            out[v["name"]] = [Var([o["value"]], text=o["text"]) for o in v["options"]]
    return out


def substitutions(d, query, query_vars):
    """Every combination of the custom variables `query` uses, with query variables set from
    query_vars (name -> [Var]): a list of name -> Var."""
    choices = {**custom_choices(d), **query_vars}
    names = sorted(n for n in used_variables(query) if n in choices)
    return [dict(zip(names, combo)) for combo in itertools.product(*(choices[n] for n in names))]


# ------------------------------------------------------------------------------- the servers

class VictoriaMetrics:
    """Debian's victoria-metrics on a free loopback port with a temp storage dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="grafana-test-vm-")
        self.proc = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        for attempt in range(3):  # the free port may be taken before VictoriaMetrics binds it
            (port,) = free_ports(1)
            self.url = f"http://127.0.0.1:{port}"
            self.proc = subprocess.Popen(
                ["victoria-metrics", f"-storageDataPath={self.dir}/data",
                 f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=ERROR"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent)

            def ready():
                if self.proc.poll() is not None:
                    return "exited"
                try:
                    return http("GET", self.url + "/health", timeout=2)[0] == 200 and "up"
                except OSError:
                    return None
            if wait_for(ready, timeout=30, what="victoria-metrics /health") == "up":
                return
        raise AssertionError("victoria-metrics did not start (3 tries)")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------- tests

class GeneratedFilesTest(unittest.TestCase):
    def test_dashboards_are_up_to_date(self):
        r = subprocess.run([sys.executable, os.path.join(DEPLOY, "generate.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(DEPLOY, "__pycache__")),
                         "generate.py left deploy/grafana/__pycache__")

    def test_dashboard_models(self):
        for dialect in DASHBOARDS:
            with self.subTest(dialect):
                d = load_dashboard(dialect)
                self.assertEqual(d["uid"], f"txpipe-{dialect}")
                self.assertEqual(d["schemaVersion"], 39)
                ids = [p["id"] for p in all_panels(d["panels"])]
                self.assertEqual(len(ids), len(set(ids)), "duplicate panel ids")
                variables = {v["name"]: v for v in d["templating"]["list"]}
                self.assertIn("window", variables)
                self.assertEqual([o["text"] for o in variables["window"]["options"]],
                                 list(WINDOWS))
                self.assertEqual([o["value"] for o in variables["window"]["options"]],
                                 [str(s) for s in WINDOWS.values()])
                default = {"ds": f"txpipe-{dialect}", "prom": "txpipe-prometheus"}
                for name, uid in default.items():
                    self.assertEqual(variables[name]["type"], "datasource")
                    self.assertEqual(variables[name]["current"]["value"], uid)
                for p in all_panels(d["panels"]):
                    self.assertIn("gridPos", p)
                    for t in p.get("targets", []):
                        uid = t["datasource"]["uid"]
                        self.assertIn(uid, ("${ds}", "${prom}"), p["title"])
                        self.assertEqual(t["datasource"]["type"],
                                         "prometheus" if uid == "${prom}" else "influxdb")
                annotations = [a for a in d["annotations"]["list"] if not a.get("builtIn")]
                self.assertEqual(sorted(a["name"] for a in annotations),
                                 ["Alerts: critical", "Alerts: warning"])


def mini_yaml(text):
    """The YAML subset of the provisioning files without a YAML library: block mappings and
    sequences by indentation, plain scalars, comments. Raises ValueError on anything else."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw:
            raise ValueError(f"line {number}: tab")
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.strip():
            lines.append((number, len(line) - len(line.lstrip(" ")), line.strip()))

    def scalar(s):
        if s in ("true", "false"):
            return s == "true"
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            return s[1:-1]
        return s

    def block(i, indent):
        if i < len(lines) and lines[i][2].startswith("- "):
            return sequence(i, indent)
        return mapping(i, indent)

    def sequence(i, indent):
        out = []
        while i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("- "):
            number, _, content = lines[i]
            # "- key: value" starts a mapping at indent + 2
            lines[i] = (number, indent + 2, content[2:])
            value, i = mapping(i, indent + 2) if ":" in content else (scalar(content[2:]), i + 1)
            out.append(value)
        return out, i

    def mapping(i, indent):
        out = {}
        while i < len(lines) and lines[i][1] == indent and not lines[i][2].startswith("- "):
            number, _, content = lines[i]
            m = re.fullmatch(r"([A-Za-z_][\w.-]*):(?:\s+(.*))?", content)
            if not m:
                raise ValueError(f"line {number}: not 'key: value': {content!r}")
            key, value = m.group(1), m.group(2)
            if key in out:
                raise ValueError(f"line {number}: duplicate key {key}")
            i += 1
            if value is None:
                if i < len(lines) and lines[i][1] > indent:
                    out[key], i = block(i, lines[i][1])
                elif i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("- "):
                    out[key], i = sequence(i, indent)
                else:
                    out[key] = None
            else:
                out[key] = scalar(value)
        return out, i

    value, i = block(0, 0) if lines else ({}, 0)
    if i != len(lines):
        raise ValueError(f"line {lines[i][0]}: unexpected indentation")
    return value


class ProvisioningTest(unittest.TestCase):
    DATASOURCES = os.path.join(DEPLOY, "provisioning", "datasources", "txpipe.yaml")
    PROVIDERS = os.path.join(DEPLOY, "provisioning", "dashboards", "txpipe.yaml")

    def parsed(self, path):
        """[(parser name, document)]: the line-based reader always, PyYAML when installed
        (and then both must agree)."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        docs = [("line-based", mini_yaml(text))]
        try:
            import yaml
        except ImportError:
            return docs
        docs.append(("PyYAML", yaml.safe_load(text)))
        self.assertEqual(docs[0][1], docs[1][1], f"{path}: the line-based reader disagrees")
        return docs

    def test_datasources(self):
        want = {"txpipe-influxql": ("influxdb", "InfluxQL"), "txpipe-flux": ("influxdb", "Flux"),
                "txpipe-influxql-v2": ("influxdb", "InfluxQL"),
                "txpipe-prometheus": ("prometheus", None)}
        for parser, doc in self.parsed(self.DATASOURCES):
            with self.subTest(parser):
                self.assertEqual(doc["apiVersion"], 1)
                by_uid = {}
                for ds in doc["datasources"]:
                    for key in ("name", "uid", "type", "url", "access"):
                        self.assertTrue(ds.get(key), f"{ds.get('uid')}: no {key}")
                    self.assertEqual(ds["access"], "proxy")
                    self.assertRegex(ds["url"], r"^\$\{[A-Z0-9_]+\}$")
                    by_uid[ds["uid"]] = ds
                self.assertEqual(set(by_uid), set(want))
                for uid, (kind, version) in want.items():
                    ds = by_uid[uid]
                    self.assertEqual(ds["type"], kind, uid)
                    if version:
                        self.assertEqual(ds["jsonData"]["version"], version, uid)
                        self.assertEqual(ds["jsonData"]["timeInterval"], "10s", uid)
                flux = by_uid["txpipe-flux"]
                self.assertTrue(flux["jsonData"]["organization"])
                self.assertTrue(flux["jsonData"]["defaultBucket"])
                self.assertEqual(flux["secureJsonData"]["token"], "${INFLUX_TOKEN}")
                v2 = by_uid["txpipe-influxql-v2"]
                self.assertEqual(v2["jsonData"]["httpHeaderName1"], "Authorization")
                self.assertEqual(v2["secureJsonData"]["httpHeaderValue1"], "Token ${INFLUX_TOKEN}")
                self.assertTrue(v2["jsonData"]["dbName"])
                self.assertTrue(by_uid["txpipe-influxql"]["jsonData"]["dbName"])

    def test_dashboard_provider(self):
        for parser, doc in self.parsed(self.PROVIDERS):
            with self.subTest(parser):
                self.assertEqual(doc["apiVersion"], 1)
                (provider,) = doc["providers"]
                self.assertEqual(provider["type"], "file")
                self.assertTrue(provider["name"])
                self.assertTrue(provider["options"]["path"])

    def test_every_variable_has_a_default(self):
        with open(os.path.join(DEPLOY, "grafana.env"), encoding="utf-8") as f:
            defaults = dict(line.split("=", 1) for line in f.read().splitlines()
                            if line and not line.startswith("#"))
        for path in (self.DATASOURCES, self.PROVIDERS):
            with open(path, encoding="utf-8") as f:
                text = re.sub(r"#.*", "", f.read())
            names = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", text))
            self.assertTrue(names)
            self.assertEqual(names - set(defaults), set(), f"{path}: no default in grafana.env")
        self.assertEqual(defaults["TXPIPE_INFLUXDB_DATABASE"], DATABASE)
        self.assertEqual(defaults["TXPIPE_INFLUXDB_BUCKET"], DATABASE)


def _group_by_tags(query):
    m = re.search(r"GROUP BY (.*?)(?: fill\(|$| ORDER| LIMIT)", query)
    if not m:
        return []
    return [t for t in re.findall(r'"([^"]+)"', m.group(1))]


class InfluxQLTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.influx = Influxd().start()
        cls.addClassCleanup(cls.influx.close)
        answer = cls.influx.query(f'CREATE DATABASE "{DATABASE}"')
        assert answer["_status"] == 200 and "error" not in answer, answer
        cls.now_ms = int(time.time() * 1000)
        cls.points = load_through_txpipe(cls.influx, cls.now_ms)
        cls.dashboard = load_dashboard("influxql")

    def run_query(self, q):
        answer = self.influx.query(q, DATABASE)
        self.assertEqual(answer["_status"], 200, f"{q}\n{answer}")
        self.assertNotIn("error", answer, q)
        (result,) = answer["results"]
        self.assertNotIn("error", result, q)
        return result.get("series", [])

    def time_range(self):
        # The range ends now: queries run a little after the data was loaded.
        to_ms = int(time.time() * 1000)
        return to_ms - RANGE_MS, to_ms

    def variable_values(self, name):
        """A query variable's values, from its own query (as Grafana gets them)."""
        (v,) = [v for v in self.dashboard["templating"]["list"] if v["name"] == name]
        series = self.run_query(interpolate(v["query"], {}))
        return [row[-1] for s in series for row in s["values"]]

    def query_vars(self):
        out = {}
        for v in self.dashboard["templating"]["list"]:
            if v["type"] == "query":
                values = self.variable_values(v["name"])
                choices = [Var(values, multi=v["multi"])]
                if v.get("includeAll"):
                    choices.append(Var(values, all_value=v.get("allValue"), multi=v["multi"]))
                out[v["name"]] = choices
        return out

    def test_schema_is_the_contract(self):
        """Every field of CONTRACT with its type (more fields may come), exactly its tags (one
        more tag would split the series the panels expect one point per window from)."""
        for measurement, spec in CONTRACT.items():
            with self.subTest(measurement):
                fields = {row[0]: row[1] for s in self.run_query(
                    f'SHOW FIELD KEYS FROM "{measurement}"') for row in s["values"]}
                self.assertEqual({k: fields.get(k) for k in spec["fields"]}, spec["fields"])
                tags = {row[0] for s in self.run_query(f'SHOW TAG KEYS FROM "{measurement}"')
                        for row in s["values"]}
                self.assertEqual(tags, set(spec["tags"]))

    def test_every_query(self):
        from_ms, to_ms = self.time_range()
        interval_ms = grafana_interval_ms(to_ms - from_ms)
        query_vars = self.query_vars()
        ran = 0
        for label, where, query, holder in dashboard_queries(self.dashboard):
            if holder.get("datasource", {}).get("type") == "prometheus":
                continue
            for variables in substitutions(self.dashboard, query, query_vars):
                for frontend in (False, True):
                    q = influxql_macros(interpolate(query, variables), from_ms, to_ms,
                                        interval_ms, frontend=frontend)
                    with self.subTest(label, q=q):
                        self.assertIsNone(LEFT_OVER.search(q), "not substituted")
                        series = self.run_query(q)
                        self.check_answer(q, where, holder, series)
                        ran += 1
        # 18 panels, 2 annotations, 1 variable, most of them for both window sizes
        self.assertGreaterEqual(ran, 60)

    def check_answer(self, q, where, holder, series):
        rows = [row for s in series for row in s["values"]]
        self.assertTrue(rows, f"no rows: {q}")
        columns = series[0]["columns"]
        for i, column in enumerate(columns):
            if column == "time":
                continue
            self.assertTrue(any(row[i] not in (None, "") for s in series for row in s["values"]),
                            f"column {column} has no values: {q}")
        for tag in _group_by_tags(q):
            for s in series:
                self.assertTrue(s.get("tags", {}).get(tag), f"GROUP BY {tag} is empty: {q}")
        if where == "annotation":
            wanted = [holder["textColumn"], *holder["tagsColumn"].split(",")]
            self.assertEqual(sorted(set(wanted) - set(columns)), [], q)
        if where == "panel" and holder.get("resultFormat") == "table":
            self.assertEqual(len({tuple(s["columns"]) for s in series}), 1, q)

    def test_rates_add_up_to_the_total(self):
        """Each rate panel's series, times the window's seconds, sum to the `total`
        dimension's sum of the same field: every event is in one value of each dimension."""
        from_ms, to_ms = self.time_range()
        checked = 0
        for p in all_panels(self.dashboard["panels"]):
            for t in p.get("targets", []):
                q = t.get("query", "")
                m = re.match(r'SELECT sum\("(\w+)"\) / \$window FROM "(\w+)"', q)
                if not m:
                    continue
                field, measurement = m.groups()
                for window, seconds in WINDOWS.items():
                    variables = {"window": Var([str(seconds)], text=window)}
                    series = self.run_query(influxql_macros(interpolate(q, variables),
                                                            from_ms, to_ms, MIN_INTERVAL_MS))
                    rates = sum(row[1] for s in series for row in s["values"]
                                if row[1] is not None)
                    totals = self.run_query(
                        f'SELECT sum("{field}") FROM "{measurement}" WHERE "window" = '
                        f"'{window}' AND \"dimension\" = 'total' AND "
                        f"time >= {from_ms}ms AND time <= {to_ms}ms")
                    with self.subTest(p["title"], window=window):
                        self.assertTrue(totals, f"no total of {field} in {measurement}")
                        want = totals[0]["values"][0][1]
                        self.assertGreater(want, 0)
                        self.assertAlmostEqual(rates * seconds / want, 1.0, places=9)
                        checked += 1
        self.assertGreaterEqual(checked, 20)


def _flux_refs(query):
    """What a Flux query reads: measurements, fields, compared tag values, column names."""
    measurements = set(re.findall(r'r\._measurement\s*==\s*"([^"]*)"', query))
    measurements |= set(re.findall(r'\bmeasurement:\s*"([^"]*)"', query))
    fields = set(re.findall(r'r\._field\s*==\s*"([^"]*)"', query))
    compared = set(re.findall(r'\br\.([A-Za-z]\w*)\s*==\s*"([^"]*)"', query))
    columns = set(re.findall(r"\br\.([A-Za-z]\w*)", query))
    columns |= set(re.findall(r'\btag:\s*"([^"]*)"', query))
    for lst in re.findall(r"\b(?:group|keep)\(columns:\s*\[([^\]]*)\]", query):
        columns |= {c for c in re.findall(r'"([^"]*)"', lst) if not c.startswith("_")}
    return measurements, fields, compared, columns


class FluxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard = load_dashboard("flux")
        now_ms = int(time.time() * 1000)
        cls.from_ms, cls.to_ms = now_ms - RANGE_MS, now_ms
        # The Flux dashboard's own query variables cannot run here: rule names as the data has
        # them (All, and every value), the bucket txpipe.
        rules = list(ALERT_RULES)
        cls.query_vars = {"rule": [Var(rules, multi=True), Var(rules, all_value=".*")],
                          "bucket": [Var([DATABASE])]}
        cls.queries = []  # (label, substituted query)
        interval_ms = grafana_interval_ms(RANGE_MS)
        for label, where, query, holder in dashboard_queries(cls.dashboard):
            if holder.get("datasource", {}).get("type") == "prometheus":
                continue
            for variables in substitutions(cls.dashboard, query, cls.query_vars):
                q = flux_macros(interpolate(query, variables), cls.from_ms, cls.to_ms,
                                interval_ms)
                cls.queries.append((label, where, q))

    def test_queries_parse_and_are_valid(self):
        self.assertGreaterEqual(len(self.queries), 30)
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/setup)")
        payload = [{"label": f"{label} #{i}", "query": q}
                   for i, (label, _, q) in enumerate(self.queries)]
        r = subprocess.run([node, os.path.join(ROOT, "tests", "grafana_queries.mjs")],
                           input=json.dumps(payload), capture_output=True, text=True,
                           timeout=120)
        self.assertIn(r.returncode, (0, 1), f"grafana_queries.mjs failed: {r.stderr}")
        results = json.loads(r.stdout)
        self.assertEqual(len(results), len(payload))
        for item, result in zip(payload, results):
            with self.subTest(item["label"]):
                self.assertEqual(result["syntax_errors"], [], item["query"])
                self.assertTrue(result["valid"], f"is_valid_flux is false:\n{item['query']}")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_queries_read_the_contract(self):
        for label, where, q in self.queries:
            with self.subTest(label, q=q):
                self.assertIsNone(LEFT_OVER.search(q), "not substituted")
                measurements, fields, compared, columns = _flux_refs(q)
                if where != "variable":
                    self.assertTrue(measurements, "names no measurement")
                self.assertEqual(sorted(measurements - set(CONTRACT)), [], "unknown measurement")
                for m in measurements:
                    spec = CONTRACT[m]
                    self.assertEqual(sorted(fields - set(spec["fields"])), [], f"fields of {m}")
                    known = set(spec["tags"]) | set(spec["fields"])
                    self.assertEqual(sorted(columns - known), [], f"tags/fields of {m}")
                    for tag, value in compared:
                        if tag not in spec["tags"]:
                            continue
                        allowed = spec["tags"][tag]
                        if m.endswith("_windows") and tag == "value":
                            continue
                        if allowed is not None:
                            self.assertIn(value, allowed, f"{m}.{tag}")


class PrometheusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = VictoriaMetrics()
        cls.addClassCleanup(cls.vm.stop)
        # Ten minutes of txpipe's metrics, one scrape every 15 s, as a Prometheus would keep.
        now_s = int(time.time())
        cls.end_s = now_s - 60
        lines = []
        for i in range(41):
            t = (cls.end_s - 600 + 15 * i) * 1000
            for topic, rate in (("finance", 20), ("car-transactions-logs", 5)):
                lines.append(f'txpipe_log_end_offset{{topic="{topic}"}} {rate * 15 * i} {t}')
                lines.append(f'txpipe_consumer_lag{{group="analytics-{topic}",topic="{topic}"}}'
                             f" {i % 7} {t}")
            lines.append('txpipe_http_ingest_events_total{topic="car-transactions-logs"} '
                         f"{5 * 15 * i} {t}")
        status, body = http("POST", cls.vm.url + "/api/v1/import/prometheus",
                            ("\n".join(lines) + "\n").encode())
        assert status == 204, (status, body)
        http("GET", cls.vm.url + "/internal/force_flush")

    def test_metric_names_are_txpipes(self):
        """Each metric the panels read is one txpipe registers (a literal in src/; the binary
        is no help: the compiler may build short strings from immediates)."""
        found = set()
        for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
            for name in files:
                if name.endswith(".cc") and not name.endswith("_test.cc"):
                    with open(os.path.join(dirpath, name), encoding="utf-8",
                              errors="replace") as f:
                        text = f.read()
                    found |= {m for m in METRICS if f'"{m}"' in text}
        self.assertEqual(sorted(set(METRICS) - found), [], "not registered in src/")

    def test_every_promql_query(self):
        d = load_dashboard("influxql")
        targets = [(label, q, t) for label, _, q, t in dashboard_queries(d)
                   if t.get("datasource", {}).get("type") == "prometheus"]
        self.assertEqual(targets, [(label, q, t) for label, _, q, t in
                                   dashboard_queries(load_dashboard("flux"))
                                   if t.get("datasource", {}).get("type") == "prometheus"])
        self.assertGreaterEqual(len(targets), 3)
        step = SCRAPE_INTERVAL_S
        # Grafana: $__rate_interval = max($__interval + scrape interval, 4 * scrape interval)
        rate_interval = f"{max(step + SCRAPE_INTERVAL_S, 4 * SCRAPE_INTERVAL_S)}s"
        for label, query, target in targets:
            q = (query.replace("$__rate_interval", rate_interval)
                 .replace("$__interval", f"{step}s"))
            with self.subTest(label, q=q):
                self.assertIsNone(LEFT_OVER.search(q), "not substituted")
                self.assertTrue(any(m in q for m in METRICS), "reads none of txpipe's metrics")
                params = urllib.parse.urlencode({"query": q, "start": self.end_s - 600,
                                                 "end": self.end_s, "step": step})
                status, body = http("GET", f"{self.vm.url}/api/v1/query_range?{params}")
                answer = json.loads(body)
                self.assertEqual((status, answer["status"]), (200, "success"), answer)
                result = answer["data"]["result"]
                self.assertTrue(result, "no series")
                for label_name in re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]):
                    for s in result:
                        self.assertTrue(s["metric"].get(label_name),
                                        f"legend label {label_name} missing")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    TXPIPE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], *sys.argv[2:]], verbosity=2)
