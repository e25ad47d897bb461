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

# The suite starts vbus-dra before vbusd (publishing must wait for vbusd), then asks for vbusd
# on the FIFO to-run and hears the outcome on to-suite.
mkfifo "$T/to-run" "$T/to-suite"
exec 3<>"$T/to-run"
export T ROOT SRC VBUS_DRA VBUSCTL
/usr/bin/python3 "$SRC/tests/dra/suite.py" &
suite=$!
EXTRA_PIDS=$suite
req=
while kill -0 "$suite" 2>/dev/null; do
	read -r -t 1 -u 3 req && break
done
if [ "$req" = start-vbusd ]; then
	if start_vbusd; then
		echo ready >"$T/to-suite"
	else
		echo failed >"$T/to-suite"
		echo "# vbusd did not start:"
		sed 's/^/# /' "$T/vbusd.log"
	fi
fi
wait "$suite"
rc=$?
EXTRA_PIDS=
if [ "$rc" != 0 ]; then
	echo "# vbusd log:"
	tail -40 "$T/vbusd.log" | sed 's/^/# /'
fi
exit "$rc"
