#!/bin/bash
# Stacks against the real 6.1 kernel (issue 19): a vDPA device on an SF of vbus_sim
# ("parent": "@sf-a"), through the real vbusd. vbus_sim_vdpa (kmod/, built with the fixtures
# against vdpa.ko) registers a vDPA management device on every active SF,
# "auxiliary/vbus_sim.sf.N", as mlx5_vdpa does on "auxiliary/mlx5_core.sf.N".
# First the kernel side by hand (management device, dev_add's refusals, teardown in every
# order), then vbusd: start of the stack, stop, undefine refused, a reload of vbus_sim after
# which vbusd makes sf-a and then vnet-a again by itself, and a restart of vbusd that changes
# nothing. An SF and a vDPA device made by hand stay as they are until the reload takes them.
# One boot: tests/vm/run tests/vm/stack-sf.sh
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"
# shellcheck source=lib/stack.sh
. "$VBUS_SRC/tests/vm/lib/stack.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
DL=vbus_sim/vbus_sim1

devices() { # the vdpa and auxiliary devices, one line
	local d
	for d in /sys/bus/vdpa/devices/* /sys/bus/auxiliary/devices/*; do
		printf '%s ' "${d##*/}"
	done
}

active() { # NAME -> true/false/missing, as vbusctl list --all NAME shows it (no python: TCG)
	local out
	out=$("$VBUSCTL" -j list --all "$1" 2>/dev/null) || { echo missing; return; }
	case $out in
	*'"active": true'*) echo true ;;
	*'"active": false'*) echo false ;;
	*) echo missing ;;
	esac
}

is_active() { # NAME true/false: as `active` says
	[ "$(active "$1")" = "$2" ]
}

log_lines() { # the number of lines vbusd has logged so far
	wc -l <"$VBUS_OUT/vbusd.log"
}

# in_order WHAT FROM FIRST SECOND: after line FROM of vbusd's log, FIRST is logged before SECOND.
in_order() {
	local a b
	a=$(awk -v f="$2" -v p="$3" 'NR > f && index($0, p) { print NR; exit }' "$VBUS_OUT/vbusd.log")
	b=$(awk -v f="$2" -v p="$4" 'NR > f && index($0, p) { print NR; exit }' "$VBUS_OUT/vbusd.log")
	if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; then
		ok "$1"
	else
		fail "$1" "'$3' at line ${a:-none}, '$4' at line ${b:-none} of vbusd.log (after $2)"
	fi
}

vbusd_start() {
	"$VBUSD" --log-level=debug >>"$VBUS_OUT/vbusd.log" 2>&1 &
	VBUSD_PID=$!
	wait_for "vbusd owns org.vbus1 ($1)" 20 busctl --system call org.freedesktop.DBus \
		/org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.vbus1
}

check "load our modules" load_kmod
check "load vhost_vdpa" load_fixture vhost_vdpa
check "load vbus_sim_vdpa" load_fixture vbus_sim_vdpa
assert_eq "vbus_sim.ko needs no vdpa module" "vbus" "$(modinfo -F depends "$VBUS_KMOD_DIR/vbus_sim.ko")"
check "start udev" start_udev
dmesg_mark
echo 1 >/sys/bus/vbus_sim/new_device
check "devlink shows $DL" sh -c "devlink dev show | grep -q $DL"

# ---- the kernel side, by hand ----------------------------------------------------------------
check "devlink port add sfnum 9" devlink port add $DL flavour pcisf pfnum 0 sfnum 9
P9=$(port_of 9)
check "an inactive SF has no management device" sh -c '! vdpa mgmtdev show | grep -q "^auxiliary/vbus_sim"'
check "set SF 9 active" devlink port function set "$P9" state active
A9=$(sf_aux 9)
assert_exists "SF 9 has its virtio-net function ${A9/sf/vnet}" "/sys/bus/auxiliary/devices/${A9/sf/vnet}"
assert_link_target "vbus_sim_vdpa bound it" "/sys/bus/auxiliary/devices/${A9/sf/vnet}/driver" \
	vbus_sim_vdpa.vnet
M9=auxiliary/$A9
vdpa mgmtdev show >mgmtdev.txt
assert_file_contains "vdpa mgmtdev show lists $M9" mgmtdev.txt "^$M9:"
assert_file_contains "... with supported_classes net" mgmtdev.txt "supported_classes net"
expect_fail "dev_add refuses max_vqp 2" 1 "Operation not supported" \
	vdpa dev add name bad0 mgmtdev "$M9" max_vqp 2
expect_fail "dev_add refuses mtu 9500" 1 "Numerical result out of range" \
	vdpa dev add name bad0 mgmtdev "$M9" mtu 9500
expect_fail "dev_add refuses a multicast mac" 1 "Invalid argument" \
	vdpa dev add name bad0 mgmtdev "$M9" mac 01:00:5e:00:00:01
check "the kernel log names the cause" sh -c 'dmesg | grep -q "vdpa device bad0: mtu 9500 is out of range 68-9000"'
assert_absent "no device bad0 was left" /sys/bus/vdpa/devices/bad0
check "vdpa dev add hand0 on $M9 (mac, mtu 1400)" \
	vdpa dev add name hand0 mgmtdev "$M9" mac 02:00:00:00:00:09 mtu 1400 max_vqp 1
assert_eq "hand0's management device" "$M9" "$(vdpa_mgmt hand0)"
vdpa dev config show hand0 >hand0-config.txt
assert_file_contains "hand0's config: mac and mtu" hand0-config.txt \
	"mac 02:00:00:00:00:09 link up.*mtu 1400"
expect_fail "one device per SF" 1 "No space left" vdpa dev add name bad1 mgmtdev "$M9"
assert_link_target "hand0 is bound to vhost_vdpa" /sys/bus/vdpa/devices/hand0/driver vhost_vdpa
H0=$(vhost_of hand0)
assert_exists "/dev/$H0 exists" "/dev/$H0"
check "/dev/$H0 opens (VHOST_GET_FEATURES through vhost_vdpa)" \
	python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
b = fcntl.ioctl(fd, 0x8008af00, bytes(8))
sys.exit(0 if struct.unpack("Q", b)[0] & (1 << 32) else 1)' "/dev/$H0"
# virtio_vdpa works too: virtio_net drives it (no datapath behind it, no control queue to hang
# on). Loaded after vhost_vdpa, which keeps getting the new devices.
check "load virtio_vdpa" load_fixture virtio_vdpa
check "hand0 rebound to virtio_vdpa (driver_override)" sh -c \
	'echo hand0 >/sys/bus/vdpa/devices/hand0/driver/unbind &&
	 echo virtio_vdpa >/sys/bus/vdpa/devices/hand0/driver_override &&
	 echo hand0 >/sys/bus/vdpa/drivers/virtio_vdpa/bind'
wait_for "virtio_net made a netdev with hand0's mac" 15 sh -c \
	'grep -qx 02:00:00:00:00:09 /sys/bus/vdpa/devices/hand0/virtio*/net/*/address'
check "its link comes up (config status LINK_UP)" sh -c \
	'n=$(ls /sys/bus/vdpa/devices/hand0/virtio*/net) && ip link set "$n" up &&
	 sleep 0.5 && grep -qx up "/sys/class/net/$n/operstate"'
# Teardown in every order: SF deactivated, port deleted, vbus_sim_vdpa removed, with a device.
check "set SF 9 inactive with hand0 on it (virtio_vdpa, netdev up)" devlink port function set "$P9" state inactive
assert_absent "hand0 went with its SF" /sys/bus/vdpa/devices/hand0
check "no management device is left for it" sh -c "! vdpa mgmtdev show | grep -q '^$M9:'"
check "no netdev is left of it" sh -c '! grep -rqx 02:00:00:00:00:09 /sys/class/net/*/address'

check "set SF 9 active again" devlink port function set "$P9" state active
A9=$(sf_aux 9)
M9=auxiliary/$A9
check "vdpa dev add hand0 again" vdpa dev add name hand0 mgmtdev "$M9"
check "devlink port del SF 9 with hand0 on it" devlink port del "$P9"
assert_absent "hand0 went with its port" /sys/bus/vdpa/devices/hand0
check "devlink port add sfnum 9, active, hand0 on it" sh -c \
	"devlink port add $DL flavour pcisf pfnum 0 sfnum 9 >/dev/null &&
	 devlink port function set \$(devlink port show | awk '/sfnum 9/ { sub(\":\$\", \"\", \$1); print \$1 }') state active"
A9=$(sf_aux 9)
M9=auxiliary/$A9
check "vdpa dev add hand0 on $M9" vdpa dev add name hand0 mgmtdev "$M9" mac 02:00:00:00:00:09
check "rmmod vbus_sim_vdpa with hand0 live" rmmod vbus_sim_vdpa
assert_absent "hand0 went with the module" /sys/bus/vdpa/devices/hand0
assert_eq "the SF stays, unbound" none "$(drv "/sys/bus/auxiliary/devices/${A9/sf/vnet}")"
check "load vbus_sim_vdpa again: the management device is back" sh -c \
	"insmod $VBUS_FIXTURES/vbus_sim_vdpa.ko && vdpa mgmtdev show | grep -q '^$M9:'"
check "vdpa dev add hand0 (by hand, next to what vbusd makes)" \
	vdpa dev add name hand0 mgmtdev "$M9" mac 02:00:00:00:00:09
P9=$(port_of 9)
dmesg_clean "kernel side by hand"
lap "kernel side by hand"

# ---- through vbusd ---------------------------------------------------------------------------
: >"$VBUS_OUT/vbusd.log"
mkdir -p /etc/vbus/devices.d
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
vbusd_start "first start"
check "define sf-a (SF 5 of vbus_sim1, auto)" \
	"$VBUSCTL" define sf-a --kind sf --parent $DL --index 5 --auto
check "define vnet-a on @sf-a (type net, driver vfio = vhost_vdpa, auto)" \
	"$VBUSCTL" define vnet-a --kind vdpa --parent @sf-a --type net --driver vfio --auto
mark=$(log_lines)
check "start vnet-a" "$VBUSCTL" start vnet-a
in_order "start vnet-a: sf-a started first, then vnet-a" "$mark" "Started 'sf-a'" "Started 'vnet-a'"
A5=$(sf_aux 5)
assert_eq "the SF for sf-a exists (sfnum 5)" yes "$([ -n "$A5" ] && echo yes || echo no)"
assert_eq "vnet-a stands on auxiliary/$A5" "auxiliary/$A5" "$(vdpa_mgmt vnet-a)"
assert_link_target "vnet-a is bound to vhost_vdpa" /sys/bus/vdpa/devices/vnet-a/driver vhost_vdpa
V=$(vhost_of vnet-a)
assert_exists "/dev/$V exists" "/dev/$V"
assert_eq "list: sf-a active" true "$(active sf-a)"
assert_eq "list: vnet-a active" true "$(active vnet-a)"
expect_fail "undefine sf-a is refused while vnet-a stands on it" 1 "'vnet-a' stands on 'sf-a'" \
	"$VBUSCTL" undefine sf-a
mark=$(log_lines)
check "stop sf-a" "$VBUSCTL" stop sf-a
in_order "stop sf-a: vnet-a stopped first" "$mark" "Stopped 'vnet-a'" "Stopped 'sf-a'"
assert_absent "stopping sf-a took vnet-a down" /sys/bus/vdpa/devices/vnet-a
check "SF 5 is gone" sh -c '! devlink port show | grep -q "sfnum 5"'
assert_eq "list: vnet-a inactive" false "$(active vnet-a)"
check "start vnet-a again" "$VBUSCTL" start vnet-a
check "stop vnet-a: sf-a stays" sh -c "'$VBUSCTL' stop vnet-a && devlink port show | grep -q 'sfnum 5'"
assert_absent "vnet-a is gone" /sys/bus/vdpa/devices/vnet-a
check "start vnet-a" "$VBUSCTL" start vnet-a
assert_link_target "hand0 untouched: still on vhost_vdpa" /sys/bus/vdpa/devices/hand0/driver vhost_vdpa
assert_eq "hand0 untouched: its SF" "$M9" "$(vdpa_mgmt hand0)"
check "SF 9 (by hand) untouched: active" sh -c "devlink port show $P9 | grep -q 'state active'"

check "sf-a and vnet-a have run records" test -f /run/vbus/sf-a.json -a -f /run/vbus/vnet-a.json
lap "vbusd: start, stop, undefine"

# ---- restart of vbusd with both running: nothing made, nothing removed -----------------------
before=$(devices)
kill "$VBUSD_PID"
wait "$VBUSD_PID"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
vbusd_start "restart"
sleep 2
assert_eq "after the restart: the same vdpa and auxiliary devices" "$before" \
	"$(devices)"
assert_eq "after the restart: sf-a active" true "$(active sf-a)"
assert_eq "after the restart: vnet-a active" true "$(active vnet-a)"

lap "vbusd restart"

# ---- reload of vbus_sim ----------------------------------------------------------------------
check "rmmod vbus_sim_drv vbus_sim with everything live" rmmod vbus_sim_drv vbus_sim
assert_absent "vnet-a is gone" /sys/bus/vdpa/devices/vnet-a
assert_absent "hand0 is gone (its SF went with vbus_sim)" /sys/bus/vdpa/devices/hand0
check "no vbus_sim management device is left" sh -c '! vdpa mgmtdev show | grep -q vbus_sim'
check "rmmod vbus_sim_vdpa" rmmod vbus_sim_vdpa
wait_for "vbusd shows sf-a inactive" 10 is_active sf-a false
wait_for "vbusd shows vnet-a inactive" 10 is_active vnet-a false
check "no run record is left" sh -c '! ls /run/vbus/*.json >/dev/null 2>&1'
lap "rmmod"
check "load vbus_sim and vbus_sim_vdpa again" sh -c \
	"insmod $VBUS_KMOD_DIR/vbus_sim.ko && insmod $VBUS_KMOD_DIR/vbus_sim_drv.ko &&
	 insmod $VBUS_FIXTURES/vbus_sim_vdpa.ko"
t1=$EPOCHREALTIME
mark=$(log_lines)
echo 1 >/sys/bus/vbus_sim/new_device
wait_for "vbusd makes sf-a again by itself" 20 sh -c "devlink port show | grep -q 'sfnum 5'"
wait_for "vbusd makes vnet-a on the new SF by itself" 20 test -e /sys/bus/vdpa/devices/vnet-a/driver
note "new_device to vnet-a: $(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
in_order "reload: vbusd started sf-a, then vnet-a" "$mark" "Started 'sf-a'" "Started 'vnet-a'"
A5=$(sf_aux 5)
assert_eq "vnet-a stands on the new SF auxiliary/$A5" "auxiliary/$A5" "$(vdpa_mgmt vnet-a)"
assert_link_target "vnet-a is bound to vhost_vdpa" /sys/bus/vdpa/devices/vnet-a/driver vhost_vdpa
assert_eq "list: sf-a active" true "$(active sf-a)"
assert_eq "list: vnet-a active" true "$(active vnet-a)"
assert_eq "hand0 was not made again: vnet-a is the only vdpa device" "vnet-a" \
	"$(cd /sys/bus/vdpa/devices && echo *)"
check "SF 9 was not made again" sh -c '! devlink port show | grep -q "sfnum 9"'
check "sf-a and vnet-a have run records again" test -f /run/vbus/sf-a.json -a -f /run/vbus/vnet-a.json
lap "reload"

check "stop sf-a (vnet-a first)" "$VBUSCTL" stop sf-a
assert_absent "vnet-a is gone" /sys/bus/vdpa/devices/vnet-a
check "undefine vnet-a, then sf-a" sh -c "'$VBUSCTL' undefine vnet-a && '$VBUSCTL' undefine sf-a"
kill "$VBUSD_PID"
wait "$VBUSD_PID"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
check "vbusd's log has no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $VBUS_OUT/vbusd.log"
check "rmmod vbus_sim_vdpa vbus_sim_drv vbus_sim" rmmod vbus_sim_vdpa vbus_sim_drv vbus_sim
dmesg_clean
finish
