"""Helpers the end-to-end tests share: polling with a deadline, free loopback ports, HTTP
calls, and influxd 1.6 (Debian `influxdb`) as a child process on loopback.

Older tests (cli, pipeline, processor_e2e, http) still carry their own copies of the first
few; new tests import them from here.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


def wait_for(predicate, timeout=30.0, what="condition", interval=0.02):
    """Polls `predicate` until it returns a true value (which is returned) or `timeout` seconds
    pass (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_ports(n):
    """`n` distinct ports free on 127.0.0.1 now (bound, then closed)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this process dies (PR_SET_PDEATHSIG), so a
    killed test (a CTest timeout) leaves no server behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 15)
    except (OSError, AttributeError):
        pass


def http(method, url, body=None, headers=None, timeout=30):
    """(status, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Influxd:
    """Debian's influxd 1.6 on two free loopback ports (HTTP, and the RPC service it would
    otherwise put on 8088), with its config and data under `root` (a temp dir by default,
    removed by close()). stop() then start() again keeps the ports and the data."""

    def __init__(self, root=None):
        if shutil.which("influxd") is None:
            raise AssertionError("influxd is missing: scripts/setup installs Debian's influxdb")
        self.owned = root is None
        self.root = root or tempfile.mkdtemp(prefix="txpipe-influxd-")
        os.makedirs(self.root, exist_ok=True)
        self.proc = self.log = None
        self.started = False
        self._configure()

    def _configure(self):
        http_port, rpc_port = free_ports(2)
        self.url = f"http://127.0.0.1:{http_port}"
        self.config = os.path.join(self.root, "influxdb.conf")
        d = self.root
        with open(self.config, "w") as f:
            # Debian's 1.6 reads reporting-enabled; upstream 1.x reporting-disabled (both kept:
            # unknown keys are ignored).
            f.write(f"""reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
""")

    def start(self):
        """Starts influxd and waits for GET /ping. The first start picks other ports when
        influxd exits at once (a port taken between choosing and binding it); later starts
        keep them."""
        first, self.started = not self.started, True
        for attempt in range(3):
            env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
            self.log = open(os.path.join(self.root, "influxd.log"), "ab")
            self.proc = subprocess.Popen(["influxd", "-config", self.config],
                                         stdout=self.log, stderr=self.log, env=env,
                                         preexec_fn=die_with_parent)

            def ready():
                if self.proc.poll() is not None:
                    return "exited"
                try:
                    return http("GET", self.url + "/ping", timeout=2)[0] == 204 and "up"
                except OSError:
                    return None
            if wait_for(ready, 60, "influxd to answer /ping") == "up":
                return self
            self.log.close()
            if not first or attempt == 2:
                break
            self._configure()
        raise AssertionError(f"influxd did not start: {self.output()[-2000:]}")

    def output(self):
        try:
            with open(os.path.join(self.root, "influxd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        self.proc = self.log = None

    def close(self):
        self.stop()
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def query(self, q, db=""):
        """The JSON answer of POST /query (epoch ms times), with its HTTP status in "_status"."""
        body = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"}).encode()
        status, data = http("POST", self.url + "/query", body,
                            {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {"error": data.decode(errors="replace")}
        answer["_status"] = status
        return answer

    def series(self, db, q):
        """The series of a query's one result; AssertionError on an error."""
        answer = self.query(q, db)
        result = answer.get("results", [{}])[0]
        if answer["_status"] != 200 or "error" in answer or "error" in result:
            raise AssertionError(f"{q}: {answer}")
        return result.get("series", [])

    def scalar(self, db, q):
        """The single value of a query like SELECT count(x) ..., or 0 when there are no rows
        (or no such database, or influxd does not answer)."""
        try:
            series = self.series(db, q)
        except (AssertionError, OSError):
            return 0
        return series[0]["values"][0][1] if series else 0
