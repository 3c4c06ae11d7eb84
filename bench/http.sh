#!/usr/bin/env bash
# HTTP ingest benchmark (issue 5): POST /api/logs on `txpipe up`.
#
#   bench/http.sh [TXPIPE]          (default build/txpipe; builds nothing)
#
# Starts `txpipe up --no-generate --listen 127.0.0.1:0` on a fresh data dir,
# measures its idle RSS after SETTLE seconds, then alternates RUNS runs of
#   (a) bulk:   CONNECTIONS keep-alive connections POSTing NDJSON bodies of
#               BULK_EVENTS car events, for BULK_SECONDS, RSS sampled every 200 ms
#   (b) single: CONNECTIONS keep-alive connections POSTing one event per request
#               (application/json), for SINGLE_SECONDS
# with bench/http_load (every response must be 202 with accepted == events
# sent), then checks that car-transactions-logs holds exactly the events
# accepted (read-only while up runs, and again after it stopped on SIGINT),
# and prints markdown rows for bench/RESULTS.md with the medians.
#
# Environment (defaults): RUNS=3 CONNECTIONS=16 BULK_EVENTS=1000 BULK_SECONDS=20
#   SINGLE_SECONDS=10 SETTLE=10 THREADS=1 (http_load's epoll threads)
#   HTTP_LOAD=<dir of TXPIPE>/bench/http_load, else build-bench/bench/http_load
#   TMPDIR (where the data dir goes), KEEP=1 keeps it, CONFIG=FILE runs
#   `txpipe up -c FILE` instead of the built-in config/embedded.toml.
# Exit: 0 all runs passed and the topic holds every event; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
txpipe=${1:-build/txpipe}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-16}
BULK_EVENTS=${BULK_EVENTS:-1000}
BULK_SECONDS=${BULK_SECONDS:-20}
SINGLE_SECONDS=${SINGLE_SECONDS:-10}
SETTLE=${SETTLE:-10}
THREADS=${THREADS:-1}
TOPIC=car-transactions-logs
if [ -z "${HTTP_LOAD:-}" ]; then
  HTTP_LOAD=$(dirname "$txpipe")/bench/http_load
  [ -x "$HTTP_LOAD" ] || HTTP_LOAD=build-bench/bench/http_load
fi
for b in "$txpipe" "$HTTP_LOAD"; do
  [ -x "$b" ] || { echo "http.sh: $b: no such executable (build it first)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "http.sh: needs jq" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/txpipe-http-bench.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; sleep 2; kill -9 "$pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "http.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
failed=0

# CPU accounting per run: the machine's busy ticks (/proc/stat), txpipe's
# (/proc/PID/stat utime + stime) and http_load's (/usr/bin/time); the rest is
# kernel threads (I/O completion, writeback) and other tenants.
tck=$(getconf CLK_TCK)
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# Median of the numbers on stdin.
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# Events in the topic (sum over partitions of end - start), read-only.
# Prints -1 (and the error on stderr) when the topic cannot be described.
topic_events() {
  local out
  if ! out=$("$txpipe" topic describe "$1" --data-dir "$work/data" 2>&1); then
    echo "http.sh: txpipe topic describe $1: $out" >&2
    echo -1
    return
  fi
  echo "$out" | awk 'NR > 2 && $1 ~ /^[0-9]+$/ {s += $3 - $2} END {print s + 0}'
}

up_args=(up --no-generate --data-dir "$work/data" --listen 127.0.0.1:0)
[ -z "${CONFIG:-}" ] || up_args+=(-c "$CONFIG")
echo "== $txpipe ${up_args[*]}" >&2
"$txpipe" "${up_args[@]}" 2> "$work/up.log" &
pid=$!
port=""
for _ in $(seq 300); do
  port=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/up.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "http.sh: txpipe up died:" >&2; cat "$work/up.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "http.sh: no 'serving http://127.0.0.1:PORT/' line in 30 s:" >&2; cat "$work/up.log" >&2; exit 1; }
url="http://127.0.0.1:$port/api/logs"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "   serving on port $port (pid $pid); settling ${SETTLE} s" >&2
sleep "$SETTLE"
idle_rss=$(status_kb "$pid" VmRSS)
idle_hwm=$(status_kb "$pid" VmHWM)
echo "   idle: VmRSS $(mb "$idle_rss") MB, VmHWM $(mb "$idle_hwm") MB" >&2

sent=0   # events accepted over all runs (== events sent when the runs pass)
for i in $(seq "$RUNS"); do
  for kind in a b; do
    if [ $kind = a ]; then
      args=(--events-per-request "$BULK_EVENTS" --duration "$BULK_SECONDS" --rss-pid "$pid")
    else
      args=(--events-per-request 1 --duration "$SINGLE_SECONDS" --rss-pid "$pid")
    fi
    echo "== run $i ($kind): http_load --url $url --connections $CONNECTIONS ${args[*]}" >&2
    rc=0
    m0=$(machine_ticks); p0=$(proc_ticks "$pid"); t0=$(date +%s.%N)
    timer=()
    [ ! -x /usr/bin/time ] || timer=(/usr/bin/time -o "$work/$kind$i.time" -f '%U %S')
    "${timer[@]}" "$HTTP_LOAD" --url "$url" --connections "$CONNECTIONS" --threads "$THREADS" "${args[@]}" --json \
      --quiet > "$work/$kind$i.json" 2> "$work/$kind$i.err" || rc=$?
    m1=$(machine_ticks); p1=$(proc_ticks "$pid"); t1=$(date +%s.%N)
    client_s=$(tail -1 "$work/$kind$i.time" 2>/dev/null | awk 'NF == 2 && $1 ~ /^[0-9.]+$/ {print $1 + $2; ok = 1} END {if (!ok) print 0}')
    # cores: txpipe, http_load, the rest of the machine (2 = both cores busy)
    awk -v m="$((m1 - m0))" -v p="$((p1 - p0))" -v c="$client_s" -v tck="$tck" -v w="$(echo "$t1 - $t0" | bc -l)" \
      'BEGIN {printf "%.2f %.2f %.2f\n", p / tck / w, c / w, (m - p) / tck / w - c / w}' > "$work/$kind$i.cpu"
    if [ $rc -ne 0 ]; then
      failed=1
      echo "   FAILED (exit $rc):" >&2
      sed 's/^/   /' "$work/$kind$i.err" >&2
    fi
    echo "   CPU (cores): txpipe / http_load / rest of the machine = $(sed 's| | / |g' "$work/$kind$i.cpu")" >&2
    if [ -s "$work/$kind$i.json" ]; then
      jq -r '"   \(.requests_per_s|floor) req/s, \(.events_per_s|floor) events/s, \(.mb_per_s) MB/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, max \(.latency_ms.max) ms, statuses \(.statuses|tostring), reconnects \(.reconnects), rss \(.rss.start_kb/1024|floor)->\(.rss.max_kb/1024|floor)->\(.rss.end_kb/1024|floor) MB"' \
        "$work/$kind$i.json" >&2
      sent=$((sent + $(jq '.accepted' "$work/$kind$i.json")))
    fi
    kill -0 "$pid" 2>/dev/null || { echo "http.sh: txpipe up died during run $i ($kind):" >&2; tail -20 "$work/up.log" >&2; exit 1; }
  done
done

after_rss=$(status_kb "$pid" VmRSS)
after_hwm=$(status_kb "$pid" VmHWM)
live=$(topic_events "$TOPIC")
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# Consumers of the topic (e.g. the cars processor, the store sink): their lag now.
lags=$("$txpipe" topic offsets --data-dir "$work/data" 2>/dev/null |
       awk -v t="$TOPIC" '$2 == t {lag[$1] += $6} END {for (g in lag) printf "%s%s %d", (n++ ? ", " : ""), g, lag[g]}' || true)
echo "== after the runs: VmRSS $(mb "$after_rss") MB, VmHWM $(mb "$after_hwm") MB; $TOPIC holds $live events (read-only, up running), $sent accepted" >&2
t0=$(date +%s.%N)
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
stop_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
pid=""
[ $rc -eq 0 ] || { echo "http.sh: txpipe up exited $rc on SIGINT:" >&2; tail -20 "$work/up.log" >&2; failed=1; }
stopped=$(topic_events "$TOPIC")
echo "   stopped in $(printf %.2f "$stop_s") s (exit $rc); $TOPIC holds $stopped events" >&2
if [ "$live" -ne "$sent" ] || [ "$stopped" -ne "$sent" ]; then
  echo "http.sh: FAILED: $TOPIC holds $live (live) / $stopped (stopped) events, $sent were accepted" >&2
  failed=1
fi
dlq=$(topic_events "$TOPIC.dlq")
[ "$dlq" -le 0 ] || { echo "http.sh: $TOPIC.dlq holds $dlq events" >&2; failed=1; }

# Markdown.
field() { jq -r "$2" "$work/$1.json" 2>/dev/null || echo "-"; }
med() { for i in $(seq "$RUNS"); do field "$1$i" "$2"; done | grep -v '^-$' | median; }
k() {  # 1234567.8 -> 1,234,568
  awk -v x="$1" 'BEGIN {n = sprintf("%.0f", x); s = "";
    while (length(n) > 3) {s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3)}
    print n s}'
}
r1='def r1: (. * 10 | round) / 10;'
lat='"\(.latency_ms.p50|r1) / \(.latency_ms.p99|r1) / \(.latency_ms.max|r1)"'
f1() { awk -v x="$1" 'BEGIN {printf "%.1f", x}'; }
echo
cpu() { sed 's| | / |g' "$work/$1.cpu" 2>/dev/null || echo -; }
echo "| run | (a) events/s | (a) MB/s | (a) p50 / p99 / max ms | (a) RSS start / max / end MB | (a) CPU cores txpipe / client / rest | (b) requests/s | (b) p50 / p99 / max ms | (b) RSS max MB | (b) CPU cores txpipe / client / rest |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for i in $(seq "$RUNS"); do
  echo "| $i | $(k "$(field a"$i" .events_per_s)") | $(f1 "$(field a"$i" .mb_per_s)") | $(field a"$i" "$r1 $lat") | $(field a"$i" '"\(.rss.start_kb/1024|floor) / \(.rss.max_kb/1024|floor) / \(.rss.end_kb/1024|floor)"') | $(cpu a"$i") | $(k "$(field b"$i" .requests_per_s)") | $(field b"$i" "$r1 $lat") | $(field b"$i" '.rss.max_kb/1024|floor') | $(cpu b"$i") |"
done
a_ev=$(med a .events_per_s); b_rq=$(med b .requests_per_s)
echo "| **median** | **$(k "$a_ev")** | $(f1 "$(med a .mb_per_s)") | $(f1 "$(med a .latency_ms.p50)") / $(f1 "$(med a .latency_ms.p99)") / $(f1 "$(med a .latency_ms.max)") | max $(f1 "$(med a '.rss.max_kb/1024')") | | **$(k "$b_rq")** | $(f1 "$(med b .latency_ms.p50)") / $(f1 "$(med b .latency_ms.p99)") / $(f1 "$(med b .latency_ms.max)") | $(f1 "$(med b '.rss.max_kb/1024')") | |"
echo
echo "- idle RSS after ${SETTLE} s: **$(mb "$idle_rss") MB** (VmHWM $(mb "$idle_hwm") MB); after the runs $(mb "$after_rss") MB (VmHWM $(mb "$after_hwm") MB)"
echo "- (a) target >= 800,000 events/s: $(awk -v x="$a_ev" 'BEGIN {print (x >= 800000 ? "met" : "NOT met"), sprintf("(%.2f)", x / 800000)}'); RSS max over all (a) runs $(for i in $(seq "$RUNS"); do field a"$i" .rss.max_kb; done | sort -g | tail -1 | awk '{printf "%.1f", $1 / 1024}') MB (target < 200 MB)"
echo "- (b) target >= 20,000 requests/s: $(awk -v x="$b_rq" 'BEGIN {print (x >= 20000 ? "met" : "NOT met"), sprintf("(%.2f)", x / 20000)}')"
echo "- (c) target idle RSS < 60 MB: $(awk -v x="$idle_rss" 'BEGIN {print (x < 60 * 1024 ? "met" : "NOT met")}')"
echo "- consumers' lag on $TOPIC right after the last run: ${lags:-no consumer groups}"
echo "- load average (1/5/15 min) before the first run: $load_start; after the last: $load_end (this one counts txpipe's own threads waiting on the disk)"
echo "- CPU cores: of the 2, used by txpipe, by http_load, and by the rest of the machine (kernel I/O threads, other tenants) over each run"
echo "- $TOPIC holds $stopped events after SIGINT (stopped in $(printf %.2f "$stop_s") s), $sent accepted: $([ "$stopped" -eq "$sent" ] && echo exact || echo MISMATCH); $TOPIC.dlq: $([ "$dlq" -ge 0 ] && echo "$dlq events" || echo "no such topic")"
[ $failed -eq 0 ] || { echo "http.sh: FAILED (see above)" >&2; exit 1; }
