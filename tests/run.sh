#!/usr/bin/env bash
# Every test, on a fresh machine: installs what the tests need, then runs formatting and
# lint checks, the Rust tests (unit, and integration against moto_server), the template
# lint, and the pages in a real browser (axe-core in Debian's Chromium). The README's second command; CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
export MOTO_SERVER="$PWD/.venv/bin/moto_server"

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== dependency advisories (cargo-audit, RustSec snapshot)"
bash tests/advisories.sh
echo "== template lint"
.venv/bin/cfn-lint infra/template.yaml
.venv/bin/python infra/lint_expanded.py infra/template.yaml
echo "== cargo build (function binaries, for tests/lambda_runtime.rs)"
cargo build --workspace --bins
echo "== cargo test"
cargo test --workspace
echo "== browser checks (axe-core in headless Chromium)"
bash tests/browser/run.sh
