#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest part of bench/run --vm (runs inside tests/vm/run): provisions and removes vDPA devices
# (vdpa_sim_net) and SFs (vbus_sim's devlink) with iproute2 and with vbus, on the same kernel.
# Prints "BENCH CASE TOOL SECONDS COUNT" lines for bench/run to read; checks each step's
# result in sysfs so a fast failure cannot pass for a fast run.
# shellcheck source=../tests/vm/lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

# bench/run writes the sizes into the results dir (the harness passes no other environment).
N_VDPA=200
N_SF=100
# shellcheck disable=SC1091
[ -f "$VBUS_OUT/bench.env" ] && . "$VBUS_OUT/bench.env"
VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd

now() { date +%s.%N; }
# bench CASE TOOL T0 COUNT: one result line, seconds since T0.
bench() { echo "BENCH $1 $2 $(echo "$(now) - $3" | bc) $4"; }

count_vdpa() { ls /sys/bus/vdpa/devices 2>/dev/null | wc -l; }
count_sf() { devlink port show 2>/dev/null | grep -c 'flavour pcisf'; }

mkdir -p /etc/vbus/devices.d
check "load our modules" load_kmod
# No vdpa bus driver (vhost_vdpa, virtio_vdpa) is loaded: devices stay unbound on both sides.
check "load vdpa_sim_net" load_fixture vdpa_sim_net
echo 1 >/sys/bus/vbus_sim/new_device
check "vbus_sim1 has a devlink instance" sh -c 'devlink dev show | grep -q vbus_sim/vbus_sim1'

# ---- vdpa ------------------------------------------------------------------------------------
t=$(now)
for ((i = 0; i < N_VDPA; i++)); do vdpa dev add name p$i mgmtdev vdpasim_net; done
bench vdpa-add iproute2 "$t" "$N_VDPA"
assert_eq "vdpa: iproute2 made $N_VDPA devices" "$N_VDPA" "$(count_vdpa)"
t=$(now)
for ((i = 0; i < N_VDPA; i++)); do vdpa dev del p$i; done
bench vdpa-del iproute2 "$t" "$N_VDPA"
assert_eq "vdpa: iproute2 removed them" 0 "$(count_vdpa)"

t=$(now)
for ((i = 0; i < N_VDPA; i++)); do
	"$VBUSCTL" --direct create v$i --kind vdpa --parent vdpasim_net --driver none --transient \
		>/dev/null
done
bench vdpa-add vbusctl-loop "$t" "$N_VDPA"
assert_eq "vdpa: vbusctl made $N_VDPA devices" "$N_VDPA" "$(count_vdpa)"
t=$(now)
for ((i = 0; i < N_VDPA; i++)); do "$VBUSCTL" --direct stop v$i >/dev/null; done
bench vdpa-del vbusctl-loop "$t" "$N_VDPA"
assert_eq "vdpa: vbusctl removed them" 0 "$(count_vdpa)"

# One process, one netlink socket: vbusd starting every start:auto definition before READY=1.
for ((i = 0; i < N_VDPA; i++)); do
	printf '{ "version": 1, "name": "a%d", "kind": "vdpa", "parent": "vdpasim_net", "driver": "none", "start": "auto" }\n' \
		"$i" >/etc/vbus/devices.d/a$i.json
done
start_dbus "$VBUS_SRC/units" && ok "start dbus" || fail "start dbus"
runs=0
ready() { # vbusd until it serves (after its reconcile), then stopped; prints the seconds
	local t0 pid i=0 log
	runs=$((runs + 1))
	log=$VBUS_OUT/vbusd.$runs.log
	t0=$(now)
	"$VBUSD" --no-polkit >"$log" 2>&1 &
	pid=$!
	until grep -q 'serving org.vbus1' "$log"; do
		sleep 0.02
		i=$((i + 1))
		if [ $i -gt 15000 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "ready: vbusd not serving after $(echo "$(now) - $t0" | bc) s" >&2
			kill "$pid" 2>/dev/null
			echo FAIL
			return 1
		fi
	done
	echo "$(now) - $t0" | bc
	kill "$pid"
	wait "$pid"
}
full=$(ready)
echo "BENCH vdpa-add vbusd-reconcile $full $N_VDPA"
assert_eq "vdpa: vbusd made $N_VDPA devices" "$N_VDPA" "$(count_vdpa)"
t=$(now)
for ((i = 0; i < N_VDPA; i++)); do "$VBUSCTL" --direct remove a$i >/dev/null; done
bench vdpa-del vbusctl-loop-remove "$t" "$N_VDPA"
assert_eq "vdpa: vbusctl remove took them away" 0 "$(count_vdpa)"
empty=$(ready)
echo "BENCH vbusd-ready-empty vbusd $empty 0"

# ---- sf --------------------------------------------------------------------------------------
port_of() { devlink port show | awk -v n="$1" '$0 ~ "sfnum " n "( |$)" { sub(":$", "", $1); print $1 }'; }
t=$(now)
for ((i = 1; i <= N_SF; i++)); do
	devlink port add vbus_sim/vbus_sim1 flavour pcisf pfnum 0 sfnum $i >/dev/null
	p=$(port_of $i)
	devlink port function set "$p" hw_addr 00:11:22:33:$((i / 256 % 100)):$((i % 100))
	devlink port function set "$p" state active
done
bench sf-add iproute2 "$t" "$N_SF"
assert_eq "sf: devlink made $N_SF ports" "$N_SF" "$(count_sf)"
t=$(now)
for ((i = 1; i <= N_SF; i++)); do devlink port del "$(port_of $i)"; done
bench sf-del iproute2 "$t" "$N_SF"
assert_eq "sf: devlink removed them" 0 "$(count_sf)"

t=$(now)
for ((i = 1; i <= N_SF; i++)); do
	"$VBUSCTL" --direct create s$i --kind sf --parent vbus_sim/vbus_sim1 --index $i \
		--attr hw_addr=00:11:22:33:$((i / 256 % 100)):$((i % 100)) --transient >/dev/null
done
bench sf-add vbusctl-loop "$t" "$N_SF"
assert_eq "sf: vbusctl made $N_SF ports" "$N_SF" "$(count_sf)"
t=$(now)
for ((i = 1; i <= N_SF; i++)); do "$VBUSCTL" --direct stop s$i >/dev/null; done
bench sf-del vbusctl-loop "$t" "$N_SF"
assert_eq "sf: vbusctl removed them" 0 "$(count_sf)"

finish
