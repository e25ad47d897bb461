#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest part of bench/run --vm (runs inside tests/vm/run): provisions and removes vDPA devices
# (vdpa_sim_net), virtbus devices (vbus_sim) and SFs (vbus_sim's devlink) with one process per
# device (iproute2's vdpa and devlink; for virtbus, whose only other client is the test tool
# vbus-nl, one vbus-nl per device) and with one vbus process for all of them
# (`vbusctl --direct apply FILE --now`, then `apply` of an empty list --now), on the same
# kernel. Prints "BENCH CASE TOOL SECONDS COUNT" lines for bench/run to read; checks each
# step's result in sysfs so a fast failure cannot pass for a fast run.
# shellcheck source=../tests/vm/lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

# bench/run writes the sizes into the results dir (the harness passes no other environment).
# N_*: what vbusctl apply makes; N_*_LOOP: what the one-process-per-device loops make (a
# subset where the whole would not fit the run in TCG: bench/run extrapolates per device).
N_VDPA=200
N_VDPA_LOOP=200
N_VB=1000
N_VB_LOOP=200
# SFs: vbus_sim takes sfnum 0-1023. vbus's SF start is flat since the context keeps the
# ports and auxiliary devices it found (about 25 ms per SF at 100, 300 and 1 000 in TCG).
N_SF=1000
N_SF_LOOP=100
VB_PARENTS=4
# shellcheck disable=SC1091
[ -f "$VBUS_OUT/bench.env" ] && . "$VBUS_OUT/bench.env"
VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSNL=$VBUS_BUILD/tests/vm/client/vbus-nl
# The floor: the same kernel calls as vbus, in one process on one socket, nothing else.
NLLOOP=$VBUS_BUILD/bench/nl-loop
W=$VBUS_OUT/bench-work
# /etc/vbus on the filesystem a host keeps /etc on, ext4 (a loop device in the guest's RAM: the
# filesystem's journal and fsyncs, no disk's latency); the guest's own root is an overlay on
# the host's 9p share, whose every fsync is a round trip to the host. tmpfs when ext4 cannot
# be had. bench/run reports which ("BENCHFS").
mkdir -p /etc/vbus
etc_fs=tmpfs
if modprobe loop && modprobe ext4 && truncate -s 128M /dev/shm/etc-vbus.img &&
	mkfs.ext4 -q -F /dev/shm/etc-vbus.img && mount -o loop /dev/shm/etc-vbus.img /etc/vbus; then
	etc_fs="ext4 on a loop device in the guest's RAM"
else
	mount -t tmpfs -o mode=0755 tmpfs /etc/vbus
fi
echo "BENCHFS $etc_fs"
mkdir -p "$W" /etc/vbus/devices.d
echo '[]' >"$W/empty.json"

now() { date +%s.%N; }
# bench CASE TOOL T0 COUNT: one result line, seconds since T0.
bench() { echo "BENCH $1 $2 $(echo "$(now) - $3" | bc) $4"; }
# apply FILE: vbusctl in one process; its plan goes to a log, its failures to the console.
apply() { "$VBUSCTL" --direct apply "$1" --now >"$W/apply.$(basename "$1").log"; }

count_vdpa() { ls /sys/bus/vdpa/devices 2>/dev/null | wc -l; }
count_vb() { ls /sys/bus/virtbus/devices 2>/dev/null | wc -l; }
count_vb_bound() { ls /sys/bus/virtbus/drivers/vbus_sim_net 2>/dev/null | grep -c '^vbus_sim'; }
count_sf() { devlink port show 2>/dev/null | grep -c 'flavour pcisf'; }
count_sf_aux() { ls /sys/bus/auxiliary/devices 2>/dev/null | grep -c '\.sf\.'; }
count_defs() { ls /etc/vbus/devices.d | wc -l; }
mac() { printf '00:11:22:33:%02x:%02x' $(($1 / 256)) $(($1 % 256)); }

check "load our modules" load_kmod
# No vdpa bus driver (vhost_vdpa, virtio_vdpa) is loaded: devices stay unbound on both sides.
check "load vdpa_sim_net" load_fixture vdpa_sim_net
echo 1 >/sys/bus/vbus_sim/new_device
check "vbus_sim1 has a devlink instance" sh -c 'devlink dev show | grep -q vbus_sim/vbus_sim1'
# virtbus parents: vbus_sim2.. with room for N_VB net devices between them (8 by default).
per_parent=$(((N_VB + VB_PARENTS - 1) / VB_PARENTS))
for ((p = 2; p < 2 + VB_PARENTS; p++)); do
	echo $p >/sys/bus/vbus_sim/new_device
	echo "$per_parent" >/sys/kernel/debug/vbus_sim/vbus_sim$p/max_net
done
vbparent() { echo "vbus_sim/vbus_sim$((2 + $1 % VB_PARENTS))"; }

# One netlink socket per kind in one vbusctl process (not one per call or per device).
if command -v strace >/dev/null; then
	printf '[{"name":"k0","kind":"vdpa","parent":"vdpasim_net","driver":"none"},{"name":"k1","kind":"vdpa","parent":"vdpasim_net","driver":"none"}]' >"$W/k.json"
	strace -f -e trace=socket -o "$W/strace.log" "$VBUSCTL" --direct apply "$W/k.json" --now >/dev/null
	assert_eq "apply --now of 2 vdpa devices opens one netlink socket" 1 \
		"$(grep -c 'AF_NETLINK' "$W/strace.log")"
	"$VBUSCTL" --direct apply "$W/empty.json" --now >/dev/null
	assert_eq "the 2 vdpa devices are gone" 0 "$(count_vdpa)"
fi

# ---- vdpa ------------------------------------------------------------------------------------
t=$(now)
for ((i = 0; i < N_VDPA_LOOP; i++)); do vdpa dev add name p$i mgmtdev vdpasim_net; done
bench vdpa-add iproute2 "$t" "$N_VDPA_LOOP"
assert_eq "vdpa: iproute2 made $N_VDPA_LOOP devices" "$N_VDPA_LOOP" "$(count_vdpa)"
t=$(now)
for ((i = 0; i < N_VDPA_LOOP; i++)); do vdpa dev del p$i; done
bench vdpa-del iproute2 "$t" "$N_VDPA_LOOP"
assert_eq "vdpa: iproute2 removed them" 0 "$(count_vdpa)"
t=$(now)
"$NLLOOP" vdpa add vdpasim_net n "$N_VDPA"
bench vdpa-add nl-loop "$t" "$N_VDPA"
assert_eq "vdpa: the bare netlink loop made $N_VDPA devices" "$N_VDPA" "$(count_vdpa)"
t=$(now)
"$NLLOOP" vdpa del vdpasim_net n "$N_VDPA"
bench vdpa-del nl-loop "$t" "$N_VDPA"
assert_eq "vdpa: the bare netlink loop removed them" 0 "$(count_vdpa)"

{
	echo '['
	for ((i = 0; i < N_VDPA; i++)); do
		printf '%s{"name":"v%d","kind":"vdpa","parent":"vdpasim_net","driver":"none","start":"auto"}\n' \
			"$([ $i = 0 ] || echo ,)" $i
	done
	echo ']'
} >"$W/vdpa.json"
t=$(now)
apply "$W/vdpa.json"
bench vdpa-add vbusctl-apply "$t" "$N_VDPA"
assert_eq "vdpa: vbusctl apply --now made $N_VDPA devices" "$N_VDPA" "$(count_vdpa)"
assert_eq "vdpa: and $N_VDPA definitions" "$N_VDPA" "$(count_defs)"
t=$(now)
apply "$W/empty.json"
bench vdpa-del vbusctl-apply "$t" "$N_VDPA"
assert_eq "vdpa: vbusctl apply --now of [] removed them" 0 "$(count_vdpa)"
assert_eq "vdpa: and their definitions" 0 "$(count_defs)"

# ---- virtbus (vbus_sim parents; the net driver binds each device as it appears) ---------------
t=$(now)
for ((i = 0; i < N_VB_LOOP; i++)); do "$VBUSNL" dev-new "$(vbparent $i)" b$i net; done
bench virtbus-add vbus-nl "$t" "$N_VB_LOOP"
assert_eq "virtbus: vbus-nl made $N_VB_LOOP devices" "$N_VB_LOOP" "$(count_vb)"
assert_eq "virtbus: each bound to vbus_sim_net" "$N_VB_LOOP" "$(count_vb_bound)"
t=$(now)
for ((i = 0; i < N_VB_LOOP; i++)); do "$VBUSNL" dev-del "$(vbparent $i)" b$i; done
bench virtbus-del vbus-nl "$t" "$N_VB_LOOP"
assert_eq "virtbus: vbus-nl removed them" 0 "$(count_vb)"
vbparents=$(for ((p = 0; p < VB_PARENTS; p++)); do vbparent $p; done | paste -sd,)
t=$(now)
"$NLLOOP" vbus add "$vbparents" n "$N_VB" net
bench virtbus-add nl-loop "$t" "$N_VB"
assert_eq "virtbus: the bare netlink loop made $N_VB devices" "$N_VB" "$(count_vb)"
assert_eq "virtbus: each bound to vbus_sim_net" "$N_VB" "$(count_vb_bound)"
t=$(now)
"$NLLOOP" vbus del "$vbparents" n "$N_VB"
bench virtbus-del nl-loop "$t" "$N_VB"
assert_eq "virtbus: the bare netlink loop removed them" 0 "$(count_vb)"

{
	echo '['
	for ((i = 0; i < N_VB; i++)); do
		printf '%s{"name":"w%d","kind":"virtbus","parent":"%s","type":"net","driver":"host","start":"auto"}\n' \
			"$([ $i = 0 ] || echo ,)" $i "$(vbparent $i)"
	done
	echo ']'
} >"$W/virtbus.json"
t=$(now)
apply "$W/virtbus.json"
bench virtbus-add vbusctl-apply "$t" "$N_VB"
assert_eq "virtbus: vbusctl apply --now made $N_VB devices" "$N_VB" "$(count_vb)"
assert_eq "virtbus: each bound to vbus_sim_net" "$N_VB" "$(count_vb_bound)"
t=$(now)
apply "$W/empty.json"
bench virtbus-del vbusctl-apply "$t" "$N_VB"
assert_eq "virtbus: vbusctl apply --now of [] removed them" 0 "$(count_vb)"
assert_eq "virtbus: and their definitions" 0 "$(count_defs)"

# ---- sf (vbus_sim1's devlink instance: sfnum 0-1023) -------------------------------------------
# devlink port add prints the new port ("vbus_sim/vbus_sim1/7: type eth ... sfnum 3"): its
# handle is what port function set and port del take, as a script would use it.
ports=()
t=$(now)
for ((i = 1; i <= N_SF_LOOP; i++)); do
	out=$(devlink port add vbus_sim/vbus_sim1 flavour pcisf pfnum 0 sfnum $i)
	p=${out%%:*}
	ports+=("$p")
	devlink port function set "$p" hw_addr "$(mac $i)"
	devlink port function set "$p" state active
done
bench sf-add iproute2 "$t" "$N_SF_LOOP"
assert_eq "sf: devlink made $N_SF_LOOP ports" "$N_SF_LOOP" "$(count_sf)"
assert_eq "sf: and $N_SF_LOOP auxiliary devices" "$N_SF_LOOP" "$(count_sf_aux)"
t=$(now)
for p in "${ports[@]}"; do devlink port del "$p"; done
bench sf-del iproute2 "$t" "$N_SF_LOOP"
assert_eq "sf: devlink removed them" 0 "$(count_sf)"
assert_eq "sf: and their auxiliary devices" 0 "$(count_sf_aux)"
t=$(now)
"$NLLOOP" devlink add vbus_sim/vbus_sim1 1 "$N_SF"
bench sf-add nl-loop "$t" "$N_SF"
assert_eq "sf: the bare netlink loop made $N_SF ports" "$N_SF" "$(count_sf)"
assert_eq "sf: and $N_SF auxiliary devices" "$N_SF" "$(count_sf_aux)"
t=$(now)
"$NLLOOP" devlink del vbus_sim/vbus_sim1 1 "$N_SF"
bench sf-del nl-loop "$t" "$N_SF"
assert_eq "sf: the bare netlink loop removed them" 0 "$(count_sf)"
assert_eq "sf: and their auxiliary devices" 0 "$(count_sf_aux)"

{
	echo '['
	for ((i = 1; i <= N_SF; i++)); do
		printf '%s{"name":"s%d","kind":"sf","parent":"vbus_sim/vbus_sim1","index":%d,"attrs":[{"hw_addr":"%s"}],"start":"auto"}\n' \
			"$([ $i = 1 ] || echo ,)" $i $i "$(mac $i)"
	done
	echo ']'
} >"$W/sf.json"
t=$(now)
apply "$W/sf.json"
bench sf-add vbusctl-apply "$t" "$N_SF"
assert_eq "sf: vbusctl apply --now made $N_SF ports" "$N_SF" "$(count_sf)"
assert_eq "sf: and $N_SF auxiliary devices" "$N_SF" "$(count_sf_aux)"
t=$(now)
apply "$W/empty.json"
bench sf-del vbusctl-apply "$t" "$N_SF"
assert_eq "sf: vbusctl apply --now of [] removed them" 0 "$(count_sf)"
assert_eq "sf: and their auxiliary devices" 0 "$(count_sf_aux)"
assert_eq "sf: and their definitions" 0 "$(count_defs)"

finish
