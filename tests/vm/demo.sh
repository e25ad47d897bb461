#!/bin/bash
# The main job, shown: vbusctl managing one sub-device of every kind on a real kernel.
# Run by tools/demo.sh; prints each command and its output.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

run() {
	printf '\n$ %s\n' "$*"
	"$@"
	local rc=$?
	[ $rc -eq 0 ] && ok "$*" || fail "$*" "exit status $rc"
}
vbusctl() { "$VBUS_BUILD/cli/vbusctl" --direct "$@"; }

load_kmod && load_fixture mtty && load_fixture vdpa_sim_net && load_fixture vhost_vdpa &&
	load_fixture virtio_vdpa && modprobe -a nvme vfio_pci e1000e
echo 1 >/sys/bus/vbus_sim/new_device
pf=$(for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/sriov_totalvfs" 2>/dev/null || echo 0)" -gt 0 ] && basename "$d"; done | head -n1)

run vbusctl parents
run vbusctl types mtty
run vbusctl create gpu1 --kind mdev --parent mtty --type mtty-2
run vbusctl create vf1 --kind vf --parent "$pf" --index 1 --driver vfio
run vbusctl create sf88 --kind sf --parent vbus_sim/vbus_sim1 --index 88 --attr hw_addr=00:11:22:33:44:55
run vbusctl create vm-net --kind vdpa --parent vdpasim_net --driver vfio --attr mac=52:54:00:12:34:56
run vbusctl create n0 --kind virtbus --parent vbus_sim/vbus_sim1 --type net
run vbusctl list
run vbusctl assign vm-net host
run vbusctl assign n0 none
run vbusctl -j list n0
run cat /etc/vbus/devices.d/vm-net.json
printf '\n$ vbusctl create bad --kind sf --parent vbus_sim/vbus_sim1 --index 88 --transient\n'
vbusctl create bad --kind sf --parent vbus_sim/vbus_sim1 --index 88 --transient
echo "(exit status $?)"
for n in gpu1 vf1 sf88 vm-net n0; do run vbusctl remove $n; done
run vbusctl list --all
finish
