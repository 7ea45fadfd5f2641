#!/usr/bin/env bash
# Regenerates tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq with the published rocketmq-store
# 5.3.3 jar: a RocksDBMessageStore (storeType=defaultRocksDB) written and shut down cleanly
# (store/, manifest.json), then loaded from a copy and read back (reader.json: min/max offsets,
# every unit and Java's getMessage for it).
# Usage: gen-rocksdb-fixture.sh [DEST_ROOT]   (default: the repo's tests/fixtures/java/rocketmq-5.3.3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
"$here/build.sh"
cp="$here/target/classes:$(cat "$here/cp.txt")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
TZ=UTC java -cp "$cp" rmqstore.v5.V5Rocks write "$tmp/f" >"$tmp/write.log" 2>&1 || { cat "$tmp/write.log"; exit 1; }
cp -r "$tmp/f/store" "$tmp/copy"
TZ=UTC java -cp "$cp" rmqstore.v5.V5Rocks read "$tmp/copy" "$tmp/f/reader.json" >"$tmp/read.log" 2>&1 || { cat "$tmp/read.log"; exit 1; }
dest="${1:-$repo/tests/fixtures/java/rocketmq-5.3.3}/rocksdb-cq"
rm -rf "$dest"; mkdir -p "$dest"
cp -r "$tmp/f/store" "$tmp/f/manifest.json" "$tmp/f/reader.json" "$dest/"
echo "wrote $dest"
