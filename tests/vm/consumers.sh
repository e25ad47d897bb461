#!/bin/bash
# The programs that drive mdevs through the "mdevctl" command line, against a real kernel (the
# mtty sample): first the same mdevctl commands through Debian's mdevctl 1.2.0 and through
# vbusctl run as mdevctl, compared (output, exit status, what sysfs shows); then Debian's
# libvirt 9.0 (libvirtd's node device driver) with vbus's mdevctl first in its PATH and vbusd
# on the bus: every virsh nodedev-* step shows in vbusctl and in sysfs.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
BIN=$VM_STATE/bin
mkdir -p "$BIN" /etc/vbus/devices.d /etc/mdevctl.d/scripts.d/callouts \
	/etc/mdevctl.d/scripts.d/notifiers
ln -sf "$VBUSCTL" "$BIN/mdevctl"
# devtmpfs has no /dev/stdin or /dev/fd: libvirt passes definitions as --jsonfile=/dev/stdin.
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

check "load mtty" load_fixture mtty
check "load vfio-mdev support" modprobe -a vfio_pci vfio_iommu_type1
dmesg_mark
M=/sys/bus/mdev/devices

# ---- differential: Debian's mdevctl and vbus's, the same commands on the real mtty ----------

U1=11111111-2222-4333-8444-000000000001
U2=11111111-2222-4333-8444-000000000002
U3=11111111-2222-4333-8444-000000000003
# One run of the scenario with PROG as mdevctl; each step's exit status, output and what sysfs
# shows go to the transcript on stdout.
scenario() {
	local prog=$1
	step() {
		local out rc=0
		out=$("$prog" "$@" 2>/dev/null) || rc=$?
		echo "\$ mdevctl $* [exit $rc]"
		# JSON is compared as parsed (key order and spacing may differ).
		if [[ $out == [\[\{]* ]]; then
			printf '%s' "$out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'
		else
			printf '%s\n' "$out"
		fi
	}
	sysfs() {
		local u
		echo "# sysfs: $(ls $M 2>/dev/null | tr '\n' ' ')"
		for u in $(ls $M 2>/dev/null); do
			echo "#   $u type=$(basename "$(readlink -f $M/$u/mdev_type)") driver=$(basename "$(readlink -f $M/$u/driver)")"
		done
		echo "# available mtty-1 $(cat /sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances)" \
			"mtty-2 $(cat /sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/available_instances)"
	}
	step define -u $U1 -p mtty -t mtty-2
	step define --uuid=$U2 --parent=mtty --type=mtty-1 --auto
	step list -d
	step start -u $U1
	sysfs
	step start -u $U1
	step list
	step list --dumpjson
	step list -v
	step types -p mtty
	step types --dumpjson
	step modify -u $U1 --auto
	step list
	step stop -u $U1
	sysfs
	step stop -u $U1
	step start -u $U3 -p mtty -t mtty-1
	sysfs
	step list
	step stop -u $U3
	step start-parent-mdevs mtty
	sysfs
	step list -d
	step stop -u $U1
	step stop -u $U2
	step undefine -u $U1
	step undefine -u $U2
	step list -d
	sysfs
}

ref=$(scenario /usr/bin/mdevctl)
# Whatever the first run left (it should be nothing: the transcripts would differ) goes.
for u in $(ls $M 2>/dev/null); do echo 1 >"$M/$u/remove"; done
rm -rf /etc/mdevctl.d/mtty
ours=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent scenario "$BIN/mdevctl")
if [ "$ref" = "$ours" ]; then
	ok "mdevctl 1.2.0 and vbus's mdevctl: same output, exit status and sysfs, step by step ($(grep -c '^\$' <<<"$ref") commands)"
else
	fail "mdevctl 1.2.0 and vbus's mdevctl differ" "$(diff -u <(echo "$ref") <(echo "$ours") | head -80)"
fi
echo "# transcript of vbus's mdevctl:"
head -c 3000 <<<"$ours" | sed 's/^/#   /'
assert_eq "nothing left over: no mdev, no definition" "" "$(ls $M; ls /etc/vbus/devices.d)"

# ---- libvirt 9.0 with vbus's mdevctl first in its PATH ---------------------------------------

check "start udev" start_udev mdev_bus mtty
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
"$VBUSD" >"$VBUS_OUT/vbusd.log" 2>&1 &
vbusd_pid=$!
wait_for "vbusd owns org.vbus1" 20 busctl --system call org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1

# What libvirt-daemon-system would have made.
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt libvirt-qemu
mkdir -p /var/log/libvirt /var/lib/libvirt /run/libvirt /var/cache/libvirt
# A log of what libvirt asks of mdevctl, by a wrapper first in its PATH.
LOG=$VBUS_OUT/libvirt-mdevctl.log
cat >"$BIN/mdevctl-log" <<EOF
#!/bin/sh
echo "mdevctl \$*" >>"$LOG"
exec "$BIN/mdevctl" "\$@"
EOF
chmod +x "$BIN/mdevctl-log"
mkdir -p "$VM_STATE/libvirt-bin"
ln -sf "$BIN/mdevctl-log" "$VM_STATE/libvirt-bin/mdevctl"
PATH=$VM_STATE/libvirt-bin:$PATH libvirtd >"$VBUS_OUT/libvirtd.log" 2>&1 &
libvirtd_pid=$!
virsh() { command virsh -c qemu:///system "$@"; }
wait_for "libvirtd answers" 60 virsh version

UL=22222222-2222-4333-8444-000000000001
cat >"$VM_STATE/mdev.xml" <<EOF
<device>
  <parent>mtty_mtty</parent>
  <capability type='mdev'>
    <type id='mtty-2'/>
    <uuid>$UL</uuid>
  </capability>
</device>
EOF
check "virsh nodedev-define of an mtty mdev" virsh nodedev-define "$VM_STATE/mdev.xml"
name=$(virsh nodedev-list --cap mdev --all | grep "${UL//-/_}" | head -n1)
assert_eq "virsh nodedev-list --cap mdev --all shows it" "mdev_${UL//-/_}_mtty" "$name"
# jfield NAME KEY: KEY of NAME in vbusctl's JSON listing (through vbusd), "" when absent.
jfield() {
	"$VBUSCTL" -j list --all "$1" 2>/dev/null | python3 2>/dev/null -c '
import json, sys
for o in json.load(sys.stdin):
    v = o.get(sys.argv[1])
    print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))
    break' "$2"
}
assert_eq "vbusctl lists it, named by its UUID, type mtty-2" mtty-2 "$(jfield $UL type)"
check "it is stored as /etc/vbus/devices.d/$UL.json" test -f "/etc/vbus/devices.d/$UL.json"
check "virsh nodedev-start" virsh nodedev-start "$name"
assert_exists "the mdev exists in sysfs" "$M/$UL"
assert_link_target "it is bound to mtty" "$M/$UL/driver" mtty
assert_eq "vbusctl lists it active" true "$(jfield $UL active)"
check "virsh nodedev-autostart" virsh nodedev-autostart "$name"
check "the definition says start: auto" grep -q '"start": *"auto"' "/etc/vbus/devices.d/$UL.json"
check "virsh nodedev-dumpxml names the type and the uuid" \
	sh -c "virsh nodedev-dumpxml $name | grep -q \"<type id='mtty-2'\" && virsh nodedev-dumpxml $name | grep -q '<uuid>$UL</uuid>'"
check "virsh nodedev-destroy" virsh nodedev-destroy "$name"
assert_absent "the mdev is gone from sysfs" "$M/$UL"
assert_eq "vbusctl lists it inactive" false "$(jfield $UL active)"
check "virsh nodedev-undefine" virsh nodedev-undefine "$name"
assert_absent "the definition is gone" "/etc/vbus/devices.d/$UL.json"
assert_eq "vbusctl no longer lists it" "" "$(jfield $UL name)"

UV=33333333-2222-4333-8444-000000000001
check "vbusctl create of an mdev (through vbusd)" \
	"$VBUSCTL" create vm-serial --kind mdev --parent mtty --type mtty-1 --uuid $UV --manual
wait_for "virsh nodedev-list --cap mdev --all shows the mdev vbusctl made" 30 \
	sh -c "virsh nodedev-list --cap mdev --all | grep -q ${UV//-/_}"
check "vbusctl remove" "$VBUSCTL" remove vm-serial
assert_absent "removed from sysfs" "$M/$UV"

echo "# what libvirt asked of mdevctl:"
sort -u "$LOG" 2>/dev/null | head -20 | sed 's/^/#   /'
check "libvirt ran vbus's mdevctl with --jsonfile=/dev/stdin" grep -q -- '--jsonfile=/dev/stdin' "$LOG"
kill "$libvirtd_pid" "$vbusd_pid" 2>/dev/null
wait "$libvirtd_pid" "$vbusd_pid" 2>/dev/null
dmesg_clean
finish
