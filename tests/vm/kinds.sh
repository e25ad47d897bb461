#!/bin/bash
# Every kind against real kernel code: vbusctl creates, binds, lists, rebinds, stops, starts and
# removes an mdev (mtty), a VF and a PCI function (qemu's NVMe SR-IOV, an e1000e), an SF
# (vbus_sim's devlink), a vDPA device (vdpa_sim_net) and a virtbus device (vbus_sim), checking
# sysfs at each step; then vbusd brings start:auto definitions up when their parents appear.
# Needs tests/vm/run --nvme-sriov.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
ctl() { "$VBUSCTL" --direct "$@"; }

# jfield NAME KEY: KEY of NAME in `vbusctl -j list --all` (empty when null or absent).
jfield() {
	ctl -j list --all "$1" | python3 -c '
import json, sys
key = sys.argv[1]
for o in json.load(sys.stdin):
    v = o.get(key)
    print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))
    break' "$2"
}

# expect_state WHAT NAME ACTIVE DRIVER: what vbusctl reports (the sysfs side is checked apart).
expect_state() {
	assert_eq "$1: list -j says active=$3" "$3" "$(jfield "$2" active)"
	[ "$3" = true ] && assert_eq "$1: list -j says bound_driver=$4" "$4" "$(jfield "$2" bound_driver)"
	return 0
}

drv() { # the driver a sysfs device is bound to, or "none"
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo none; fi
}

defined() { [ -f "/etc/vbus/devices.d/$1.json" ]; }

mkdir -p /etc/vbus/devices.d
check "load our modules" load_kmod
check "load mtty" load_fixture mtty
for m in vdpa_sim_net vhost_vdpa virtio_vdpa; do
	check "load $m" load_fixture $m
done
check "load nvme and vfio-pci" modprobe -a nvme vfio_pci
dmesg_mark

# ---- mdev ----------------------------------------------------------------------------------
check "mdev: create m1 on mtty type mtty-2" ctl create m1 --kind mdev --parent mtty --type mtty-2
uuid=$(jfield m1 uuid)
assert_exists "mdev: /sys/bus/mdev/devices/UUID exists" "/sys/bus/mdev/devices/$uuid"
assert_link_target "mdev: its type is mtty-2" "/sys/bus/mdev/devices/$uuid/mdev_type" mtty-2
expect_state mdev m1 true mtty
check "mdev: definition file written" defined m1
check "mdev: stop m1" ctl stop m1
assert_absent "mdev: stopped, the mdev is gone" "/sys/bus/mdev/devices/$uuid"
expect_state mdev m1 false
check "mdev: start m1 again" ctl start m1
assert_exists "mdev: back with the same UUID" "/sys/bus/mdev/devices/$uuid"
expect_fail "mdev: assigning a driver that cannot take it fails" 1 "m1" ctl assign m1 vfio-pci
assert_link_target "mdev: still bound to mtty after the refused assign" \
	"/sys/bus/mdev/devices/$uuid/driver" mtty
expect_fail "mdev: a type mtty does not offer is refused" 1 "mtty-9" \
	ctl define m9 --kind mdev --parent mtty --type mtty-9
check "mdev: remove m1" ctl remove m1
assert_absent "mdev: removed, the mdev is gone" "/sys/bus/mdev/devices/$uuid"
check "mdev: removed, no definition left" sh -c '! test -e /etc/vbus/devices.d/m1.json'

# ---- vf: SR-IOV VFs of the emulated NVMe -------------------------------------------------------
pf=
for d in /sys/bus/pci/devices/*; do
	[ -f "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] && pf=${d##*/} && break
done
assert_eq "vf: an SR-IOV PF is present" yes "$([ -n "$pf" ] && echo yes || echo no)"
P=/sys/bus/pci/devices/$pf
check "vf: parents lists the PF as a vf parent" sh -c "$VBUSCTL --direct -j parents $pf | grep -q '\"kind\": *\"vf\"'"
check "vf: create vf1 (index 1, vfio)" ctl create vf1 --kind vf --parent "$pf" --index 1 --driver vfio
assert_eq "vf: sriov_numvfs is 2" 2 "$(cat $P/sriov_numvfs)"
vf=$(basename "$(readlink -f $P/virtfn1)")
assert_eq "vf: virtfn1 is bound to vfio-pci" vfio-pci "$(drv /sys/bus/pci/devices/$vf)"
group=$(basename "$(readlink -f /sys/bus/pci/devices/$vf/iommu_group)")
assert_exists "vf: /dev/vfio/$group exists" "/dev/vfio/$group"
expect_state vf vf1 true vfio-pci
check "vf: assign vf1 none" ctl assign vf1 none
assert_eq "vf: virtfn1 is unbound" none "$(drv /sys/bus/pci/devices/$vf)"
check "vf: assign vf1 vfio" ctl assign vf1 vfio
assert_eq "vf: virtfn1 is bound to vfio-pci again" vfio-pci "$(drv /sys/bus/pci/devices/$vf)"
check "vf: stop vf1" ctl stop vf1
assert_eq "vf: stopped, vbus made the VFs so it removed them" 0 "$(cat $P/sriov_numvfs)"
check "vf: start vf1" ctl start vf1
assert_eq "vf: started, virtfn1 bound to vfio-pci" vfio-pci \
	"$(drv "/sys/bus/pci/devices/$(basename "$(readlink -f $P/virtfn1)")")"
expect_fail "vf: index beyond sriov_totalvfs is refused" 1 "$pf" \
	ctl define vf9 --kind vf --parent "$pf" --index 9
check "vf: remove vf1" ctl remove vf1
assert_eq "vf: removed, sriov_numvfs back to 0" 0 "$(cat $P/sriov_numvfs)"

# ---- pci: the e1000e, given to vfio-pci and back ----------------------------------------------
nic=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10d3 ] && nic=${d##*/} && break
done
modprobe e1000e
N=/sys/bus/pci/devices/$nic
# define takes a driver name only when start could load it: a driver on the bus, or a module of
# the running kernel (ixgbe: in its modules.dep, never loaded here, no such NIC).
assert_absent "pci: ixgbe is not loaded" /sys/bus/pci/drivers/ixgbe
check "pci: define with --driver ixgbe (a module of the running kernel) is taken" \
	ctl define nicdrv --kind pci --parent "$nic" --driver ixgbe --manual
check "pci: undefine nicdrv" ctl undefine nicdrv
expect_fail "pci: define with --driver ixgbf (neither a driver nor a module) is refused" 1 \
	"no driver \"ixgbf\" for pci devices (none in /sys/bus/pci/drivers and no module of that name for kernel $(uname -r)" \
	ctl define nicbad --kind pci --parent "$nic" --driver ixgbf
assert_eq "pci: the e1000e starts with its host driver" e1000e "$(drv $N)"
check "pci: create nic0 (vfio)" ctl create nic0 --kind pci --parent "$nic" --driver vfio
assert_eq "pci: bound to vfio-pci" vfio-pci "$(drv $N)"
assert_eq "pci: driver_override is vfio-pci" vfio-pci "$(cat $N/driver_override)"
expect_state pci nic0 true vfio-pci
check "pci: stop nic0" ctl stop nic0
assert_eq "pci: stopped, back with e1000e" e1000e "$(drv $N)"
assert_exists "pci: stopping never removes the function" "$N"
check "pci: start nic0" ctl start nic0
assert_eq "pci: started, vfio-pci again" vfio-pci "$(drv $N)"
check "pci: remove nic0" ctl remove nic0
assert_eq "pci: removed, e1000e has it" e1000e "$(drv $N)"

# ---- sf: vbus_sim's devlink instance --------------------------------------------------------
echo 1 >/sys/bus/vbus_sim/new_device
check "sf: devlink shows vbus_sim/vbus_sim1" sh -c 'devlink dev show | grep -q vbus_sim/vbus_sim1'
check "sf: create sf88" ctl create sf88 --kind sf --parent vbus_sim/vbus_sim1 --index 88 \
	--attr hw_addr=00:11:22:33:44:55
check "sf: devlink shows port with sfnum 88, state active, attached" \
	sh -c 'devlink port show | grep "sfnum 88" && devlink port function show 2>/dev/null; devlink -j port show | python3 -c "
import json,sys
ports = json.load(sys.stdin)[\"port\"]
p = [v for v in ports.values() if v.get(\"sfnum\") == 88][0]
f = p[\"function\"]
assert f[\"hw_addr\"] == \"00:11:22:33:44:55\", f
assert f[\"state\"] == \"active\" and f[\"opstate\"] == \"attached\", f"'
sfdev=$(jfield sf88 sysfs_path)
assert_exists "sf: its auxiliary device exists" "${sfdev:-/nonexistent}"
assert_eq "sf: list -j bound_driver matches sysfs" "$(drv "${sfdev:-/nonexistent}")" "$(jfield sf88 bound_driver)"
expect_fail "sf: a second definition of SF 88 is refused before the kernel is asked" 1 "sf88" \
	ctl create sf88b --kind sf --parent vbus_sim/vbus_sim1 --index 88 --transient
check "sf: a port with sfnum 77 made by hand with devlink" \
	devlink port add vbus_sim/vbus_sim1 flavour pcisf pfnum 0 sfnum 77
expect_fail "sf: sfnum 77 is refused with the kernel's extack message" 1 "SF number is already in use" \
	ctl create sfbad --kind sf --parent vbus_sim/vbus_sim1 --index 77
check "sf: the refused create left no definition" sh -c '! test -e /etc/vbus/devices.d/sfbad.json'
check "sf: stop sf88" ctl stop sf88
check "sf: stopped, the port is gone" sh -c '! devlink port show | grep -q "sfnum 88"'
assert_absent "sf: stopped, the auxiliary device is gone" "${sfdev:-/nonexistent}"
check "sf: remove sf88" ctl remove sf88
check "sf: the port made by hand is still there" sh -c 'devlink port show | grep -q "sfnum 77"'
devlink port del "$(devlink port show | awk '/sfnum 77/ { sub(":$", "", $1); print $1 }')"

# ---- vdpa: vdpa_sim_net, vhost_vdpa for VMs and virtio_vdpa for the host -----------------------
check "vdpa: create v0 for a VM" ctl create v0 --kind vdpa --parent vdpasim_net --driver vfio \
	--attr mac=52:54:00:00:00:01
V=/sys/bus/vdpa/devices/v0
assert_eq "vdpa: bound to vhost_vdpa" vhost_vdpa "$(drv $V)"
wait_for "vdpa: /dev/vhost-vdpa-* appears" 5 sh -c 'ls /dev/vhost-vdpa-*'
expect_state vdpa v0 true vhost_vdpa
check "vdpa: mac reached the device" sh -c 'vdpa dev config show v0 | grep -q 52:54:00:00:00:01'
check "vdpa: assign v0 host" ctl assign v0 host
assert_eq "vdpa: bound to virtio_vdpa" virtio_vdpa "$(drv $V)"
check "vdpa: a virtio device appeared" sh -c 'ls -d /sys/bus/vdpa/devices/v0/virtio*'
check "vdpa: the assignment was persisted" grep -q '"host"' /etc/vbus/devices.d/v0.json
check "vdpa: stop v0" ctl stop v0
assert_absent "vdpa: stopped, v0 is gone" $V
check "vdpa: start v0" ctl start v0
assert_eq "vdpa: started with the persisted driver" virtio_vdpa "$(drv $V)"
expect_fail "vdpa: an unknown mgmtdev is refused" 1 "nosuch" \
	ctl create v1 --kind vdpa --parent nosuch --transient
expect_fail "vdpa: a class the mgmtdev does not offer is refused" 1 \
	"vdpa parent vdpasim_net does not offer type blk" \
	ctl create v1 --kind vdpa --parent vdpasim_net --type blk --transient
assert_absent "vdpa: the refused v1 was not made" /sys/bus/vdpa/devices/v1
check "vdpa: remove v0" ctl remove v0
assert_absent "vdpa: removed, v0 is gone" $V

# ---- virtbus: vbus_sim's management device ---------------------------------------------------
check "virtbus: create n0 (type net)" ctl create n0 --kind virtbus --parent vbus_sim/vbus_sim1 --type net
B=/sys/bus/virtbus/devices/vbus_sim1.n0
assert_eq "virtbus: bound to vbus_sim_net" vbus_sim_net "$(drv $B)"
expect_state virtbus n0 true vbus_sim_net
check "virtbus: assign n0 none" ctl assign n0 none
assert_eq "virtbus: unbound" none "$(drv $B)"
check "virtbus: assign n0 vbus_sim_net" ctl assign n0 vbus_sim_net
assert_eq "virtbus: bound again" vbus_sim_net "$(drv $B)"
expect_fail "virtbus: an unknown type is refused" 1 "nosuch" \
	ctl create n1 --kind virtbus --parent vbus_sim/vbus_sim1 --type nosuch
check "virtbus: stop n0" ctl stop n0
assert_absent "virtbus: stopped, gone" $B
check "virtbus: start n0" ctl start n0
assert_eq "virtbus: started, bound to the persisted driver" vbus_sim_net "$(drv $B)"
check "virtbus: remove n0" ctl remove n0
assert_absent "virtbus: removed" $B

# ---- apply --now: definitions and their devices, several kinds in one process -----------------
an='{"name": "an0", "kind": "virtbus", "parent": "vbus_sim/vbus_sim1", "type": "net"}'
as='{"name": "as0", "kind": "sf", "parent": "vbus_sim/vbus_sim1", "index": 91}'
echo "[{\"name\": \"av0\", \"kind\": \"vdpa\", \"parent\": \"vdpasim_net\", \"driver\": \"none\"},
 {\"name\": \"av1\", \"kind\": \"vdpa\", \"parent\": \"vdpasim_net\", \"start\": \"manual\"},
 $an, $as]" >/tmp/apply-now.json
check "apply --now: defines four, starts the three start:auto ones" \
	ctl apply /tmp/apply-now.json --now
assert_exists "apply --now: vdpa av0 exists" /sys/bus/vdpa/devices/av0
assert_absent "apply --now: av1 (start manual) is not created" /sys/bus/vdpa/devices/av1
check "apply --now: av1 is defined" defined av1
assert_eq "apply --now: virtbus an0 exists, bound to vbus_sim_net" vbus_sim_net \
	"$(drv /sys/bus/virtbus/devices/vbus_sim1.an0)"
check "apply --now: SF 91 is an active port" sh -c 'devlink port show | grep -q "sfnum 91 "'
assert_eq "apply --now again: nothing to start" 0 \
	"$(ctl apply /tmp/apply-now.json --now | grep -c '^start')"
sed "s|$as]|$as, {\"name\": \"an1\", \"kind\": \"virtbus\", \"parent\": \"vbus_sim/vbus_sim1\", \"type\": \"net\"}]|" \
	/tmp/apply-now.json >/tmp/apply-fail.json
echo 28 >/sys/kernel/debug/vbus_sim/vbus_sim1/fail_next_dev_new
rc=0
out=$(ctl apply /tmp/apply-fail.json --now 2>&1) || rc=$?
assert_eq "apply --now: a start the kernel refuses makes it exit 1" 1 "$rc"
if grep -q "Failed to start 'an1': .*Injected failure" <<<"$out"; then
	ok "apply --now: names the device and the kernel's message"
else
	fail "apply --now: names the device and the kernel's message" "$out"
fi
check "apply --now: an1 stays defined (vbusd would retry it)" defined an1
assert_absent "apply --now: an1 was not created" /sys/bus/virtbus/devices/vbus_sim1.an1
echo '[]' >/tmp/apply-empty.json
check "apply --now []: undefines everything and stops what it started" \
	ctl apply /tmp/apply-empty.json --now
assert_absent "apply --now []: av0 is gone" /sys/bus/vdpa/devices/av0
assert_absent "apply --now []: an0 is gone" /sys/bus/virtbus/devices/vbus_sim1.an0
check "apply --now []: SF 91 is gone" sh -c '! devlink port show | grep -q "sfnum 91 "'
check "apply --now []: no run records left" sh -c '! ls /run/vbus/a?[0-9].json 2>/dev/null'

# ---- nothing left behind ---------------------------------------------------------------------
assert_eq "no definitions left" "" "$(ls /etc/vbus/devices.d)"
assert_eq "no mdevs left" "" "$(ls /sys/bus/mdev/devices)"
assert_eq "no vdpa devices left" "" "$(ls /sys/bus/vdpa/devices)"
assert_eq "no virtbus devices left" "" "$(ls /sys/bus/virtbus/devices)"

# ---- vbusd: autostart when parents appear, policy for sub-devices made by hand -------------------------------
check "start udev" start_udev
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
echo 0 >/sys/bus/vbus_sim/del_device 2>/dev/null || true
echo 1 >/sys/bus/vbus_sim/del_device 2>/dev/null || true
rmmod mtty
check "define m2 (auto) while mtty is absent: accepted with a warning" \
	ctl define m2 --kind mdev --parent mtty --type mtty-1 --auto
check "define n2 (auto) on vbus_sim2 before it exists" \
	ctl define n2 --kind virtbus --parent vbus_sim/vbus_sim2 --type blk --auto
mkdir -p /etc/vbus/policy.d
cat >/etc/vbus/policy.d/10-test.json <<'EOF'
{ "version": 1, "rules": [
  { "match": { "kind": "vdpa" }, "driver": "host", "adopt": true },
  { "match": { "kind": "virtbus", "type": "net" }, "driver": "none", "adopt": true } ] }
EOF
# At debug level: the checks of devlink's events count its "Kernel events:" lines.
"$VBUSD" --log-level debug >"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd owns org.vbus1" 10 busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1
check "load mtty with vbusd running" load_fixture mtty
m2uuid=$(jfield m2 uuid)
wait_for "m2 came up when mtty appeared" 10 test -e "/sys/bus/mdev/devices/$m2uuid"
echo 2 >/sys/bus/vbus_sim/new_device
wait_for "n2 came up when vbus_sim2 appeared" 10 test -e /sys/bus/virtbus/devices/vbus_sim2.n2
assert_eq "n2 is bound to vbus_sim_blk" vbus_sim_blk "$(drv /sys/bus/virtbus/devices/vbus_sim2.n2)"
check "a vdpa device made by hand with iproute2" vdpa dev add name h0 mgmtdev vdpasim_net
wait_for "policy bound h0 to virtio_vdpa" 10 sh -c \
	'[ "$(basename "$(readlink -f /sys/bus/vdpa/devices/h0/driver)")" = virtio_vdpa ]'
check "a virtbus device made by hand over genl" \
	"$VBUS_BUILD/tests/vm/client/vbus-nl" dev-new vbus_sim/vbus_sim2 hand0 net
wait_for "policy (from the monitor group) left hand0 unbound" 10 sh -c \
	'[ -e /sys/bus/virtbus/devices/vbus_sim2.hand0 ] && [ ! -e /sys/bus/virtbus/devices/vbus_sim2.hand0/driver ]'
check "vbusd lists hand0 over D-Bus" sh -c "$VBUSCTL list --all | grep -q hand0"
check "vbusctl over D-Bus lists m2 as active" sh -c "$VBUSCTL -j list m2 | grep -q '\"active\": *true'"

# ---- vbusd follows devlink's "config" group: SF ports made and deleted by hand -------------------
# sfentry PARENT SFNUM: "NAME active=A defined=D" of that SF in vbusd's listing, or nothing.
sfentry() {
	"$VBUSCTL" -j list --all | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o.get("kind") == "sf" and o.get("parent") == sys.argv[1] and o.get("index") == int(sys.argv[2]):
        print(o["name"], "active=%s" % str(o.get("active")).lower(),
              "defined=%s" % str(o.get("defined")).lower())' "$1" "$2"
}
since() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$EPOCHREALTIME" "$1"; }
portof() { devlink port show | awk -v n="$1" '$0 ~ "sfnum " n " " { sub(":$", "", $1); print $1 }'; }
S2=vbus_sim/vbus_sim2
check "sf: a port with sfnum 9 made by hand on vbus_sim2 (function inactive: no uevent)" \
	devlink port add $S2 flavour pcisf pfnum 0 sfnum 9
t0=$EPOCHREALTIME
listed9() { [ -n "$(sfentry $S2 9)" ]; }
wait_for "sf: vbusd lists the port made by hand" 10 listed9
note "listed after $(since "$t0") s: $(sfentry $S2 9)"
check "sf: delete the port made by hand" devlink port del "$(portof 9)"
wait_for "sf: vbusd no longer lists it" 10 eval '! listed9'
check "sf: create s9 (auto, SF 12 on vbus_sim2) through vbusd" \
	"$VBUSCTL" create s9 --kind sf --parent $S2 --index 12 --auto
assert_eq "sf: vbusd lists s9 active" "s9 active=true defined=true" "$(sfentry $S2 12)"
check "sf: our SF's port deleted by hand" devlink port del "$(portof 12)"
s9_inactive() { [ "$(sfentry $S2 12)" = "s9 active=false defined=true" ]; }
wait_for "sf: vbusd lists s9 inactive, still defined" 10 s9_inactive
sleep 2
check "sf: a removal by someone else is not undone (as for an mdev removed by hand)" \
	sh -c '! devlink port show | grep -q "sfnum 12 "'
check "sf: start s9 again through vbusd" "$VBUSCTL" start s9
assert_eq "sf: s9 active again" "s9 active=true defined=true" "$(sfentry $S2 12)"
check "sf: remove s9" "$VBUSCTL" remove s9
check "sf: s9's port is gone" sh -c '! devlink port show | grep -q "sfnum 12 "'
# A burst: 100 ports in one devlink batch are read in a few batches, not one full read each.
for i in $(seq 100 199); do echo "port add $S2 flavour pcisf pfnum 0 sfnum $i"; done >/tmp/burst
b0=$(grep -c 'Kernel events: .* in one batch' "$VBUS_OUT/vbusd.log")
t0=$EPOCHREALTIME
check "sf: 100 ports made by hand in one devlink batch" devlink -b /tmp/burst
nsf() { "$VBUSCTL" -j list --all | python3 -c '
import json, sys
print(sum(1 for o in json.load(sys.stdin) if o.get("kind") == "sf" and 100 <= o.get("index", -1) <= 199))'; }
wait_for "sf: vbusd lists all 100" 60 eval '[ "$(nsf)" = 100 ]'
b1=$(grep -c 'Kernel events: .* in one batch' "$VBUS_OUT/vbusd.log")
note "100 ports: listed after $(since "$t0") s, $((b1 - b0)) batches of kernel events"
if [ $((b1 - b0)) -ge 1 ] && [ $((b1 - b0)) -le 20 ]; then
	ok "sf: the 100 port adds were handled in $((b1 - b0)) batches (at most 20, not 100)"
else
	fail "sf: the 100 port adds were handled in $((b1 - b0)) batches (at most 20, not 100)"
fi
devlink -j port show | python3 -c '
import json, sys
for k, p in json.load(sys.stdin)["port"].items():
    if 100 <= p.get("sfnum", -1) <= 199:
        print("port del", k)' >/tmp/burst-del
check "sf: the 100 ports deleted in one devlink batch" devlink -b /tmp/burst-del
wait_for "sf: vbusd lists none of them" 60 eval '[ "$(nsf)" = 0 ]'

vdpa dev del h0
"$VBUS_BUILD/tests/vm/client/vbus-nl" dev-del vbus_sim/vbus_sim2 hand0
"$VBUSCTL" remove m2 >/dev/null 2>&1 || ctl remove m2
"$VBUSCTL" remove n2 >/dev/null 2>&1 || ctl remove n2
kill "$vbusd_pid"
wait "$vbusd_pid"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
dmesg_clean
finish
