#!/usr/bin/env python3
"""End-to-end tests of the txpipe binary: flags, exit codes, generate -> check, Ctrl-C.

Usage: cli_test.py PATH/TO/txpipe [unittest args]
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

TXPIPE = None


def run(*args, stdin=None, timeout=120):
    return subprocess.run([TXPIPE, *args], input=stdin, capture_output=True, timeout=timeout)


def wait_for(predicate, timeout=30.0, what="condition"):
    """Polls `predicate` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class UsageTest(unittest.TestCase):
    def test_help_lists_every_command(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        out = r.stdout.decode()
        for cmd in ["up", "run", "generate", "topic", "query", "check", "flume", "version"]:
            self.assertIn(cmd, out)
            self.assertEqual(run(cmd, "--help").returncode, 0, cmd)

    def test_no_command_is_a_usage_error(self):
        r = run()
        self.assertEqual(r.returncode, 2)
        self.assertIn("subcommand is required", r.stderr.decode())

    def test_bad_values_exit_2_with_one_line_naming_the_flag(self):
        cases = [
            (["generate", "finance", "--stdout", "--count", "abc"], "--count"),
            (["generate", "finance", "--stdout", "--count", "-5"], "--count"),
            (["generate", "finance", "--stdout", "--rate", "fast"], "--rate"),
            (["generate", "finance", "--stdout", "--rate", "0"], "--rate"),
            (["generate", "finance", "--stdout", "--rate", "-3"], "--rate"),
            (["generate", "finance", "--stdout", "--start", "yesterday"], "--start"),
            (["generate", "finance", "--stdout", "--seed", "x1"], "--seed"),
            (["generate", "finance", "--stdout", "--file-seconds", "0"], "--file-seconds"),
            (["generate", "finance", "--stdout", "--ids", "random"], "--ids"),
            (["generate", "finance", "--stdout", "--bogus"], "--bogus"),
            (["generate", "finance", "--stdout", "--out", "x"], "--out"),
            (["generate", "weather", "--stdout"], "kind"),
            (["generate", "finance"], "--out"),
            (["up", "--rate", "lots"], "--rate"),
            (["check"], "--schema"),
            (["check", "--schema", "nope", "/dev/null"], "--schema"),
            (["query", "series", "--stream", "finance"], "--window"),
            (["query", "series", "--stream", "finance", "--window", "1m", "--from", "yesterday"],
             "--from"),
            (["query", "series", "--stream", "finance", "--window", "1m", "--to", "-5 min"],
             "--to"),
            (["query", "alerts", "--limit", "many"], "--limit"),
            (["query", "alerts", "--since", "soon"], "--since"),
        ]
        for args, flag in cases:
            with self.subTest(args=args):
                r = run(*args)
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(flag, err)
                self.assertEqual(r.stdout, b"")

    def test_commands_of_later_releases_say_so(self):
        for cmd in ["flume"]:
            r = run(cmd)
            self.assertEqual(r.returncode, 2, cmd)
            self.assertIn("not yet available", r.stderr.decode())

    def test_version(self):
        r = run("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^txpipe \d+\.\d+\.\d+")


class GenerateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_cli_")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_hundred_thousand_generated_events_all_validate(self):
        for kind, prefix in [("finance", "finance_transactions_"), ("cars", "car_transactions_")]:
            out = os.path.join(self.dir, kind)
            r = run("generate", kind, "--out", out, "--rate", "max", "--count", "100000",
                    "--seed", "5", "--start", "2026-11-23T10:00:00Z", "--no-fsync", "-q")
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            files = sorted(os.listdir(out))
            self.assertEqual(len(files), 100)  # 1 ms apart, one file per second
            self.assertTrue(all(f.startswith(prefix) and f.endswith(".json") for f in files))
            r = run("check", "--schema", kind, *[os.path.join(out, f) for f in files])
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertIn(f"{kind}: 100,000 events, 100,000 valid, 0 rejected", r.stdout.decode())

    def test_stdout_is_reproducible_with_seed_and_start(self):
        args = ["generate", "finance", "--stdout", "--rate", "max", "--count", "2000",
                "--seed", "11", "--start", "2026-11-23T10:00:00Z"]
        a, b = run(*args), run(*args)
        self.assertEqual(a.returncode, 0)
        self.assertEqual(a.stdout, b.stdout)
        lines = a.stdout.decode().splitlines()
        self.assertEqual(len(lines), 2000)
        self.assertIn('"transaction_date": "2026-11-23T10:00:00Z"', lines[0])
        self.assertIn('"transaction_date": "2026-11-23T10:00:01.999000Z"', lines[-1])

    def test_check_reports_bad_lines_and_exits_1(self):
        good = run("generate", "finance", "--stdout", "--count", "3", "--rate", "max",
                   "--seed", "1").stdout.decode().splitlines()
        bad = [good[0], "", "not json", good[1].replace('"USD"', '"usd"').replace(
            '"EUR"', '"usd"').replace('"JPY"', '"usd"').replace('"GBP"', '"usd"'), good[2]]
        path = os.path.join(self.dir, "mixed.json")
        with open(path, "w") as f:
            f.write("\n".join(bad) + "\n")
        r = run("check", "--schema", "finance", path)
        self.assertEqual(r.returncode, 1)
        err = r.stderr.decode()
        self.assertIn(f"{path}:2: empty: empty event", err)
        self.assertIn(f"{path}:3: not_json:", err)
        self.assertIn(f"{path}:4: not_in_enum: field 'currency'", err)
        self.assertIn("finance: 5 events, 2 valid, 3 rejected", r.stdout.decode())

    def test_check_reads_stdin(self):
        gen = run("generate", "cars", "--stdout", "--count", "500", "--rate", "max")
        r = run("check", "--schema", "cars", stdin=gen.stdout)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("cars: 500 events, 500 valid", r.stdout.decode())

    def test_ctrl_c_stops_cleanly_with_whole_files(self):
        out = os.path.join(self.dir, "spool")
        p = subprocess.Popen([TXPIPE, "generate", "finance", "--out", out, "--rate", "200"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: os.path.isdir(out) and any(
                not f.startswith(".") for f in os.listdir(out)), what="a first file")
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err.decode())
        files = os.listdir(out)
        self.assertFalse([f for f in files if f.startswith(".")], files)
        r = run("check", "--schema", "finance", *[os.path.join(out, f) for f in files])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        summary = err.decode()
        self.assertIn("generated", summary)


class TopicAndConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_topic_")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_produce_list_describe_tail_offsets(self):
        gen = run("generate", "finance", "--stdout", "--count", "3000", "--rate", "max",
                  "--seed", "4")
        r = run("topic", "produce", "finance", "--data-dir", self.dir, "--key-field",
                "account_id", stdin=gen.stdout)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("produced 3,000 events to finance", r.stderr.decode())
        r = run("topic", "list", "--data-dir", self.dir)
        self.assertRegex(r.stdout.decode(), r"finance\s+partitions\s+2\s+events\s+3,000")
        r = run("topic", "describe", "finance", "--data-dir", self.dir)
        ends = [int(line.split()[2]) for line in r.stdout.decode().splitlines()[2:]]
        self.assertEqual(sum(ends), 3000)
        self.assertTrue(all(e > 1000 for e in ends))  # keys spread over both partitions
        r = run("topic", "tail", "finance", "--data-dir", self.dir, "--count", "5000")
        lines = r.stdout.decode().splitlines()
        self.assertEqual(sorted(lines), sorted(gen.stdout.decode().splitlines()))
        r = run("topic", "offsets", "--data-dir", self.dir)
        self.assertEqual(r.returncode, 0)
        r = run("topic", "tail", "nope", "--data-dir", self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no topic 'nope'", r.stderr.decode())

    def test_check_config_errors_name_the_key(self):
        path = os.path.join(self.dir, "p.toml")
        cases = [
            ('[broker]\nflush = "sometimes"\n', "broker.flush: 'sometimes' is not one of"),
            ('[broker]\npartitions = 0\n', "broker.partitions: must be between 1 and 1024"),
            ('colour = 1\n', "colour: unknown key"),
            ('[sources.x]\ntype = "teleport"\n', "sources.x.type: unknown source type 'teleport'"),
            ('[sinks.y]\npath = "a"\n', "sinks.y: missing 'type'"),
            ('data_dir = "d"\n', "nothing to run"),
            ('[broker\n', "p.toml:1:"),
        ]
        for text, want in cases:
            with self.subTest(text=text):
                with open(path, "w") as f:
                    f.write(text)
                for cmd in (["check", "-c", path], ["run", "-c", path]):
                    r = run(*cmd)
                    self.assertEqual(r.returncode, 2, r.stderr.decode())
                    self.assertIn(want, r.stderr.decode())

    def test_up_runs_generator_spooldir_log_and_archive_then_stops_cleanly(self):
        data = os.path.join(self.dir, "data")
        with socket.socket() as s:  # a free loopback port for the HTTP server
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = subprocess.Popen([TXPIPE, "up", "--data-dir", data, "--rate", "200",
                              "--car-rate", "50", "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def events(topic):
                r = run("topic", "describe", topic, "--data-dir", data)
                if r.returncode != 0:
                    return 0
                return sum(int(l.split()[2]) for l in r.stdout.decode().splitlines()[2:])
            wait_for(lambda: events("finance") >= 200, timeout=60,
                     what="events in the finance topic")
            # The car generator posts to the server's own POST /api/logs.
            wait_for(lambda: events("car-transactions-logs") >= 50, timeout=60,
                     what="car events posted through POST /api/logs")

            def get(path):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                        return r.status, r.read().decode()
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode()
                except OSError:
                    return None, ""
            wait_for(lambda: get("/healthz")[0] == 200, timeout=30, what="/healthz")
            wait_for(lambda: "txpipe_processor_events_total" in get("/metrics")[1], timeout=30,
                     what="processor metrics on /metrics")
            status, body = get("/api/v1/alerts")
            self.assertEqual(status, 200, body)
            self.assertIsInstance(json.loads(body), (dict, list))
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err.decode())
        self.assertIn("txpipe up: stopped", err.decode())
        self.assertIn(f"txpipe up: serving http://127.0.0.1:{port}/", err.decode())
        # Closing the archive renamed its files into place: nothing is left in use.
        archived = []
        for root, _, files in os.walk(os.path.join(data, "archive")):
            archived += files
        self.assertTrue(archived)
        self.assertFalse([f for f in archived if f.endswith(".tmp")], archived)
        done = [f for f in os.listdir(os.path.join(data, "spool", "finance"))
                if f.endswith(".COMPLETED")]
        self.assertTrue(done)

    def test_describe_lists_the_broker_options(self):
        r = run("check", "--describe")
        self.assertEqual(r.returncode, 0)
        for key in ["[broker]", "flush", "partitions", "max_segment_bytes", "retention_ms"]:
            self.assertIn(key, r.stdout.decode())


class QueryTest(unittest.TestCase):
    """txpipe query over a store that a real pipeline (spooldir -> analytics -> store) fills."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_query_")
        self.dir = self.tmp.name
        self.data = os.path.join(self.dir, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def query(self, *args):
        return run("query", *args, "--data-dir", self.data)

    def query_json(self, *args):
        r = self.query(*args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return json.loads(r.stdout)

    def test_missing_store_says_so_and_exits_1(self):
        for sub in [["streams"], ["series", "--stream", "finance", "--window", "1m"], ["alerts"],
                    ["recent"], ["stats"]]:
            with self.subTest(sub=sub):
                r = self.query(*sub)
                self.assertEqual(r.returncode, 1)
                err = r.stderr.decode()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(f"no store at {self.data}/store.db: is a store sink configured?", err)
                self.assertEqual(r.stdout, b"")

    def test_series_streams_alerts_recent_stats_while_the_pipeline_runs(self):
        # 130 s of events 1 ms apart, from a whole minute 10 minutes ago: the
        # watermark closes two 1m windows.
        start = (int(time.time()) // 60 - 10) * 60
        start_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
        r = run("generate", "finance", "--out", os.path.join(self.data, "spool"), "--rate", "max",
                "--count", "130000", "--seed", "8", "--start", start_text, "--no-fsync", "-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        config = os.path.join(self.dir, "p.toml")
        with open(config, "w") as f:
            f.write(f"""data_dir = "{self.data}"
[sources.files]
type = "spooldir"
spool_dir = "spool"
topic = "finance"
key_field = "account_id"

[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
[[processors.finance.alerts]]
name = "big_online_payment"
rule = 'amount > 4900 and transaction_channel == "online"'
severity = "warning"

[sinks.store]
type = "store"
topics = ["finance.windows", "alerts", "finance"]
recent_rows = 50
stats_interval = "1s"
""")
        p = subprocess.Popen([TXPIPE, "run", "-c", config], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            def minutes():
                r = self.query("series", "--stream", "finance", "--window", "1m", "--json")
                return len(json.loads(r.stdout)["data"][0]) if r.returncode == 0 else 0
            wait_for(lambda: minutes() >= 2, timeout=120, what="two 1m windows in the store")
            # Everything below runs while `txpipe run` writes the store.
            streams = self.query_json("streams")["streams"]
            self.assertEqual([s["stream"] for s in streams], ["finance"])
            self.assertEqual([w["window"] for w in streams[0]["windows"]], ["10s", "1m"])
            self.assertIn("transaction_type", streams[0]["dimensions"])
            self.assertIn("amount", streams[0]["measures"])

            by_type = self.query_json("series", "--stream", "finance", "--window", "1m", "--by",
                                      "transaction_type", "--to", str((start + 60) * 1000))
            self.assertEqual(by_type["series"], ["deposit", "payment", "transfer", "withdrawal"])
            times = by_type["data"][0]
            self.assertEqual(times, [start, start + 60])  # seconds, as uPlot wants
            total = self.query_json("series", "--stream", "finance", "--window", "1m",
                                    "--from", start_text, "--to", str((start + 60) * 1000))
            self.assertEqual(total["series"], ["all"])
            self.assertEqual(total["data"][1], [60000, 60000])  # one event per ms
            for i in range(len(times)):
                self.assertEqual(sum(col[i] for col in by_type["data"][1:]), 60000)
            amount = self.query_json("series", "--stream", "finance", "--window", "1m",
                                     "--measure", "amount")
            self.assertEqual(amount["measure"], "amount_sum")
            self.assertTrue(all(v > 0 for v in amount["data"][1]))

            table = self.query("series", "--stream", "finance", "--window", "1m", "--by",
                               "transaction_type", "--to", str((start + 60) * 1000))
            self.assertEqual(table.returncode, 0, table.stderr.decode())
            lines = table.stdout.decode().splitlines()
            self.assertRegex(lines[1], r"^time\s+deposit\s+payment\s+transfer\s+withdrawal$")
            self.assertTrue(lines[2].startswith(start_text))

            alerts = self.query_json("alerts", "--limit", "5")["alerts"]
            self.assertEqual(len(alerts), 5)
            self.assertTrue(all(a["rule"] == "big_online_payment" for a in alerts))
            self.assertEqual([a["time_ms"] for a in alerts],
                             sorted((a["time_ms"] for a in alerts), reverse=True))
            self.assertGreater(alerts[0]["values"]["amount"], 4900)

            wait_for(lambda: len(self.query_json("recent", "--stream", "finance",
                                                 "--limit", "100")["events"]) == 50,
                     what="recent_rows events")
            recent = self.query_json("recent", "--stream", "finance", "--limit", "3")
            self.assertEqual(recent["topic"], "finance")
            self.assertEqual(len(recent["events"]), 3)
            self.assertIn("transaction_id", json.loads(recent["events"][0]["body"]))

            stats = self.query_json("stats")
            self.assertEqual(stats["lag_source"], "broker")
            self.assertIn("finance", [t["topic"] for t in stats["topics"]])
            self.assertIn("store-store", [g["group"] for g in stats["lag"]])

            r = self.query("series", "--stream", "finance", "--window", "7s")
            self.assertEqual(r.returncode, 2)
            self.assertEqual(r.stderr.decode().strip(),
                             "txpipe query series: --window: unknown window '7s' for stream "
                             "'finance' (10s, 1m)")
            r = self.query("series", "--stream", "cars", "--window", "1m")
            self.assertEqual(r.returncode, 2)
            self.assertIn("--stream: unknown stream 'cars'", r.stderr.decode())
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
        self.assertEqual(p.returncode, 0)


if __name__ == "__main__":
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
