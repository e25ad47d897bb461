#!/bin/bash
# Harness self-test, guest side: a script that exits before finish is a failure.
# shellcheck source=../lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"
ok "one check"
exit 0
