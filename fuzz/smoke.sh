#!/usr/bin/env bash
# Fuzz smoke run for CI: builds every cargo-fuzz target and runs each for a few seconds from its
# committed seeds (fuzz/seeds/<target>/), failing on any crash, panic, timeout or leak.
#
# Needs cargo-fuzz; when it is missing this installs it from crates.io (`cargo install
# cargo-fuzz --locked`, about 1-2 minutes on 2 cores, once per machine). The targets need
# nightly compiler flags (-Zsanitizer); on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# The build itself (address sanitizer, debug assertions so integer overflow panics) takes
# about a minute; the runs SECONDS_PER_TARGET (default 5) each.
#
# Usage: fuzz/smoke.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-5}"
shift || true
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O -a
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for t in "${targets[@]}"; do
    # A scratch corpus, so the committed seeds are read but never added to.
    mkdir -p "$work/$t" "artifacts/$t"
    log="$work/$t.log"
    if cargo fuzz run -O -a "$t" "$work/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
        echo "fuzz smoke $t: ok ($(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1))"
        passed=$((passed + 1))
    else
        echo "fuzz smoke $t: FAILED" >&2
        tail -40 "$log" >&2
        failed=$((failed + 1))
    fi
done
echo "fuzz smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
