#!/usr/bin/env bash
# Tool: libFuzzer, built with cargo-fuzz (`cargo fuzz build -s none`). On stable Rust it works
# as long as no sanitizer is asked for (ASan & co. need nightly's -Zsanitizer): cargo-fuzz then
# only adds the sanitizer-coverage flags, which stable rustc accepts. cargo-afl would need its
# own AFL++ build, a fork server and a separate replay harness for the same coverage.
# If cargo-fuzz cannot be installed, the same flags are given by hand (see `build` below).
#
# Usage: bash fuzz/run.sh [EXECUTIONS]      (default 10000000 per target)
#   TARGETS="form dates"  only these targets (default: every [[bin]] in fuzz/Cargo.toml)
#   JOBS=2                fuzz two targets at once (default 1)
#   TIMEOUT=30            seconds one input may take before it counts as a crash (a hang)
#   MAX_TIME=600          also stop each target after this many seconds (default: no limit;
#                         the executions column then says how far it got)
#
# Each target runs for EXECUTIONS inputs (-runs), seeded from fuzz/corpus/<target>/; new
# inputs go to a scratch folder, then `-merge=1` folds them back into fuzz/corpus/<target>/ so
# the kept corpus stays minimal. A crashing input is left in fuzz/artifacts/<target>/, the
# fuzzer's log in fuzz/logs/<target>.log. Files named regression-* in a corpus (inputs that
# once crashed, kept after the fix) survive the merge. One line per target is printed at the end; the exit
# status is non-zero if any target crashed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
triple="x86_64-unknown-linux-gnu"
bin_dir="$here/target/$triple/release"

# The longest input per target (bytes): enough for realistic documents, small enough to keep
# inputs fast.
max_len() {
    case "$1" in
    dates) echo 128 ;;
    s3_key) echo 512 ;;
    tokens | address) echo 1024 ;;
    form | comment | spam | config | template | redirects | mail) echo 4096 ;;
    content | xmlrpc | wp_body | events | webmention) echo 8192 ;;
    wxr) echo 2048 ;;
    *) echo 4096 ;;
    esac
}

build() {
    cd "$root"
    if command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked; then
        nice -n 19 cargo fuzz build -s none --debug-assertions --fuzz-dir fuzz
    else
        # By hand: the flags cargo-fuzz gives, into fuzz/target only (never the workspace's
        # target dir: these flags would invalidate everyone's build).
        RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
            nice -n 19 cargo build --release --manifest-path fuzz/Cargo.toml \
            --target "$triple" --target-dir fuzz/target --bins
    fi
}

# Fuzz one target; writes fuzz/logs/<target>.result (one line of figures).
run_one() {
    local t="$1" runs="$2"
    local corpus="$here/corpus/$t" artifacts="$here/artifacts/$t" logs="$here/logs"
    local scratch merged
    mkdir -p "$corpus" "$artifacts" "$logs"
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$t.XXXXXX")"
    merged="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$t-merged.XXXXXX")"
    local before
    before="$(find "$artifacts" -type f | wc -l)"
    local len
    len="$(max_len "$t")"
    local status=0
    nice -n 19 "$bin_dir/$t" -runs="$runs" -max_len="$len" -timeout="${TIMEOUT:-30}" \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        -max_total_time="${MAX_TIME:-0}" \
        "$scratch" "$corpus" >"$logs/$t.log" 2>&1 || status=$?
    local execs rate crashes
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)"
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # the fuzzer stopped on something it did not save (see the log)
    fi
    # Fold the new inputs into the kept corpus, minimised (even after a crash: what was
    # found until then is kept). A greedy set cover of the edges alone (no hit counts)
    # keeps a few hundred small files per target instead of thousands.
    if nice -n 19 "$bin_dir/$t" -merge=1 -set_cover_merge=1 -use_counters=0 \
        -max_len="$len" -timeout="${TIMEOUT:-30}" \
        -rss_limit_mb=4096 "$merged" "$corpus" "$scratch" >"$logs/$t.merge.log" 2>&1 &&
        [ -n "$(ls -A "$merged")" ]; then
        find "$corpus" -type f ! -name 'regression-*' -delete
        cp "$merged"/* "$corpus"/
    fi
    rm -rf "$scratch" "$merged"
    local files kb
    files="$(find "$corpus" -type f | wc -l)"
    kb=$(($(cat "$corpus"/* | wc -c) / 1024))
    printf '%-11s executions %11s  crashes %d  exec/s %7s  corpus %4d files %5d KB\n' \
        "$t" "${execs:-?}" "$crashes" "${rate:-?}" "$files" "$kb" >"$logs/$t.result"
}

if [ "${1:-}" = "--one" ]; then
    run_one "$2" "$3"
    exit 0
fi

runs="${1:-10000000}"
if [ -n "${TARGETS:-}" ]; then
    read -r -a targets <<<"$TARGETS"
else
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$here/Cargo.toml" | grep -v '^fuzz$')
fi
build
mkdir -p "$here/logs"
for t in "${targets[@]}"; do
    [ -x "$bin_dir/$t" ] || { echo "no fuzz target $t" >&2; exit 2; }
    rm -f "$here/logs/$t.result"
done
start=$(date +%s)
printf '%s\n' "${targets[@]}" | xargs -P "${JOBS:-1}" -I{} bash "$here/run.sh" --one {} "$runs"
echo "fuzz: $runs executions per target, ${JOBS:-1} at a time, $(($(date +%s) - start)) s"
failed=0
for t in "${targets[@]}"; do
    cat "$here/logs/$t.result"
    if ! grep -q ' crashes 0 ' "$here/logs/$t.result"; then
        failed=1
        ls "$here/artifacts/$t" >&2
    fi
done
exit "$failed"
