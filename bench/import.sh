#!/usr/bin/env bash
# Import benchmark: `site import wordpress` on generated exports of two sizes (time and peak
# memory; memory must not grow with the file), the same import again (a no-op), and the
# full build after it.
#
#   bash bench/import.sh                 # 2,500 and 10,000 posts, 5 comments each
#   SMALL=500 LARGE=2000 bash bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${SMALL:-2500}"
LARGE="${LARGE:-10000}"
WORK="${BENCH_WORK:-/tmp/import-bench}"
mkdir -p "$WORK"
cargo build -q --profile bench-release -p site --bin site
BIN=target/bench-release/site

measure() { # label, command...: prints "label seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" -o "$WORK/time.txt" "$@" > "$WORK/out.txt"
  cat "$WORK/time.txt"
}

for n in "$SMALL" "$LARGE"; do
  python3 bench/wxr_gen.py --posts "$n" --comments 5 --out "$WORK/export-$n.xml"
  rm -rf "$WORK/site-$n" && mkdir -p "$WORK/site-$n" && cp -r sample/content "$WORK/site-$n/content"
  size=$(stat -c %s "$WORK/export-$n.xml")
  args=(import wordpress "$WORK/export-$n.xml" --content "$WORK/site-$n/content" --data "$WORK/site-$n/data")
  read -r _ t0 m0 < <(measure dry "$BIN" "${args[@]}" --dry-run)
  read -r _ t1 m1 < <(measure import "$BIN" "${args[@]}")
  grep -E "posts|comments:|records:" "$WORK/out.txt" | sed 's/^/    /' >&2
  read -r _ t2 m2 < <(measure again "$BIN" "${args[@]}")
  read -r _ t3 m3 < <(measure build "$BIN" build --content "$WORK/site-$n/content" --data "$WORK/site-$n/data")
  echo "$n $size $t1 $m1 $t2 $m2 $t3 $m3 $t0 $m0" >> "$WORK/results-$$.txt"
done

python3 - "$WORK/results-$$.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"{'posts':>7} {'comments':>9} {'export':>9} | {'dry run':>8} {'peak RSS':>9} | {'import':>8} {'peak RSS':>9} | {'again':>7} | {'full build':>10} {'peak RSS':>9}")
for n, size, t1, m1, t2, m2, t3, m3, t0, m0 in rows:
    n = int(n)
    print(f"{n:>7,} {n * 5:>9,} {int(size) / 1e6:>7.1f}MB | {float(t0):>7.1f}s {int(m0) / 1024:>7.0f}MB | {float(t1):>7.1f}s {int(m1) / 1024:>7.0f}MB | {float(t2):>6.1f}s | {float(t3):>9.1f}s {int(m3) / 1024:>7.0f}MB")
(s, l) = rows[0], rows[-1]
grow = lambda i: (int(l[i]) - int(s[i])) / 1024
print(f"export {int(l[1]) / int(s[1]):.1f}x larger: reading it (dry run) +{grow(9):.0f} MB, importing +{grow(3):.0f} MB "
      f"({(int(l[9]) - int(s[9])) * 1024 / (int(l[0]) - int(s[0])):.0f} bytes per extra post, whatever its size: what is kept for every post is its new address, slug and old addresses)")
PY
rm -f "$WORK/results-$$.txt"
