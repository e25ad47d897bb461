#!/bin/sh
# Generates the fake host trees tests/data/host-*/ as the kernel lays out sysfs (same links, same
# attributes). Usage: tests/data/mktree.sh [DESTDIR] [CASE...]   (default: next to this script,
# every case). The trees are checked in; rerun this after changing it and commit the result.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here}
[ $# -gt 0 ] && shift
cases=${*:-"host-gvt host-ap host-sriov host-mixed host-2gpu host-vgpu host-vbus"}

# put FILE CONTENT: an attribute, with the newline sysfs shows.
put() {
	[ -d "${1%/*}" ] || mkdir -p "${1%/*}"
	printf '%s\n' "$2" >"$1"
}

# lnk TARGET LINK: a relative symlink, as sysfs makes them.
lnk() {
	[ -d "${2%/*}" ] || mkdir -p "${2%/*}"
	t=$R/$1
	[ -d "${t%/*}" ] || mkdir -p "${t%/*}"
	ln -snr "$R/$1" "$2"
}

# bus NAME: /sys/bus/NAME with its control files.
bus() {
	b=$R/sys/bus/$1
	mkdir -p "$b/devices" "$b/drivers"
	put "$b/drivers_probe" ""
	put "$b/drivers_autoprobe" 1
	put "$b/uevent" ""
}

# driver BUS NAME
driver() {
	d=$R/sys/bus/$1/drivers/$2
	mkdir -p "$d"
	for f in bind unbind uevent; do put "$d/$f" ""; done
	if [ "$1" = pci ]; then
		put "$d/new_id" ""
		put "$d/remove_id" ""
	fi
}

# bind BUS DEVPATH DRIVER (DEVPATH under sys/devices)
bind() {
	[ -d "$R/sys/bus/$1/drivers/$3" ] || driver "$1" "$3"
	lnk "sys/bus/$1/drivers/$3" "$R/sys/devices/$2/driver"
	lnk "sys/devices/$2" "$R/sys/bus/$1/drivers/$3/"${2##*/}""
}

# iommu GROUP DEVPATH
iommu() {
	lnk "sys/kernel/iommu_groups/$1" "$R/sys/devices/$2/iommu_group"
	lnk "sys/devices/$2" "$R/sys/kernel/iommu_groups/$1/devices/"${2##*/}""
	[ -e "$R/sys/kernel/iommu_groups/$1/type" ] || put "$R/sys/kernel/iommu_groups/$1/type" DMA
}

# vfio_group GROUP: the group's char device, /dev/vfio/GROUP (a device of the group is bound to a
# vfio driver).
vfio_group() {
	v=$R/sys/devices/virtual/vfio/$1
	put "$v/dev" "243:$1"
	lnk sys/class/vfio "$v/subsystem"
	lnk "sys/devices/virtual/vfio/$1" "$R/sys/class/vfio/$1"
}

# pcidev DEVPATH VENDOR DEVICE CLASS SUBVENDOR SUBDEVICE DRIVER|- IOMMUGROUP|-
pcidev() {
	p=$R/sys/devices/$1
	bdf="${1##*/}"
	v=${2#0x} dv=${3#0x} c=${4#0x} sv=${5#0x} sd=${6#0x}
	mkdir -p "$p"
	put "$p/vendor" "$2"
	put "$p/device" "$3"
	put "$p/class" "$4"
	put "$p/subsystem_vendor" "$5"
	put "$p/subsystem_device" "$6"
	put "$p/revision" 0x01
	put "$p/enable" 1
	put "$p/numa_node" -1
	put "$p/driver_override" "(null)"
	put "$p/remove" ""
	put "$p/rescan" ""
	mod=$(printf 'pci:v0000%sd0000%ssv0000%ssd0000%sbc%ssc%si%s' "$(echo "$v" | tr a-f A-F)" \
		"$(echo "$dv" | tr a-f A-F)" "$(echo "$sv" | tr a-f A-F)" \
		"$(echo "$sd" | tr a-f A-F)" "$(echo "$c" | cut -c1-2)" \
		"$(echo "$c" | cut -c3-4)" "$(echo "$c" | cut -c5-6)")
	put "$p/modalias" "$mod"
	{
		[ "$7" != - ] && echo "DRIVER=$7"
		echo "PCI_CLASS=$(echo "$c" | sed 's/^0*//')"
		echo "PCI_ID=$(echo "$v:$dv" | tr a-f A-F)"
		echo "PCI_SUBSYS_ID=$(echo "$sv:$sd" | tr a-f A-F)"
		echo "PCI_SLOT_NAME=$bdf"
		echo "MODALIAS=$mod"
	} >"$p/uevent"
	lnk sys/bus/pci "$p/subsystem"
	lnk "sys/devices/$1" "$R/sys/bus/pci/devices/$bdf"
	[ "$7" != - ] && bind pci "$1" "$7"
	[ "$8" != - ] && iommu "$8" "$1"
	return 0
}

# netdev DEVPATH IFNAME MAC
netdev() {
	n=$R/sys/devices/$1/net/$2
	mkdir -p "$n"
	put "$n/address" "$3"
	put "$n/operstate" up
	put "$n/ifindex" "$4"
	lnk "sys/devices/$1/net/$2" "$R/sys/class/net/$2"
	lnk "sys/class/net" "$n/subsystem"
	lnk "sys/devices/$1" "$n/device"
}

# sriov_pf DEVPATH TOTAL VFDEVICE OFFSET STRIDE
sriov_pf() {
	p=$R/sys/devices/$1
	put "$p/sriov_totalvfs" "$2"
	put "$p/sriov_numvfs" 0
	put "$p/sriov_vf_device" "$3"
	put "$p/sriov_offset" "$4"
	put "$p/sriov_stride" "$5"
	put "$p/sriov_drivers_autoprobe" 1
	put "$p/sriov_vf_total_msix" 0
}

# sriov_vf PFPATH INDEX VFBDF VENDOR DEVICE DRIVER|- IOMMUGROUP
sriov_vf() {
	parent=$(dirname "$1")
	pcidev "$parent/$3" "$4" "$5" 0x020000 "$4" 0x0000 "$6" "$7"
	lnk "sys/devices/$1" "$R/sys/devices/$parent/$3/physfn"
	lnk "sys/devices/$parent/$3" "$R/sys/devices/$1/virtfn$2"
	put "$R/sys/devices/$1/sriov_numvfs" "$(($2 + 1))"
}

# mdev_parent DEVPATH (under sys/devices)
mdev_parent() {
	lnk "sys/devices/$1" "$R/sys/class/mdev_bus/"${1##*/}""
	mkdir -p "$R/sys/devices/$1/mdev_supported_types"
}

# mdev_type DEVPATH TYPE NAME AVAILABLE DEVICE_API [DESCRIPTION]
mdev_type() {
	t=$R/sys/devices/$1/mdev_supported_types/$2
	mkdir -p "$t/devices"
	put "$t/create" ""
	put "$t/name" "$3"
	put "$t/available_instances" "$4"
	put "$t/device_api" "$5"
	[ $# -ge 6 ] && put "$t/description" "$6"
	return 0
}

# mdev DEVPATH TYPE UUID DRIVER IOMMUGROUP [ATTR...]
mdev() {
	m=$R/sys/devices/$1/$3
	mkdir -p "$m"
	put "$m/remove" ""
	printf 'MDEV_TYPE=%s\nDRIVER=%s\n' "$2" "$4" >"$m/uevent"
	lnk "sys/devices/$1/mdev_supported_types/$2" "$m/mdev_type"
	lnk "sys/devices/$1/$3" "$R/sys/devices/$1/mdev_supported_types/$2/devices/$3"
	lnk sys/bus/mdev "$m/subsystem"
	lnk "sys/devices/$1/$3" "$R/sys/bus/mdev/devices/$3"
	bind mdev "$1/$3" "$4"
	iommu "$5" "$1/$3"
	shift 5
	for a in "$@"; do put "$m/$a" ""; done
}

gvt_gpu() {
	pcidev pci0000:00/0000:00:02.0 0x8086 0x3e92 0x030000 0x1028 0x0869 i915 1
	driver mdev intel_vgpu_mdev
	mdev_parent pci0000:00/0000:00:02.0
	mdev_type pci0000:00/0000:00:02.0 i915-GVTg_V5_4 GVTg_V5_4 1 vfio-pci \
		"low_gm_size: 128MB
high_gm_size: 512MB
fence: 4
resolution: 1920x1200
weight: 4"
	mdev_type pci0000:00/0000:00:02.0 i915-GVTg_V5_8 GVTg_V5_8 2 vfio-pci \
		"low_gm_size: 64MB
high_gm_size: 384MB
fence: 4
resolution: 1024x768
weight: 2"
	mdev pci0000:00/0000:00:02.0 i915-GVTg_V5_4 4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10 \
		intel_vgpu_mdev 13
	vfio_group 13
	put "$R/sys/devices/pci0000:00/0000:00:02.0/4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10/intel_vgpu/vgpu_id" 1
}

sriov_nic() {
	pcidev pci0000:00/0000:00:1c.0 0x8086 0xa338 0x060400 0x1028 0x0869 pcieport 6
	pcidev pci0000:00/0000:00:1c.0/0000:03:00.0 0x8086 0x1593 0x020000 0x8086 0x0002 ice 7
	sriov_pf pci0000:00/0000:00:1c.0/0000:03:00.0 8 0x1889 8 1
	netdev pci0000:00/0000:00:1c.0/0000:03:00.0 enp3s0f0np0 b4:96:91:a1:00:10 3
	driver pci iavf
	sriov_vf pci0000:00/0000:00:1c.0/0000:03:00.0 0 0000:03:01.0 0x8086 0x1889 iavf 20
	sriov_vf pci0000:00/0000:00:1c.0/0000:03:00.0 1 0000:03:01.1 0x8086 0x1889 - 21
	netdev pci0000:00/0000:00:1c.0/0000:03:01.0 enp3s1 5a:1e:22:10:00:01 8
}

plain_nic() {
	driver pci e1000e
	pcidev pci0000:00/0000:00:1c.4 0x8086 0xa33c 0x060400 0x1028 0x0869 pcieport 8
	pcidev pci0000:00/0000:00:1c.4/0000:04:00.0 0x8086 0x10d3 0x020000 0x8086 0xa01f "$1" 9
	[ "$1" = e1000e ] && netdev pci0000:00/0000:00:1c.4/0000:04:00.0 enp4s0 00:1b:21:0a:7c:40 2
	return 0
}

nvme() {
	pcidev pci0000:00/0000:00:1d.0 0x8086 0xa330 0x060400 0x1028 0x0869 pcieport 10
	pcidev pci0000:00/0000:00:1d.0/0000:05:00.0 0x144d 0xa808 0x010802 0x144d 0xa801 nvme 11
}

mtty() {
	mt=sys/devices/virtual/mtty/mtty
	mkdir -p "$R/$mt"
	put "$R/$mt/uevent" ""
	lnk sys/class/mtty "$R/$mt/subsystem"
	lnk "$mt" "$R/sys/class/mtty/mtty"
	driver mdev mtty
	mdev_parent virtual/mtty/mtty
	mdev_type virtual/mtty/mtty mtty-1 "Single port serial" 24 vfio-pci
	mdev_type virtual/mtty/mtty mtty-2 "Dual port serial" 12 vfio-pci
}

ap_matrix() {
	apd=sys/devices/vfio_ap/matrix
	mkdir -p "$R/$apd"
	put "$R/$apd/uevent" "DRIVER=vfio_ap"
	bus matrix
	driver matrix vfio_ap
	lnk sys/bus/matrix "$R/$apd/subsystem"
	lnk "$apd" "$R/sys/bus/matrix/devices/matrix"
	bind matrix vfio_ap/matrix vfio_ap
	driver mdev vfio_ap_mdev
	mdev_parent vfio_ap/matrix
	mdev_type vfio_ap/matrix vfio_ap-passthrough "VFIO AP Passthrough Device" 255 vfio-ap
	mdev vfio_ap/matrix vfio_ap-passthrough 6a1e2c5d-0b4f-4e39-8d2a-71c9e3f05b21 vfio_ap_mdev 0 \
		assign_adapter unassign_adapter assign_domain unassign_domain \
		assign_control_domain unassign_control_domain matrix guest_matrix control_domains
	vfio_group 0
	# The AP bus hands adapters and domains to vfio_ap through its masks.
	mkdir -p "$R/sys/bus/ap"
	put "$R/sys/bus/ap/apmask" 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
	put "$R/sys/bus/ap/aqmask" 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
}

# NVIDIA GPUs with SR-IOV, as NVIDIA's vGPU manager shows them. The files named .fake-* are not
# sysfs: they tell tests/integration/fake-kernel.c what this hardware does when VFs are made and
# profiles placed.

# sriov_gpu DEVPATH DEVICE SUBDEVICE TOTALVFS IOMMUGROUP: a GPU PF (3D controller) bound to
# nvidia, VFs at offset 4 stride 1 (as on L40S and A100).
sriov_gpu() {
	pcidev "$1" 0x10de "$2" 0x030200 0x10de "$3" nvidia "$5"
	sriov_pf "$1" "$4" "$2" 4 1
}

# L40S profiles (vGPU 17: placed through nvidia/current_vgpu_type of a VF): "ID GB NAME".
# The ids are this tree's; each driver release numbers its profiles.
l40s_profiles() {
	p=$R/sys/devices/$1
	put "$p/.fake-vgpu-framebuffer" 48
	cat >"$p/.fake-vgpu-types" <<'T'
1151 2 NVIDIA L40S-2Q
1152 4 NVIDIA L40S-4Q
1153 8 NVIDIA L40S-8Q
1154 12 NVIDIA L40S-12Q
1155 24 NVIDIA L40S-24Q
1156 48 NVIDIA L40S-48Q
T
}

# gpu_vf PFPATH INDEX VFBDF IOMMUGROUP: an enabled VF of an L40S, without a profile: what
# creatable_vgpu_types shows on a GPU where nothing is placed (all of l40s_profiles).
gpu_vf() {
	parent=$(dirname "$1")
	pcidev "$parent/$3" 0x10de 0x26b9 0x030200 0x10de 0x1851 - "$4"
	lnk "sys/devices/$1" "$R/sys/devices/$parent/$3/physfn"
	lnk "sys/devices/$parent/$3" "$R/sys/devices/$1/virtfn$2"
	put "$R/sys/devices/$1/sriov_numvfs" "$(($2 + 1))"
	n=$R/sys/devices/$parent/$3/nvidia
	put "$n/current_vgpu_type" 0
	put "$n/.fake-current" 0
	{
		printf 'ID    : vGPU Name\n'
		while read -r id gb name; do printf '%-5s : %s\n' "$id" "$name"; done \
			<"$R/sys/devices/$1/.fake-vgpu-types"
	} >"$n/creatable_vgpu_types"
}

# Two L40S (vGPU 17, no mdev) on Linux 6.12: the first with its 8 VFs enabled by sriov-manage (unbound, no
# profile), the second without VFs; and an A100 on vGPU 16, whose VFs (none yet) are mdev
# parents, each offering a profile as an mdev type (the stack VF -> mdev).
vgpu_host() {
	# vGPU 17 places profiles on VFs through the vendor VFIO driver: Linux 6.8 or newer
	# (Debian 12's backports kernel).
	put "$R/proc/sys/kernel/osrelease" 6.12.12+bpo-amd64
	driver pci nvidia
	driver pci nvidia_vgpu_vfio
	driver mdev nvidia-vgpu-vfio
	pcidev pci0000:40/0000:40:01.1 0x1022 0x1483 0x060400 0x1022 0x1453 pcieport 40
	sriov_gpu pci0000:40/0000:40:01.1/0000:41:00.0 0x26b9 0x1851 8 41
	l40s_profiles pci0000:40/0000:40:01.1/0000:41:00.0
	for i in 0 1 2 3 4 5 6 7; do
		f=$((4 + i))
		gpu_vf pci0000:40/0000:40:01.1/0000:41:00.0 $i \
			"$(printf '0000:41:%02x.%x' $((f / 8)) $((f % 8)))" $((50 + i))
	done
	pcidev pci0000:c0/0000:c0:01.1 0x1022 0x1483 0x060400 0x1022 0x1453 pcieport 60
	sriov_gpu pci0000:c0/0000:c0:01.1/0000:c1:00.0 0x26b9 0x1851 8 61
	l40s_profiles pci0000:c0/0000:c0:01.1/0000:c1:00.0
	pcidev pci0000:80/0000:80:01.1 0x1022 0x1483 0x060400 0x1022 0x1453 pcieport 70
	a100=pci0000:80/0000:80:01.1/0000:81:00.0
	sriov_gpu $a100 0x20b5 0x1533 4 71
	put "$R/sys/devices/$a100/.fake-vf-host-driver" nvidia
	put "$R/sys/devices/$a100/.fake-mdev-driver" nvidia-vgpu-vfio
	cat >"$R/sys/devices/$a100/.fake-vf-mdev-types" <<'T'
nvidia-694 1 NVIDIA A100D-20C
nvidia-696 1 NVIDIA A100D-10C
T
}

# nvidia_gpu DEVPATH IOMMUGROUP NUMANODE: a Tesla T4 (10de:1eb8, class 0x030200) on the nvidia
# driver with two vGPU mdev types (T4-1B: 16, T4-8Q: 2 available).
nvidia_gpu() {
	pcidev "$1" 0x10de 0x1eb8 0x030200 0x10de 0x12a2 nvidia "$2"
	put "$R/sys/devices/$1/numa_node" "$3"
	driver mdev nvidia-vgpu-vfio
	mdev_parent "$1"
	mdev_type "$1" nvidia-222 "GRID T4-1B" 16 vfio-pci "num_heads=4, frl_config=45"
	mdev_type "$1" nvidia-230 "GRID T4-8Q" 2 vfio-pci "num_heads=4, frl_config=60"
}

# vbus_mgmtdev ID NETLEFT BLKMAX: vbus_sim.ko's parent vbus_sim<ID> on its bus and its vbus
# management device as vbus.ko shows it in sysfs (/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_simID,
# types net with max 8 and NETLEFT available, blk with BLKMAX of BLKMAX).
vbus_mgmtdev() {
	[ -d "$R/sys/bus/vbus_sim" ] || bus vbus_sim
	[ -d "$R/sys/bus/virtbus" ] || bus virtbus
	d=sys/devices/vbus_sim$1
	put "$R/$d/uevent" ""
	lnk sys/bus/vbus_sim "$R/$d/subsystem"
	lnk "$d" "$R/sys/bus/vbus_sim/devices/vbus_sim$1"
	m=$R/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim$1
	put "$m/provider" vbus_sim
	lnk "$d" "$m/parent"
	put "$m/types/net/max_instances" 8
	put "$m/types/net/available_instances" "$2"
	put "$m/types/net/match_id" vbus_sim.net
	put "$m/types/blk/max_instances" "$3"
	put "$m/types/blk/available_instances" "$3"
	put "$m/types/blk/match_id" vbus_sim.blk
}

# virtbus_dev ID NAME TYPE: a device of vbus_sim<ID>'s management device, unbound.
virtbus_dev() {
	v=sys/devices/vbus_sim$1/vbus_sim$1.$2
	put "$R/$v/type" "$3"
	put "$R/$v/driver_override" "(null)"
	put "$R/$v/modalias" "virtbus:vbus_sim.$3"
	lnk sys/bus/virtbus "$R/$v/subsystem"
	lnk "$v" "$R/sys/bus/virtbus/devices/vbus_sim$1.$2"
}

base() {
	rm -rf "$R"
	mkdir -p "$R/sys/class/mdev_bus" "$R/sys/kernel/iommu_groups" "$R/etc/vbus/devices.d" \
		"$R/etc/vbus/policy.d" "$R/run"
	put "$R/proc/sys/kernel/osrelease" 6.1.0-56-amd64
	bus pci
	bus mdev
	driver pci pcieport
	driver pci vfio-pci
	# vfio is loaded: /dev/vfio/vfio (misc 10:196).
	put "$R/sys/devices/virtual/misc/vfio/dev" "10:196"
	mkdir -p "$R/sys/class/misc"
	lnk sys/devices/virtual/misc/vfio "$R/sys/class/misc/vfio"
}

mdevctl_defs() {
	e=$R/etc/mdevctl.d
	mkdir -p "$e/0000:00:02.0" "$e/matrix" "$e/mtty"
	# As mdevctl 1.x writes them: serde_json pretty printing, two spaces.
	cat >"$e/0000:00:02.0/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" <<'J'
{
  "mdev_type": "i915-GVTg_V5_8",
  "start": "auto",
  "attrs": []
}
J
	cat >"$e/mtty/0a2c6c7e-3e8f-4b70-9d6d-8f6e1b2c3d40" <<'J'
{
  "mdev_type": "mtty-2",
  "start": "manual"
}
J
	cat >"$e/matrix/e2e8a0a4-5c1d-4a64-b8c6-3f1b9d7e2a55" <<'J'
{
  "mdev_type": "vfio_ap-passthrough",
  "start": "auto",
  "attrs": [
    {
      "assign_adapter": "5"
    },
    {
      "assign_domain": "0x47"
    },
    {
      "assign_control_domain": "0x47"
    }
  ]
}
J
	# Damaged: not JSON.
	printf '{ "mdev_type": "mtty-1", "start": \n' >"$e/mtty/f00dbeef-0000-4000-8000-000000000001"
}

driverctl_defs() {
	e=$R/etc/driverctl.d
	mkdir -p "$e"
	# driverctl: one file per override, named BUS-DEVICE, holding the driver name.
	printf 'vfio-pci\n' >"$e/pci-0000:04:00.0"
	printf 'vfio-pci\n' >"$e/pci-0000:0a:00.0"
}

vbus_defs() {
	d=$R/etc/vbus/devices.d
	cat >"$d/gpu-desktop.json" <<'J'
{
  "version": 1,
  "name": "gpu-desktop",
  "kind": "mdev",
  "parent": "0000:00:02.0",
  "type": "i915-GVTg_V5_4",
  "uuid": "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10",
  "driver": "auto",
  "start": "auto",
  "tags": [ "vm" ]
}
J
	cat >"$d/nic-vf1.json" <<'J'
{
  "version": 1,
  "name": "nic-vf1",
  "kind": "vf",
  "parent": "0000:03:00.0",
  "index": 1,
  "attrs": [ { "mac": "52:54:00:12:34:56" } ],
  "driver": "vfio",
  "start": "manual"
}
J
	# Damaged: truncated, must be reported by name and skipped.
	printf '{ "version": 1, "name": "broken", "kind": "mdev", "parent": \n' >"$d/broken.json"
}

for c in $cases; do
	R=$dest/$c
	base
	case $c in
	host-gvt)
		gvt_gpu
		;;
	host-ap)
		ap_matrix
		;;
	host-sriov)
		sriov_nic
		plain_nic e1000e
		nvme
		;;
	host-mixed)
		gvt_gpu
		mtty
		sriov_nic
		# The plain NIC is held by vfio-pci through a driverctl override.
		plain_nic vfio-pci
		put "$R/sys/devices/pci0000:00/0000:00:1c.4/0000:04:00.0/driver_override" vfio-pci
		vfio_group 9
		nvme
		mdevctl_defs
		driverctl_defs
		vbus_defs
		;;
	host-2gpu)
		# Two T4s behind their root ports on NUMA nodes 0 and 1, and the NVMe and the
		# SR-IOV NIC of host-sriov (8 VFs, 2 made).
		pcidev pci0000:3a/0000:3a:00.0 0x8086 0x2030 0x060400 0x1028 0x0869 pcieport 30
		nvidia_gpu pci0000:3a/0000:3a:00.0/0000:3b:00.0 31 0
		pcidev pci0000:ae/0000:ae:00.0 0x8086 0x2030 0x060400 0x1028 0x0869 pcieport 40
		nvidia_gpu pci0000:ae/0000:ae:00.0/0000:af:00.0 41 1
		sriov_nic
		nvme
		;;
	host-vgpu)
		vgpu_host
		;;
	host-vbus)
		# Two vbus_sim parents; vbus_sim1 holds a virtbus device another tool made.
		vbus_mgmtdev 1 7 2
		virtbus_dev 1 other net
		vbus_mgmtdev 2 8 2
		;;
	*)
		echo "mktree.sh: unknown case $c" >&2
		exit 2
		;;
	esac
done
