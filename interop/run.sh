#!/usr/bin/env bash
# The Java-in-the-loop interop suite: builds the Maven drivers (Apache's published
# rocketmq-store jars; ~/.m2 is reused between runs), builds the Rust side, runs every case and
# ends with `N passed, N failed` (exit status non-zero on any failure). See README.md here.
#
#   interop/run.sh                 all cases: regression seeds plus INTEROP_GENERATED fresh seeds
#   interop/run.sh --only TEXT     only cases whose name contains TEXT
#   INTEROP_SEED=123 interop/run.sh    fresh seeds derived from 123 instead of the clock
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
command -v java >/dev/null || { echo "interop: java not found"; echo "0 passed, 1 failed"; exit 1; }
command -v mvn >/dev/null || { echo "interop: mvn not found"; echo "0 passed, 1 failed"; exit 1; }

mvn_flags=(-q -B)
# Offline when everything is already in ~/.m2 (much faster); online otherwise.
if ! mvn "${mvn_flags[@]}" -o -f "$here/pom.xml" package -DskipTests >/dev/null 2>&1; then
  mvn "${mvn_flags[@]}" -f "$here/pom.xml" package -DskipTests
fi

java_args=()
for v in 4.6.0 4.9.8 5.3.3; do
  mod="$here/rocketmq-$v/target"
  java_args+=(--java "$v=$mod/classes:$(cat "$mod/classpath.txt")")
done

cd "$root"
cargo build --release --quiet --example interop_suite --bin rmqstore
# A passing case removes its folder; a failing one leaves it (stores, mixes, Java logs) here.
work="${INTEROP_WORK:-$(mktemp -d -t rmqstore-interop.XXXXXX)}"
echo "interop: work folder $work"
exec_status=0
"$root/target/release/examples/interop_suite" --work "$work" "${java_args[@]}" \
  --seeds "$here/regression-seeds.txt" --generated "${INTEROP_GENERATED:-6}" "$@" || exec_status=$?
exit $exec_status
