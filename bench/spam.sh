#!/usr/bin/env bash
# Spam verdict speed: each labelled comment of the shared corpus scored as the verifier
# scores it (rules and the shipped model), against the rules alone in the same run.
#
#   bash bench/spam.sh            # RUNS=20 passes over 1,138 comments
#
# Needs ../shared/spam-corpus beside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${CORPUS:-$(cd .. && pwd)/shared/spam-corpus}"
cargo build -q --profile bench-release -p bench --bin site-bench
target/bench-release/site-bench verdict "$CORPUS"/*.csv --runs "${RUNS:-20}"
