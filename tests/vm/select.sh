#!/bin/bash
# Templates against real kernel code (issue 19): a count and a fill of mtty mdevs, with the
# uuids derived from the definition and the parent; selectors that bind qemu's e1000e (a pci
# template) and make and bind every VF of qemu's NVMe (a vf template with count "fill"); each
# through apply --now and undone by an empty apply --now; a count and a fill of vbus_sim's virtbus
# types, a count of SFs on each vbus_sim devlink instance and of vDPA devices on vdpa_sim_net,
# whose names and sfnums stay the same across a reload of vbus_sim, and which vbusd makes again
# by itself when a vbus_sim parent comes back. Needs tests/vm/run --nvme-sriov.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
ctl() { "$VBUSCTL" --direct "$@"; }
drv() { # the driver a sysfs device is bound to, or "none"
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo none; fi
}
# v5 NAME: the uuid vbus derives for NAME ("TEMPLATE/PARENT/I"), computed here by Python.
v5() {
	python3 -c 'import sys, uuid
ns = uuid.UUID("6f3c1b52-9a7e-4d21-8b0e-5c43a1d92764")
print(uuid.uuid5(ns, sys.argv[1]))' "$1"
}
mdevs() { find /sys/bus/mdev/devices -mindepth 1 -maxdepth 1 | wc -l; }
avail() { cat "/sys/class/mdev_bus/mtty/mdev_supported_types/$1/available_instances"; }

mkdir -p /etc/vbus/devices.d
check "load mtty" load_fixture mtty
check "load nvme, vfio-pci and e1000e" modprobe -a nvme vfio_pci e1000e
dmesg_mark

# ---- count and fill on mtty -----------------------------------------------------------------
a1=$(avail mtty-1)
a2=$(avail mtty-2)
note "mtty offers mtty-1: $a1, mtty-2: $a2"
cat >/tmp/count.json <<'EOF'
[ { "name": "tty", "kind": "mdev", "parent": "mtty", "type": "mtty-1", "count": 3 } ]
EOF
check "count 3: apply --now" ctl apply /tmp/count.json --now
assert_eq "count 3: three mdevs exist" 3 "$(mdevs)"
for i in 0 1 2; do
	assert_exists "count 3: device $i has the uuid of tty/mtty/$i" \
		"/sys/bus/mdev/devices/$(v5 "tty/mtty/$i")"
done
assert_eq "count 3: mtty-1's available_instances went down by 3" $((a1 - 3)) "$(avail mtty-1)"
assert_eq "count 3: list --defined shows the three, active" "3 3" \
	"$(ctl -j list --defined | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(len(d), sum(1 for o in d if o["active"] and o["template"] == "tty"))')"

cat >/tmp/fill.json <<'EOF'
[ { "name": "fill", "kind": "mdev", "parent": "mtty", "type": "mtty-2", "count": "fill" } ]
EOF
check "fill: apply --now replaces the count" ctl apply /tmp/fill.json --now
assert_eq "fill: the count's mdevs are gone" no \
	"$([ -e "/sys/bus/mdev/devices/$(v5 tty/mtty/0)" ] && echo yes || echo no)"
n=$(mdevs)
note "fill made $n mtty-2 devices"
assert_eq "fill: as many as mtty-2 offered ($a2)" "$a2" "$n"
assert_eq "fill: nothing of mtty-2 is left" 0 "$(avail mtty-2)"
assert_eq "fill: still $a2 definitions now that none is available" "$a2" \
	"$(ctl -j list --defined | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"
assert_exists "fill: the last one has the uuid of fill/mtty/$((a2 - 1))" \
	"/sys/bus/mdev/devices/$(v5 "fill/mtty/$((a2 - 1))")"
check "fill: apply --now again changes nothing" ctl apply /tmp/fill.json --now
assert_eq "fill: still $a2 mdevs" "$a2" "$(mdevs)"

# ---- selectors: the e1000e (pci) and the NVMe's VFs (vf, fill) ------------------------------
nic= pf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10d3 ] && nic=${d##*/}
	[ -f "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] && pf=${d##*/}
done
note "e1000e $nic, SR-IOV NVMe $pf ($(cat "/sys/bus/pci/devices/$pf/vendor"):$(cat \
	"/sys/bus/pci/devices/$pf/device"), $(cat "/sys/bus/pci/devices/$pf/sriov_totalvfs") VFs)"
assert_eq "pci: the e1000e starts on e1000e" e1000e "$(drv "/sys/bus/pci/devices/$nic")"
cat >/tmp/sel.json <<'EOF'
[ { "name": "nic", "kind": "pci", "select": { "vendor": "8086", "device": "10d3" },
    "driver": "vfio" },
  { "name": "nvmevf", "kind": "vf", "select": { "vendor": "1b36", "device": "0010" },
    "count": "fill", "driver": "vfio" } ]
EOF
check "selectors: apply --dry-run names each device" \
	sh -c "$VBUSCTL --direct apply /tmp/sel.json --dry-run | grep -q '^device *nic-$nic ' &&
		$VBUSCTL --direct apply /tmp/sel.json --dry-run | grep -q '^device *nvmevf-$pf-1 '"
check "selectors: apply --now" ctl apply /tmp/sel.json --now
assert_eq "pci: the e1000e is on vfio-pci" vfio-pci "$(drv "/sys/bus/pci/devices/$nic")"
total=$(cat "/sys/bus/pci/devices/$pf/sriov_totalvfs")
assert_eq "vf: every VF of the NVMe was made" "$total" \
	"$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")"
for ((i = 0; i < total; i++)); do
	vf=$(basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn$i")")
	assert_eq "vf: VF $i ($vf) is on vfio-pci" vfio-pci "$(drv "/sys/bus/pci/devices/$vf")"
done

# ---- all undone -----------------------------------------------------------------------------
echo '[]' >/tmp/none.json
check "an empty apply --now" ctl apply /tmp/none.json --now
assert_eq "the mtty mdevs are gone" 0 "$(mdevs)"
assert_eq "the e1000e is back on e1000e" e1000e "$(drv "/sys/bus/pci/devices/$nic")"
assert_eq "the NVMe's VFs are gone" 0 "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")"

# ---- count and fill on vbus_sim's virtbus types; counts of SFs and vDPA devices --------------
vdevs() { # the virtbus devices the kernel has, by sysfs name, on one line
	find /sys/bus/virtbus/devices -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '
}
sims() { # vbus_sim1 and vbus_sim2, vbus_sim1's blk holding 3 (debugfs max_blk)
	echo 1 >/sys/bus/vbus_sim/new_device && echo 2 >/sys/bus/vbus_sim/new_device &&
		echo 3 >/sys/kernel/debug/vbus_sim/vbus_sim1/max_blk
}
MD=/sys/bus/virtbus/mgmtdevs
check "load vbus.ko and vbus_sim" load_kmod
check "vbus_sim1 and vbus_sim2" sims
assert_eq "vbus_sim1 offers 3 blk" 3 "$(cat $MD/vbus_sim:vbus_sim1/types/blk/available_instances)"
for m in vdpa_sim_net vhost_vdpa; do
	check "load $m" load_fixture $m
done
# sfnums 20 and 21 on each vbus_sim devlink instance; 2 vDPA devices on vdpa_sim_net
sfs() { devlink port show | grep -oE 'vbus_sim/vbus_sim[0-9]+/[0-9]+: .*sfnum 2[01]' |
	sed -E 's,/[0-9]+: .*sfnum, sfnum,' | sort | tr '\n' ' '; }
want_sf="vbus_sim/vbus_sim1 sfnum 20 vbus_sim/vbus_sim1 sfnum 21 vbus_sim/vbus_sim2 sfnum 20 \
vbus_sim/vbus_sim2 sfnum 21 "
cat >/tmp/vb.json <<'EOF'
[ { "name": "vn", "kind": "virtbus", "parent": "vbus_sim/*", "type": "net", "count": 2 },
  { "name": "vb", "kind": "virtbus", "parent": "vbus_sim/vbus_sim1", "type": "blk",
    "count": "fill", "driver": "vbus_sim_blk" },
  { "name": "sfs", "kind": "sf", "parent": "vbus_sim/*", "count": 2, "index": 20 },
  { "name": "vq", "kind": "vdpa", "parent": "vdpasim_*", "type": "net", "count": 2,
    "driver": "vfio" } ]
EOF
want="vbus_sim1.vb-vbus_sim_vbus_sim1-0 vbus_sim1.vb-vbus_sim_vbus_sim1-1 \
vbus_sim1.vb-vbus_sim_vbus_sim1-2 vbus_sim1.vn-vbus_sim_vbus_sim1-0 \
vbus_sim1.vn-vbus_sim_vbus_sim1-1 vbus_sim2.vn-vbus_sim_vbus_sim2-0 \
vbus_sim2.vn-vbus_sim_vbus_sim2-1 "
check "virtbus: apply --dry-run names each device" \
	sh -c "$VBUSCTL --direct apply /tmp/vb.json --dry-run | grep -q '^device *vn-vbus_sim_vbus_sim2-1 ' &&
		$VBUSCTL --direct apply /tmp/vb.json --dry-run | grep -q '^device *vb-vbus_sim_vbus_sim1-2 '"
check "virtbus: apply --now" ctl apply /tmp/vb.json --now
assert_eq "virtbus: 2 net on each parent, 3 blk (fill) on vbus_sim1, named from the templates" \
	"$want" "$(vdevs)"
assert_eq "virtbus: fill took all of vbus_sim1's blk" 0 \
	"$(cat $MD/vbus_sim:vbus_sim1/types/blk/available_instances)"
assert_eq "virtbus: a blk device is on vbus_sim_blk" vbus_sim_blk \
	"$(drv /sys/bus/virtbus/devices/vbus_sim1.vb-vbus_sim_vbus_sim1-2)"
assert_eq "virtbus: 7 definitions, active (fill stands for 3 with none available)" \
	7 "$(ctl -j list --defined | python3 -c 'import json, sys
print(sum(1 for o in json.load(sys.stdin) if o["kind"] == "virtbus" and o["active"]))')"
assert_eq "sf: sfnums 20 and 21 on each vbus_sim instance" "$want_sf" "$(sfs)"
for i in 0 1; do
	assert_eq "vdpa: vq-vdpasim_net-$i is on vhost_vdpa" vhost_vdpa \
		"$(drv /sys/bus/vdpa/devices/vq-vdpasim_net-$i)"
done
check "virtbus: apply --now again changes nothing" ctl apply /tmp/vb.json --now
assert_eq "virtbus: the same devices" "$want" "$(vdevs)"
# vbus_sim goes and comes back (its devices go with it): the same names are made again
check "virtbus: vbus_sim unloaded" sh -c 'echo 1 >/sys/bus/vbus_sim/del_device &&
	echo 2 >/sys/bus/vbus_sim/del_device && rmmod vbus_sim_drv vbus_sim'
assert_eq "virtbus: no virtbus device is left" "" "$(vdevs)"
check "virtbus: vbus_sim loaded again" load_kmod
check "virtbus: vbus_sim1 and vbus_sim2 again" sims
check "virtbus: apply --now after the reload" ctl apply /tmp/vb.json --now
assert_eq "virtbus: the same names as before the reload" "$want" "$(vdevs)"
assert_eq "sf: the same sfnums after the reload" "$want_sf" "$(sfs)"
# vbusd follows the parents: vbus_sim2 deleted and made again gets the templates' devices back
check "start udev" start_udev
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
"$VBUS_BUILD/daemon/vbusd" >"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd owns org.vbus1" 20 busctl --system call org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1
check "vbusd: vbus_sim2 deleted" sh -c 'echo 2 >/sys/bus/vbus_sim/del_device'
assert_absent "vbusd: vbus_sim2's devices went with it" \
	/sys/bus/virtbus/devices/vbus_sim2.vn-vbus_sim_vbus_sim2-0
check "vbusd: vbus_sim2 made again" sh -c 'echo 2 >/sys/bus/vbus_sim/new_device'
wait_for "vbusd: made vbus_sim2's net devices and SFs 20, 21 again, as the templates say" 30 \
	sh -c 'test -e /sys/bus/virtbus/devices/vbus_sim2.vn-vbus_sim_vbus_sim2-0 &&
		test -e /sys/bus/virtbus/devices/vbus_sim2.vn-vbus_sim_vbus_sim2-1 &&
		[ "$(devlink port show | grep -c "^vbus_sim/vbus_sim2/.*sfnum 2[01]")" = 2 ]'
assert_eq "vbusd: the same devices as before" "$want" "$(vdevs)"
assert_eq "vbusd: the same SFs as before" "$want_sf" "$(sfs)"
kill "$vbusd_pid"
wait "$vbusd_pid"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
check "virtbus: an empty apply --now" ctl apply /tmp/none.json --now
assert_eq "virtbus: every device of the templates is gone" "" "$(vdevs)"
assert_eq "sf: the template's SFs are gone" "" "$(sfs)"
assert_eq "vdpa: the template's vDPA devices are gone" "" \
	"$(find /sys/bus/vdpa/devices -mindepth 1 -maxdepth 1 -name 'vq-*')"

dmesg_clean
finish
