#!/usr/bin/env python3
"""tests/tools/kafka_mock (librdkafka's mock cluster as a process) against kcat, an
independent Kafka client: the Kafka peer issue 12's tests will use.

- It prints its bootstrap servers (all on 127.0.0.1) and serves until SIGTERM (exit 0).
- Keyed records with headers produced by kcat come back byte for byte, and records of one
  key stay in one partition.

Usage: kafka_mock_test.py PATH/TO/kafka_mock
"""
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import wait_for  # noqa: E402

KAFKA_MOCK = None


class KafkaMock:
    def __init__(self, *args):
        self.proc = subprocess.Popen([KAFKA_MOCK, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            raise AssertionError(f"kafka_mock printed no address: {self.proc.stderr.read()}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


class KafkaMockTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("kcat") is None:
            raise AssertionError("kcat is missing: scripts/setup installs it")

    def kcat(self, *args, stdin=None):
        r = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_serves_on_loopback_and_stops_on_sigterm(self):
        mock = KafkaMock("--brokers", "3", "--topic", "t:2")
        servers = mock.bootstrap.split(",")
        self.assertEqual(len(servers), 3)
        self.assertTrue(all(s.startswith("127.0.0.1:") for s in servers), servers)
        meta = self.kcat("-b", mock.bootstrap, "-L", "-t", "t").decode()
        self.assertIn('topic "t" with 2 partitions', meta)
        self.assertEqual(mock.stop(), 0)

    def test_kcat_records_come_back_byte_for_byte(self):
        mock = KafkaMock("--topic", "finance:3")
        try:
            sent = []
            for i in range(300):
                sent.append((f"A{i % 17}", f'{{"n": {i}, "text": "caf\u00e9 {i}"}}'))
            body = "".join(f"{k}\t{v}\n" for k, v in sent).encode()
            self.kcat("-P", "-b", mock.bootstrap, "-t", "finance", "-K", "\t",
                      "-H", "source=kcat", stdin=body)

            def consumed():
                out = self.kcat("-C", "-b", mock.bootstrap, "-t", "finance", "-e", "-q",
                                "-f", "%p\t%k\t%h\t%s\n").decode()
                rows = [line.split("\t", 3) for line in out.splitlines()]
                return rows if len(rows) >= len(sent) else None
            rows = wait_for(consumed, 60, "kcat to read every record back")
            self.assertEqual(sorted((k, v) for _, k, _, v in rows), sorted(sent))
            self.assertTrue(all(h == "source=kcat" for _, _, h, _ in rows))
            partitions = {}
            for p, k, _, _ in rows:
                partitions.setdefault(k, set()).add(p)
            self.assertTrue(all(len(ps) == 1 for ps in partitions.values()), partitions)
            self.assertGreater(len({p for p, _, _, _ in rows}), 1)  # keys spread
        finally:
            self.assertEqual(mock.stop(), 0)


if __name__ == "__main__":
    KAFKA_MOCK = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
