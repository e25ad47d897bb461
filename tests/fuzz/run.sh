#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer targets in a clang build dir of their own (ASan+UBSan, fuzzer coverage
# on the whole library) and runs each from its seed corpus for FUZZ_SECONDS (default 60, the smoke run issue 8 asks for).
# A crash, a leak, undefined behaviour or a timeout fails the target. TAP output, with the
# executions of each run. Usage: run.sh SRCDIR BUILDDIR [TARGET...]
# The long run: FUZZ_SECONDS=3600 tests/fuzz/run.sh . build-fuzz (results in tests/fuzz/README.md).
set -u

SRC=$(realpath "$1")
BUILD=$2
shift 2
SECONDS_EACH=${FUZZ_SECONDS:-60}
all=(fuzz-def-json fuzz-store fuzz-policy fuzz-import fuzz-bus-def
	fuzz-netlink-vdpa fuzz-netlink-sf fuzz-netlink-virtbus)
targets=("$@")
[ $# -gt 0 ] || targets=("${all[@]}")
n=0
failed=0

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" "$SRC" \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
		-Dkmod=false -Dvm-tests=disabled >"$BUILD.setup.log" 2>&1 || {
		echo "not ok 1 - configure the clang fuzz build"
		sed 's/^/# /' "$BUILD.setup.log" | tail -20
		echo "1..1"
		exit 1
	}
fi
if ! out=$(meson compile -C "$BUILD" "${targets[@]}" 2>&1); then
	echo "not ok 1 - build the fuzz targets"
	echo "${out//$'\n'/$'\n'# }" | tail -30
	echo "1..1"
	exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
	n=$((n + 1))
	exe=$BUILD/tests/fuzz/$t
	seeds=$SRC/tests/fuzz/corpus/${t#fuzz-}
	work=$BUILD/tests/fuzz/corpus-$t
	mkdir -p "$work"
	log=$BUILD/tests/fuzz/$t.log
	# -error_exitcode: any finding (crash, leak, UB) ends the target with status 77, which
	# counts as a failure here (never a skip); -timeout: a hang is a finding too.
	"$exe" -max_total_time="$SECONDS_EACH" -error_exitcode=77 -timeout=20 -rss_limit_mb=2048 \
		-max_len=8192 -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$BUILD/tests/fuzz/$t-" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc = 0 ]; then
		echo "ok $n - $t: $execs executions in ${SECONDS_EACH}s, no finding ($cov, corpus $(ls "$work" | wc -l))"
	else
		failed=$((failed + 1))
		echo "not ok $n - $t: exit $rc after $execs executions"
		grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$log" | head -30 | sed 's/^/# /'
		ls "$BUILD/tests/fuzz/$t-"* 2>/dev/null | grep -v "\.log$" | sed 's/^/# artifact: /'
	fi
done
echo "1..$n"
exit $((failed > 0))
