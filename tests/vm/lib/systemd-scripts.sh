#!/bin/bash
# tests/vm/run --systemd: the scripts, run from vbus-vm-scripts.service under systemd as PID 1
# (set up by lib/systemd.sh). Same results as lib/init.sh's loop: NN-name.log, NN-name.status,
# timings; plus journal.log (the whole boot's journal) and the uptime at which systemd started
# this unit ("systemd S" in timings).
set -u

read -r up _ </proc/uptime
# shellcheck source=/dev/null
. /run/vbus-out/.harness/env
out=$VBUS_OUT
echo "systemd $up" >>"$out/timings"
mapfile -t scripts <"$out/.harness/scripts"

n=0
for s in "${scripts[@]}"; do
	[ -n "$s" ] || continue
	n=$((n + 1))
	name=$(printf '%02d-%s' "$n" "$(basename "$s" .sh)")
	echo "=== $name ($s)" >/dev/console
	read -r t0 _ </proc/uptime
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
	# What a script started as units stays (systemd owns it); what it left running in this
	# unit's cgroup goes, so the next one starts clean.
	for p in $(cat "/sys/fs/cgroup$(cut -d: -f3 </proc/self/cgroup)/cgroup.procs" 2>/dev/null); do
		[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
	done
done

journalctl -b --no-pager -o short-monotonic >"$out/journal.log" 2>&1
dmesg >"$out/dmesg.log" 2>&1
sync

if [ "$VM_SHELL" = 1 ]; then
	echo "vbus-vm: interactive shell under systemd; environment from $out/.harness/env; exit powers off"
	(cd "$VBUS_OUT" && exec setsid -c -w bash -i <>/dev/ttyS0 >&0 2>&0)
fi
sync
echo o >/proc/sysrq-trigger
sleep 10
