#!/usr/bin/env bash
# Regenerates tests/fixtures/java/rocketmq-5.3.3/{batchcq,lmq,timer,epoch,compaction} with the published
# rocketmq-store 5.3.3 jar. The timer wheel (a fixed 38,707,200-byte file, mostly zeros) is
# committed gzip-compressed as store/timerwheel.gz; tests unpack it into their copy of the store.
# Usage: gen-fixtures.sh [DEST_ROOT [FEATURE...]]   (default: the repo's tests/fixtures/java/rocketmq-5.3.3,
# every feature: batchcq lmq timer epoch compaction)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
"$here/build.sh"
cp="$here/target/classes:$(cat "$here/cp.txt")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
features="${*:2}"
for f in ${features:-batchcq lmq timer epoch compaction}; do
  TZ=UTC java -cp "$cp" rmqstore.v5.V5Features write "$f" "$tmp/$f" >"$tmp/$f.log" 2>&1
  cp -r "$tmp/$f/store" "$tmp/$f.copy"
  TZ=UTC java -cp "$cp" rmqstore.v5.V5Features read "$f" "$tmp/$f.copy" "$tmp/$f/reader.json" >>"$tmp/$f.log" 2>&1
  if [ -f "$tmp/$f/store/timerwheel" ]; then gzip -9n "$tmp/$f/store/timerwheel"; fi
  dest="${1:-$repo/tests/fixtures/java/rocketmq-5.3.3}/$f"
  rm -rf "$dest"; mkdir -p "$dest"
  cp -r "$tmp/$f/store" "$tmp/$f/manifest.json" "$tmp/$f/reader.json" "$dest/"
  echo "wrote $dest"
done
