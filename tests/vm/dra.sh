#!/bin/bash
# vbus-dra on the real kernel (issue 20): the real vbus-dra against the real vbusd, the stand-in
# kubelet and API server of tests/dra (vm.py, with tests/dra's modules), one boot. Prepare and
# unprepare of an SF (vbus_sim's devlink), a vDPA device (vdpa_sim_net), a virtbus device
# (vbus_sim), an mdev (mtty) and a VF (qemu's NVMe), and the same kinds made on demand
# (--partitionable, KEP 4815); checked in sysfs, `devlink port` and `vdpa dev`. Needs
# tests/vm/run --nvme-sriov.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
VBUS_DRA=$VBUS_BUILD/dra/vbus-dra

assert_exists "vbus-dra is built" "$VBUS_DRA"
check "load our modules" load_kmod
check "load mtty" load_fixture mtty
for m in vdpa_sim_net vhost_vdpa; do
	check "load $m" load_fixture $m
done
check "load nvme and vfio-pci" modprobe -a nvme vfio_pci
echo 1 >/sys/bus/vbus_sim/new_device
check "devlink shows vbus_sim/vbus_sim1" sh -c 'devlink dev show | grep -q vbus_sim/vbus_sim1'
pf=
for d in /sys/bus/pci/devices/*; do
	[ -f "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] && pf=${d##*/} && break
done
assert_eq "an SR-IOV PF is present" yes "$([ -n "$pf" ] && echo yes || echo no)"
dmesg_mark

mkdir -p /etc/vbus/devices.d
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
"$VBUSD" >"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd owns org.vbus1" 20 busctl --system call org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1

# Definitions, none started: prepare starts them (with the claims' drivers), unprepare stops them.
cat >/run/vbus-dra-defs.json <<JSON
[{"name": "s1", "kind": "sf", "parent": "vbus_sim/vbus_sim1", "index": 5, "driver": "none", "start": "manual"},
 {"name": "v1", "kind": "vdpa", "parent": "vdpasim_net", "start": "manual"},
 {"name": "n1", "kind": "virtbus", "parent": "vbus_sim/vbus_sim1", "type": "net", "driver": "none", "start": "manual"},
 {"name": "m1", "kind": "mdev", "parent": "mtty", "type": "mtty-2", "start": "manual"},
 {"name": "vf1", "kind": "vf", "parent": "$pf", "index": 1, "start": "manual"}]
JSON
check "define (apply) s1 (sf 5 of vbus_sim1, no driver), v1 (vdpa), n1 (virtbus net, no driver), m1 (mdev mtty-2), vf1 (VF 1 of $pf), none started" \
	"$VBUSCTL" apply /run/vbus-dra-defs.json
defs=(/etc/vbus/devices.d/*.json)
assert_eq "the five definitions are stored" 5 "${#defs[@]}"

note "setup (modules, bus, vbusd, definitions): $SECONDS s"

# tests/dra's stand-ins and vm.py; sockets and state on tmpfs (not the 9p results share).
export T=/run/vbus-dra-test
mkdir -p $T
t_py=$SECONDS
DRA_VM_COUNTS=$T/counts STUBS=${STUBS:-} VBUS_DRA=$VBUS_DRA VBUSCTL=$VBUSCTL SRC=$VBUS_SRC PF=$pf \
	TAP_FIRST=$VM_T_N /usr/bin/python3 "$VBUS_SRC/tests/dra/vm.py"
rc=$?
note "vm.py (the stand-ins and vbus-dra): $((SECONDS - t_py)) s"
read -r passed failed <$T/counts 2>/dev/null || { passed=0 failed=0; }
VM_T_N=$((VM_T_N + passed + failed))
VM_T_PASS=$((VM_T_PASS + passed))
VM_T_FAIL=$((VM_T_FAIL + failed))
[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || fail "vm.py ran to its end (exit status $rc)"
cp $T/*.log "$VBUS_OUT/" 2>/dev/null

kill "$vbusd_pid"
wait "$vbusd_pid"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
check "vbusd's log has no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $VBUS_OUT/vbusd.log"
dmesg_clean
finish
