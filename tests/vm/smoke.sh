#!/bin/bash
# Proves the VM harness: kernel, host binaries, modprobe, udev, dbus, results share, mdev, vdpa,
# netdevsim, and with --nvme-sriov real SR-IOV VFs bound to vfio-pci.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

now() {
	read -r t _ </proc/uptime
	echo "$t"
}
t_start=$(now)
note "boot: guest uptime at script start ${t_start}s"

# ---- the base ------------------------------------------------------------------------------
assert_eq "guest kernel is KVER" "$KVER" "$(uname -r)"
assert_eq "runs as root" 0 "$(id -u)"
check "host binaries run (ip, vdpa, udevadm)" sh -c 'ip -V && vdpa -V && udevadm --version'
check "modprobe from the host's /lib/modules (vfio_pci)" modprobe vfio_pci
assert_exists "vfio_pci is loaded" /sys/module/vfio_pci
echo "written in the guest" >"$VBUS_OUT/smoke-share-test"
assert_file_contains "results share is writable" "$VBUS_OUT/smoke-share-test" '^written in the guest$'
rm -f "$VBUS_OUT/smoke-share-test"
check "/ is writable (tmpfs overlay)" sh -c 'echo x >/etc/vbus-vm-probe && rm /etc/vbus-vm-probe'
check "debugfs is mounted" mountpoint -q /sys/kernel/debug

t=$(now)
check "systemd-udevd starts and settles" start_udev
note "udev start + settle: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"
check "udevd is running" pgrep -x systemd-udevd
# Not through check: start_dbus exports DBUS_SYSTEM_BUS_ADDRESS into this shell.
if start_dbus; then ok "dbus-daemon starts on the system bus address"; else fail "dbus-daemon starts"; fi
check "the system bus answers" dbus-send --system --print-reply --dest=org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus.ListNames
assert_eq "DBUS_SYSTEM_BUS_ADDRESS is exported" unix:path=/run/dbus/system_bus_socket \
	"${DBUS_SYSTEM_BUS_ADDRESS:-}"

# ---- mdev on mtty --------------------------------------------------------------------------
t=$(now)
check "load_fixture mtty" load_fixture mtty
parent=/sys/class/mdev_bus/mtty
assert_exists "mtty registers an mdev parent" "$parent"
assert_exists "mtty offers type mtty-2" "$parent/mdev_supported_types/mtty-2/create"
uuid=$(cat /proc/sys/kernel/random/uuid)
check "create an mdev by writing a UUID" sh -c "echo $uuid >$parent/mdev_supported_types/mtty-2/create"
assert_exists "the mdev appears on the mdev bus" "/sys/bus/mdev/devices/$uuid"
assert_link_target "the mdev has type mtty-2" "/sys/bus/mdev/devices/$uuid/mdev_type" mtty-2
# 6.1 has no vfio_mdev: mtty is its own mdev_driver.
assert_link_target "the mdev is bound to the mtty driver" "/sys/bus/mdev/devices/$uuid/driver" mtty
check "remove the mdev" sh -c "echo 1 >/sys/bus/mdev/devices/$uuid/remove"
assert_absent "the mdev is gone" "/sys/bus/mdev/devices/$uuid"
note "mdev part: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"

# ---- vdpa_sim_net: vhost_vdpa, then virtio_vdpa through driver_override ---------------------
t=$(now)
check "load_fixture vdpa_sim_net" load_fixture vdpa_sim_net
check "load_fixture vhost_vdpa" load_fixture vhost_vdpa
check "load_fixture virtio_vdpa" load_fixture virtio_vdpa
check "vdpa mgmtdev show lists vdpasim_net" sh -c 'vdpa mgmtdev show | grep -q vdpasim_net'
check "vdpa dev add name v0 mgmtdev vdpasim_net" vdpa dev add name v0 mgmtdev vdpasim_net
dev=/sys/bus/vdpa/devices/v0
assert_exists "v0 is on the vdpa bus" "$dev"
# Both drivers are loaded, so the first match wins; start from a known state.
if [ -L "$dev/driver" ]; then
	note "v0 was bound to $(basename "$(readlink -f "$dev/driver")") on creation"
	echo v0 >"$dev/driver/unbind"
fi
check "driver_override = vhost_vdpa" sh -c "echo vhost_vdpa >$dev/driver_override"
check "bind v0 to vhost_vdpa" sh -c 'echo v0 >/sys/bus/vdpa/drivers/vhost_vdpa/bind'
assert_link_target "v0 is bound to vhost_vdpa" "$dev/driver" vhost_vdpa
wait_for "/dev/vhost-vdpa-0 appears" 5 test -c /dev/vhost-vdpa-0
check "unbind v0 from vhost_vdpa" sh -c 'echo v0 >/sys/bus/vdpa/drivers/vhost_vdpa/unbind'
assert_absent "/dev/vhost-vdpa-0 is gone after unbind" /dev/vhost-vdpa-0
check "driver_override = virtio_vdpa" sh -c "echo virtio_vdpa >$dev/driver_override"
check "bind v0 to virtio_vdpa" sh -c 'echo v0 >/sys/bus/vdpa/drivers/virtio_vdpa/bind'
assert_link_target "v0 is bound to virtio_vdpa" "$dev/driver" virtio_vdpa
virtio=$(cd "$dev" && ls -d virtio* 2>/dev/null | head -n1)
assert_exists "a virtio device appears under v0" "$dev/${virtio:-virtio?}"
check "vdpa dev del v0" vdpa dev del v0
assert_absent "v0 is gone" "$dev"
assert_absent "its virtio device is gone" "/sys/bus/virtio/devices/${virtio:-virtio?}"
note "vdpa part: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"

# ---- netdevsim: a devlink device with ports, from sysfs -----------------------------------
t=$(now)
check "load_fixture netdevsim" load_fixture netdevsim
check "new netdevsim device 7 with 2 ports" sh -c 'echo "7 2" >/sys/bus/netdevsim/new_device'
wait_for "devlink lists netdevsim/netdevsim7" 5 sh -c 'devlink dev show | grep -qx netdevsim/netdevsim7'
assert_eq "it has 2 ports with netdevs" 2 \
	"$(ls -d /sys/bus/netdevsim/devices/netdevsim7/net/* 2>/dev/null | wc -l)"
check "remove netdevsim device 7" sh -c 'echo 7 >/sys/bus/netdevsim/del_device'
assert_absent "netdevsim7 is gone" /sys/bus/netdevsim/devices/netdevsim7
note "netdevsim part: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"

# ---- NVMe SR-IOV VFs (tests/vm/run --nvme-sriov) -----------------------------------------
if [ "${VBUS_VM_NVME_SRIOV:-0}" = 1 ]; then
	t=$(now)
	check "modprobe nvme" modprobe nvme
	pf=
	for d in /sys/bus/pci/devices/*; do
		[ -f "$d/sriov_totalvfs" ] && [ "$(cat "$d/vendor")" = 0x1b36 ] && pf=$d && break
	done
	assert_exists "the emulated NVMe PF has SR-IOV" "${pf:-/nonexistent}/sriov_totalvfs"
	assert_eq "sriov_totalvfs is 2" 2 "$(cat "$pf/sriov_totalvfs" 2>/dev/null)"
	check "sriov_drivers_autoprobe = 0" sh -c "echo 0 >$pf/sriov_drivers_autoprobe"
	check "sriov_numvfs = 2" sh -c "echo 2 >$pf/sriov_numvfs"
	assert_exists "virtfn0 exists" "$pf/virtfn0"
	assert_exists "virtfn1 exists" "$pf/virtfn1"
	vf=$(readlink -f "$pf/virtfn0")
	group=$(basename "$(readlink -f "$vf/iommu_group")")
	note "VF ${vf##*/} in IOMMU group $group"
	check "modprobe vfio_pci" modprobe vfio_pci
	check "driver_override = vfio-pci" sh -c "echo vfio-pci >$vf/driver_override"
	check "drivers_probe binds the VF" sh -c "echo ${vf##*/} >/sys/bus/pci/drivers_probe"
	assert_link_target "the VF is bound to vfio-pci" "$vf/driver" vfio-pci
	wait_for "/dev/vfio/$group appears" 5 test -c "/dev/vfio/$group"
	check "unbind the VF" sh -c "echo ${vf##*/} >$vf/driver/unbind"
	check "sriov_numvfs = 0" sh -c "echo 0 >$pf/sriov_numvfs"
	assert_absent "the VFs are gone" "$pf/virtfn0"
	e1000e=$(grep -l '^0x8086$' /sys/bus/pci/devices/*/vendor | while read -r f; do
		d=${f%/vendor}; [ "$(cat "$d/device")" = 0x10d3 ] && echo "$d"; done | head -n1)
	assert_exists "an e1000e is there as a plain PCI function" "${e1000e:-/nonexistent}"
	note "sriov part: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"
fi

dmesg_clean
note "script time: $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"
finish
