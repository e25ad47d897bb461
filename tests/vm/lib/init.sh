#!/bin/bash
# vbus VM stage 2 (PID 1 after switch_root into the host root): mounts, runs the scripts, powers off.
set -u

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=${TERM:-linux}

arg() {
	tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n1
}

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
}
# PID 1 must never exit: the kernel would panic instead of powering off.
trap poweroff_now EXIT

out=$(arg vbus_out)

mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/dbus /run/lock /run/udev

# A fresh /tmp would hide host paths below it (mktemp results dirs, build dirs, caches):
# keep a handle on the host's /tmp and bind those back after the tmpfs is mounted.
mkdir -p /run/vbus-hosttmp
mount --bind /tmp /run/vbus-hosttmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp

bind_host_tmp() {
	local p=$1
	case $p in
	/tmp/*) ;;
	*) return 0 ;;
	esac
	mountpoint -q "$p" && return 0
	mkdir -p "$p"
	mount --bind "/run/vbus-hosttmp/${p#/tmp/}" "$p"
}

# The results share goes to a fixed place first (it holds the environment), then to $out.
mkdir -p /run/vbus-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vbusout /run/vbus-out || {
	echo "init: cannot mount the results share"
	exit 1
}
# tests/vm/run's self-test of its boot watchdog (VBUS_VM_TEST_HANG_BOOTS): a boot that hangs.
if [ "$(arg vbus_test_hang)" = 1 ]; then
	echo "init: vbus_test_hang=1, waiting forever"
	sleep infinity
fi
read -r boot _ </proc/uptime
echo "boot $boot" >/run/vbus-out/timings

# shellcheck source=/dev/null
. /run/vbus-out/.harness/env
mapfile -t scripts </run/vbus-out/.harness/scripts
# Parents before children, so a later bind does not cover an earlier one.
for p in $(printf '%s\n' "$VBUS_SRC" "$VBUS_BUILD" "$VBUS_KMOD_DIR" "$VBUS_FIXTURES" \
	"${scripts[@]%/*}" | awk NF | sort -u); do
	bind_host_tmp "$p"
done
case $out in
/tmp/*) mkdir -p "$out" ;;
esac
mount --bind /run/vbus-out "$out"

hostname vbus-vm
ip link set lo up 2>/dev/null
# modprobe in the guest uses the host's /lib/modules; make sure it knows the running kernel.
[ "$(uname -r)" = "$KVER" ] || echo "init: guest runs $(uname -r), expected $KVER"
dmesg -n 4 2>/dev/null

if [ "${VM_SYSTEMD:-0}" = 1 ]; then
	# --systemd: systemd becomes PID 1 here and runs the scripts from a unit; does not return.
	# shellcheck source=systemd.sh
	. "${0%/*}/systemd.sh"
fi

n=0
for s in "${scripts[@]}"; do
	[ -n "$s" ] || continue
	n=$((n + 1))
	name=$(printf '%02d-%s' "$n" "$(basename "$s" .sh)")
	echo "=== $name ($s)" >/dev/console
	read -r t0 _ </proc/uptime
	# Each script runs in its own session in $VBUS_OUT; stdout+stderr go to its log and the console.
	(cd "$VBUS_OUT" && exec setsid timeout -k 5 "$VM_SCRIPT_TIMEOUT" bash "$s") </dev/null 2>&1 |
		tee "$out/$name.log" >/dev/console
	st=${PIPESTATUS[0]}
	if [ "$st" = 124 ] || [ "$st" = 137 ]; then
		echo "# vm: killed after the script timeout of ${VM_SCRIPT_TIMEOUT}s" | tee -a "$out/$name.log"
	fi
	read -r t1 _ </proc/uptime
	echo "$st" >"$out/$name.status"
	echo "script $name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $st" >>"$out/timings"
	echo "=== $name: status $st" >/dev/console
	# Kill what a script left running so the next one starts clean (udevd, dbus-daemon, ...):
	# kill(-1) from PID 1 reaches every process but us.
	kill -KILL -1 2>/dev/null
	sleep 0.2
done

dmesg >"$out/dmesg.log" 2>&1
sync

if [ "$VM_SHELL" = 1 ]; then
	echo "vbus-vm: interactive shell; environment from $out/.harness/env; exit powers off"
	# ttyS0, not /dev/console: the shell needs a controlling terminal for job control and ^C.
	(cd "$VBUS_OUT" && exec setsid -c -w bash -i <>/dev/ttyS0 >&0 2>&0)
fi
exit 0
