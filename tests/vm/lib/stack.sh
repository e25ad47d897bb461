# shellcheck shell=bash
# Helpers of the SF/vDPA stack scripts (stack-sf.sh, stack-kill.sh): the kernel's view of
# vbus_sim's SFs and the vDPA devices on them. Source after guest.sh.

# lap WHAT: seconds since the last lap, as a note (bash's clock: no fork).
vm_lap=$EPOCHREALTIME
lap() {
	note "$1: $(awk -v a="$vm_lap" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
	vm_lap=$EPOCHREALTIME
}

drv() { # the driver a sysfs device is bound to, or "none"
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo none; fi
}

sf_aux() { # SFNUM -> the SF's auxiliary device (vbus_sim.sf.N), or nothing
	local d
	for d in /sys/bus/auxiliary/devices/vbus_sim.sf.*; do
		[ "$(cat "$d/sfnum" 2>/dev/null)" = "$1" ] && echo "${d##*/}" && return 0
	done
	return 1
}

port_of() { # SFNUM -> devlink port handle (vbus_sim/vbus_sim1/I)
	devlink port show | awk -v s="sfnum $1" 'index($0, s) { sub(":$", "", $1); print $1; exit }'
}

vhost_of() { # vDPA DEVICE -> its vhost-vdpa-N, or nothing
	local d
	for d in "/sys/bus/vdpa/devices/$1"/vhost-vdpa-*; do
		[ -e "$d" ] && echo "${d##*/}" && return 0
	done
	return 1
}

vdpa_mgmt() { # vDPA DEVICE -> its management device as `vdpa dev show` names it
	vdpa dev show "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "mgmtdev") print $(i + 1) }'
}
