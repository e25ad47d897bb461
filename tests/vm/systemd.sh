#!/bin/bash
# vbusd.service under a real systemd (tests/vm/run --systemd): installed by meson as a user
# would, started as Type=notify, reached through D-Bus activation, and doing its job inside
# its sandbox: a virtbus device (vbus genl), an SF (devlink) and an mdev (sysfs) created
# through the daemon, definitions written to /etc/vbus; a clean stop and an error-free journal.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

# unit_prop PROP: one property of vbusd.service.
unit_prop() {
	systemctl show -P "$1" vbusd.service
}

# name_owner: the unique name owning org.vbus1 (empty when none).
name_owner() {
	busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		GetNameOwner s org.vbus1 2>/dev/null | sed -n 's/^s "\(.*\)"$/\1/p'
}

# journal_since CURSOR_FILE: vbusd's journal lines since the cursor (all when no cursor).
vbusd_journal() {
	journalctl --no-pager -o short-monotonic -u vbusd.service "$@"
}

# lap WHAT: a note with the seconds since the last lap (bash's clock: no fork).
vm_lap=$EPOCHREALTIME
lap() {
	local now=$EPOCHREALTIME
	note "$1: $(awk -v a="$vm_lap" -v b="$now" 'BEGIN { printf "%.1f", b - a }') s"
	vm_lap=$now
}

drv() { # the driver a sysfs device is bound to, or "none"
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo none; fi
}

# ---- systemd is PID 1 ------------------------------------------------------------------------
assert_eq "PID 1 is systemd" systemd "$(cat /proc/1/comm)"
assert_eq "no failed units at boot" "" "$(systemctl list-units --failed --plain --no-legend)"

# ---- install as meson does -------------------------------------------------------------------
[ -n "$VBUS_BUILD" ] || { fail "VBUS_BUILD is set (tests/vm/run --build)"; finish; }
lap "boot checks"
check "meson install of the build dir" meson install -C "$VBUS_BUILD" --no-rebuild --quiet
lap "meson install"
# meson does not run ldconfig; an administrator would, but over 9p in TCG it scans every
# library for 25 s. A link in the trusted dir lets ld.so find libvbus the same way.
libvbus=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print(next(v for v in m.values() if v.endswith("/libvbus.so.0")))' "$VBUS_BUILD/meson-info/intro-installed.json" 2>/dev/null)
case ${libvbus%/*} in
/lib/* | /usr/lib/x86_64-linux-gnu) ;;
*) ln -sf "$libvbus" /usr/lib/x86_64-linux-gnu/libvbus.so.0 ;;
esac
lap "libvbus link"
# Where meson put each file (the build's own record, read once: python is slow in TCG).
mapfile -t paths < <(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
def where(tail, sub=""):
    return next((v for k, v in m.items() if k.endswith("/" + tail) and sub in v), "")
for t, sub in (("vbusd.service", ""), ("org.vbus1.conf", ""), ("org.vbus1.service", ""),
               ("vbusctl", "/bin/"), ("vbusd", "/sbin/")):
    print(where(t, sub))' "$VBUS_BUILD/meson-info/intro-installed.json")
unit=${paths[0]} policy=${paths[1]} activation=${paths[2]} vbusctl=${paths[3]} vbusd=${paths[4]}
assert_exists "vbusd.service installed" "$unit"
assert_exists "vbusd installed" "$vbusd"
assert_exists "vbusctl installed" "$vbusctl"
lap "paths from intro-installed.json"
note "unit $unit, policy $policy, activation $activation"

# Debian's dbus-daemon reads policies from /usr/share/dbus-1/system.d and /etc/dbus-1/system.d
# only: a --prefix=/usr/local install puts org.vbus1.conf where the bus never looks, and vbusd
# could not own its name. Link it into /etc as the administrator of such an install must.
case ${policy%/*} in
/usr/share/dbus-1/system.d | /etc/dbus-1/system.d) ;;
*)
	note "the D-Bus policy went to ${policy%/*}, which dbus-daemon does not read;" \
		"linked into /etc/dbus-1/system.d (a --prefix=/usr install does not need this)"
	mkdir -p /etc/dbus-1/system.d
	ln -sf "$policy" /etc/dbus-1/system.d/org.vbus1.conf
	;;
esac

# A sanitized build (tools/dev.ini): LeakSanitizer needs ptrace, which SystemCallFilter
# forbids, and would fail every exit with status 1. The sandbox stays as shipped; only the leak
# check is off (ASan and UBSan still report, and the journal check below reads them).
if ldd "$vbusd" | grep -q libasan; then
	note "vbusd is built with ASan: drop-in ASAN_OPTIONS=detect_leaks=0"
	mkdir -p /etc/systemd/system/vbusd.service.d
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
		>/etc/systemd/system/vbusd.service.d/50-vm-asan.conf
fi

# The alias dbus-org.vbus1.service (what org.vbus1.service names) exists once the unit is
# enabled, as Debian's postinst does with deb-systemd-helper. enable reloads systemd (each
# reload reads every unit over 9p: 5-10 s in TCG, so only this one).
check "systemctl enable vbusd (and the reload it does)" systemctl enable vbusd.service
lap "systemctl enable"
assert_eq "systemd knows vbusd.service from $unit" "$unit" "$(unit_prop FragmentPath)"
assert_eq "vbusd.service is Type=notify" notify "$(unit_prop Type)"
assert_eq "dbus-org.vbus1.service is vbusd.service" vbusd.service \
	"$(systemctl show -P Id dbus-org.vbus1.service)"
check "dbus-daemon reloads its configuration" busctl --system call org.freedesktop.DBus \
	/org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
check "org.vbus1 is activatable" sh -c \
	"busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
	ListActivatableNames | grep -q '\"org.vbus1\"'"

# The hardening that applies on this machine, as systemd sees the loaded unit.
score=$(systemd-analyze security vbusd.service 2>&1 | sed -n 's/.*exposure level for vbusd.service: \([0-9.]*\).*/\1/p')
note "systemd-analyze security vbusd.service (online): $score"
check "exposure of the loaded vbusd.service is at most 2.5" \
	awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }'

lap "dbus reload, security"
# ---- systemctl start: Type=notify reaches active, the bus name is vbusd's -------------------
mkdir -p /etc/vbus/devices.d
check "systemctl start vbusd" timeout 60 systemctl start vbusd.service
assert_eq "vbusd.service is active (running)" active/running \
	"$(unit_prop ActiveState)/$(unit_prop SubState)"
pid=$(unit_prop MainPID)
assert_eq "its main process is vbusd" vbusd "$(cat /proc/"$pid"/comm 2>/dev/null)"
assert_eq "it told systemd it is ready (STATUS=)" "Serving org.vbus1" "$(unit_prop StatusText)"
owner=$(name_owner)
assert_eq "org.vbus1 is owned" yes "$([ -n "$owner" ] && echo yes || echo no)"
assert_eq "the owner of org.vbus1 is the unit's main PID" "$pid" \
	"$(busctl --system status org.vbus1 2>/dev/null | sed -n 's/^PID=//p')"
assert_eq "busctl status org.vbus1 names vbusd.service" vbusd.service \
	"$(busctl --system status org.vbus1 2>/dev/null | sed -n 's/^Unit=//p')"
# Through the bus, not in-process: with no bus vbusctl fails instead of doing the work itself.
expect_fail "vbusctl without a bus fails (so it is not working in-process)" 1 "vbusd" \
	env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent "$vbusctl" list

lap "start"
# ---- the job, inside the sandbox -------------------------------------------------------------
check "load vbus.ko and vbus_sim.ko" load_kmod
echo 1 >/sys/bus/vbus_sim/new_device
check "load mtty" load_fixture mtty
dmesg_mark

check "virtbus: vbusctl create n1 through vbusd" \
	"$vbusctl" create n1 --kind virtbus --parent vbus_sim/vbus_sim1 --type net
assert_exists "virtbus: vbus_sim1.n1 exists" /sys/bus/virtbus/devices/vbus_sim1.n1
assert_eq "virtbus: vbus_sim1.n1 is bound to vbus_sim_net" vbus_sim_net \
	"$(drv /sys/bus/virtbus/devices/vbus_sim1.n1)"
assert_file_contains "virtbus: /etc/vbus/devices.d/n1.json written" \
	/etc/vbus/devices.d/n1.json '"kind": *"virtbus"'

check "sf: vbusctl create s1 through vbusd (devlink port add)" \
	"$vbusctl" create s1 --kind sf --parent vbus_sim/vbus_sim1 --index 7
check "sf: vbusctl lists s1 as active" sh -c "'$vbusctl' -j list s1 | grep -q '\"active\": *true'"
assert_file_contains "sf: /etc/vbus/devices.d/s1.json written" \
	/etc/vbus/devices.d/s1.json '"kind": *"sf"'

check "mdev: vbusctl create m1 through vbusd" \
	"$vbusctl" create m1 --kind mdev --parent mtty --type mtty-2
uuid=$(sed -n 's/.*"uuid": *"\([0-9a-f-]*\)".*/\1/p' /etc/vbus/devices.d/m1.json 2>/dev/null)
assert_file_contains "mdev: /etc/vbus/devices.d/m1.json written" \
	/etc/vbus/devices.d/m1.json '"kind": *"mdev"'
assert_exists "mdev: /sys/bus/mdev/devices/UUID exists" "/sys/bus/mdev/devices/${uuid:-no-uuid-in-m1.json}"
assert_eq "mdev: bound to mtty" mtty "$(drv "/sys/bus/mdev/devices/${uuid:-none}")"
# pci (tests/vm/run --nvme-sriov): vbusd itself must load vfio-pci (modprobe: CAP_SYS_MODULE,
# @module, the module tree readable) and bind through driver_override and drivers_probe.
nic=
if [ "${VBUS_VM_NVME_SRIOV:-0}" = 1 ]; then
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10d3 ] && nic=${d##*/} && break
	done
	N=/sys/bus/pci/devices/$nic
	modprobe e1000e
	assert_eq "pci: the e1000e is bound to e1000e" e1000e "$(drv "$N")"
	assert_absent "pci: vfio-pci is not loaded yet" /sys/module/vfio_pci
	check "pci: vbusctl create nic0 --driver vfio through vbusd" \
		"$vbusctl" create nic0 --kind pci --parent "$nic" --driver vfio
	assert_exists "pci: vbusd loaded vfio-pci" /sys/module/vfio_pci
	assert_eq "pci: bound to vfio-pci" vfio-pci "$(drv "$N")"
	assert_eq "pci: driver_override is vfio-pci" vfio-pci "$(cat "$N/driver_override")"
else
	note "no --nvme-sriov: the pci part (module loading by vbusd) is not run"
fi

check "vbusctl list through vbusd shows n1, s1 and m1" sh -c \
	"out=\$('$vbusctl' list); for n in n1 s1 m1; do echo \"\$out\" | grep -qw \$n || exit 1; done"

for n in m1 s1 n1; do
	check "vbusctl remove $n through vbusd" "$vbusctl" remove $n
done
if [ -n "$nic" ]; then
	check "pci: vbusctl remove nic0 through vbusd" "$vbusctl" remove nic0
	assert_eq "pci: back with e1000e" e1000e "$(drv "$N")"
fi
assert_eq "mdev: gone after remove" "" "$(ls /sys/bus/mdev/devices)"
assert_absent "virtbus: gone after remove" /sys/bus/virtbus/devices/vbus_sim1.n1
assert_eq "no definitions left" "" "$(ls /etc/vbus/devices.d)"
dmesg_clean

lap "create and remove"
# ---- D-Bus activation ------------------------------------------------------------------------
check "systemctl stop vbusd" timeout 60 systemctl stop vbusd.service
assert_eq "vbusd.service is inactive (not failed) after stop" inactive/dead \
	"$(unit_prop ActiveState)/$(unit_prop SubState)"
assert_eq "vbusd exited with status 0" 0 "$(unit_prop ExecMainStatus)"
assert_eq "the stop's result is success" success "$(unit_prop Result)"
assert_eq "nobody owns org.vbus1 once stopped" "" "$(name_owner)"
check "vbusctl list with vbusd stopped succeeds" timeout 60 "$vbusctl" list
assert_eq "the call activated vbusd.service" active "$(unit_prop ActiveState)"
assert_eq "org.vbus1 is owned by the activated vbusd" "$(unit_prop MainPID)" \
	"$(busctl --system status org.vbus1 2>/dev/null | sed -n 's/^PID=//p')"
check "dbus-daemon activated it through systemd (dbus-org.vbus1.service)" sh -c \
	"journalctl --no-pager -u dbus.service | grep -q \"Activating via systemd: service name='org.vbus1' unit='dbus-org.vbus1.service'\""

lap "activation"
# ---- clean stop, clean journal ---------------------------------------------------------------
check "systemctl stop vbusd (activated)" timeout 60 systemctl stop vbusd.service
assert_eq "inactive after the second stop" inactive/dead \
	"$(unit_prop ActiveState)/$(unit_prop SubState)"
assert_eq "exit status 0 after the second stop" 0 "$(unit_prop ExecMainStatus)"
assert_eq "vbusd's journal has no message of priority err or worse" "" \
	"$(vbusd_journal -p err -q)"
check "vbusd's journal says it served and stopped twice" sh -c \
	"[ \$(journalctl --no-pager -u vbusd.service -o cat | grep -c '^vbusd stopped') -eq 2 ]"
check "no sanitizer or seccomp trouble in vbusd's journal" sh -c \
	"! journalctl --no-pager -u vbusd.service -o cat | grep -Ei 'Sanitizer|runtime error|Operation not permitted|Permission denied|Read-only file system'"
lap "stop and journal"
note "vbusd's journal:"
vbusd_journal -q | sed 's/^/#   /'

finish
