#!/usr/bin/env bash
# Regenerates tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq and rocksdb-lmq with the published rocketmq-store
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
# rocksdb-cq: plain queues; rocksdb-lmq: the same with enableLmq and light message queues.
for v in rocksdb-cq rocksdb-lmq; do
  arg=""; [ "$v" = rocksdb-lmq ] && arg=lmq
  TZ=UTC java -cp "$cp" rmqstore.v5.V5Rocks write "$tmp/$v" $arg >"$tmp/$v-write.log" 2>&1 || { cat "$tmp/$v-write.log"; exit 1; }
  cp -r "$tmp/$v/store" "$tmp/$v-copy"
  TZ=UTC java -cp "$cp" rmqstore.v5.V5Rocks read "$tmp/$v-copy" "$tmp/$v/reader.json" $arg >"$tmp/$v-read.log" 2>&1 || { cat "$tmp/$v-read.log"; exit 1; }
  dest="${1:-$repo/tests/fixtures/java/rocketmq-5.3.3}/$v"
  rm -rf "$dest"; mkdir -p "$dest"
  cp -r "$tmp/$v/store" "$tmp/$v/manifest.json" "$tmp/$v/reader.json" "$dest/"
  echo "wrote $dest"
done
