#!/bin/bash
# Builds vbus (with the kernel modules) and runs every test suite: unit, integration and vm.
# Usage: tools/test.sh [BUILDDIR] [meson test args...]   (default build dir: build-test)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-test}
shift || true

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --native-file "$src/tools/dev.ini" -Dkmod=true -Dvm-tests=enabled -Ddra=enabled
fi
meson compile -C "$build"

rc=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || rc=$?

# One closing line for people and CI: counted from meson's own log.
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
