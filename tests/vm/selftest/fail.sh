#!/bin/bash
# Harness self-test, guest side: failures are counted and make the script exit 1.
# shellcheck source=../lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"
if pgrep -x sleep >/dev/null; then
	fail "the previous script's leftovers were killed"
else
	ok "the previous script's leftovers were killed"
fi
assert_eq "a deliberate mismatch" expected-value actual-value
expect_fail "expect_fail rejects a command that succeeds" '*' '' true
finish
