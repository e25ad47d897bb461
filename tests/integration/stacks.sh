#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Stacks ("parent": "@NAME") and vgpu through vbusd with the fake kernel on tests/data/host-vgpu:
# at vbusd's start (boot) the VF comes up before the mdev on it, whatever their names; stop of
# the VF takes the mdev down first; the GPU appearing (a fake uevent) brings up the VF and the
# mdev on it, in that order; a vgpu definition gets its GPU's VFs made and its profile placed.
# TAP output. Usage: stacks.sh VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR (as root)
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
args VBUSCTL VBUSD SRC -- "$@"

cp -a "$SRC/tests/data/host-vgpu" "$ROOT"
mkdir -p "$ROOT/etc/vbus/devices.d" "$ROOT/run"
D=$ROOT/etc/vbus/devices.d
# Named so that neither the name order nor the order of the files puts the parent first.
cat >"$D/z-vf.json" <<'J'
{ "version": 1, "name": "z-vf", "kind": "vf", "parent": "0000:81:00.0", "index": 0,
  "driver": "host", "start": "auto" }
J
cat >"$D/a-mdev.json" <<'J'
{ "version": 1, "name": "a-mdev", "kind": "mdev", "parent": "@z-vf", "type": "nvidia-694",
  "uuid": "5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10", "start": "auto" }
J
cat >"$D/g1.json" <<'J'
{ "version": 1, "name": "g1", "kind": "vgpu", "parent": "0000:c1:00.0", "index": 2,
  "type": "L40S-24Q", "start": "auto" }
J
export VBUSD_FAKE_RETRY_USEC=1000
MDEV=$ROOT/sys/bus/mdev/devices/5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10

start_fake_vbusd

# line_of PATTERN: the line number of the last log line matching PATTERN (0: none).
line_of() {
	grep -n -- "$1" "$T/vbusd.log" | tail -1 | cut -d: -f1 | grep . || echo 0
}

# in_order WHAT FIRST SECOND: the log says FIRST, and later SECOND.
in_order() {
	local a b
	a=$(line_of "$2")
	b=$(line_of "$3")
	if [ "$a" -gt 0 ] && [ "$b" -gt "$a" ]; then
		ok "$1"
	else
		not_ok "$1" "'$2' at line $a, '$3' at line $b of vbusd's log:" \
			"$(grep -e "$2" -e "$3" "$T/vbusd.log")"
	fi
}

active() {
	[ "$(vbusctl -j list --all "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["active"])')" = True ]
}

inactive() {
	vbusctl -j list --all "$1" | grep -q '"active": false'
}

# ---- boot: vbusd's first reconcile ------------------------------------------------------------
check "boot: the VF is up" active z-vf
check "boot: the mdev on it is up" active a-mdev
check "boot: the mdev's parent is the VF" test -e "$ROOT/sys/bus/pci/devices/0000:81:00.4/mdev_supported_types/nvidia-694/devices/5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10"
in_order "boot: the VF started before the mdev on it" "Started 'z-vf'" "Started 'a-mdev'"
check "boot: the vgpu is up" active g1
check "boot: its GPU's VFs were made (all 8)" \
	grep -qx 8 "$ROOT/sys/bus/pci/devices/0000:c1:00.0/sriov_numvfs"
check "boot: its profile is placed on VF 2 (L40S-24Q is 1155)" \
	grep -qx 1155 "$ROOT/sys/bus/pci/devices/0000:c1:00.6/nvidia/current_vgpu_type"
check "boot: VF 2 is bound to nvidia_vgpu_vfio" \
	test "$(basename "$(readlink "$ROOT/sys/bus/pci/devices/0000:c1:00.6/driver")")" = nvidia_vgpu_vfio
check "boot: the GPU's other VFs offer what is left (24Q)" \
	grep -q "L40S-24Q" "$ROOT/sys/bus/pci/devices/0000:c1:00.4/nvidia/creatable_vgpu_types"
check "boot: ... and not what no longer fits (48Q)" \
	bash -c "! grep -q L40S-48Q '$ROOT/sys/bus/pci/devices/0000:c1:00.4/nvidia/creatable_vgpu_types'"

# ---- teardown: stop the VF ----------------------------------------------------------------------
check "stop of the VF succeeds" vbusctl stop z-vf
in_order "stop: the mdev stopped before the VF under it" "Stopped 'a-mdev'" "Stopped 'z-vf'"
check "stop: the mdev is gone" test ! -e "$MDEV"
# The stop named the VF only: vbusd reads the stack on it again, the mdev with it.
check "stop: vbusd lists the mdev on the VF inactive" inactive a-mdev
check "stop: the VF is gone (count 0)" \
	grep -qx 0 "$ROOT/sys/bus/pci/devices/0000:81:00.0/sriov_numvfs"
check "stop of the vgpu clears its profile" vbusctl stop g1
check "stop: current_vgpu_type reads 0" \
	grep -qx 0 "$ROOT/sys/bus/pci/devices/0000:c1:00.6/nvidia/current_vgpu_type"

# ---- hot-plug: the GPU (the VF's parent) appears ------------------------------------------------
echo "add pci 0000:81:00.0" >"$T/uevents"
for _ in $(seq 100); do
	[ -e "$MDEV" ] && break
	sleep 0.1
done
check "hot-plug: the mdev on the VF is up again" active a-mdev
check "hot-plug: and the VF" active z-vf
a=$(grep -c "Started 'z-vf'" "$T/vbusd.log")
b=$(grep -c "Started 'a-mdev'" "$T/vbusd.log")
if [ "$a" = 2 ] && [ "$b" = 2 ]; then
	ok "hot-plug: each started once more"
else
	not_ok "hot-plug: each started once more" "z-vf $a times, a-mdev $b times"
fi
in_order "hot-plug: the VF started before the mdev on it" "Started 'z-vf'" "Started 'a-mdev'"

# ---- the kernel removes the mdev (its parent's module unloaded): its run record goes ---------
check "the mdev has a run record" test -f "$ROOT/run/vbus/a-mdev.json"
real=$(readlink -f "$MDEV")
rm -rf "$real" "$MDEV" "$ROOT/sys/bus/pci/devices/0000:81:00.4/mdev_supported_types/nvidia-694/devices/5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10"
echo "remove mdev 5c1e0f9a-7b2d-4e3f-9a61-0c8d2b4e6f10" >"$T/uevents"
for _ in $(seq 100); do
	[ -e "$ROOT/run/vbus/a-mdev.json" ] || break
	sleep 0.1
done
check "remove: the mdev's run record is dropped" test ! -e "$ROOT/run/vbus/a-mdev.json"
check "remove: vbusd lists the mdev inactive" inactive a-mdev
check "remove: the VF under it keeps its record (it is there)" test -f "$ROOT/run/vbus/z-vf.json"
check "remove: the log says so" grep -q "'a-mdev': its device was removed, its run record dropped" \
	"$T/vbusd.log"

# ---- references vbusd refuses, as libvbus does ------------------------------------------------
out=$(vbusctl modify z-vf --kind vf --parent @a-mdev --index 0 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == *"cycle of parents: z-vf -> a-mdev -> z-vf"* ]] &&
	grep -q '"0000:81:00.0"' "$D/z-vf.json"; then
	ok "a cycle is refused, naming it, and nothing is written"
else
	not_ok "a cycle is refused, naming it, and nothing is written" "exit $rc: $out"
fi
out=$(vbusctl undefine z-vf 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == *"'a-mdev' stands on 'z-vf'"* ]] && [ -e "$D/z-vf.json" ]; then
	ok "undefine of a parent is refused, naming what stands on it"
else
	not_ok "undefine of a parent is refused, naming what stands on it" "exit $rc: $out"
fi

finish
