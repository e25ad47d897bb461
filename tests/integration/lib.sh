# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the integration tests (run.sh, events.sh, stacks.sh, select.sh, retries.sh): their
# arguments, a scratch directory, TAP helpers, a private system bus with the real org.vbus1
# policy, and vbusd started on it over $ROOT. Source it first, then call args.

T=$(mktemp -d /tmp/vbus-integration.XXXXXX)
chmod 755 "$T"
ROOT=$T/root
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/bus
DBUS_PID=
VBUSD_PID=
MON_PID=
POLKIT_PID=
n=0
failed=0

EXTRA_PIDS=
cleanup() {
	for p in $EXTRA_PIDS $MON_PID $POLKIT_PID $VBUSD_PID $DBUS_PID; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# args NAME... -- ARG...: each NAME (the test's usage line, SRC among them: the source tree)
# is set to its ARG as an absolute path; a missing one is a usage error.
args() {
	local names=() name
	while [ "$1" != -- ]; do
		names+=("$1")
		shift
	done
	shift
	for name in "${names[@]}"; do
		if [ $# -eq 0 ]; then
			echo "Usage: $0 ${names[*]}" >&2
			exit 2
		fi
		printf -v "$name" '%s' "$(realpath "$1")"
		shift
	done
}

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do
		echo "# $l"
	done
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		not_ok "$what" "command: $*" "${out//$'\n'/$'\n'# }"
	fi
}

as_nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}

vbusctl() {
	"$VBUSCTL" "$@"
}

alive() {
	kill -0 "$VBUSD_PID" 2>/dev/null && busctl status org.vbus1 >/dev/null 2>&1
}

# Starts vbusd and waits for READY=1 on a notify socket of our own (Type=notify).
start_vbusd() {
	rm -f "$T/notify" "$T/ready"
	python3 - "$T/notify" "$T/ready" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
try:
    while True:
        msg = s.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            open(sys.argv[2], "w").write(msg)
            break
except socket.timeout:
    pass
PY
	local listener=$!
	for _ in $(seq 100); do
		[ -S "$T/notify" ] && break
		sleep 0.05
	done
	NOTIFY_SOCKET=$T/notify "${1:-$VBUSD}" --root "$ROOT" --log-level=debug >>"$T/vbusd.log" 2>&1 &
	VBUSD_PID=$!
	wait "$listener"
	[ -f "$T/ready" ]
}

# The private system bus: dbus-daemon with bus.conf.in (the shipped policy of org.vbus1).
start_bus() {
	sed -e "s|@SOCKET@|$T/bus|" -e "s|@UNITS@|$SRC/units|" "$SRC/tests/integration/bus.conf.in" \
		>"$T/bus.conf"
	dbus-daemon --config-file="$T/bus.conf" --nofork --print-address=3 3>"$T/address" \
		2>"$T/dbus.log" &
	DBUS_PID=$!
	for _ in $(seq 100); do
		[ -s "$T/address" ] && break
		sleep 0.05
	done
}

# wait_check WHAT SECONDS CMD...: CMD succeeds within SECONDS.
wait_check() {
	local what=$1 end=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			not_ok "$what" "still failing after the wait: $*"
			return
		fi
		sleep 0.1
	done
	ok "$what"
}

# The bus, then vbusd (the fake kernel's, $VBUSD) reading fake uevents from $T/uevents (write
# "ACTION SUBSYSTEM SYSNAME" lines there): the first check; the run ends when it fails.
start_fake_vbusd() {
	mkfifo "$T/uevents"
	export VBUSD_FAKE_UEVENTS=$T/uevents
	start_bus
	if start_vbusd; then
		ok "vbusd (fake kernel) is ready"
	else
		not_ok "vbusd (fake kernel) is ready" "$(cat "$T/vbusd.log")"
		finish
	fi
}

# The closing lines of a TAP run: the end of vbusd's log when something failed.
finish() {
	if [ "$failed" != 0 ]; then
		echo "# vbusd log:"
		sed 's/^/# /' "$T/vbusd.log" | tail -40
	fi
	echo "1..$n"
	exit $((failed > 0))
}
