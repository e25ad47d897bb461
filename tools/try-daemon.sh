#!/bin/bash
# Try vbusd without touching the machine: a private dbus-daemon (the real org.vbus1 policy) and
# the fake-kernel vbusd of the tests (mdevs appear when created) on a scratch copy of the fake
# host tests/data/host-mixed, as tests/integration does it. Builds first when needed.
#
# Usage: tools/try-daemon.sh [BUILDDIR]         start; Ctrl-C stops both
#        tools/try-daemon.sh start [BUILDDIR]   start in the background and return
#        tools/try-daemon.sh stop               stop what start started
# BUILDDIR defaults to build/ (configured with `meson setup` when missing). Every start begins
# from a fresh copy of the tree; the state lives in /tmp/vbus-try. Needs root (the bus policy
# lets only root own org.vbus1, and only root may change definitions without polkit).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
state=/tmp/vbus-try
mode=foreground
case ${1:-} in
start) mode=background; shift ;;
stop) mode=stop; shift ;;
-h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
build=${1:-$src/build}

say() { echo "try-daemon: $*" >&2; }

stop() {
	local p
	for p in vbusd dbus; do
		if [ -f "$state/$p.pid" ]; then
			kill "$(cat "$state/$p.pid")" 2>/dev/null || true
			rm -f "$state/$p.pid"
		fi
	done
}

if [ "$mode" = stop ]; then
	if [ -f "$state/vbusd.pid" ] || [ -f "$state/dbus.pid" ]; then
		stop
		say "stopped vbusd and its dbus-daemon"
	else
		say "nothing to stop"
	fi
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	say "run it as root (only root may own org.vbus1 and change definitions on this bus)"
	exit 1
fi

if [ ! -f "$build/build.ninja" ]; then
	say "configuring $build"
	meson setup "$build" "$src" >/dev/null
fi
meson compile -C "$build" vbusctl vbusd-fake-kernel >/dev/null ||
	{ say "build failed (meson compile -C $build)"; exit 1; }
vbusd=$build/tests/integration/vbusd-fake-kernel
vbusctl=$build/cli/vbusctl
# As the user would type it from here.
rel=$(realpath --relative-to=. "$vbusctl")
[[ $rel == ../* ]] || vbusctl=$rel
[ -x "$vbusd" ] || { say "$vbusd was not built (needs libsystemd-dev)"; exit 1; }

# A fresh start: whatever a previous start left is stopped and thrown away.
stop
rm -rf "$state"
mkdir -p "$state"
cp -a "$src/tests/data/host-mixed" "$state/root"
rm -f "$state/root/etc/vbus/devices.d/broken.json"
sed -e "s|@SOCKET@|$state/bus|" -e "s|@UNITS@|$src/units|" \
	"$src/tests/integration/bus.conf.in" >"$state/bus.conf"

setsid dbus-daemon --config-file="$state/bus.conf" --nofork --print-address=3 \
	3>"$state/address" >"$state/dbus.log" 2>&1 </dev/null &
echo $! >"$state/dbus.pid"
for _ in $(seq 100); do
	[ -s "$state/address" ] && break
	sleep 0.05
done
[ -s "$state/address" ] || { say "dbus-daemon did not start: $(cat "$state/dbus.log")"; stop; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$state/bus

setsid "$vbusd" --root "$state/root" >"$state/vbusd.log" 2>&1 </dev/null &
echo $! >"$state/vbusd.pid"
for _ in $(seq 200); do
	busctl status org.vbus1 >/dev/null 2>&1 && break
	if ! kill -0 "$(cat "$state/vbusd.pid")" 2>/dev/null; then
		say "vbusd exited: $(cat "$state/vbusd.log")"
		stop
		exit 1
	fi
	sleep 0.05
done
busctl status org.vbus1 >/dev/null 2>&1 || { say "vbusd did not take org.vbus1"; stop; exit 1; }

cat <<EOF
vbusd (fake kernel) is on a private system bus over the fake host $state/root.
Use it from a shell with:

  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS
  $vbusctl parents

Logs: $state/vbusd.log. Stop: tools/try-daemon.sh stop$([ "$mode" = foreground ] && echo " (or Ctrl-C here)").
EOF

if [ "$mode" = foreground ]; then
	trap 'stop; echo; say "stopped"; exit 0' INT TERM
	trap stop EXIT
	# Until Ctrl-C, or until either one goes away.
	while kill -0 "$(cat "$state/vbusd.pid" 2>/dev/null || echo 0)" 2>/dev/null &&
		kill -0 "$(cat "$state/dbus.pid" 2>/dev/null || echo 0)" 2>/dev/null; do
		sleep 1
	done
	say "vbusd or dbus-daemon went away (see $state/vbusd.log)"
fi
