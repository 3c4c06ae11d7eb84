#!/usr/bin/env python3
"""The InfluxDB sink against a real influxd 1.6 (Debian `influxdb`), started by the test on
free loopback ports with a temp config and data dir (issue 11).

The pipeline: spool folder -> finance topic -> analytics processor (10s windows, alerts)
-> archive sink, and two InfluxDB sinks: "lean" (windows, alerts, raw events as
finance_transactions) and "seed" (raw events as the seed's finance_transaction_data). For N
generated events InfluxQL must show exactly: sum(count) of the 10s `total` windows = N,
N lean points, N seed points (with the seed's tags), and every alert the data calls for.
- Outage: influxd is stopped while half of the events arrive; the archive keeps flowing; the
  sink retries; after influxd returns the counts are still exactly N (no loss, no doubles).
- kill -9 of txpipe in the middle of writing, then a restart: still exactly N (replays
  overwrite their own points).

Usage: influxdb_test.py PATH/TO/txpipe [unittest args]
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402
from testlib import Influxd, free_port  # noqa: E402

TXPIPE = None
START = "2026-12-04T10:00:00Z"
EVENTS = 20_000


def run(*args, timeout=300):
    return subprocess.run([TXPIPE, *args], capture_output=True, timeout=timeout)


def wait_for(predicate, timeout, what):
    return testlib.wait_for(predicate, timeout, what, interval=0.1)


def archived_offsets(data_dir):
    r = run("topic", "offsets", "--data-dir", data_dir, "--group", "archive-archive")
    if r.returncode != 0:
        return -1
    rows = r.stdout.decode().splitlines()[1:]
    return sum(int(row.split()[3]) for row in rows if row.strip())


class InfluxdbTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("influxd") is None:
            raise AssertionError("influxd is missing: scripts/setup installs Debian's influxdb")
        cls.gen = tempfile.TemporaryDirectory(prefix="txpipe_influx_gen_")
        r = run("generate", "finance", "--out", cls.gen.name, "--rate", "max", "--count",
                str(EVENTS), "--seed", "11", "--start", START, "--file-seconds", "1",
                "--no-fsync", "-q")
        assert r.returncode == 0, r.stderr
        cls.files = sorted(os.listdir(cls.gen.name))
        # What the alert rule below must fire for: every such transaction, once.
        cls.expected_alerts = 0
        for name in cls.files:
            with open(os.path.join(cls.gen.name, name)) as f:
                for line in f:
                    e = json.loads(line)
                    if e["amount"] > 4900 and e["transaction_channel"] == "online":
                        cls.expected_alerts += 1
        assert cls.expected_alerts > 0

    @classmethod
    def tearDownClass(cls):
        cls.gen.cleanup()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_influx_")
        self.influxd = Influxd(os.path.join(self.tmp.name, "influxd"))
        self.influxd.start()
        self.data = os.path.join(self.tmp.name, "data")
        self.spool = os.path.join(self.data, "spool")
        os.makedirs(self.spool)
        self.config = os.path.join(self.tmp.name, "pipeline.toml")
        with open(self.config, "w") as f:
            f.write(f"""
data_dir = "{self.data}"
[broker]
partitions = 2
[sources.finance_files]
type = "spooldir"
spool_dir = "spool"
topic = "finance"
key_field = "account_id"
min_file_age_ms = 0
[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
windows = ["10s"]
idle_timeout = "2s"
checkpoint_interval = "200ms"
[[processors.finance.alerts]]
name = "big_online_payment"
rule = 'amount > 4900 and transaction_channel == "online"'
[sinks.archive]
type = "archive"
topics = ["finance"]
path = "archive/%{{topic}}"
roll_interval_s = 1
[sinks.lean]
type = "influxdb"
topics = ["finance", "finance.windows", "alerts"]
url = "{self.influxd.url}"
database = "lean"
create_database = true
retry_initial_backoff = "50ms"
retry_max_backoff = "500ms"
[sinks.seed]
type = "influxdb"
topics = ["finance"]
url = "{self.influxd.url}"
database = "seed"
create_database = true
per_event = "seed"
retry_initial_backoff = "50ms"
retry_max_backoff = "500ms"
[http]
listen = "127.0.0.1:0"
topics = ["finance-http"]
""")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.influxd.close()
        self.tmp.cleanup()

    def add_files(self, files):
        for name in files:
            os.link(os.path.join(self.gen.name, name), os.path.join(self.spool, name))

    def start(self):
        self.log_path = os.path.join(self.tmp.name, "txpipe.log")
        with open(self.log_path, "ab") as log:
            p = subprocess.Popen([TXPIPE, "run", "-c", self.config], stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def metric(self, name, **labels):
        """The value of a metric of the running txpipe (sum over series matching labels)."""
        ports = re.findall(r"serving http://127\.0\.0\.1:(\d+)/", self.output())
        if not ports:
            return 0
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports[-1]}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return 0
        total = 0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def counts(self):
        q = self.influxd.scalar
        return {
            "windows": q("lean", "SELECT sum(\"count\") FROM finance_windows "
                                 "WHERE \"window\" = '10s' AND dimension = 'total'"),
            "lean": q("lean", "SELECT count(amount) FROM finance_transactions"),
            "seed": q("seed", "SELECT count(amount) FROM finance_transaction_data"),
            "alerts": q("lean", "SELECT count(id) FROM alerts"),
        }

    def expected(self):
        return {"windows": EVENTS, "lean": EVENTS, "seed": EVENTS,
                "alerts": self.expected_alerts}

    def wait_exact(self, what):
        try:
            wait_for(lambda: self.counts() == self.expected(), 180, what)
        except AssertionError:
            raise AssertionError(f"{what}: {self.counts()} != {self.expected()}\n"
                                 + self.output()[-3000:])

    def stop(self, p):
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=120), 0, self.output()[-3000:])

    def test_counts_are_exact_and_the_seed_tags_are_the_seeds(self):
        self.add_files(self.files)
        p = self.start()
        self.wait_exact("every point in InfluxDB")
        self.stop(p)
        self.assertEqual(self.counts(), self.expected())
        tags = [v[0] for v in self.influxd.series(
            "seed", "SHOW TAG KEYS FROM finance_transaction_data")[0]["values"]]
        self.assertEqual(sorted(tags), ["account_id", "branch", "currency", "transaction_id",
                                        "transaction_type"])
        fields = {v[0]: v[1] for v in self.influxd.series(
            "seed", "SHOW FIELD KEYS FROM finance_transaction_data")[0]["values"]}
        self.assertEqual(fields["amount"], "float")
        self.assertEqual(fields["customer_age"], "integer")
        self.assertEqual(fields["transaction_date"], "string")
        lean_tags = [v[0] for v in self.influxd.series(
            "lean", "SHOW TAG KEYS FROM finance_transactions")[0]["values"]]
        self.assertNotIn("transaction_id", lean_tags)
        self.assertIn("transaction_type", lean_tags)

    def test_an_outage_loses_nothing_and_doubles_nothing(self):
        half = len(self.files) // 2
        self.add_files(self.files[:half])
        p = self.start()
        wait_for(lambda: self.counts()["lean"] > 0, 120, "the first points")
        self.influxd.stop()
        # While InfluxDB is down: the rest arrives, the archive takes all of it, and the
        # sinks retry (their groups do not advance past what InfluxDB has).
        self.add_files(self.files[half:])
        wait_for(lambda: archived_offsets(self.data) == EVENTS, 120,
                 "the archive to take every event while InfluxDB is down")
        wait_for(lambda: self.metric("txpipe_influxdb_retries_total", sink="lean") >= 2 and
                 self.metric("txpipe_influxdb_retries_total", sink="seed") >= 2, 120,
                 "both sinks to retry")
        self.assertEqual(self.metric("txpipe_influxdb_up", sink="lean"), 0)
        self.influxd.start()
        self.wait_exact("every point after the outage")
        self.assertEqual(self.metric("txpipe_influxdb_up", sink="lean"), 1)
        self.stop(p)
        self.assertEqual(self.counts(), self.expected())

    def test_kill_nine_and_restart_overwrite_what_was_sent_again(self):
        steps = 4
        chunks = [self.files[i * len(self.files) // steps:(i + 1) * len(self.files) // steps]
                  for i in range(steps)]
        for chunk in chunks:
            before = self.counts()["lean"]
            self.add_files(chunk)
            p = self.start()
            wait_for(lambda: self.counts()["lean"] > before, 120,
                     "this run to write some points")
            p.kill()
            p.wait()
        p = self.start()
        self.wait_exact("every point after the kills")
        self.stop(p)
        self.assertEqual(self.counts(), self.expected())


class UpWithInfluxdbTest(unittest.TestCase):
    """`txpipe up --influxdb URL`: the running demo writes into a user's InfluxDB."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_up_influx_")
        self.influxd = Influxd(os.path.join(self.tmp.name, "influxd"))
        self.influxd.start()

    def tearDown(self):
        self.influxd.close()
        self.tmp.cleanup()

    def test_up_writes_both_streams_windows_and_events(self):
        log_path = os.path.join(self.tmp.name, "up.log")
        with open(log_path, "wb") as log:
            p = subprocess.Popen([TXPIPE, "up", "--data-dir", os.path.join(self.tmp.name, "d"),
                                  "--listen", "127.0.0.1:0", "--rate", "200", "--car-rate", "50",
                                  "--influxdb", self.influxd.url, "--influxdb-database", "demo"],
                                 stdout=log, stderr=log)
        try:
            q = self.influxd.scalar
            wait_for(lambda: q("demo", "SELECT count(amount) FROM finance_transactions") > 0 and
                     q("demo", "SELECT count(price) FROM car_transactions") > 0 and
                     q("demo", "SELECT count(\"count\") FROM finance_windows") > 0 and
                     q("demo", "SELECT count(\"count\") FROM cars_windows") > 0, 120,
                     "txpipe up to write both streams and their windows")
            # The dashboard's pipeline panel shows the sink from the live feed's metrics.
            with open(log_path, errors="replace") as f:
                port = re.search(r"serving http://127\.0\.0\.1:(\d+)/", f.read()).group(1)
            stats = self.live_stats(int(port))
            names = {(m["name"], m["labels"].get("sink")) for m in stats["metrics"]}
            self.assertIn(("txpipe_influxdb_points_total", "influxdb"), names)
            self.assertIn(("txpipe_influxdb_up", "influxdb"), names)
            self.assertIn("influxdb-influxdb", {l["group"] for l in stats["stats"]["lag"]})
        finally:
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=120)
        with open(log_path, errors="replace") as f:
            self.assertEqual(rc, 0, f.read()[-3000:])

    def live_stats(self, port):
        """The first `stats` event of GET /api/v1/live."""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/live", timeout=30) as r:
            event = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "stats":
                    return json.loads(line[6:])
        raise AssertionError("no stats event")

    def test_a_v2_target_without_a_token_says_so(self):
        env = {k: v for k, v in os.environ.items() if k != "INFLUX_TOKEN"}
        r = subprocess.run([TXPIPE, "up", "--data-dir", os.path.join(self.tmp.name, "d"),
                            "--listen", "127.0.0.1:0", "--no-generate", "--influxdb",
                            self.influxd.url, "--influxdb-org", "o", "--influxdb-bucket", "b"],
                           capture_output=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("sinks.influxdb: cannot start: influxdb: token_env: environment variable "
                      "INFLUX_TOKEN is not set", r.stderr.decode())


class VictoriaMetricsTest(unittest.TestCase):
    """The v2 write API (/api/v2/write?org=&bucket=, Authorization: Token) against
    VictoriaMetrics (Debian `victoria-metrics`), read back through its export API."""

    def setUp(self):
        if shutil.which("victoria-metrics") is None:
            raise AssertionError("victoria-metrics is missing: scripts/setup installs it")
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_vm_")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.tmp.name, "vm.log"), "wb")
        self.vm = subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{self.port}",
                                    f"-storageDataPath={self.tmp.name}/vm",
                                    "-loggerLevel=WARN"], stdout=self.log, stderr=self.log)

        def ready():
            if self.vm.poll() is not None:
                raise AssertionError(f"victoria-metrics exited {self.vm.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 60, "victoria-metrics to answer /health")

    def tearDown(self):
        self.vm.send_signal(signal.SIGTERM)
        try:
            self.vm.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.vm.kill()
            self.vm.wait()
        self.log.close()
        self.tmp.cleanup()

    def samples(self, metric):
        """Samples of `metric` VictoriaMetrics holds now (flushed first)."""
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10):
            pass
        end = int(time.time()) + 3600
        query = urllib.parse.urlencode({"match[]": metric, "start": 0, "end": end})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as r:
            return sum(len(json.loads(line)["values"]) for line in r.read().decode().splitlines()
                       if line.strip())

    def test_v2_writes_every_event(self):
        # VictoriaMetrics drops samples older than its retention (a month): recent events.
        start = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - 3600))
        data = os.path.join(self.tmp.name, "data")
        os.makedirs(os.path.join(data, "spool"))
        count = 5_000
        r = run("generate", "finance", "--out", os.path.join(data, "spool"), "--rate", "max",
                "--count", str(count), "--seed", "3", "--start", start, "--no-fsync", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        config = os.path.join(self.tmp.name, "p.toml")
        with open(config, "w") as f:
            f.write(f"""
data_dir = "{data}"
[sources.files]
type = "spooldir"
spool_dir = "spool"
topic = "finance"
min_file_age_ms = 0
[sinks.vm]
type = "influxdb"
topics = ["finance"]
url = "{self.url}"
api = "v2"
org = "txpipe"
bucket = "kafka-finance"
token_env = "TXPIPE_VM_TOKEN"
""")
        env = dict(os.environ, TXPIPE_VM_TOKEN="any")
        log_path = os.path.join(self.tmp.name, "txpipe.log")
        with open(log_path, "wb") as log:
            p = subprocess.Popen([TXPIPE, "run", "-c", config], stdout=log, stderr=log, env=env)
        try:
            wait_for(lambda: self.samples("finance_transactions_amount") == count, 120,
                     f"{count} samples of finance_transactions_amount")
        finally:
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=120)
        with open(log_path, errors="replace") as f:
            self.assertEqual(rc, 0, f.read()[-3000:])
        self.assertEqual(self.samples("finance_transactions_customer_age"), count)


if __name__ == "__main__":
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
