#!/usr/bin/env bash
# The 5.x feature interop suite: Java 5.3.3 (the published rocketmq-store jar) against rmqstore.
#  1. the committed fixtures, read by rmqstore (batch CQ, LMQ, timer, epoch with the broker
#     identity files, compaction topics);
#  2. fresh stores the 5.3.3 jar writes now, read by the same tests;
#  3. the same inputs through rmqstore in 5.x mode give Java's LMQ consume queues and batch
#     consume queues byte for byte (committed and fresh stores);
#  4. stores rmqstore writes in 5.x mode (CRC property; LMQ multi-dispatch; batch consume queue
#     with inner batches; timers; the confirm offset), loaded and read by the 5.3.3 jar;
#  5. the batch consume queue on rmqstore's put path and in `rmqstore rebuild`, against the
#     committed and the fresh batchcq stores;
#  6. the same timer queue (committed and fresh) enqueued by rmqstore gives Java's timer log and
#     wheel byte for byte.
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
cargo test --no-run --test v5_fixtures --test v5_compaction --test v5_java --test v5_lmq_write --test v5_bcq_write --test v5_timer_write >"$log/cargo-build.log" 2>&1 || true
cargo test --no-run --test v5_bcq_put --test v5_bcq_rebuild >>"$log/cargo-build.log" 2>&1 || true
run committed-fixtures cargo test -q --test v5_fixtures --test v5_compaction
run java-writes-fresh-stores "$here/gen-fixtures.sh" "$fresh"
run fresh-stores-read-by-rmqstore env RMQSTORE_V5_FIXTURE_ROOT="$fresh" cargo test -q --test v5_fixtures --test v5_compaction
run rmqstore-rewrites-committed-lmq-batchcq cargo test -q --test v5_lmq_write --test v5_bcq_write
run rmqstore-rewrites-fresh-lmq-batchcq env RMQSTORE_V5_FIXTURE_ROOT="$fresh" cargo test -q --test v5_lmq_write --test v5_bcq_write
run rmqstore-enqueues-committed-timers cargo test -q --test v5_timer_write
run rmqstore-enqueues-fresh-timers env RMQSTORE_V5_FIXTURE_ROOT="$fresh" cargo test -q --test v5_timer_write enqueue_writes_the_timer_log_and_wheel_java_wrote
run java-reads-rmqstore-5x-stores cargo test -q --test v5_java -- --ignored
run rmqstore-batchcq-put-rebuild-committed cargo test -q --test v5_bcq_put --test v5_bcq_rebuild
run rmqstore-batchcq-put-fresh env RMQSTORE_V5_FIXTURE_ROOT="$fresh" cargo test -q --test v5_bcq_put
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
