#!/usr/bin/env bash
# The RocksDB consume-queue interop suite (5.x storeType=defaultRocksDB): Java 5.3.3's
# RocksDBMessageStore against rmqstore built with --features rocksdb, which loads RocksDB from
# the same rocketmq-rocksdb jar Java uses (RMQSTORE_ROCKSDB_LIB, default: ~/.m2).
#  1. the committed fixtures read by rmqstore (every unit vs. Java's manifest and getMessage):
#     rocksdb-cq, and rocksdb-lmq (enableLmq: light-message-queue copies are units too);
#  2. fresh stores the 5.3.3 jar writes now, read by the same tests;
#  3. `rmqstore rebuild --out` of the committed and the fresh stores: Java 5.3.3 loads the
#     regenerated RocksDB consume queue and answers exactly as for its own (reader.json equal),
#     light message queues included.
# Ends with "N passed, N failed"; exit status 0 only if nothing failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
passed=0
failed=0
run() {
  local name="$1"; shift
  if "$@" >"$log/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok      $name"
  else
    failed=$((failed + 1)); echo "FAILED  $name (log: $log/$name.log)"; tail -n 30 "$log/$name.log"
  fi
}
log="$(mktemp -d)"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
cd "$repo"
if ! "$here/build.sh" >"$log/build.log" 2>&1; then
  echo "FAILED  build (log: $log/build.log)"; tail -n 30 "$log/build.log"
  echo "0 passed, 1 failed"; exit 1
fi
cargo build -q --features rocksdb --bin rmqstore >"$log/cargo-build.log" 2>&1 || true
cargo test --no-run -q --features rocksdb --test v5_rocksdb --test v5_rocksdb_cli >>"$log/cargo-build.log" 2>&1 || true
cp="$here/target/classes:$(cat "$here/cp.txt")"
# rmqstore rebuild --out of FIXTURE_DIR/store, loaded by Java; its answers must equal reader.json.
java_reads_rebuild() {
  local fx="$1" variant="${2:-}" work
  work="$(mktemp -d)"
  target/debug/rmqstore rebuild "$fx/store" --out "$work/out" &&
    target/debug/rmqstore verify "$work/out" &&
    TZ=UTC java -cp "$cp" rmqstore.v5.V5Rocks read "$work/out" "$work/reader.json" $variant &&
    cmp "$work/reader.json" "$fx/reader.json"
  local rc=$?
  rm -rf "$work"
  return $rc
}
run committed-fixture cargo test -q --features rocksdb --test v5_rocksdb --test v5_rocksdb_cli
run java-writes-fresh-store "$here/gen-rocksdb-fixture.sh" "$fresh"
run fresh-store-read-by-rmqstore env RMQSTORE_V5_FIXTURE_ROOT="$fresh" cargo test -q --features rocksdb --test v5_rocksdb
run java-reads-rebuilt-committed java_reads_rebuild "$repo/tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq"
run java-reads-rebuilt-fresh java_reads_rebuild "$fresh/rocksdb-cq"
run java-reads-rebuilt-committed-lmq java_reads_rebuild "$repo/tests/fixtures/java/rocketmq-5.3.3/rocksdb-lmq" lmq
run java-reads-rebuilt-fresh-lmq java_reads_rebuild "$fresh/rocksdb-lmq" lmq
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
