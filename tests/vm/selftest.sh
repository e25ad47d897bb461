#!/bin/bash
# Harness self-test on the host: one boot runs a passing, a failing, a crashing and a hanging
# script; tests/vm/run must exit 1 and report each one's status, log and the failing output.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/vbus-vm-selftest.XXXXXX")}
shift || true

n=0
failed=0
t() {
	n=$((n + 1))
	if eval "$2"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
	fi
}

rc=0
"$here/run" "$@" --out "$out" "$here/selftest/pass.sh" "$here/selftest/fail.sh" \
	--script-timeout 45 "$here/selftest/crash.sh" "$here/selftest/hang.sh" 2>"$out.stderr" || rc=$?
cat "$out.stderr"

t "run exits 1 when a script fails" '[ $rc = 1 ]'
t "status of pass.sh is 0" 'grep -qx "01-pass 0" "$out/status"'
t "status of fail.sh is 1" 'grep -qx "02-fail 1" "$out/status"'
t "status of crash.sh is 1" 'grep -qx "03-crash 1" "$out/status"'
t "pass.sh's checks all passed" 'grep -qx "5 passed, 0 failed" "$out/01-pass.log"'
t "the guest's write reached the host" 'grep -qx kept "$out/selftest-file"'
t "leftover processes were killed between scripts" \
	'grep -q "^ok 1 - the previous script" "$out/02-fail.log"'
t "fail.sh counted 2 failures" 'grep -qx "1 passed, 2 failed" "$out/02-fail.log"'
t "the mismatch detail is in the log" 'grep -q "expected: .expected-value." "$out/02-fail.log"'
t "crash.sh is reported as ending early" 'grep -q "^not ok 2 - script ended before finish" "$out/03-crash.log"'
t "hang.sh is killed by the script timeout (status 124)" 'grep -qx "04-hang 124" "$out/status"'
t "the timeout is written into its log" 'grep -q "killed after the script timeout of 45s" "$out/04-hang.log"'
t "the failing script's tail is printed" 'grep -q "actual:   .actual-value." "$out.stderr"'
t "passing scripts are named" 'grep -q "PASS 01-pass" "$out.stderr"'
t "timings has boot and four scripts" \
	'grep -q "^boot " "$out/timings" && [ "$(grep -c "^script " "$out/timings")" = 4 ]'
t "console.log and dmesg.log exist (the run ended in the guest)" '[ -s "$out/console.log" ] && [ -s "$out/dmesg.log" ]'

# qemu failing to start (here: no memory for the guest) must be a failure, not a crash of run.
rc=0
"$here/run" "$@" --out "$out/nomem" --mem 99999999999 "$here/selftest/pass.sh" \
	2>"$out/nomem.stderr" || rc=$?
t "a qemu that cannot start makes run exit 1" '[ $rc = 1 ]'
t "its script is reported as never finished" 'grep -qx "01-pass none" "$out/nomem/status"'
t "qemu's error is shown" 'grep -q "cannot set up guest memory" "$out/nomem.stderr"'

# A boot that hangs before stage 2 (the kernel's early boot; VBUS_VM_TEST_HANG_BOOTS makes
# stage 2 wait before it starts) is killed after VBUS_VM_BOOT_TIMEOUT and booted once more.
rc=0
VBUS_VM_BOOT_TIMEOUT=45 VBUS_VM_TEST_HANG_BOOTS=1 "$here/run" "$@" --out "$out/hang1" \
	"$here/selftest/pass.sh" 2>"$out/hang1.stderr" || rc=$?
t "a boot hung before stage 2 is booted again and its script passes" \
	'[ $rc = 0 ] && grep -qx "01-pass 0" "$out/hang1/status"'
t "the hung boot is named on stderr" \
	'grep -q "boot 1 did not reach stage 2 in 45s" "$out/hang1.stderr" &&
	 grep -q "booting again (attempt 2 of 2)" "$out/hang1.stderr"'
t "the hung boot's console is kept" \
	'grep -q "vbus_test_hang=1, waiting forever" "$out/hang1/console-boot1.log"'
# Two hung boots: run gives up; the script is reported as never run.
rc=0
VBUS_VM_BOOT_TIMEOUT=25 VBUS_VM_TEST_HANG_BOOTS=2 "$here/run" "$@" --out "$out/hang2" \
	"$here/selftest/pass.sh" 2>"$out/hang2.stderr" || rc=$?
t "two hung boots make run exit 1" '[ $rc = 1 ] && grep -qx "01-pass none" "$out/hang2/status"'
t "run says it gave up" 'grep -q "giving up after 2 boots" "$out/hang2.stderr"'

echo "$((n - failed)) passed, $failed failed"
[ $failed = 0 ]
