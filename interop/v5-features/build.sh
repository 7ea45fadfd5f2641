#!/usr/bin/env bash
# Resolves rocketmq-store 5.3.3 (as published on Maven Central) and compiles the driver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -s cp.txt ] || [ pom.xml -nt cp.txt ]; then
  mvn -q -B dependency:build-classpath -Dmdep.outputFile=cp.txt >/dev/null
fi
mkdir -p target/classes
javac --release 17 -nowarn -d target/classes -cp "$(cat cp.txt)" src/main/java/rmqstore/v5/*.java 2>&1 | grep -v '^Note:' || true
test -f target/classes/rmqstore/v5/V5Features.class
