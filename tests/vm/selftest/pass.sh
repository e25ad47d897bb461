#!/bin/bash
# Harness self-test, guest side: the helpers report passes and the script exits 0.
# shellcheck source=../lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"
assert_eq "the guest runs KVER" "$KVER" "$(uname -r)"
assert_eq "cwd is VBUS_OUT" "$VBUS_OUT" "$PWD"
echo kept >"$VBUS_OUT/selftest-file"
assert_file_contains "results share takes writes" "$VBUS_OUT/selftest-file" '^kept$'
expect_fail "expect_fail sees status and message" 1 "No such file" cat /nonexistent
check "a background process may be left running" sh -c 'sleep 1000 >/dev/null 2>&1 &'
finish
