#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Templates (select + count "fill") over vbusd with the fake kernel: a GPU that appears gets
# its mdevs, with the uuids derived from the definition and the parent; one that goes takes
# its devices out of the listing; one that comes back gets the same uuids again; a pci
# selector binds a function at its udev add. TAP output.
# Usage: select.sh VBUSCTL_FAKE_KERNEL VBUSD_FAKE_KERNEL SRCDIR VBUS_UDEV (as root)
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
args VBUSCTL VBUSD SRC VBUS_UDEV -- "$@"

cp -a "$SRC/tests/data/host-2gpu" "$ROOT"
# A clean checkout has no empty directories (git keeps none).
mkdir -p "$ROOT/etc/vbus/devices.d"
cat >"$ROOT/etc/vbus/devices.d/t4.json" <<'EOF'
{ "version": 1, "name": "t4", "kind": "mdev", "type": "nvidia-230",
  "select": { "vendor": "10de", "device": "1eb8" }, "count": "fill" }
EOF
cat >"$ROOT/etc/vbus/devices.d/disks.json" <<'EOF'
{ "version": 1, "name": "disks", "kind": "pci", "select": { "class": "010802" },
  "driver": "vfio" }
EOF
GPU=$ROOT/sys/devices/pci0000:ae/0000:ae:00.0/0000:af:00.0
TYPE_A=$ROOT/sys/bus/pci/devices/0000:3b:00.0/mdev_supported_types/nvidia-230/available_instances
TYPE_B=$GPU/mdev_supported_types/nvidia-230/available_instances
# The second GPU is not there when vbusd starts (a hot-plug slot, a driver loaded later).
mv "$GPU" "$T/gpu.away"
start_fake_vbusd

# uuid NAME: the uuid vbusctl --root lists for the definition NAME.
uuid() {
	"$VBUSCTL" --root "$ROOT" -j list --defined "$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["uuid"])'
}
# active NAME...: each is active, through vbusd.
active() {
	for name in "$@"; do
		vbusctl -j list --all "$name" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == 1 and d[0]["active"] and d[0]["defined"], d' || return 1
	done
}
# The names of the definitions vbusd lists (not the run records of devices vbus started).
names() {
	vbusctl -j list --defined | python3 -c '
import json, sys
print(" ".join(d["name"] for d in json.load(sys.stdin) if d["defined"]), end=" ")'
}

A0=$(uuid t4-0000:3b:00.0-0)
A1=$(uuid t4-0000:3b:00.0-1)
check "at start, reconcile made both mdevs of the GPU that is there, with their uuids" \
	bash -c "test -e '$ROOT/sys/bus/mdev/devices/$A0' && test -e '$ROOT/sys/bus/mdev/devices/$A1'"
check "... used up its available_instances" test "$(cat "$TYPE_A")" = 0
check "... and vbusd lists them active" active t4-0000:3b:00.0-0 t4-0000:3b:00.0-1
check "the other GPU's devices are not defined while it is away" \
	test "$(names)" = "disks-0000:05:00.0 t4-0000:3b:00.0-0 t4-0000:3b:00.0-1 "
wait_check "the pci selector bound the NVMe to vfio-pci" 5 \
	test "$(basename "$(readlink "$ROOT/sys/bus/pci/devices/0000:05:00.0/driver")")" = vfio-pci

# At a function's udev add (coldplug at boot), before its driver loads: the selector's override.
echo '(null)' >"$ROOT/sys/bus/pci/devices/0000:05:00.0/driver_override"
check "vbus-udev sets the pci selector's override at the NVMe's add, prints vfio-pci" \
	bash -c "test \"\$('$VBUS_UDEV' --root '$ROOT' pci-override 0000:05:00.0)\" = vfio-pci &&
		test \"\$(cat '$ROOT/sys/bus/pci/devices/0000:05:00.0/driver_override')\" = vfio-pci"
check "... and leaves a function no selector matches alone" \
	bash -c "test -z \"\$('$VBUS_UDEV' --root '$ROOT' pci-override 0000:03:00.0)\""

# The GPU appears: udev's add brings its devices up.
mv "$T/gpu.away" "$GPU"
echo "add pci 0000:af:00.0" >"$T/uevents"
wait_check "the GPU appears: vbusd makes its two mdevs" 5 \
	active t4-0000:af:00.0-0 t4-0000:af:00.0-1
B0=$(uuid t4-0000:af:00.0-0)
B1=$(uuid t4-0000:af:00.0-1)
check "... with the uuids derived from t4 and the parent" \
	bash -c "test -e '$ROOT/sys/bus/mdev/devices/$B0' && test -e '$ROOT/sys/bus/mdev/devices/$B1' \
		&& test '$B0' != '$A0' && test '$B0' != '$B1'"
check "... its available_instances used up" test "$(cat "$TYPE_B")" = 0
check "vbusd's listing is what vbusctl --root lists" \
	bash -c "test \"\$('$VBUSCTL' -j list --all)\" = \"\$('$VBUSCTL' --root '$ROOT' -j list --all)\""

# It goes (hot-unplug): the kernel removes its mdevs with it.
for u in "$B0" "$B1"; do
	rm -f "$ROOT/sys/bus/mdev/devices/$u" "$ROOT/sys/bus/mdev/drivers/nvidia-vgpu-vfio/$u"
	rm -rf "${GPU:?}/$u" "${TYPE_B%/*}/devices/$u"
done
echo 2 >"$TYPE_B"
mv "$GPU" "$T/gpu.away"
echo "remove pci 0000:af:00.0" >"$T/uevents"
wait_check "the GPU goes: its devices leave the listing, the other GPU's stay" 5 \
	test "$(names)" = "disks-0000:05:00.0 t4-0000:3b:00.0-0 t4-0000:3b:00.0-1 "
check "vbusd lives" alive
check "... and the other GPU's mdevs are still active" active t4-0000:3b:00.0-0 t4-0000:3b:00.0-1

# It comes back: the same devices, the same uuids.
mv "$T/gpu.away" "$GPU"
echo "add pci 0000:af:00.0" >"$T/uevents"
wait_check "the GPU comes back: its mdevs are made again" 5 \
	active t4-0000:af:00.0-0 t4-0000:af:00.0-1
check "... with the same uuids as before" \
	bash -c "test -e '$ROOT/sys/bus/mdev/devices/$B0' && test -e '$ROOT/sys/bus/mdev/devices/$B1'"
check "... and no third one (fill counts its own devices)" \
	test "$(find "$ROOT/sys/bus/mdev/devices/" -mindepth 1 | wc -l)" = 4

# A restart finds everything as it is: nothing made twice.
kill "$VBUSD_PID"
wait "$VBUSD_PID" 2>/dev/null
if start_vbusd; then
	ok "vbusd restarts"
else
	not_ok "vbusd restarts" "$(tail -5 "$T/vbusd.log")"
fi
check "after the restart the same four mdevs, all active" \
	bash -c "test \"\$(find '$ROOT/sys/bus/mdev/devices/' -mindepth 1 | wc -l)\" = 4 &&
		$(declare -f active vbusctl); VBUSCTL='$VBUSCTL' active t4-0000:3b:00.0-0 \
		t4-0000:3b:00.0-1 t4-0000:af:00.0-0 t4-0000:af:00.0-1"

# The template changed and then undefined through vbusd: the model follows the file.
cat >"$T/one.json" <<'EOF'
[ { "version": 1, "name": "t4", "kind": "mdev", "type": "nvidia-230",
    "select": { "vendor": "10de", "device": "1eb8", "numa_node": 1 }, "count": "fill" },
  { "version": 1, "name": "disks", "kind": "pci", "select": { "class": "010802" },
    "driver": "vfio" } ]
EOF
check "apply through vbusd narrows t4 to NUMA node 1" vbusctl apply "$T/one.json"
wait_check "... vbusd lists only that GPU's devices as defined" 5 \
	test "$(names)" = "disks-0000:05:00.0 t4-0000:af:00.0-0 t4-0000:af:00.0-1 "
check "undefine t4 through vbusd" vbusctl undefine t4
wait_check "... none of its devices is defined any more" 5 test "$(names)" = "disks-0000:05:00.0 "
finish
