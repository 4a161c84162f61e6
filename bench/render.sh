#!/usr/bin/env bash
# Render benchmark: our full build and one-post edit against Hugo's, on the same corpus,
# measured in the same run and printed as ratios.
#
#   bash bench/render.sh            # 10,000 posts x 5 comments
#   POSTS=1000 bash bench/render.sh
#
# Needs ../shared/peers (gen-corpus.py, hugo-bench.sh) beside the repo; installs Hugo from
# Debian's packages if missing (hugo-bench.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS="${POSTS:-10000}"
PEERS="${PEERS:-$(cd .. && pwd)/shared/peers}"
WORK="${BENCH_WORK:-/tmp/site-bench}"
RUNS="${RUNS:-3}"
export PEERS_WORK="$WORK/peers"
mkdir -p "$WORK"

cargo build -q --profile bench-release -p bench --bin site-bench
BIN=target/bench-release/site-bench

# REUSE=1 keeps a site prepared by an earlier run (same POSTS): preparing 10,000 photos and
# 50,000 comments takes minutes.
if [ "${REUSE:-0}" != 1 ] || [ ! -d "$WORK/site/data" ]; then
  python3 "$PEERS/gen-corpus.py" --posts "$POSTS" --comments 5 --out "$WORK/corpus" >/dev/null
  rm -rf "$WORK/site"
  echo "== preparing $POSTS posts (photos, comments)" >&2
  "$BIN" prepare --corpus "$WORK/corpus/neutral" --out "$WORK/site" >&2
fi

# changed: a one-line base.html edit uploaded as templates/base.html, so every page is
# written over the existing site (the build a site owner waits for: a template or site.toml
# edit). unchanged: nothing to write (renders and compares only). The "site removed first"
# mode is left out: on this VM it mostly times ext4 discarding 11,000 freed files.
ours() {
  for _ in $(seq 1 "$RUNS"); do "$BIN" full --out "$WORK/site" --mode changed; done
  for _ in $(seq 1 "$RUNS"); do "$BIN" full --out "$WORK/site" --mode unchanged; done
}

echo "== ours (before Hugo)" >&2
ours > "$WORK/ours-1.jsonl"
echo "== Hugo" >&2
POSTS="$POSTS" RUNS="$RUNS" MODES=overwrite WATCH=0 INCR_RUNS=3 bash "$PEERS/hugo-bench.sh" > "$WORK/hugo.txt"
echo "== ours (after Hugo)" >&2
ours > "$WORK/ours-2.jsonl"
"$BIN" edit --out "$WORK/site" --runs 5 > "$WORK/edit.json"

python3 - "$WORK" "$PEERS_WORK/hugo-results.jsonl" <<'PY'
import json, statistics, sys
work, hugo_path = sys.argv[1], sys.argv[2]
ours = [json.loads(l) for f in ("ours-1.jsonl", "ours-2.jsonl") for l in open(f"{work}/{f}")]
hugo = [json.loads(l) for l in open(hugo_path)][-1]
edit = json.load(open(f"{work}/edit.json"))
print(open(f"{work}/hugo.txt").read().strip())
# Hugo's full build writes every page each time ("overwrite": public/ kept, plain `hugo`).
h = hugo["full"]["overwrite"]
hugo_wall = h.get("wall_s", {}).get("median") if isinstance(h.get("wall_s"), dict) else None
for mode, name in (("changed", "every page changed (template edit), HEADLINE"), ("unchanged", "nothing changed (renders and compares, writes nothing)")):
    runs = [r for r in ours if r["mode"] == mode]
    pps = statistics.median(r["post_pages_per_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    rss = max(r["peak_rss_mb"] for r in runs)
    written = statistics.median(r["objects_written"] for r in runs)
    print(f"ours [{name}]: {runs[0]['post_pages']} posts in {wall:.2f} s median of {len(runs)} ({[round(r['wall_s'], 2) for r in runs]}), {written:.0f} objects written -> {pps:.0f} post pages/s, peak RSS {rss:.0f} MB")
    print(f"  hugo [full build, every page written]: {h['post_pages_per_s']:.0f} post pages/s" + (f" ({hugo_wall:.2f} s)" if hugo_wall else "") + f", peak RSS {h['maxrss_mb']:.0f} MB")
    print(f"  ratio ours/hugo: {pps / h['post_pages_per_s']:.2f}x pages/s, {rss / h['maxrss_mb']:.2f}x memory")
print(f"ours one-post edit (page + listing + feeds, written): median {edit['edit_ms_median']:.1f} ms, all {[round(x, 1) for x in edit['edit_ms_all']]}")
e = hugo.get("edit_plain_hugo", {}).get("wall_s", {})
if e:
    print(f"  hugo one-post edit (plain rebuild): median {e['median'] * 1000:.0f} ms -> ratio {e['median'] * 1000 / edit['edit_ms_median']:.0f}x faster")
PY
