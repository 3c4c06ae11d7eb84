#!/usr/bin/env bash
# End-to-end benchmark (issues 3 and 4): N finance events in seed-style spool
# files -> spooldir source -> embedded log (flush = batch) -> archive sink (zstd)
# and the analytics processor (windows 10s + 1m, dedup, checkpoints).
# Reports events/s and MB/s from the start of `txpipe run` until the archive
# holds every event and the processor has checkpointed past every event, and
# the peak RSS of the txpipe process.
#
#   bench/pipeline.sh [N]            (default 1000000; BUILD_DIR=build)
#   PROCESSOR=0 bench/pipeline.sh    without the processor (issue 3's path)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PROCESSOR=${PROCESSOR:-1}
BUILD_DIR=${BUILD_DIR:-build}
txpipe=$BUILD_DIR/txpipe
work=$(mktemp -d /tmp/txpipe-bench.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== generating $N finance events into $work/data/spool/finance"
$txpipe generate finance --out "$work/data/spool/finance" --rate max --count "$N" --seed 1 \
  --start 2026-11-23T10:00:00Z --no-fsync -q
bytes=$(cat "$work"/data/spool/finance/*.json | wc -c)
files=$(ls "$work/data/spool/finance" | wc -l)
echo "   $files files, $bytes bytes"

cat > "$work/pipeline.toml" <<TOML
data_dir = "$work/data"
[broker]
partitions = 2
flush = "batch"
[sources.finance_files]
type = "spooldir"
spool_dir = "spool/finance"
topic = "finance"
key_field = "account_id"
min_file_age_ms = 0
[sinks.archive]
type = "archive"
topics = ["finance"]
path = "archive/%{topic}/%Y-%m-%d/%H%M"
round = true
round_value = 10
round_unit = "minute"
codec = "zstd"
roll_interval_s = 1   # files final (and offsets committed) within a second
TOML
if [ "$PROCESSOR" = 1 ]; then
  cat >> "$work/pipeline.toml" <<TOML
[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
TOML
fi

start=$(date +%s.%N)
$txpipe run -c "$work/pipeline.toml" 2> "$work/run.log" &
pid=$!
peak=0
ingested_at=""
archived() {
  find "$work/data/archive" -type f ! -name '*.tmp' ! -name '.*' -print0 2>/dev/null |
    xargs -0 -r zstd -dc 2>/dev/null | wc -l
}
# Poll: the archive group's committed offsets reach the topic's end.
while :; do
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  if [ "${rss:-0}" -gt "$peak" ]; then peak=$rss; fi
  lag=$($txpipe topic offsets --data-dir "$work/data" --group archive-archive 2>/dev/null |
        awk 'NR>1 {s+=$4} END {print s+0}' || true)
  if [ "$PROCESSOR" = 1 ]; then
    plag=$($txpipe topic offsets --data-dir "$work/data" --group processor-finance 2>/dev/null |
           awk 'NR>1 {s+=$4} END {print s+0}' || true)
    if [ "${plag:-0}" -lt "${lag:-0}" ]; then lag=$plag; fi
  fi
  if [ -z "$ingested_at" ]; then
    in_topic=$($txpipe topic describe finance --data-dir "$work/data" 2>/dev/null |
               awk 'NR>2 {s+=$3} END {print s+0}' || true)
    if [ "${in_topic:-0}" -ge "$N" ]; then ingested_at=$(date +%s.%N); fi
  fi
  if [ "${lag:-0}" -ge "$N" ]; then break; fi
  if ! kill -0 $pid 2>/dev/null; then echo "txpipe run died:"; cat "$work/run.log"; exit 1; fi
  sleep 0.2
done
end=$(date +%s.%N)
kill -INT $pid; wait $pid || true
got=$(archived)
secs=$(echo "$end - $start" | bc -l)
printf '== %d events (%d archived) in %.2f s: %.0f events/s, %.1f MB/s, peak RSS %d MB\n' \
  "$N" "$got" "$secs" "$(echo "$N / $secs" | bc -l)" "$(echo "$bytes / $secs / 1000000" | bc -l)" \
  $((peak / 1024))
printf '   spool -> log alone: all %d events in the topic after %.2f s (%.0f events/s)\n' "$N" \
  "$(echo "$ingested_at - $start" | bc -l)" "$(echo "$N / ($ingested_at - $start)" | bc -l)"
[ "$got" -eq "$N" ] || { echo "archive holds $got of $N events"; exit 1; }
