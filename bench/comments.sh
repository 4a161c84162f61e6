#!/usr/bin/env bash
# Comment submission benchmark: the local server (the same handler as the Lambda, fjall
# storage with group commit, spam verification running behind it) against Isso 0.14 under
# gunicorn, the same load (wrk, 16 connections, JSON POSTs), interleaved: ours, Isso, ours.
# Prints both figures and the ratio, and checks that every accepted comment was stored.
#
#   bash bench/comments.sh          # DURATION=20 seconds per run
#
# SITE_STORE_STATS=1 adds the records store's group-commit timings (batch build and
# journal commit with its fdatasync, p50/p99/max per 5 s) to each run of ours;
# SERVER_ENV="LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" runs our server (only)
# with another allocator, to see what allocation adds. Each run of ours also reports, per
# thread of the server, the time it ran and the time it was ready but waiting for a CPU
# (/proc/<pid>/task/*/schedstat over the timed load). STREAM_POLICY="chrt -i -p 0" (or
# "renice -n 19 -p") is applied to the stream consumers' thread after start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${PEERS:-$(cd .. && pwd)/shared/peers}"
WORK="${BENCH_WORK:-/tmp/comments-bench}"
DURATION="${DURATION:-20}"
CONCURRENCY="${CONCURRENCY:-16}"
export PEERS_WORK="$WORK/peers"
mkdir -p "$WORK"
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }

cargo build -q --profile bench-release -p site -p bench --bin site --bin site-bench
SITE=target/bench-release/site
BENCH=target/bench-release/site-bench

ours() {
  local run="$WORK/ours-$1" port
  rm -rf "$run"; mkdir -p "$run"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env ${SERVER_ENV:-} RUST_LOG=warn "$SITE" serve --content sample/content --data "$run/data" --addr "127.0.0.1:$port" --rate-limit 0 >"$run/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  # The signed form token of every published post, read from its page as a browser would.
  local tokens=""
  for page in "$run"/data/site/posts/*/index.html; do
    local slug token
    slug=$(basename "$(dirname "$page")")
    token=$(grep -o 'name="form_token" value="[^"]*"' "$page" | head -1 | sed 's/.*value="//; s/"$//')
    tokens="$tokens${tokens:+,}$slug=$token"
  done
  if [ -n "${STREAM_POLICY:-}" ]; then
    for t in /proc/"$pid"/task/*; do
      if [ "$(cat "$t/comm")" = stream ]; then $STREAM_POLICY "$(basename "$t")" >/dev/null; fi
    done
  fi
  TOKENS="$tokens" wrk -t1 -c"$CONCURRENCY" -d3s -s bench/comment-post.lua "http://127.0.0.1:$port" >/dev/null
  threads() { for t in /proc/"$pid"/task/*; do echo "$(tr ' ' _ <"$t/comm") $(cat "$t/schedstat")"; done; }
  threads >"$run/sched-before"
  TOKENS="$tokens" wrk -t1 -c"$CONCURRENCY" -d"${DURATION}s" --latency -s bench/comment-post.lua "http://127.0.0.1:$port" >"$run/wrk.txt"
  threads >"$run/sched-after"
  sleep 2   # let the spam verifier finish the queue before the count
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sed -n 's/^WRK_JSON //p' "$run/wrk.txt" >"$run/load.json"
  "$BENCH" count --content sample/content --data "$run/data" >"$run/count.json"
  python3 - "$run" <<'PY'
import json, sys
run = sys.argv[1]
l = json.load(open(run + "/load.json")); c = json.load(open(run + "/count.json"))
# Warm-up requests are stored too; wrk may abandon one reply per connection at its deadline.
stats = [line.split("store: ", 1)[1].strip() for line in open(run + "/server.log") if line.startswith("store: ")]
# schedstat: ns on a CPU, ns ready but waiting for one, times run. Threads by name.
def sched(name):
    return [l.split() for l in open(run + "/" + name)]
before = {}
for comm, cpu, wait, _ in sched("sched-before"):
    b = before.setdefault(comm, [0, 0]); b[0] += int(cpu); b[1] += int(wait)
cpu_s = {}
for comm, cpu, wait, _ in sched("sched-after"):
    a = cpu_s.setdefault(comm, [0, 0]); a[0] += int(cpu); a[1] += int(wait)
threads = {comm: {"running_s": round((a[0] - before.get(comm, [0, 0])[0]) / 1e9, 2),
                  "waiting_for_cpu_s": round((a[1] - before.get(comm, [0, 0])[1]) / 1e9, 2)}
           for comm, a in cpu_s.items() if a[0] - before.get(comm, [0, 0])[0] > 1e8}
print(json.dumps({"rps_2xx": l["rps_2xx"], "p50_ms": l["p50_ms"], "p99_ms": l["p99_ms"], "accepted_2xx": l["accepted_2xx"],
                  "non_2xx": l["non_2xx"], "errors": l["errors"], "stored_total": c["stored"], "by_status": c["by_status"],
                  "store_stats": stats, "threads": threads}))
PY
}

echo "== ours (1)" >&2; ours 1 > "$WORK/ours-1.json"
echo "== isso" >&2; DURATION="$DURATION" CONCURRENCY="$CONCURRENCY" bash "$PEERS/isso-bench.sh" > "$WORK/isso.txt"
echo "== ours (2)" >&2; ours 2 > "$WORK/ours-2.json"

python3 - "$WORK" "$PEERS_WORK/isso-results.jsonl" <<'PY'
import json, statistics, sys
work, isso_path = sys.argv[1], sys.argv[2]
ours = [json.load(open(f"{work}/ours-{i}.json")) for i in (1, 2)]
isso = [json.loads(l) for l in open(isso_path)][-1]
print(open(f"{work}/isso.txt").read().strip())
for i, o in enumerate(ours, 1):
    print(f"ours run {i}: {o['rps_2xx']:.0f} req/s, p50 {o['p50_ms']:.2f} ms, p99 {o['p99_ms']:.2f} ms, non-2xx {o['non_2xx']}, errors {o['errors']}, stored {o['stored_total']} {o['by_status']}")
    for comm, t in sorted(o.get("threads", {}).items()):
        print(f"  thread {comm}: ran {t['running_s']} s, waited for a CPU {t['waiting_for_cpu_s']} s")
    for line in o.get("store_stats", []):
        print(f"  store: {line}")
rps = statistics.median(o["rps_2xx"] for o in ours)
p99 = max(o["p99_ms"] for o in ours)
print(f"ratio ours/isso: {rps / isso['rps_2xx']:.1f}x req/s ({rps:.0f} vs {isso['rps_2xx']:.0f}); p99 {p99:.2f} ms vs {isso['p99_ms']} ms")
PY
