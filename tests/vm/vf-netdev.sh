#!/bin/bash
# Per-VF netdev settings (mac, vlan/qos, trust, spoofchk, link_state, min/max_tx_rate) reach the
# kernel over rtnetlink: lib/vf-netdev.c (through tests/vm/client/vf-netdev-apply, the functions
# a vf definition's start calls) against netdevsim's VFs, observed with `ip -j -d link show`.
# qemu 7.2 has no emulated SR-IOV NIC, so the vf kind itself meets a PF with a netdev nowhere
# here; with --nvme-sriov it shows that a start runs the settings step on a real VF and undoes
# the start when the PF (NVMe) has no netdev to set them on.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

APPLY=$VBUS_BUILD/tests/vm/client/vf-netdev-apply
VBUSCTL=$VBUS_BUILD/cli/vbusctl
ctl() { "$VBUSCTL" --direct "$@"; }
DEV=/sys/bus/netdevsim/devices/netdevsim11

# vf N KEY: KEY (a.b.0 for nested ones) of VF N in `ip -j -d link show dev $PF` (vfinfo_list),
# as JSON text; "absent" when ip does not print it.
vf() {
	ip -j -d link show dev "$PF" | python3 -c '
import json, sys
n, key = int(sys.argv[1]), sys.argv[2]
for v in json.load(sys.stdin)[0].get("vfinfo_list", []):
    if v.get("vf") == n:
        x = v
        try:
            for k in key.split("."):
                x = x[k] if isinstance(x, dict) else x[int(k)]
        except (KeyError, IndexError):
            x = "absent"
        print(json.dumps(x) if not isinstance(x, str) else x)
        break' "$1" "$2"
}

check "load netdevsim" load_fixture netdevsim
check "new netdevsim device 11 with 1 port" sh -c 'echo "11 1" >/sys/bus/netdevsim/new_device'
wait_for "its port netdev appears" 10 sh -c "ls $DEV/net/ | grep -q ."
PF=$(ls "$DEV/net/" | head -n 1)
note "netdevsim11 port netdev: $PF"
check "2 VFs through sriov_numvfs" sh -c "echo 2 >$DEV/sriov_numvfs"
assert_eq "ip lists 2 VFs on $PF" 2 "$(ip -j -d link show dev "$PF" | python3 -c \
	'import json,sys; print(len(json.load(sys.stdin)[0].get("vfinfo_list", [])))')"
ip -d link show dev "$PF"

# ---- every setting at once, as a definition's attrs give them ------------------------------
check "apply mac vlan qos trust spoofchk link_state rates to VF 1" "$APPLY" "$DEV" 1 \
	mac=52:54:00:12:34:56 vlan=100 qos=3 trust=on spoofchk=off link_state=disable \
	min_tx_rate=10 max_tx_rate=100
ip -d link show dev "$PF"
assert_eq "VF 1 mac" 52:54:00:12:34:56 "$(vf 1 address)"
assert_eq "VF 1 vlan" 100 "$(vf 1 vlan_list.0.vlan)"
assert_eq "VF 1 qos" 3 "$(vf 1 vlan_list.0.qos)"
assert_eq "VF 1 trust" true "$(vf 1 trust)"
assert_eq "VF 1 spoofchk" false "$(vf 1 spoofchk)"
assert_eq "VF 1 link_state" disable "$(vf 1 link_state)"
assert_eq "VF 1 min_tx_rate" 10 "$(vf 1 rate.min_tx)"
assert_eq "VF 1 max_tx_rate" 100 "$(vf 1 rate.max_tx)"
assert_eq "VF 0 untouched: mac" 00:00:00:00:00:00 "$(vf 0 address)"
assert_eq "VF 0 untouched: trust" false "$(vf 0 trust)"

# ---- the same again (a restart of a VF in use): nothing is sent, nothing resets the VF -----
out=$(VBUS_LOG=debug "$APPLY" "$DEV" 1 mac=52:54:00:12:34:56 vlan=100 qos=3 trust=on \
	spoofchk=off link_state=disable min_tx_rate=10 max_tx_rate=100 2>&1)
assert_eq "applied again unchanged: all 6 settings found in place" 6 \
	"$(grep -c 'is in place on VF 1' <<<"$out")"
assert_eq "applied again unchanged: no request sent" 0 "$(grep -c ' set on VF 1' <<<"$out")"
out=$(VBUS_LOG=debug "$APPLY" "$DEV" 1 mac=52:54:00:12:34:56 vlan=101 qos=3 2>&1)
assert_eq "one setting changed: only it is sent" "vfnet: vlan 101 qos 3 set on VF 1 of $PF" \
	"$(grep ' set on VF 1' <<<"$out" | sed 's/^vf-netdev-apply: //')"
assert_eq "VF 1 vlan 101" 101 "$(vf 1 vlan_list.0.vlan)"

# ---- applied again with other values (what a restart does) --------------------------------
check "apply again: vlan 0 (no filter), link_state enable, spoofchk on, trust off" "$APPLY" \
	"$DEV" 1 vlan=0 link_state=enable spoofchk=on trust=off
# ip prints no vlan key for vlan 0 (it printed 100 above).
assert_eq "VF 1 vlan now 0" absent "$(vf 1 vlan_list.0.vlan)"
assert_eq "VF 1 link_state now enable" enable "$(vf 1 link_state)"
assert_eq "VF 1 spoofchk now on" true "$(vf 1 spoofchk)"
assert_eq "VF 1 trust now off" false "$(vf 1 trust)"
assert_eq "VF 1 mac kept (not asked for)" 52:54:00:12:34:56 "$(vf 1 address)"
check "link_state auto on VF 0" "$APPLY" "$DEV" 0 link_state=auto
assert_eq "VF 0 link_state auto" auto "$(vf 0 link_state)"

# ---- refusals: ours (validation) and the kernel's, naming the setting ----------------------
expect_fail "vlan 4096 is refused before the kernel is asked" 1 \
	"vfnet: attribute vlan: '4096' is not a VLAN id (0-4095)" "$APPLY" "$DEV" 0 vlan=4096
expect_fail "qos without vlan is refused" 1 "vfnet: attribute qos needs vlan" \
	"$APPLY" "$DEV" 0 qos=2
expect_fail "min_tx_rate above max_tx_rate is refused" 1 \
	"vfnet: attribute min_tx_rate 50 is above max_tx_rate 20" \
	"$APPLY" "$DEV" 0 min_tx_rate=50 max_tx_rate=20
expect_fail "an unknown link_state is refused" 1 \
	"vfnet: attribute link_state: 'up' is not auto, enable or disable" \
	"$APPLY" "$DEV" 0 link_state=up
expect_fail "VF 5 of 2: the kernel's refusal names the setting and the netdev" 1 \
	"vfnet: cannot set mac 52:54:00:00:00:05 on VF 5 of $PF: Invalid argument" \
	"$APPLY" "$DEV" 5 mac=52:54:00:00:00:05
expect_fail "a device without a netdev is said so" 1 \
	"vfnet: 0000:00:01.0 has no network interface to set its VF 0's settings on" \
	"$APPLY" /sys/bus/pci/devices/0000:00:01.0 0 vlan=5
assert_eq "VF 0 mac unchanged by the refusals" 00:00:00:00:00:00 "$(vf 0 address)"

# ---- switchdev: representors beside the PF's netdev are not it ------------------------------
check "eswitch mode switchdev" devlink dev eswitch set netdevsim/netdevsim11 mode switchdev
wait_for "VF representors appear under netdevsim11" 10 \
	sh -c "grep -lx 'pf0vf[01]' $DEV/net/*/phys_port_name"
for rep in $(grep -lx 'pf0vf[01]' "$DEV"/net/*/phys_port_name); do
	rep=$(basename "$(dirname "$rep")")
	# Named to sort before the PF's netdev: only phys_port_name can tell them apart.
	check "rename representor $rep to a0$rep" ip link set dev "$rep" name "a0$rep"
done
check "vlan on VF 1 goes to the PF's netdev, not a representor" "$APPLY" "$DEV" 1 vlan=7
assert_eq "VF 1 vlan 7 on $PF" 7 "$(vf 1 vlan_list.0.vlan)"
# netdevsim refuses legacy rate setting in switchdev mode (it logs, without an extack).
expect_fail "a refused rate names the setting and the errno" 1 \
	"vfnet: cannot set min_tx_rate 0 max_tx_rate 300 on VF 1 of $PF: Operation not supported" \
	"$APPLY" "$DEV" 1 max_tx_rate=300
check "eswitch mode legacy" devlink dev eswitch set netdevsim/netdevsim11 mode legacy
check "remove netdevsim device 11" sh -c 'echo 11 >/sys/bus/netdevsim/del_device'

# ---- the vf kind on a real VF: the settings step runs at start, and a refusal undoes it ----
PFN=0000:01:00.0
check "load nvme and vfio-pci" modprobe -a nvme vfio_pci
mkdir -p /etc/vbus/devices.d
check "define nv1: VF 0 of the NVMe PF with a vlan" ctl define nv1 --kind vf --parent $PFN \
	--index 0 --driver vfio --attr vlan=10 --attr qos=1
expect_fail "start nv1: the NVMe PF has no netdev for the vlan" 1 \
	"Failed to start 'nv1': $PFN has no network interface to set its VF 0's settings on" \
	ctl start nv1
assert_eq "the failed start put sriov_numvfs back to 0" 0 "$(cat /sys/bus/pci/devices/$PFN/sriov_numvfs)"
expect_fail "define refuses vlan 4096 and names the definition and key" 1 \
	"attribute vlan: '4096' is not a VLAN id (0-4095)" \
	ctl define nv2 --kind vf --parent $PFN --index 1 --attr vlan=4096
check "nv2 was not written" sh -c '! test -e /etc/vbus/devices.d/nv2.json'
check "undefine nv1" ctl undefine nv1

finish
