#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbus-dra against vbusd (fake kernel) on a private system bus over a copy of host-mixed, a
# stand-in API server and a stand-in kubelet (suite.py). TAP output.
# Usage: run.sh VBUS_DRA VBUSD_FAKE_KERNEL VBUSCTL SRCDIR   (as root, like the vbusd test)
set -u

VBUS_DRA=$(realpath "$1")
VBUSD=$(realpath "$2")
VBUSCTL=$(realpath "$3")
SRC=$(realpath "$4")

# shellcheck source=../integration/lib.sh
. "$SRC/tests/integration/lib.sh"

cp -a "$SRC/tests/data/host-mixed" "$ROOT"
rm -f "$ROOT/etc/vbus/devices.d/broken.json"
# The kernel's vfio group nodes of the functions the suite binds to vfio-pci (0000:05:00.0,
# VF 0000:03:01.1), as vfio registers them (mktree.sh's vfio_group), so that vbus gives them
# CDI devices; and a NUMA node for 0000:05:00.0 (numaNode).
for addr in 0000:05:00.0 0000:03:01.1; do
	g=$(basename "$(readlink "$ROOT/sys/bus/pci/devices/$addr/iommu_group")")
	mkdir -p "$ROOT/sys/devices/virtual/vfio/$g"
	echo "243:$g" >"$ROOT/sys/devices/virtual/vfio/$g/dev"
	ln -snr "$ROOT/sys/class/vfio" "$ROOT/sys/devices/virtual/vfio/$g/subsystem"
	ln -snr "$ROOT/sys/devices/virtual/vfio/$g" "$ROOT/sys/class/vfio/$g"
done
echo 1 >"$ROOT/sys/bus/pci/devices/0000:05:00.0/numa_node"

start_bus
if ! start_vbusd; then
	not_ok "vbusd (fake kernel) is ready" "$(cat "$T/vbusd.log")"
	finish
fi

export T ROOT SRC VBUS_DRA VBUSCTL
/usr/bin/python3 "$SRC/tests/dra/suite.py"
rc=$?
if [ "$rc" != 0 ]; then
	echo "# vbusd log:"
	tail -40 "$T/vbusd.log" | sed 's/^/# /'
fi
exit "$rc"
