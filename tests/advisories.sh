#!/usr/bin/env bash
# Cargo.lock against the RustSec advisory database: fails on any crate with a known
# vulnerability. No network reaches the database here, so it is read from the snapshot in
# ../shared/rustsec-advisory-db (its SNAPSHOT file says which commit and when); cargo-audit
# opens the database as a git repository, so a throwaway one is made from the snapshot.
#
# To refresh the snapshot where the network allows: `git clone
# https://github.com/rustsec/advisory-db` (or pull in an existing clone) and point
# ADVISORY_DB at it, or replace ../shared/rustsec-advisory-db with its files.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAPSHOT="${ADVISORY_DB:-$(cd .. && pwd)/shared/rustsec-advisory-db}"
if [ ! -d "$SNAPSHOT/crates" ]; then
  if [ "${CI:-}" = true ]; then
    echo "no advisory database at $SNAPSHOT" >&2
    exit 1
  fi
  echo "skipped: no advisory database at $SNAPSHOT (set ADVISORY_DB)"
  exit 0
fi
if ! cargo audit --version >/dev/null 2>&1; then
  cargo install -q cargo-audit --locked --version 0.22.2
fi
DB=$(mktemp -d)
trap 'rm -rf "$DB"' EXIT
cp -r "$SNAPSHOT"/. "$DB"
chmod -R u+w "$DB"
git -C "$DB" init -q
git -C "$DB" add -A
git -C "$DB" -c user.email=ci@localhost -c user.name=ci commit -q -m snapshot
echo "advisory database: $(head -1 "$SNAPSHOT/SNAPSHOT" 2>/dev/null || echo 'snapshot')"
cargo audit --db "$DB" --no-fetch --stale --file Cargo.lock
