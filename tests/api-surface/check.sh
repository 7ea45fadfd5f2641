#!/usr/bin/env bash
# The public API, seen from a crate that depends on rmqstore without the unstable `internals`
# feature: examples/public_api.rs and the repository's examples/embed.rs must build; every
# examples/gone_*.rs must FAIL to build with the error named on its first line (`// expect:`). If a removed path comes back, its
# example builds and this script fails. Type-checks only (`cargo check`), in the main target dir.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../../target/api-surface}"
# The main package's lock pins the versions this crate builds against.
cp ../../Cargo.lock Cargo.lock
cargo check --quiet --example public_api
cargo check --quiet --example embed
fail=0
for f in examples/gone_*.rs; do
    name="$(basename "$f" .rs)"
    want="$(sed -n '1s#^// expect: ##p' "$f")"
    if [ -z "$want" ]; then
        echo "api-surface: $f: no '// expect: ' first line" >&2
        fail=1
        continue
    fi
    if out="$(cargo check --quiet --example "$name" 2>&1)"; then
        echo "api-surface: $name BUILDS: the path it uses is public again" >&2
        fail=1
    elif grep -qF -- "$want" <<<"$out"; then
        echo "api-surface: $name: refused as expected ($want)"
    else
        echo "api-surface: $name failed, but not with '$want':" >&2
        echo "$out" >&2
        fail=1
    fi
done
rm -f Cargo.lock
exit $fail
