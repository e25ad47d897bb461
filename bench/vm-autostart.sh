#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest part of bench/run's case 9 (runs inside tests/vm/run, before bench/vm.sh in the same
# boot when both cases run): N start:auto mdev definitions started when their parent appears, in
# Debian's kernel, in turn these ways, each repeated REPS times with the mdevs removed in between:
#   floor    bench/create-loop writing the N UUIDs to the type's `create`: the kernel's own cost
#            (device_add, the mdev driver's probe, sysfs, uevents), charged to the writer;
#   mdevctl  `mdevctl start-parent-mdevs PARENT` (what its udev rule runs when the parent
#            registers) with the N definitions in /etc/mdevctl.d, exec to exit (the writes to
#            `create` are synchronous: every mdev exists when it exits);
#   vbusd    vbusd running under systemd-udevd with the N definitions in /etc/vbus, from the
#            exec of `insmod PARENT.ko` until all N exist, then until vbusd is idle again;
#   vbusd-fam the same with the vdpa and vbus genl families present (vdpa.ko and vbus.ko
#            loaded): vbusd tries to join the families it does not follow yet on every uevent,
#            and each failed lookup makes the kernel run modprobe (request_module).
# Prints "AUTOBENCH PARENT N ROW REP WALL_S CPU_S GUEST_CPU_S" lines for bench/run to read (CPU_S:
# the process's user+sys for floor and mdevctl, vbusd's and dbus-daemon's for vbusd; GUEST_CPU_S:
# every CPU of the guest, /proc/stat, until udev has settled, vbusd idle again) and checks every
# result in sysfs, so a fast failure cannot pass for a fast run.
# shellcheck source=../tests/vm/lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

# PARENT:MODULE:TYPE:N:REPS[:MODULE ARGS]. mtty has MAX_MTTYS = 24 ports, fixed at build time
# (mtty-1 takes one). mbochs gives each mbochs-small 4 MB of its `count` module parameter (in
# MB; its pages are allocated when a guest maps them, not at create), so its N is what the
# parameter says (500 would be the size of case 2; 100 keeps the run in bounds in TCG). (mdpy's `count` is a parameter too, but each mdpy
# create vmallocs and zeroes its framebuffer, 1.2 MB or more: a floor no other parent has.)
AUTO_SETS=${AUTO_SETS:-"mtty:mtty:mtty-1:24:5 mbochs:mbochs:mbochs-small:100:3:count=400"}
# vbusd idle again: its CPU time and dbus-daemon's still for QUIET_S, IDLE_MAX_S at most (then
# reported as not reached: -1).
QUIET_S=0.5
IDLE_MAX_S=${IDLE_MAX_S:-90}
# shellcheck disable=SC1091
[ -f "$VBUS_OUT/bench.env" ] && . "$VBUS_OUT/bench.env"
VBUSD=$VBUS_BUILD/daemon/vbusd
CREATE_LOOP=$VBUS_BUILD/bench/create-loop
W=$VBUS_OUT/auto-work
mkdir -p "$W"

# Both tools' definitions on tmpfs (read at the event, never written during it).
mkdir -p /etc/vbus /etc/mdevctl.d
mount -t tmpfs -o mode=0755 tmpfs /etc/vbus
mount -t tmpfs -o mode=0755 tmpfs /etc/mdevctl.d
mkdir -p /etc/vbus/devices.d /etc/vbus/policy.d
# What the mdevctl package installs there (mdevctl refuses to run without it).
mkdir -p /etc/mdevctl.d/scripts.d/callouts /etc/mdevctl.d/scripts.d/notifiers
# mdevctl's own udev rule runs `mdevctl start-parent-mdevs` when a parent with definitions in
# /etc/mdevctl.d registers: masked, so that only the row being measured starts anything.
mkdir -p /etc/udev/rules.d
ln -sf /dev/null /etc/udev/rules.d/60-mdevctl.rules

# No forks in what is timed: $EPOCHREALTIME, /proc read with builtins, a sleep on a pipe.
mkfifo "$VM_STATE/nap"
exec {SLEEPFD}<>"$VM_STATE/nap"
nap() { read -r -t "$1" -u "$SLEEPFD" || true; }
sched_ns() { local a; read -r a _ <"/proc/$1/schedstat"; echo "$a"; }
# guest_ticks: busy clock ticks of every CPU (user nice system irq softirq steal; USER_HZ).
guest_ticks() {
	local u n s q sq st
	# cpu user nice system idle iowait irq softirq steal ...
	read -r _ u n s _ _ q sq st _ </proc/stat
	echo $((u + n + s + q + sq + st))
}
secs() { awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { printf "%.4f", (b - a) / d }'; }
report() { echo "AUTOBENCH $*"; }

mdevs() {
	local a
	shopt -s nullglob
	a=(/sys/bus/mdev/devices/*)
	shopt -u nullglob
	echo ${#a[@]}
}
# bound DRIVER: how many mdevs are bound to DRIVER (the parent's mdev driver).
bound() {
	local n=0 d
	for d in /sys/bus/mdev/devices/*/driver; do
		[ "$(basename "$(readlink "$d")")" = "$1" ] && n=$((n + 1))
	done
	echo $n
}
uuid_of() { printf '6d0f5c1e-0000-4000-8000-%012x' "$1"; }

# timed CMD...: runs CMD as a child; T_WALL and T_CPU (its user+sys from getrusage, through the
# `times` of the subshell it runs in), T_RC its status.
timed() {
	local t0 out c1 c2 cu cs
	t0=$EPOCHREALTIME
	out=$(
		"$@" >"$W/cmd.out" 2>"$W/cmd.err"
		echo $?
		times
	)
	T_WALL=$(secs "$t0" "$EPOCHREALTIME")
	T_RC=$(sed -n 1p <<<"$out")
	read -r cu cs <<<"$(sed -n 3p <<<"$out")"
	# "0m1.234s 0m0.567s"
	c1=$(awk -v t="$cu" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]); print a[1] * 60 + a[2] }')
	c2=$(awk -v t="$cs" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]); print a[1] * 60 + a[2] }')
	T_CPU=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.4f", a + b }')
}

settle() { udevadm settle --timeout=120; }

check "start udev" start_udev
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
DBUS_PID=$(pgrep -x dbus-daemon | head -n1)
VBUSD_PID=

# AUTO_DEBUG=1 (tests/vm/run --env): vbusd logs at debug level, each line stamped with the
# guest's $EPOCHREALTIME, and `udevadm monitor` records the events (for a look, not for numbers).
AUTO_DEBUG=${AUTO_DEBUG:-0}
if [ "$AUTO_DEBUG" = 1 ]; then
	mkfifo "$VM_STATE/vbusd.log"
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done \
		<>"$VM_STATE/vbusd.log" >>"$W/vbusd.log" 2>/dev/null &
	DEBUG_PIDS="$!"
	udevadm monitor --kernel --udev --property >"$W/udev-monitor.log" 2>&1 &
	DEBUG_PIDS="$DEBUG_PIDS $!"
fi

vbusd_start() {
	rm -rf /run/vbus
	if [ "$AUTO_DEBUG" = 1 ]; then
		"$VBUSD" --log-level=debug >"$VM_STATE/vbusd.log" 2>&1 &
	else
		"$VBUSD" >>"$W/vbusd.log" 2>&1 &
	fi
	VBUSD_PID=$!
	local i
	for ((i = 0; i < 600; i++)); do
		busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus GetNameOwner s org.vbus1 >/dev/null 2>&1 && return 0
		nap 0.1
	done
	return 1
}

vbusd_stop() {
	kill -TERM "$VBUSD_PID" 2>/dev/null
	wait "$VBUSD_PID"
	local st=$?
	VBUSD_PID=
	return $st
}

# wait_idle PID...: until the CPU time of the PIDs has not moved for QUIET_S; echoes the
# $EPOCHREALTIME of its last move, or -1 after IDLE_MAX_S.
wait_idle() {
	local last=-1 cur p t_last=$EPOCHREALTIME t0=$EPOCHREALTIME
	while :; do
		if awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$IDLE_MAX_S" 'BEGIN { exit !(b - a > m) }'; then
			echo -1
			return 1
		fi
		cur=0
		for p in "$@"; do cur=$((cur + $(sched_ns "$p"))); done
		if [ "$cur" != "$last" ]; then
			last=$cur
			t_last=$EPOCHREALTIME
		elif awk -v a="$t_last" -v b="$EPOCHREALTIME" -v q="$QUIET_S" 'BEGIN { exit !(b - a >= q) }'; then
			echo "$t_last"
			return 0
		fi
		nap 0.05
	done
}

for set in $AUTO_SETS; do
	IFS=: read -r P MOD TYPE N REPS MODARGS <<<"$set"
	ko=$VBUS_FIXTURES/$MOD.ko
	# Its dependencies (vfio, mdev) once, so that what is timed loads the parent's module alone.
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do modprobe "$dep"; done
	# shellcheck disable=SC2086 # MODARGS: none or one word
	load() { insmod "$ko" $MODARGS; }
	unload() { rmmod "$MOD" && settle; }
	check "$P: load $MOD${MODARGS:+ $MODARGS}" load
	settle
	create=/sys/class/mdev_bus/$P/mdev_supported_types/$TYPE/create
	assert_exists "$P: the type $TYPE exists" "$create"
	avail=$(cat "/sys/class/mdev_bus/$P/mdev_supported_types/$TYPE/available_instances")
	assert_eq "$P: $TYPE has room for exactly N=$N" "$N" "$avail"
	unload

	# The same N definitions for both tools; the mdevs' UUIDs for the floor.
	rm -f /etc/vbus/devices.d/* "$W/uuids.$P"
	mkdir -p "/etc/mdevctl.d/$P"
	for ((i = 0; i < N; i++)); do
		u=$(uuid_of $i)
		echo "$u" >>"$W/uuids.$P"
		printf '{"version":1,"name":"m%05d","kind":"mdev","parent":"%s","type":"%s","uuid":"%s","driver":"auto","start":"auto"}\n' \
			$i "$P" "$TYPE" "$u" >"/etc/vbus/devices.d/m$(printf %05d $i).json"
		printf '{"mdev_type":"%s","start":"auto","attrs":[]}\n' "$TYPE" >"/etc/mdevctl.d/$P/$u"
	done
	assert_eq "$P: $N vbus definitions" "$N" "$(ls /etc/vbus/devices.d | wc -l)"
	assert_eq "$P: $N mdevctl definitions" "$N" "$(ls "/etc/mdevctl.d/$P" | wc -l)"

	# One row of one repetition; the parent's module is not loaded before nor after.
	row_floor() {
		local t0=$EPOCHREALTIME g0
		load
		report "$P" "$N" insmod "$1" "$(secs "$t0" "$EPOCHREALTIME")" 0 0
		settle
		g0=$(guest_ticks)
		timed "$CREATE_LOOP" "$create" "$W/uuids.$P"
		settle
		report "$P" "$N" floor "$1" "$T_WALL" "$T_CPU" "$(secs "$g0" "$(guest_ticks)" 100)"
		assert_eq "$P rep $1 floor: the loop made $N mdevs (status $T_RC)" "$N/0" "$(mdevs)/$T_RC"
		unload
	}
	row_mdevctl() {
		local g0
		load
		settle
		g0=$(guest_ticks)
		timed mdevctl start-parent-mdevs "$P"
		settle
		report "$P" "$N" mdevctl "$1" "$T_WALL" "$T_CPU" "$(secs "$g0" "$(guest_ticks)" 100)"
		assert_eq "$P rep $1 mdevctl: start-parent-mdevs made $N mdevs (status $T_RC)" "$N/0" \
			"$(mdevs)/$T_RC"
		[ "$T_RC" = 0 ] || cat "$W/cmd.err"
		unload
	}
	# vbusd-fam: vbusd with the genl families it looks for present.
	row_vbusdfam() {
		check "$P rep $1 vbusd-fam: load vdpa.ko and vbus.ko" sh -c \
			'insmod "$VBUS_FIXTURES/vdpa.ko" && insmod "$VBUS_KMOD_DIR/vbus.ko"' ||
			return 1
		ROW=vbusd-fam row_vbusd "$1"
		rmmod vbus vdpa
	}
	row_vbusd() {
		local t0 t1 t2 c0 c1 c2 g0 n row=${ROW:-vbusd}
		if ! vbusd_start; then
			fail "$P rep $1 vbusd: starts and owns org.vbus1" "$(tail -n 20 "$W/vbusd.log")"
			return 1
		fi
		wait_idle "$VBUSD_PID" "$DBUS_PID" >/dev/null
		g0=$(guest_ticks)
		c0=$(($(sched_ns "$VBUSD_PID") + $(sched_ns "$DBUS_PID")))
		t0=$EPOCHREALTIME
		[ "$AUTO_DEBUG" = 1 ] && echo "# insmod at $t0"
		check "$P rep $1 $row: load $MOD" load || return 1
		# Until all N exist, 10 ms polls (a glob: no fork), 300 s at most.
		while n=$(mdevs) && [ "$n" -lt "$N" ]; do
			awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 300) }' && break
			nap 0.01
		done
		t1=$EPOCHREALTIME
		c1=$(($(sched_ns "$VBUSD_PID") + $(sched_ns "$DBUS_PID")))
		t2=$(wait_idle "$VBUSD_PID" "$DBUS_PID")
		c2=$(($(sched_ns "$VBUSD_PID") + $(sched_ns "$DBUS_PID")))
		settle
		report "$P" "$N" "$row" "$1" "$(secs "$t0" "$t1")" "$(secs "$c0" "$c1" 1e9)" \
			"$(secs "$g0" "$(guest_ticks)" 100)"
		if [ "$t2" = -1 ]; then
			report "$P" "$N" "$row-idle" "$1" -1 -1 0
		else
			report "$P" "$N" "$row-idle" "$1" "$(secs "$t0" "$t2")" "$(secs "$c0" "$c2" 1e9)" 0
		fi
		assert_eq "$P rep $1 $row: $N mdevs, each bound to $MOD" "$N/$N" "$(mdevs)/$(bound "$MOD")"
		vbusd_stop
		assert_eq "$P rep $1 $row: exits 0 on SIGTERM" 0 $?
		unload
	}

	for ((rep = 0; rep < REPS; rep++)); do
		rows=(floor mdevctl vbusd vbusd-fam)
		k=$((rep % ${#rows[@]}))
		for row in "${rows[@]:k}" "${rows[@]:0:k}"; do
			"row_${row//-/}" "$rep"
		done
	done
	rm -rf "/etc/mdevctl.d/$P"
done

# What this script started goes, so that bench/vm.sh finds the guest as it was.
udevadm control --exit
kill "$DBUS_PID"
umount /etc/vbus /etc/mdevctl.d
# shellcheck disable=SC2086
[ -n "${DEBUG_PIDS:-}" ] && kill $DEBUG_PIDS
check "vbusd logged no error" sh -c "! grep -Eq '^([0-9.]+ )?<[0-3]>|Sanitizer|runtime error' '$W/vbusd.log'"
dmesg_clean
finish
