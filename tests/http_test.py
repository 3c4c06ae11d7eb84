#!/usr/bin/env python3
"""End-to-end tests of txpipe's HTTP server (issue 5), against the real binary.

Each test class starts `txpipe run -c CONFIG` (or `txpipe up`) on a free loopback port with a
temporary data dir, talks to it with the standard library only (http.client, raw sockets),
and stops it with SIGINT at the end, which must exit 0:

  IngestTest     POST /api/logs: 202 with per-event errors (object, array, NDJSON), 400,
                 404, 405, 413 (a 100 MB body), 415; then /metrics; then, stopped, the topic
                 and its dead-letter topic hold exactly what was accepted and rejected
  AuthTest       401 without / with a wrong Bearer token, 202 with the right one
  *BudgetTest    503 + Retry-After while the log is over max_log_bytes / under min_free_bytes
  LimitsTest     max_body_bytes 64 KiB, slowloris vs header_timeout, malformed requests,
                 max_streams
  StreamTest     GET /api/stream_car_transactions (NDJSON, SSE), 200 concurrent clients twice
  LiveTest       GET /api/v1/live (SSE): retry, stats, recent and window events (txpipe up)

Usage: http_test.py PATH/TO/txpipe [unittest args]
"""
import collections
import gzip
import http.client
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TXPIPE = None
TOPIC = "car-transactions-logs"
MAX_EVENT_BYTES = 1 << 20  # IngestOptions::max_event_bytes (not configurable)


def run(*args, timeout=120, env=None):
    return subprocess.run([TXPIPE, *args], capture_output=True, timeout=timeout, env=env)


def wait_for(predicate, timeout=30.0, what="condition"):
    """Polls `predicate` until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


_car_ids = iter(range(10**9))


def car(ts_ms=None, customer=None):
    """A cars-schema event with a unique transaction_id."""
    n = next(_car_ids)
    ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + \
        f".{ts_ms % 1000:03d}Z"
    return {"transaction_id": f"CT{os.getpid():06X}{n:010X}", "timestamp": stamp,
            "dealer_id": "D123", "brand": "Toyota", "model": "Corolla", "year": 2022,
            "price": 21000.5 + n, "currency": "USD", "payment_method": "card",
            "customer_id": customer or f"C{100000 + n % 900000}", "customer_age": 40,
            "status": "completed", "city": "Chicago", "country": "USA", "log_level": "INFO",
            "message": f"Sale completed #{n}"}


def line(obj):
    return json.dumps(obj).encode()


def canonical(obj):
    return json.dumps(obj, sort_keys=True)


def parse_metrics(text):
    """Prometheus text -> {(name, ((label, value), ...)): float}."""
    out = {}
    for raw in text.splitlines():
        if not raw or raw.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", raw)
        if not m:
            raise AssertionError(f"bad metrics line: {raw!r}")
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


class Txpipe:
    """One txpipe process serving HTTP on a free loopback port."""

    def __init__(self, workdir, http="", extra="", env=None, up=False):
        self.dir = workdir
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "txpipe.log")
        if up:
            args = ["up", "--data-dir", self.data, "--listen", "127.0.0.1:0", "--no-generate"]
        else:
            config = os.path.join(workdir, "pipeline.toml")
            with open(config, "w") as f:
                f.write(f'data_dir = "{self.data}"\n{extra}\n'
                        f'[sinks.store]\ntype = "store"\ntopics = ["{TOPIC}"]\n\n'
                        f'[http]\nlisten = "127.0.0.1:0"\n{http}\n')
            args = ["run", "-c", config]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([TXPIPE, *args], stdout=self.log, stderr=self.log,
                                     env=env)
        self.port = None

        def serving():
            if self.proc.poll() is not None:
                raise AssertionError(f"txpipe exited {self.proc.returncode}: {self.output()}")
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/", self.output())
            return m and int(m.group(1))
        self.port = wait_for(serving, timeout=60, what="txpipe to print its port")

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = self.connection(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            c.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, body, content_type="application/x-ndjson", path="/api/logs", headers=None):
        h = dict(headers or {})
        if content_type is not None:
            h["Content-Type"] = content_type
        return self.request("POST", path, body=body, headers=h)

    def metrics(self):
        r = self.get("/metrics")
        if r.status != 200:
            raise AssertionError(f"/metrics: {r}")
        return parse_metrics(r.body.decode())

    def healthy(self):
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def stop(self):
        """SIGINT; returns (exit code, output)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                raise AssertionError("txpipe did not stop within 60 s of SIGINT: "
                                     + self.output()[-2000:])
        self.log.close()
        return self.proc.returncode, self.output()


def metric(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))))


class ServerCase(unittest.TestCase):
    """A test class with one txpipe for all its tests, stopped (exit 0) at the end."""
    HTTP = ""
    EXTRA = ""
    ENV = None
    UP = False
    server = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="txpipe_http_")
        env = None
        if cls.ENV:
            env = dict(os.environ, **cls.ENV)
        cls.server = Txpipe(cls.tmp.name, http=cls.HTTP, extra=cls.EXTRA, env=env, up=cls.UP)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.server.alive():
                code, out = cls.server.stop()
                if code != 0:
                    raise AssertionError(f"txpipe exited {code} on SIGINT: {out[-3000:]}")
            else:
                cls.server.stop()
        finally:
            cls.tmp.cleanup()

    def stop_server(self):
        code, out = self.server.stop()
        self.assertEqual(code, 0, out[-3000:])
        return out


def raw_exchange(port, data, deadline_s=15.0, shut_write=False):
    """Sends `data` on a fresh socket and reads until a response's headers arrived, the
    server closed, or `deadline_s` passed. Returns (bytes read, closed, timed_out)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = time.monotonic()
    buf = b""
    closed = False
    try:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close before taking it all: read what it said
        s.settimeout(0.2)
        while time.monotonic() - start < deadline_s:
            if buf.startswith(b"HTTP/") and b"\r\n\r\n" in buf:
                return buf, closed, False
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                closed = True
                return buf, closed, False
            if not d:
                closed = True
                return buf, closed, False
            buf += d
        return buf, closed, not (buf.startswith(b"HTTP/") and b"\r\n\r\n" in buf)
    finally:
        s.close()


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


class SseReader:
    """Reads an SSE response on a thread of its own; frames are dicts of their fields."""

    def __init__(self, server, path, headers=None):
        self.conn = server.connection(timeout=60)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.lines = []   # every line, as read
        self.frames = []  # {"event": ..., "data": ..., "id": ..., "retry": ...}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fields = {}
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    return
                text = raw.decode().rstrip("\n")
                with self.lock:
                    self.lines.append(text)
                    if text == "":
                        if fields:
                            self.frames.append(fields)
                        fields = {}
                    elif not text.startswith(":"):
                        name, _, value = text.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        fields[name] = fields[name] + "\n" + value if name in fields else value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed (close() may race with a read)

    def find(self, predicate):
        with self.lock:
            for f in self.frames:
                if predicate(f):
                    return f
        return None

    def close(self):
        try:
            if self.conn.sock:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
class IngestTest(ServerCase):
    """POST /api/logs against the default limits; tests run in name order, the last one stops
    the server and reads the topics back."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accepted = []   # (raw body as stored, or None when re-serialized; event object)
        cls.rejected = []   # (reason, message, request index, body as sent)
        cls.codes = collections.Counter()  # statuses of requests that reached the handler

    def post_and_record(self, body, content_type="application/x-ndjson", **kw):
        r = self.server.post(body, content_type, **kw)
        self.codes[r.status] += 1
        return r

    def record_rejects(self, response, bodies):
        for e in response.json()["errors"]:
            self.rejected.append((e["reason"], e["error"], e["index"], bodies[e["index"]]))

    def test_01_single_object(self):
        event = car()
        body = b"  \n" + json.dumps(event, indent=2).encode() + b"\n\n"
        r = self.post_and_record(body, "application/json")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json(), {"accepted": 1, "rejected": 0, "errors": []})
        self.accepted.append((body.strip(), event))  # kept as sent, whitespace trimmed

    def test_02_json_array(self):
        events = [car(), car(), car()]
        extras = [5, "text", [events[0]], None]
        r = self.post_and_record(json.dumps(events + extras).encode(),
                                 "application/json; charset=utf-8")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"accepted": 3, "rejected": 4, "errors": [
            {"index": i, "reason": "not_object", "error": "not a JSON object"}
            for i in (3, 4, 5, 6)]})
        self.accepted += [(None, e) for e in events]
        elements = [None] * 3 + [json.dumps(x, separators=(",", ":")).encode() for x in extras]
        self.record_rejects(r, elements)

    def test_03_ndjson_with_bad_lines(self):
        good = [car() for _ in range(4)]
        too_long = b'{"pad":"' + b"x" * MAX_EVENT_BYTES + b'"}'
        lines = [
            line(good[0]),              # 0
            b"not json",                # 1 not_json
            b"[1, 2]",                  # 2 a JSON array: not_object
            b"42",                      # 3 a number: not_object
            line(good[1]) + b"\r",      # 4 CRLF line ending
            b"",                        # 5 empty: skipped, not an error
            too_long,                   # 6 too_large
            b'{"a":',                   # 7 not_json
            line(good[2]),              # 8
            b'{"s":"\xff"}',            # 9 invalid_utf8
            b"   \t",                   # 10 blank: skipped
            line(good[3]),              # 11 last line without '\n'
        ]
        r = self.post_and_record(b"\n".join(lines))
        self.assertEqual(r.status, 202, r)
        answer = r.json()
        self.assertEqual(answer["accepted"], 4, answer)
        self.assertEqual(answer["rejected"], 6, answer)
        self.assertEqual([(e["index"], e["reason"]) for e in answer["errors"]],
                         [(1, "not_json"), (2, "not_object"), (3, "not_object"),
                          (6, "too_large"), (7, "not_json"), (9, "invalid_utf8")])
        errors = {e["index"]: e["error"] for e in answer["errors"]}
        self.assertEqual(errors[2], "not a JSON object")
        self.assertEqual(errors[6], f"event of {len(too_long)} bytes, over max_event_bytes "
                                    f"{MAX_EVENT_BYTES}")
        for i in (1, 7, 9):
            self.assertIsInstance(errors[i], str)
            self.assertTrue(errors[i])
        self.accepted += [(line(e), e) for e in good]
        self.record_rejects(r, lines)

    def test_03b_ndjson_a_json_stream_parser_would_take(self):
        """Two objects on one line, or one object over two lines, are errors of their lines
        (the one-pass path over a whole body must not take them); a clean body is taken whole,
        each line stored as sent."""
        # One body per case: each is otherwise valid JSON as a stream of objects.
        for odd, bad in [([b'{"a":1} {"b":2}'], [1]), ([b'{"a":', b'1}'], [1, 2])]:
            good = [car() for _ in range(2)]
            lines = [line(good[0])] + odd + [line(good[1])]
            r = self.post_and_record(b"\n".join(lines) + b"\n")
            self.assertEqual(r.status, 202, r)
            answer = r.json()
            self.assertEqual(answer["accepted"], 2, answer)
            self.assertEqual([(e["index"], e["reason"]) for e in answer["errors"]],
                             [(i, "not_json") for i in bad])
            self.accepted += [(line(e), e) for e in good]
            self.record_rejects(r, lines)
        clean = [car() for _ in range(200)]
        r = self.post_and_record(b"  \n" + b"\r\n".join(line(e) for e in clean) + b"\n\n")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"accepted": 200, "rejected": 0, "errors": []})
        self.accepted += [(line(e), e) for e in clean]

    def test_04_nothing_valid_is_400(self):
        lines = [b"nope", b"[]", b"", b"true"]
        r = self.post_and_record(b"\n".join(lines) + b"\n")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json(), {"accepted": 0, "rejected": 3, "errors": [
            {"index": 0, "reason": "not_json", "error": r.json()["errors"][0]["error"]},
            {"index": 1, "reason": "not_object", "error": "not a JSON object"},
            {"index": 3, "reason": "not_object", "error": "not a JSON object"}]})
        self.record_rejects(r, lines)  # kept in the dead-letter topic all the same
        for body, ctype in [(b"", "application/json"), (b"", "application/x-ndjson"),
                            (b" \n\n \r\n", "application/x-ndjson"),
                            (b"   ", "application/json")]:
            with self.subTest(body=body, ctype=ctype):
                r = self.post_and_record(body, ctype)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json(), {"error": "body: no events (empty)"})
        r = self.post_and_record(b'[{"a": 1}, ', "application/json")  # a broken array
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.json()["error"].startswith("body: "), r)

    def test_05_unsupported_content_types_are_415(self):
        body = line(car())
        for ctype, named in [("text/plain", "'text/plain'"), (None, "missing"),
                             ("application/xml", "'application/xml'")]:
            with self.subTest(ctype=ctype):
                r = self.post_and_record(body, ctype)
                self.assertEqual(r.status, 415, r)
                self.assertIn(f"Content-Type {named}", r.json()["error"])

    def test_05b_form_body_is_415(self):
        r = self.post_and_record(line(car()), "application/x-www-form-urlencoded")
        self.assertEqual(r.status, 415, r)
        self.assertIn("Content-Type 'application/x-www-form-urlencoded'", r.json()["error"])

    def test_06_unknown_topic_is_400(self):
        r = self.post_and_record(line(car()), path="/api/logs?topic=unknown")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"],
                         f"topic: 'unknown' is not open to POST /api/logs (open: {TOPIC})")
        r = self.post_and_record(line(car()), path="/api/logs?colour=red")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "colour: unknown parameter (known: topic)")
        event = car()
        r = self.post_and_record(line(event), path=f"/api/logs?topic={TOPIC}")
        self.assertEqual(r.status, 202, r)
        self.accepted.append((line(event), event))

    def test_07_unknown_path_404_and_wrong_method_405(self):
        for method, path in [("GET", "/api/nope"), ("POST", "/api/logs/"), ("GET", "/api")]:
            with self.subTest(path=path):
                r = self.server.request(method, path, body=b"{}" if method == "POST" else None,
                                        headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.json(), {"error": f"no such path: {path}"})
        for method in ["GET", "DELETE", "PUT"]:
            with self.subTest(method=method):
                r = self.server.request(method, "/api/logs")
                self.assertEqual(r.status, 405, r)
                self.assertEqual(r.headers.get("allow"), "POST")
                self.assertIn(f"method {method} not allowed on /api/logs", r.json()["error"])

    def test_08_body_under_the_limit_is_accepted(self):
        # 8 events of ~1,000,000 bytes: just under max_body_bytes (8 MiB), each under 1 MiB.
        events = [dict(car(), message="m" * 1_000_000) for _ in range(8)]
        body = b"\n".join(line(e) for e in events)
        self.assertLess(len(body), 8 << 20)
        r = self.post_and_record(body)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"accepted": 8, "rejected": 0, "errors": []})
        self.accepted += [(line(e), e) for e in events]

    def test_09_100_MB_body_is_413(self):
        total = 100_000_000
        c = self.server.connection(timeout=30)
        c.putrequest("POST", "/api/logs")
        c.putheader("Content-Type", "application/x-ndjson")
        c.putheader("Content-Length", str(total))
        c.endheaders()
        chunk = (line(car()) + b"\n") * 2000  # ~0.9 MB of valid events
        sent = 0
        reset = None
        answered_early = False
        try:
            while sent < total:
                if select.select([c.sock], [], [], 0)[0]:
                    answered_early = True  # the server answered before taking it all
                    break
                part = chunk[:total - sent]
                c.sock.sendall(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError) as e:
            reset = e
        try:
            r = c.getresponse()
            status, body = r.status, r.read()
        except (ConnectionResetError, http.client.RemoteDisconnected) as e:
            status, body = None, repr(e).encode()
        finally:
            c.close()
        if status is None:
            # Acceptable only as a reset after the server refused: past the limit.
            self.assertIsNotNone(reset or answered_early, body)
            self.assertGreater(sent, 8 << 20, f"reset after {sent} bytes: {body}")
        else:
            self.assertEqual(status, 413, body)
            self.assertEqual(json.loads(body), {"error": "request body over 8388608 bytes"})
        self.assertTrue(self.server.healthy())
        self.assertTrue(self.server.alive())
        # And it still takes events.
        event = car()
        r = self.post_and_record(line(event))
        self.assertEqual(r.status, 202, r)
        self.accepted.append((line(event), event))

    def test_10_concurrent_posts_keep_alive(self):
        results = []
        lock = threading.Lock()

        def client():
            c = self.server.connection()
            try:
                for _ in range(10):
                    events = [car() for _ in range(20)]
                    body = b"\n".join(line(e) for e in events) + b"\n"
                    c.request("POST", "/api/logs", body=body,
                              headers={"Content-Type": "application/x-ndjson"})
                    r = c.getresponse()
                    answer = r.read()
                    with lock:
                        results.append((r.status, answer, events))
            finally:
                c.close()
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(len(results), 80)
        for status, answer, events in results:
            self.codes[status] += 1
            self.assertEqual(status, 202, answer)
            self.assertEqual(json.loads(answer), {"accepted": 20, "rejected": 0, "errors": []})
            self.accepted += [(line(e), e) for e in events]

    def test_90_metrics(self):
        m = self.server.metrics()
        self.assertEqual(metric(m, "txpipe_http_ingest_events_total", topic=TOPIC),
                         len(self.accepted))
        reasons = collections.Counter(r[0] for r in self.rejected)
        self.assertTrue(reasons)
        for reason, n in reasons.items():
            with self.subTest(reason=reason):
                self.assertEqual(metric(m, "txpipe_http_ingest_rejected_total", topic=TOPIC,
                                        reason=reason), n)
        listed = {dict(k[1]).get("reason") for k in m if k[0] == "txpipe_http_ingest_rejected_total"}
        self.assertEqual(listed, set(reasons))
        for code, n in self.codes.items():
            with self.subTest(code=code):
                self.assertEqual(metric(m, "txpipe_http_requests_total", path="/api/logs",
                                        code=str(code)), n)
        handled = sum(self.codes.values())
        self.assertEqual(metric(m, "txpipe_http_request_duration_seconds_count",
                                path="/api/logs"), handled)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in m.items()
                         if k[0] == "txpipe_http_request_duration_seconds_bucket"
                         and dict(k[1]).get("path") == "/api/logs")
        self.assertGreater(len(buckets), 3)
        self.assertEqual(buckets[-1], (float("inf"), handled))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertGreater(metric(m, "txpipe_process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(metric(m, "txpipe_http_ingest_bytes_total", topic=TOPIC), 8_000_000)

    def test_99_durable_after_stop(self):
        """Stopped, the topic holds exactly the accepted events and the dead-letter topic
        exactly the rejected ones, with their reasons."""
        self.stop_server()
        data = self.server.data
        r = run("topic", "tail", TOPIC, "--data-dir", data, "--json", "--count", "100000000")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        records = [json.loads(x) for x in r.stdout.decode().splitlines()]
        self.assertEqual(len(records), len(self.accepted))
        self.assertEqual(collections.Counter(canonical(json.loads(x["body"])) for x in records),
                         collections.Counter(canonical(e) for _, e in self.accepted))
        stored = collections.Counter(x["body"] for x in records)
        for raw, event in self.accepted:
            if raw is not None:
                self.assertIn(raw.decode(), stored)  # byte for byte, as posted
        for x in records:
            self.assertEqual(x["key"], json.loads(x["body"]).get("customer_id", ""))

        r = run("topic", "tail", TOPIC + ".dlq", "--data-dir", data, "--json", "--count",
                "100000000")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        dead = [json.loads(x) for x in r.stdout.decode("utf-8", "surrogateescape").splitlines()]
        self.assertEqual(len(dead), len(self.rejected))

        def entry(reason, message, index, topic, body):
            # An invalid UTF-8 body cannot be compared through JSON text: by its length.
            return (reason, message, index, topic,
                    len(body) if reason == "invalid_utf8" else body)
        got = collections.Counter(
            entry(d["headers"].get("error"), d["headers"].get("error_message"),
                  d["headers"].get("request_index"), d["headers"].get("source_topic"),
                  d["body"])
            for d in dead)
        want = collections.Counter(
            entry(reason, message, str(index), TOPIC,
                  body[:MAX_EVENT_BYTES].decode("utf-8", "surrogateescape"))
            for reason, message, index, body in self.rejected)
        self.assertEqual(got, want)
        for d in dead:
            self.assertEqual(d["headers"].get("component"), "http")


class AuthTest(ServerCase):
    TOKEN = "t0ken-" + os.urandom(8).hex()
    HTTP = 'auth_token_env = "TXPIPE_TEST_TOKEN"'
    ENV = {"TXPIPE_TEST_TOKEN": TOKEN}

    def test_bearer_token(self):
        body = line(car())
        bad = [(None, "missing Authorization: Bearer <token>"),
               ("Bearer wrong", "wrong token in Authorization"),
               ("Bearer " + self.TOKEN[:-1], "wrong token in Authorization"),
               ("Bearer " + self.TOKEN + "x", "wrong token in Authorization"),
               ("Bearer", "wrong token in Authorization"),
               ("Basic " + self.TOKEN, "wrong token in Authorization"),
               (self.TOKEN, "wrong token in Authorization")]
        for auth, message in bad:
            with self.subTest(auth=auth):
                r = self.server.post(body, headers={"Authorization": auth} if auth else None)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.json(), {"error": message})
                self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="txpipe"')
        for auth in ["Bearer " + self.TOKEN, "bearer " + self.TOKEN]:
            with self.subTest(auth=auth):
                r = self.server.post(body, headers={"Authorization": auth})
                self.assertEqual(r.status, 202, r)
                self.assertEqual(r.json()["accepted"], 1)
        # The rest of the API stays open.
        self.assertEqual(self.server.get("/healthz").status, 200)
        m = self.server.metrics()
        self.assertEqual(metric(m, "txpipe_http_unauthorized_total"), len(bad))
        self.assertEqual(metric(m, "txpipe_http_ingest_events_total", topic=TOPIC), 2)

    def test_missing_token_variable_fails_to_start(self):
        with tempfile.TemporaryDirectory(prefix="txpipe_http_") as d:
            config = os.path.join(d, "p.toml")
            with open(config, "w") as f:
                f.write(f'data_dir = "{d}/data"\n[sinks.store]\ntype = "store"\n'
                        f'topics = ["{TOPIC}"]\n[http]\nlisten = "127.0.0.1:0"\n'
                        f'auth_token_env = "TXPIPE_TEST_TOKEN_UNSET"\n')
            env = {k: v for k, v in os.environ.items() if k != "TXPIPE_TEST_TOKEN_UNSET"}
            r = run("run", "-c", config, env=env, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr.decode())
            self.assertIn("http.auth_token_env: environment variable TXPIPE_TEST_TOKEN_UNSET "
                          "is not set", r.stderr.decode())


class MaxLogBytesBudgetTest(ServerCase):
    HTTP = "max_log_bytes = 1"

    def test_503_with_retry_after_once_over_max_log_bytes(self):
        r = self.server.post(line(car()))
        self.assertEqual(r.status, 202, r)  # the log was empty
        # The budget is checked at most every second: it takes effect within ~1 s.
        def refused():
            r = self.server.post(line(car()))
            self.assertIn(r.status, (202, 503), r)
            return r if r.status == 503 else None
        r = wait_for(refused, timeout=10, what="a 503 over max_log_bytes")
        self.assertEqual(r.headers.get("retry-after"), "5")
        self.assertRegex(r.json()["error"],
                         r"^log over its disk budget: the log holds \d+ bytes, over "
                         r"max_log_bytes 1$")
        self.assertTrue(self.server.healthy())
        self.assertGreaterEqual(
            metric(self.server.metrics(), "txpipe_http_ingest_over_budget_total"), 1)
        # Checked before the body: even a bad body gets 503 (and nothing lands in the DLQ).
        r = self.server.post(b"not json")
        self.assertEqual(r.status, 503, r)


class MinFreeBytesBudgetTest(ServerCase):
    HTTP = 'min_free_bytes = "1000000GiB"'

    def test_503_with_retry_after_under_min_free_bytes(self):
        r = self.server.post(line(car()))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.headers.get("retry-after"), "5")
        self.assertRegex(r.json()["error"], r"^log over its disk budget: the log's disk has \d+ "
                                            r"bytes free, under min_free_bytes "
                                            r"1073741824000000$")
        self.assertEqual(metric(self.server.metrics(), "txpipe_http_ingest_events_total",
                                topic=TOPIC) or 0, 0)


class LimitsTest(ServerCase):
    HTTP = '\n'.join(['max_body_bytes = "64KiB"', 'header_timeout = "1s"', 'read_timeout = "5s"',
                      "max_streams = 5"])

    def test_max_body_bytes(self):
        event = line(car())
        # Exactly 64 KiB of NDJSON: accepted.
        n = 65536 // (len(event) + 1) - 1
        body = (event + b"\n") * n
        pad = 65536 - len(body) - len(b'{"pad":""}')
        body += b'{"pad":"' + b"p" * pad + b'"}'
        self.assertEqual(len(body), 65536)
        r = self.server.post(body)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["accepted"], n + 1)
        # One byte more: 413, and the connection is still usable.
        c = self.server.connection()
        try:
            c.request("POST", "/api/logs", body=body + b" ",
                      headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            self.assertEqual(r.status, 413)
            self.assertEqual(json.loads(r.read()), {"error": "request body over 65536 bytes"})
            c.request("GET", "/healthz")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"ok\n"))
        finally:
            c.close()

    def test_max_body_bytes_holds_for_every_body_encoding(self):
        event = line(car()) + b"\n"
        body = event * (200_000 // len(event))  # ~200 KB, over 64 KiB
        head = b"POST /api/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
        chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + \
            b"".join(b"%x\r\n%s\r\n" % (len(event), event) for _ in range(len(body) // len(event))) \
            + b"0\r\n\r\n"
        gz = gzip.compress(body)
        self.assertLess(len(gz), 65536)
        gzipped = head + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz
        for name, data, shut in [("chunked", chunked, False),
                                 ("to EOF", head + b"Connection: close\r\n\r\n" + body, True),
                                 ("gzip", gzipped, False)]:
            with self.subTest(name):
                raw, closed, timed_out = raw_exchange(self.server.port, data, shut_write=shut)
                self.assertFalse(timed_out)
                self.assertEqual(status_of(raw), 413, raw[:300])

    def test_header_section_over_a_limit_is_refused(self):
        headers = b"".join(b"X-%07d: %s\r\n" % (i, b"a" * 40) for i in range(40_000))  # 2 MB
        raw, closed, timed_out = raw_exchange(
            self.server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        self.assertFalse(timed_out)
        status = status_of(raw)
        self.assertTrue(status is None and closed or status in (400, 431), raw[:300])

    def test_conflicting_content_lengths_are_400(self):
        raw, closed, timed_out = raw_exchange(
            self.server.port, b"POST /api/logs HTTP/1.1\r\nHost: x\r\nContent-Type: "
            b"application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}xyz")
        self.assertEqual(status_of(raw), 400, raw[:300])

    def test_slowloris_is_cut_off_at_header_timeout(self):
        # A kept-alive connection, served before the attack, to watch the server with.
        watch = self.server.connection()

        def watch_get(path):
            watch.request("GET", path)
            r = watch.getresponse()
            return r.status, r.read().decode()

        def open_connections():
            return metric(parse_metrics(watch_get("/metrics")[1]), "txpipe_http_open_connections")
        self.assertEqual(watch_get("/healthz")[0], 200)
        before = metric(parse_metrics(watch_get("/metrics")[1]), "txpipe_http_header_timeouts_total")
        header = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + \
            b"".join(b"X-Slow-%d: %s\r\n" % (i, b"v" * 20) for i in range(10)) + b"\r\n"
        n = 20
        results = [None] * n

        def attacker(i, connected):
            pause = 0.1 if i % 2 else 0.4  # each far shorter than read_timeout (5 s)
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
            s.setblocking(False)
            sent = 0
            first = None
            outcome = "still open"
            try:
                while sent < len(header):
                    try:
                        s.send(header[sent:sent + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        outcome = "reset"
                        break
                    sent += 1
                    if first is None:
                        first = time.monotonic()
                        connected.set()
                    if select.select([s], [], [], pause)[0]:
                        try:
                            d = s.recv(4096)
                        except ConnectionResetError:
                            d = b""
                        if not d:
                            outcome = "closed"
                            break
                        # Whatever it says (a 408/400), it must close next.
                        s.setblocking(True)
                        s.settimeout(5)
                        try:
                            while s.recv(4096):
                                pass
                            outcome = "closed"
                        except ConnectionResetError:
                            outcome = "closed"
                        except socket.timeout:
                            outcome = "answered, not closed"
                        break
                results[i] = (outcome, time.monotonic() - first, sent)
            finally:
                s.close()

        # One attacker at a time, each being served before the next connects (a burst of
        # connections can stall: see test_a_burst_of_connections_is_served_at_once).
        threads = []
        base = open_connections()
        for i in range(n):
            connected = threading.Event()
            threads.append(threading.Thread(target=attacker, args=(i, connected)))
            threads[-1].start()
            self.assertTrue(connected.wait(5))
            wait_for(lambda: open_connections() >= base + i + 1, timeout=5,
                     what=f"attacker {i} to be served")
        # Other clients, new connections too, are served meanwhile, promptly.
        checks = 0
        while any(t.is_alive() for t in threads) and checks < 50:
            t0 = time.monotonic()
            self.assertEqual(self.server.get("/healthz").status, 200)
            self.assertEqual(watch_get("/healthz")[0], 200)
            self.assertLess(time.monotonic() - t0, 0.5)
            checks += 1
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=30)
        self.assertGreaterEqual(checks, 3)
        for i, (outcome, elapsed, sent) in enumerate(results):
            with self.subTest(attacker=i):
                self.assertIn(outcome, ("closed", "reset"))
                # Cut off at header_timeout (1 s), long before the headers were done.
                self.assertGreater(elapsed, 0.9)
                self.assertLess(elapsed, 1.8)
                self.assertLess(sent, len(header) // 2)
        after = metric(parse_metrics(watch_get("/metrics")[1]), "txpipe_http_header_timeouts_total")
        watch.close()
        self.assertEqual(after - before, n)
        self.assertTrue(self.server.alive())

    def test_malformed_requests_get_4xx_or_close(self):
        post = b"POST /api/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        cases = {
            "garbage request line": (b"GARBAGE\r\n\r\n", False),
            "request line without version": (b"GET /healthz\r\n\r\n", False),
            "unknown version": (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", False),
            "Content-Length not a number": (post + b"Content-Length: abc\r\n\r\n{}", False),
            "Content-Length negative": (post + b"Content-Length: -5\r\n\r\n{}", False),
            "Content-Length overflowing": (post + b"Content-Length: 99999999999999999999999"
                                                  b"\r\n\r\n{}", False),
            "Content-Length longer than the body": (post + b"Content-Length: 1000\r\n\r\n{}",
                                                    True),
            "100 KB header line": (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100_000 +
                                   b"\r\n\r\n", False),
            "100 KB request line": (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", False),
            "non-HTTP bytes": (bytes(range(256)) * 4 + b"\r\n\r\n", False),
            "TLS client hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,
                                 False),
            "only line ends": (b"\r\n" * 1000, True),
        }
        results = {}

        def probe(name, data, shut):
            try:
                results[name] = raw_exchange(self.server.port, data, deadline_s=15,
                                             shut_write=shut)
            except OSError as e:
                results[name] = (repr(e).encode(), True, False)
        threads = [threading.Thread(target=probe, args=(name, *case))
                   for name, case in cases.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for name in cases:
            with self.subTest(name):
                raw, closed, timed_out = results[name]
                self.assertFalse(timed_out, f"no answer and no close within 15 s: {raw[:200]}")
                status = status_of(raw)
                if status is None:
                    self.assertTrue(closed)
                    self.assertNotIn(b"HTTP/", raw[:5])
                else:
                    self.assertTrue(400 <= status < 500, raw[:300])
        self.assertTrue(self.server.alive())
        self.assertTrue(self.server.healthy())

    def test_header_line_without_colon_is_400(self):
        raw, closed, timed_out = raw_exchange(
            self.server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n")
        self.assertEqual(status_of(raw), 400, raw[:300])

    def test_max_streams(self):
        def open_stream(path="/api/stream_car_transactions?rate=5"):
            c = self.server.connection()
            c.request("GET", path)
            return c, c.getresponse()
        streams = []
        try:
            for _ in range(5):
                c, r = open_stream()
                self.assertEqual(r.status, 200)
                self.assertTrue(json.loads(r.readline()))  # it is streaming
                streams.append(c)
            for path in ["/api/stream_car_transactions?rate=5", "/api/v1/live"]:
                with self.subTest(path=path):
                    c, r = open_stream(path)
                    body = r.read()
                    c.close()
                    self.assertEqual(r.status, 503, body)
                    self.assertEqual(r.getheader("Retry-After"), "5")
                    self.assertEqual(json.loads(body),
                                     {"error": "too many open streams (max_streams 5)"})
            self.assertTrue(self.server.healthy())  # other routes are not streams
            # A client that goes away gives its slot back.
            streams.pop().close()

            def reopened():
                c, r = open_stream()
                if r.status == 200:
                    streams.append(c)
                    return True
                r.read()
                c.close()
                return False
            wait_for(reopened, timeout=10, what="a stream slot to be given back")
            m = self.server.metrics()
            self.assertGreaterEqual(metric(m, "txpipe_http_streams_refused_total"), 2)
        finally:
            for c in streams:
                c.close()


class StreamTest(ServerCase):

    def test_ndjson(self):
        t0 = time.monotonic()
        r = self.server.get("/api/stream_car_transactions?rate=200&count=50")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "application/x-ndjson")
        lines = r.body.decode().splitlines()
        self.assertEqual(len(lines), 50)
        events = [json.loads(x) for x in lines]
        for e in events:
            self.assertIsInstance(e, dict)
            for key in ["transaction_id", "brand", "price"]:
                self.assertIn(key, e)
        self.assertEqual(len({e["transaction_id"] for e in events}), 50)
        self.assertGreater(elapsed, 0.2)  # paced: 49 events after the first at 200/s

    def test_sse(self):
        r = self.server.get("/api/stream_car_transactions?rate=200&count=10",
                            headers={"Accept": "text/event-stream"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "text/event-stream")
        frames = r.body.decode().split("\n\n")
        self.assertEqual(frames[-1], "")
        frames = frames[:-1]
        self.assertEqual(len(frames), 10)
        for i, frame in enumerate(frames):
            lines = frame.split("\n")
            self.assertEqual(lines[0], f"id: {i}")
            self.assertTrue(lines[1].startswith("data: "), frame)
            self.assertIn("transaction_id", json.loads(lines[1][len("data: "):]))

    def test_bad_parameters_are_400(self):
        for query, starts in [("rate=0", "rate: "), ("rate=fast", "rate: "),
                              ("count=-1", "count: "), ("count=x", "count: "),
                              ("colour=red", "colour: unknown parameter")]:
            with self.subTest(query=query):
                r = self.server.get("/api/stream_car_transactions?" + query)
                self.assertEqual(r.status, 400, r)
                self.assertTrue(r.json()["error"].startswith(starts), r)

    def test_200_concurrent_clients_twice(self):
        def one_round(seed, n=200):
            rng = random.Random(seed)
            plans = [(rng.randint(1, 8), rng.uniform(0, 0.5)) for _ in range(n)]
            got = [0] * n
            errors = []
            open_at_peak = []

            def peak():
                open_at_peak.append(metric(self.server.metrics(), "txpipe_http_open_connections"))
            barrier = threading.Barrier(n, action=peak, timeout=60)

            def client(i):
                lines_wanted, linger = plans[i]
                c = self.server.connection(timeout=30)
                try:
                    c.request("GET", "/api/stream_car_transactions?rate=20")
                    r = c.getresponse()
                    if r.status != 200:
                        raise AssertionError(f"HTTP {r.status}: {r.read()[:200]}")
                    self.assertIn("transaction_id", json.loads(r.readline()))
                    got[i] = 1
                    barrier.wait()  # all n streams are open at once
                    for _ in range(lines_wanted - 1):
                        json.loads(r.readline())
                        got[i] += 1
                    time.sleep(linger)  # then goes away at a random time, mid-stream
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append((i, repr(e)))
                    barrier.abort()
                finally:
                    c.close()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=90)
            self.assertEqual(errors, [])
            self.assertEqual(got, [p[0] for p in plans])
            self.assertGreaterEqual(open_at_peak[0], n)
            # The server notices every client gone and closes its side.
            wait_for(lambda: metric(self.server.metrics(), "txpipe_http_open_connections") <= 2,
                     timeout=15, what="open connections back to ~0")
            return metric(self.server.metrics(), "txpipe_process_threads")

        threads_first = one_round(1)
        threads_second = one_round(2)
        # Connection threads are reused: a second burst does not add more.
        self.assertLessEqual(threads_second, threads_first + 10,
                             (threads_first, threads_second))
        self.assertTrue(self.server.healthy())


class BurstTest(unittest.TestCase):
    def test_a_burst_of_connections_is_served_at_once(self):
        request = b"GET /api/stream_car_transactions?rate=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        n = 40
        for attempt in range(10):  # a fresh server each time: one idle connection thread
            with self.subTest(attempt=attempt), \
                    tempfile.TemporaryDirectory(prefix="txpipe_http_") as d:
                server = Txpipe(d)
                socks = [None] * n
                try:
                    self.assertTrue(server.healthy())
                    go = threading.Barrier(n, timeout=30)

                    def connect(i):
                        go.wait()
                        socks[i] = socket.create_connection(("127.0.0.1", server.port))
                        socks[i].sendall(request)
                    threads = [threading.Thread(target=connect, args=(i,)) for i in range(n)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join(timeout=30)
                    answered = set()

                    def all_answered():
                        for i, s in enumerate(socks):
                            if i not in answered and select.select([s], [], [], 0)[0]:
                                answered.add(i)
                        return len(answered) == n
                    wait_for(all_answered, timeout=5, what="every stream to start")
                    t0 = time.monotonic()
                    self.assertTrue(server.healthy())
                    self.assertLess(time.monotonic() - t0, 1.0)
                finally:
                    for s in socks:
                        if s:
                            s.close()
                    code, out = server.stop()
                    self.assertEqual(code, 0, out[-2000:])


class LiveTest(ServerCase):
    """`txpipe up --no-generate` (the built-in config: the cars processor and the store)."""
    UP = True

    def test_live_events(self):
        live = SseReader(self.server, "/api/v1/live")
        try:
            self.assertEqual(live.response.status, 200)
            self.assertEqual(live.response.getheader("Content-Type"), "text/event-stream")
            wait_for(lambda: live.lines, timeout=10, what="the first line")
            self.assertEqual(live.lines[0], "retry: 2000")
            stats = wait_for(lambda: live.find(lambda f: f.get("event") == "stats"),
                             timeout=10, what="an event: stats frame")
            data = json.loads(stats["data"])
            self.assertEqual(set(data), {"stats", "metrics"})
            self.assertIsInstance(data["metrics"], list)
            self.assertTrue(all({"name", "labels", "value"} <= set(x) for x in data["metrics"]))

            # Events a minute old, then events now: the watermark passes the old ones'
            # windows at once.
            now_ms = int(time.time() * 1000)
            old_ms = now_ms - 60_000
            old = [car(old_ms, customer=f"C{200000 + i}") for i in range(20)]
            new = [car(now_ms, customer=f"C{200000 + i}") for i in range(20)]
            for batch in (old, new):
                r = self.server.post(b"\n".join(line(e) for e in batch))
                self.assertEqual(r.status, 202, r)
                self.assertEqual(r.json()["accepted"], 20)
            ids = {e["transaction_id"] for e in new}

            def recent_frame(f):
                if f.get("event") != "recent":
                    return False
                d = json.loads(f["data"])
                return d["topic"] == TOPIC and ids & {e.get("transaction_id")
                                                      for e in d["events"]}
            wait_for(lambda: live.find(recent_frame), timeout=10,
                     what=f"an event: recent frame of {TOPIC} with the posted events")

            start_ms = old_ms // 10_000 * 10_000

            def window_frame(f):
                if f.get("event") != "window":
                    return False
                d = json.loads(f["data"])
                return (d["topic"] == TOPIC and d["window"] == "10s" and
                        d["start_ms"] == start_ms and d["dimension"] == "total")
            frame = wait_for(lambda: live.find(window_frame), timeout=40,
                             what="an event: window frame of the old events' 10s window")
            self.assertEqual(json.loads(frame["data"])["count"], 20)
        finally:
            live.close()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main()
