#!/bin/bash
# CDI: vbusd keeps /var/run/cdi current for a pci function (the e1000e) and a VF (qemu's NVMe)
# on vfio-pci and a vDPA device (vdpa_sim_net) on vhost_vdpa; Debian's podman resolves each
# name into an OCI config.json with the device node (major/minor of the host's node) and its
# cgroup rule; a name whose device went back to a host driver or was stopped is gone at once
# (podman: unresolvable). Needs tests/vm/run --nvme-sriov.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
SPEC=/var/run/cdi/vbus.dev-vfio.json
VSPEC=/var/run/cdi/vbus.dev-vhost-vdpa.json
PM=/tmp/podman
# podman without a configured host: storage and state on tmpfs, no systemd, no network.
pm() {
	podman --root $PM/storage --runroot $PM/run --tmpdir $PM/tmp --storage-driver vfs \
		--cgroup-manager=cgroupfs --events-backend=file "$@"
}

# jget NAME KEY: KEY of NAME in vbusctl -j list --all (through vbusd); lists joined by ",".
jget() {
	"$VBUSCTL" -j list --all "$1" | python3 -c '
import json, sys
v = json.load(sys.stdin)[0].get(sys.argv[1])
print(",".join(v) if isinstance(v, list) else ("" if v is None else v))' "$2"
}

# majmin PATH: "major:minor" of a device node, in decimal.
majmin() {
	printf '%d:%d' "0x$(stat -c %t "$1")" "0x$(stat -c %T "$1")"
}

# resolves WHAT CDINAME ENV NODE...: podman create + init of a container with CDINAME; its
# config.json holds each NODE with the host's major/minor and an allow rule for it, and ENV.
resolves() {
	local what=$1 name=$2 env=$3 id cfg out node mm=()
	shift 3
	for node in "$@"; do
		mm+=("$node=$(majmin "$node")")
	done
	id=$(pm create --network none --device "$name" --rootfs $PM/rootfs /bin/true 2>&1) || {
		fail "$what: podman create" "$id"
		return 1
	}
	if ! out=$(pm init "$id" 2>&1); then
		fail "$what: podman init" "$out"
		return 1
	fi
	cfg=$(find $PM/storage -path "*$id*/config.json" | head -n 1)
	if [ -z "$cfg" ]; then
		fail "$what: podman init wrote config.json" "$out"
		return 1
	fi
	out=$(python3 - "$cfg" "$env" "${mm[@]}" <<'EOF'
import json, sys
cfg, env = sys.argv[1:3]
c = json.load(open(cfg))
bad = []
for arg in sys.argv[3:]:
    node, mm = arg.split("=")
    major, minor = (int(x) for x in mm.split(":"))
    devs = [d for d in c["linux"].get("devices") or [] if d["path"] == node]
    rules = [r for r in c["linux"]["resources"].get("devices") or []
             if r.get("allow") and r.get("major") == major and r.get("minor") == minor]
    if not devs or devs[0].get("type") != "c" or (devs[0].get("major"), devs[0].get("minor")) != (major, minor):
        bad.append("device %s %s not in %s" % (node, mm, c["linux"].get("devices")))
    if not rules or "rw" not in rules[0].get("access", ""):
        bad.append("no allow rule for %s in %s" % (mm, c["linux"]["resources"].get("devices")))
if env not in c["process"]["env"]:
    bad.append("env %s not in %s" % (env, c["process"]["env"]))
print("\n".join(bad))
EOF
	)
	if [ -z "$out" ]; then ok "$what"; else fail "$what" "$out"; fi
}

mkdir -p /etc/vbus/devices.d $PM/rootfs/bin $PM/tmp
# A root file system with a command in it, so that the runtime creates the container too.
cp /bin/busybox $PM/rootfs/bin/true
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
for m in vdpa_sim_net vhost_vdpa; do
	check "load $m" load_fixture $m
done
check "load nvme, e1000e and vfio-pci" modprobe -a nvme e1000e vfio_pci
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
"$VBUSD" >"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd owns org.vbus1" 10 busctl --system call org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1

pf='' nic=''
for d in /sys/bus/pci/devices/*; do
	[ -f "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] && pf=${d##*/}
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10d3 ] && nic=${d##*/}
done
assert_eq "an SR-IOV PF and an e1000e are present" yes "$([ -n "$pf" ] && [ -n "$nic" ] && echo yes)"

# ---- through vbusd: three devices, three names ------------------------------------------------
check "create nic0 (pci, vfio)" "$VBUSCTL" create nic0 --kind pci --parent "$nic" --driver vfio
check "create vf1 (vf 1, vfio)" "$VBUSCTL" create vf1 --kind vf --parent "$pf" --index 1 \
	--driver vfio
check "create vd0 (vdpa, vfio = vhost_vdpa)" "$VBUSCTL" create vd0 --kind vdpa \
	--parent vdpasim_net --driver vfio
vf=$(basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn1")")
ngroup=$(basename "$(readlink -f "/sys/bus/pci/devices/$nic/iommu_group")")
vgroup=$(basename "$(readlink -f "/sys/bus/pci/devices/$vf/iommu_group")")
vhost=$(basename "$(echo /sys/bus/vdpa/devices/vd0/vhost-vdpa-*)")

assert_eq "list: nic0's pci_address" "$nic" "$(jget nic0 pci_address)"
assert_eq "list: nic0's iommu_group" "$ngroup" "$(jget nic0 iommu_group)"
assert_eq "list: nic0's device nodes" "/dev/vfio/$ngroup,/dev/vfio/vfio" "$(jget nic0 device_nodes)"
assert_eq "list: vf1's pci_address is its VF's" "$vf" "$(jget vf1 pci_address)"
assert_eq "list: vf1 wants vfio-pci" vfio-pci "$(jget vf1 wanted_driver)"
assert_eq "list: vd0's device node" "/dev/$vhost" "$(jget vd0 device_nodes)"
check "list: the table shows WANT and the VF's address" sh -c \
	"$VBUSCTL list vf1 | grep -Eq '^vf1 .*index 1 $vf .*vfio-pci +vfio-pci\$'"
check "D-Bus: vf1's PciAddress property" sh -c "busctl --system get-property org.vbus1 \
	/org/vbus1/device/vf1 org.vbus1.Device PciAddress | grep -qx 's \"$vf\"'"

assert_eq "vbusctl cdi list: the three names" \
	"vbus.dev/vfio=nic0 vbus.dev/vfio=vf1 vbus.dev/vhost-vdpa=vd0" \
	"$("$VBUSCTL" cdi list | sort | tr '\n' ' ' | sed 's/ $//')"
assert_file_contains "the vfio spec is version 0.3.0" "$SPEC" '"cdiVersion": "0.3.0"'

t0=$SECONDS
resolves "podman: vbus.dev/vfio=nic0 gives /dev/vfio/$ngroup and /dev/vfio/vfio" \
	vbus.dev/vfio=nic0 "VBUS_PCI_ADDRESS_NIC0=$nic" "/dev/vfio/$ngroup" /dev/vfio/vfio
resolves "podman: vbus.dev/vfio=vf1 gives /dev/vfio/$vgroup" vbus.dev/vfio=vf1 \
	"VBUS_PCI_ADDRESS_VF1=$vf" "/dev/vfio/$vgroup"
resolves "podman: vbus.dev/vhost-vdpa=vd0 gives /dev/$vhost" vbus.dev/vhost-vdpa=vd0 \
	"VBUS_VDPA_DEVICE_VD0=vd0" "/dev/$vhost"

note "three podman create + init: $((SECONDS - t0)) s (script at $SECONDS s)"

# ---- vbusd start writes them again (same names, whatever the group numbers) --------------------
kill "$vbusd_pid"
wait "$vbusd_pid"
rm -f /var/run/cdi/vbus.dev-*.json
"$VBUSD" >>"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd rewrote the specs at start" 10 test -e "$VSPEC"
assert_eq "after a restart: the same three names" \
	"vbus.dev/vfio=nic0 vbus.dev/vfio=vf1 vbus.dev/vhost-vdpa=vd0" \
	"$("$VBUSCTL" cdi list | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- back to the host: the name is gone at once -----------------------------------------------
later=$(pm create --network none --device vbus.dev/vfio=nic0 --rootfs $PM/rootfs /bin/true)
check "assign nic0 host (e1000e)" "$VBUSCTL" assign nic0 host
assert_eq "nic0 is on e1000e" e1000e "$(basename "$(readlink -f "/sys/bus/pci/devices/$nic/driver")")"
check "nic0 left the vfio spec" sh -c "! grep -q '\"nic0\"' $SPEC"
assert_eq "list: nic0 on the host has its netdev" \
	"$(ls "/sys/bus/pci/devices/$nic/net")" "$(jget nic0 netdev)"
out=$(pm init "$later" 2>&1)
if grep -q "unresolvable CDI devices vbus.dev/vfio=nic0" <<<"$out"; then
	ok "podman: vbus.dev/vfio=nic0 is unresolvable"
else
	fail "podman: vbus.dev/vfio=nic0 is unresolvable" "$out"
fi
check "stop vd0" "$VBUSCTL" stop vd0
assert_absent "the vhost-vdpa spec is gone with its only device" "$VSPEC"
check "vf1 is still there" sh -c "$VBUSCTL cdi list | grep -qx vbus.dev/vfio=vf1"
check "remove vf1" "$VBUSCTL" remove vf1
assert_absent "the vfio spec is gone with its last device" "$SPEC"

"$VBUSCTL" remove nic0 >/dev/null
"$VBUSCTL" remove vd0 >/dev/null
kill "$vbusd_pid"
wait "$vbusd_pid"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
pm rm -fa >/dev/null 2>&1
note "script: $SECONDS s"
finish
