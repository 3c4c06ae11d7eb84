#!/usr/bin/env bash
# InfluxDB sink benchmark (issue 11): lean per-event points into influxd 1.6 on
# loopback, the sink vs the ceiling, in the same run.
#
#   bench/influx.sh [TXPIPE]          (default build/txpipe; builds nothing)
#
# Starts influxd (Debian `influxdb`) on free loopback ports with a temp config,
# loads EVENTS generated finance events into a topic (2 partitions), then RUNS
# times, alternating which goes first, each into a database of its own:
#   ceiling: bench/influx_ceiling posts the same lines the sink makes (PointEncoder,
#            lean), cut into BATCH-line gzip'd batches, back to back, one connection
#   sink:    `txpipe run` with one influxdb sink reading the topic, timed from start
#            until its group has committed every event (2xx for every batch)
# and prints both rates, their ratio per run and the medians.
# Environment (defaults): EVENTS=500000 RUNS=3 BATCH=5000 TMPDIR, KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
txpipe=${1:-build/txpipe}
ceiling=$(dirname "$txpipe")/bench/influx_ceiling
EVENTS=${EVENTS:-500000}
RUNS=${RUNS:-3}
BATCH=${BATCH:-5000}
for b in "$txpipe" "$ceiling"; do
  [ -x "$b" ] || { echo "influx.sh: $b: no such executable (build it first)" >&2; exit 1; }
done
command -v influxd >/dev/null || { echo "influx.sh: influxd missing (scripts/setup)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/txpipe-influx-bench.XXXXXX")
influxd_pid=""
cleanup() {
  [ -n "$influxd_pid" ] && kill "$influxd_pid" 2>/dev/null && wait "$influxd_pid" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT

read -r http rpc < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
cat >"$tmp/influxdb.conf" <<CONF
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$tmp/influxd/meta"
[data]
  dir = "$tmp/influxd/data"
  wal-dir = "$tmp/influxd/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$http"
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
CONF
influxd -config "$tmp/influxdb.conf" >"$tmp/influxd.log" 2>&1 &
influxd_pid=$!
url="http://127.0.0.1:$http"
for _ in $(seq 200); do
  curl -s -o /dev/null -w '%{http_code}' "$url/ping" | grep -q 204 && break
  sleep 0.05
done

echo "== machine: $(nproc) cpus ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), load $(cut -d' ' -f1-3 /proc/loadavg), $(influxd version 2>/dev/null | head -1)"
echo "== loading $EVENTS finance events into a topic"
"$txpipe" generate finance --rate max --count "$EVENTS" --seed 1 --start 2026-12-04T00:00:00Z --stdout |
  "$txpipe" topic produce finance --data-dir "$tmp/d" --partitions 2 --key-field account_id >/dev/null

run_ceiling() {
  "$ceiling" --data-dir "$tmp/d" --topic finance --url "$url" --database "ceiling$1" \
    --batch-lines "$BATCH" | awk '{ print $8 }'
}

run_sink() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$tmp/sink$1.toml" <<TOML
data_dir = "$tmp/d"
[sinks.influx]
type = "influxdb"
topics = ["finance"]
group = "bench-sink$1"
url = "$url"
database = "sink$1"
create_database = true
batch_max_lines = $BATCH
[http]
listen = "127.0.0.1:$port"
topics = ["unused"]
TOML
  "$txpipe" run -c "$tmp/sink$1.toml" >"$tmp/sink$1.log" 2>&1 &
  local pid=$!
  # One poller process (keep-alive GETs of /metrics every 20 ms): the clock runs
  # from the start of txpipe until InfluxDB took every point.
  python3 - "$port" "$EVENTS" "$pid" <<'PY'
import http.client, os, sys, time
port, events, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
conn = None
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"sink process {pid} died")
    try:
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        n = sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
                if l.startswith("txpipe_influxdb_points_total"))
        if n >= events:
            break
    except OSError:
        conn = None
    time.sleep(0.02)
print(f"{events / (time.monotonic() - t0):.0f}")
PY
  kill -INT "$pid"
  wait "$pid"
}

ceilings=() sinks=()
for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then
    c=$(run_ceiling "$r"); s=$(run_sink "$r")
  else
    s=$(run_sink "$r"); c=$(run_ceiling "$r")
  fi
  ceilings+=("$c"); sinks+=("$s")
  python3 -c "print(f'run $r: ceiling $c points/s, sink $s points/s, sink/ceiling {$s / $c:.2f}')"
done
python3 - "${ceilings[*]}" "${sinks[*]}" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
s = [float(x) for x in sys.argv[2].split()]
r = [a / b for a, b in zip(s, c)]
print(f"median: ceiling {statistics.median(c):,.0f} points/s, sink {statistics.median(s):,.0f} points/s, "
      f"sink/ceiling per run {', '.join(f'{x:.2f}' for x in r)} (median {statistics.median(r):.2f}; target >= 0.90)")
PY
