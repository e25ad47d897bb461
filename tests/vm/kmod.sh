#!/bin/bash
# The kmod suite: vbus.ko and vbus_sim.ko in the Debian kernel: the virtbus bus, the vbus genl
# family through vbus-nl (every op, dumps, bad attributes, permissions), devlink subfunctions,
# rebinding, configuration, provider-scoped ids and udev autoloading, the locking rule (a slow
# probe, a probe calling back into vbus), module lifetimes under load, and a clean kernel log.
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

CYCLES=${VBUS_KMOD_CYCLES:-200}
PARALLEL_ITERS=${VBUS_KMOD_PARALLEL_ITERS:-100}
[ ! -f "$VBUS_OUT/kmod.env" ] || . "$VBUS_OUT/kmod.env"	# quick runs: CYCLES=20

now() {
	read -r t _ </proc/uptime
	echo "$t"
}
t_start=$(now)

NL=$(guest_client vbus-nl libnl-genl-3.0) || { fail "vbus-nl builds"; finish; }
note "vbus-nl: $NL"

M=vbus_sim/vbus_sim1
V=/sys/bus/virtbus/devices
DBG=/sys/kernel/debug/vbus_sim/vbus_sim1
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

driver_of() {
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo none; fi
}

# ---- load ----------------------------------------------------------------------------------
dmesg_mark
check "insmod vbus.ko and vbus_sim.ko" load_kmod || { finish; }
assert_exists "bus virtbus exists" /sys/bus/virtbus
assert_exists "bus vbus_sim exists" /sys/bus/vbus_sim/new_device
assert_exists "the mgmtdevs directory exists" /sys/bus/virtbus/mgmtdevs
assert_exists "drivers vbus_sim_net registered" /sys/bus/virtbus/drivers/vbus_sim_net
assert_exists "drivers vbus_sim_blk registered" /sys/bus/virtbus/drivers/vbus_sim_blk
ctrl=$(genl ctrl list 2>&1)
assert_eq "genl ctrl list shows family vbus with group monitor" yes \
	"$(awk '/^Name: /{f=($2=="vbus")} f && /name: monitor/{print "yes"; exit}' <<<"$ctrl")"
assert_eq "family vbus has version 1" yes \
	"$(genl ctrl get name vbus | grep -q 'Version: 0x1' && echo yes)"

# ---- parents and devlink SFs -----------------------------------------------------------------
check "new_device 1" sh -c 'echo 1 >/sys/bus/vbus_sim/new_device'
assert_exists "parent vbus_sim1 on bus vbus_sim" /sys/bus/vbus_sim/devices/vbus_sim1
expect_fail "new_device 1 again is refused" '*' 'File exists' bash -c 'echo 1 >/sys/bus/vbus_sim/new_device'
expect_fail "new_device with an ID above INT_MAX is refused" '*' '' \
	sh -c 'echo 2147483648 >/sys/bus/vbus_sim/new_device'
assert_eq "devlink dev show lists vbus_sim/vbus_sim1" yes \
	"$(devlink dev show | grep -qx 'vbus_sim/vbus_sim1' && echo yes)"
for f in max_net max_blk fail_next_dev_new fail_next_port_new; do
	assert_exists "debugfs $f" "$DBG/$f"
done

check "devlink port add flavour pcisf pfnum 0 sfnum 88" \
	devlink port add $M flavour pcisf pfnum 0 sfnum 88
port=$(devlink port show | awk '/sfnum 88/ { sub(":$", "", $1); print $1; exit }')
assert_eq "the new port is vbus_sim/vbus_sim1/1" $M/1 "$port"
assert_eq "the PF port and the SF port have type eth and a representor netdev" "2 2" \
	"$(devlink port show | grep -c 'type eth netdev vbsim') $(ls /sys/devices/vbus_sim1/net | grep -c vbsim)"
assert_eq "new port: state inactive, opstate detached" yes \
	"$(devlink port show "$port" | grep -q 'state inactive opstate detached' && echo yes)"
check "port function set hw_addr + state active" \
	devlink port function set "$port" hw_addr 00:11:22:33:44:55 state active
show=$(devlink port show "$port")
assert_eq "port reports hw_addr 00:11:22:33:44:55 state active opstate attached" yes \
	"$(grep -q 'hw_addr 00:11:22:33:44:55 state active opstate attached' <<<"$show" && echo yes)"
sf=$(ls -d /sys/bus/auxiliary/devices/vbus_sim.sf.* 2>/dev/null | head -n1)
assert_exists "auxiliary device vbus_sim.sf.N exists" "${sf:-/nonexistent}"
assert_eq "the SF device is bound by vbus_sim.sf" vbus_sim.sf "$(driver_of "${sf:-/x}")"
assert_eq "the SF device is a child of vbus_sim1" /sys/devices/vbus_sim1 \
	"$(dirname "$(readlink -f "${sf:-/x}")")"
expect_fail "hw_addr of an active function cannot change" '*' 'active function' \
	devlink port function set "$port" hw_addr 00:11:22:33:44:66
expect_fail "pfnum 1 is refused with a message" '*' 'Only PF number 0 is supported' \
	devlink port add $M flavour pcisf pfnum 1 sfnum 89
expect_fail "a duplicate sfnum is refused" '*' 'SF number is already in use' \
	devlink port add $M flavour pcisf pfnum 0 sfnum 88
expect_fail "flavour pcivf is refused" '*' 'Only port flavour pcisf' \
	devlink port add $M flavour pcivf pfnum 0
echo 12 >"$DBG/fail_next_port_new"
expect_fail "fail_next_port_new fails the next port add" '*' 'Injected failure' \
	devlink port add $M flavour pcisf pfnum 0 sfnum 90
check "the failure was one-shot: port add without sfnum works" \
	devlink port add $M flavour pcisf pfnum 0
check "state inactive" devlink port function set "$port" state inactive
assert_absent "inactive removes the SF device" "${sf:-/nonexistent}"
assert_eq "port reports state inactive opstate detached" yes \
	"$(devlink port show "$port" | grep -q 'state inactive opstate detached' && echo yes)"
check "devlink port del" devlink port del "$port"
assert_eq "the port is gone" "" "$(devlink port show | grep 'sfnum 88')"
expect_fail "deleting it again fails" '*' '' devlink port del "$port"

# ---- vbus genl: mgmtdev ----------------------------------------------------------------------
assert_eq "mgmtdev-list (dump)" "$M: net 0/8 blk 0/8" "$($NL mgmtdev-list 2>&1)"
assert_eq "mgmtdev-list $M (doit)" "$M: net 0/8 blk 0/8" "$($NL mgmtdev-list $M 2>&1)"
expect_fail "mgmtdev-list of an unknown mgmtdev" 1 'Management device not found' \
	$NL mgmtdev-list vbus_sim/vbus_sim9

# ---- vbus genl: devices ----------------------------------------------------------------------
check "dev-new net0 net" $NL dev-new $M net0 net
assert_exists "vbus_sim1.net0 is on the virtbus bus" $V/vbus_sim1.net0
assert_eq "its parent is vbus_sim1" /sys/devices/vbus_sim1 "$(dirname "$(readlink -f $V/vbus_sim1.net0)")"
assert_eq "type attribute" net "$(cat $V/vbus_sim1.net0/type)"
assert_eq "modalias attribute is provider-scoped" virtbus:vbus_sim.net "$(cat $V/vbus_sim1.net0/modalias)"
assert_file_contains "uevent has MODALIAS=virtbus:vbus_sim.net" $V/vbus_sim1.net0/uevent \
	'^MODALIAS=virtbus:vbus_sim.net$'
assert_eq "driver_override reads (null)" "(null)" "$(cat $V/vbus_sim1.net0/driver_override)"
assert_eq "net0 is bound to vbus_sim_net" vbus_sim_net "$(driver_of $V/vbus_sim1.net0)"
check "dev-new blk0 blk" $NL dev-new $M blk0 blk
assert_eq "blk0 is bound to vbus_sim_blk" vbus_sim_blk "$(driver_of $V/vbus_sim1.blk0)"
assert_eq "mgmtdev-list counts instances" "$M: net 1/8 blk 1/8" "$($NL mgmtdev-list $M 2>&1)"

assert_eq "dev-get (doit)" \
	"vbus_sim1.net0: mgmtdev $M name net0 type net driver vbus_sim_net override -" \
	"$($NL dev-get $M net0 2>&1)"
assert_eq "dev-get (dump, sorted by name)" \
	"vbus_sim1.blk0: mgmtdev $M name blk0 type blk driver vbus_sim_blk override -
vbus_sim1.net0: mgmtdev $M name net0 type net driver vbus_sim_net override -" \
	"$($NL dev-get 2>&1)"
# NLM_F_ECHO: DEV_NEW answers with the device as made (bound by then), as DEV_GET describes it;
# without the flag nothing but the ACK (the dev-new checks above print nothing).
assert_eq "dev-new --echo replies with the new device, bound" \
	"vbus_sim1.net1: mgmtdev $M name net1 type net driver vbus_sim_net override -" \
	"$($NL dev-new --echo $M net1 net 2>&1)"
assert_eq "dev-new without --echo prints nothing" "" "$($NL dev-new $M net2 net 2>&1)"
assert_eq "dev-get net1 agrees with the echo" \
	"vbus_sim1.net1: mgmtdev $M name net1 type net driver vbus_sim_net override -" \
	"$($NL dev-get $M net1 2>&1)"
check "dev-del net1" $NL dev-del $M net1
check "dev-del net2" $NL dev-del $M net2
check "new_device 2" sh -c 'echo 2 >/sys/bus/vbus_sim/new_device'
check "dev-new on vbus_sim2" $NL dev-new vbus_sim/vbus_sim2 net0 net
assert_eq "dev-get dump filtered by mgmtdev" \
	"vbus_sim2.net0: mgmtdev vbus_sim/vbus_sim2 name net0 type net driver vbus_sim_net override -" \
	"$($NL dev-get vbus_sim/vbus_sim2 2>&1)"
assert_eq "dump of all devices has 3 lines" 3 "$($NL dev-get | wc -l)"
assert_eq "a dump filtered by device name lists net0 of both parents" \
	"vbus_sim1.net0 vbus_sim2.net0" \
	"$($NL raw dev-get --dump dev-name:str:net0 2>&1 | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
expect_fail "a dump filter with a bus but no device name is refused" 1 \
	'A management device filter needs its bus and device names' \
	$NL raw dev-get --dump mgmtdev-bus-name:str:vbus_sim
expect_fail "a dump filtered by an unknown mgmtdev is refused" 1 'Management device not found' \
	$NL dev-get vbus_sim/vbus_sim9
assert_eq "the mgmtdev dump honours its filter" "vbus_sim/vbus_sim2: net 1/8 blk 0/8" \
	"$($NL raw mgmtdev-get --dump mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim2 2>&1)"
# A dump larger than one message (the default skb is ~4-16k): 60 devices.
echo 64 >/sys/kernel/debug/vbus_sim/vbus_sim2/max_blk
for i in $(seq 1 60); do $NL dev-new vbus_sim/vbus_sim2 "b$i" blk || break; done
assert_eq "a 63-device dump is complete (multi-part)" 63 "$($NL dev-get | wc -l)"
# Dumps resume by name: devices made and deleted before the resume point between two parts
# neither skip nor repeat the others. "a*" sort before the 60 "b*" devices.
( for i in $(seq 200); do echo "dev-new vbus_sim/vbus_sim2 a$((i % 4)) blk"
	echo "dev-del vbus_sim/vbus_sim2 a$(((i + 2) % 4))"; done |
	$NL batch --keep-going >/dev/null 2>&1 ) &
churn=$!
bad_dumps=0
for i in $(seq 15); do
	out=$($NL dev-get vbus_sim/vbus_sim2 2>&1)
	nb=$(grep -c '^vbus_sim2\.b' <<<"$out")
	nu=$(grep '^vbus_sim2\.b' <<<"$out" | sort -u | wc -l)
	[ "$nb" -eq 60 ] && [ "$nu" -eq 60 ] || bad_dumps=$((bad_dumps + 1))
done
kill $churn 2>/dev/null; wait $churn 2>/dev/null
for i in 0 1 2 3; do $NL dev-del vbus_sim/vbus_sim2 a$i >/dev/null 2>&1; done
assert_eq "15 multi-part dumps during creates and deletes each list the 60 stable devices once" \
	0 "$bad_dumps"
for i in $(seq 1 60); do $NL dev-del vbus_sim/vbus_sim2 "b$i" || break; done
assert_eq "after deleting them, 3 remain" 3 "$($NL dev-get | wc -l)"

expect_fail "unknown type is refused" 1 'does not support this device type' \
	$NL dev-new $M x0 gpu
expect_fail "duplicate name is refused" 1 'already exists' $NL dev-new $M net0 net
expect_fail "unknown mgmtdev is refused" 1 'Management device not found' \
	$NL dev-new vbus_sim/nope x0 net
expect_fail "a name with a dot is refused" 1 'Device name must be made of' $NL dev-new $M a.b net
expect_fail "a name with a byte >= 0x80 is refused (ASCII only)" 1 \
	'Device name must be made of ASCII' $NL dev-new $M $'n\xe9t' net
echo 1 >"$DBG/max_blk"
expect_fail "over max_blk is refused" 1 'Maximum number of devices of this type reached' \
	$NL dev-new $M blk1 blk
echo 8 >"$DBG/max_blk"
echo 12 >"$DBG/fail_next_dev_new"
expect_fail "fail_next_dev_new: errno and message reach userspace" 1 \
	'Cannot allocate memory: vbus_sim: Injected failure (debugfs fail_next_dev_new)' \
	$NL dev-new $M blk1 blk
assert_absent "the refused device does not exist" $V/vbus_sim1.blk1
check "the failure was one-shot" $NL dev-new $M blk1 blk
check "dev-del blk1" $NL dev-del $M blk1
assert_absent "blk1 is gone" $V/vbus_sim1.blk1
expect_fail "dev-del of an unknown device" 1 'Device not found' $NL dev-del $M blk1
expect_fail "dev-get of an unknown device" 1 'Device not found' $NL dev-get $M blk1

# ---- malformed requests ----------------------------------------------------------------------
expect_fail "raw: missing required attributes" 1 'Device name and type are required' \
	$NL raw dev-new mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 dev-name:str:z0
expect_fail "raw: missing mgmtdev handle" 1 'Management device bus and device names are required' \
	$NL raw dev-del dev-name:str:net0
expect_fail "raw: oversized name" 1 'Invalid argument: Attribute failed policy validation' \
	$NL raw dev-new mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:long:40 dev-type:str:net
expect_fail "raw: string without NUL (wrong type)" 1 'Invalid argument: Attribute failed policy validation' \
	$NL raw dev-new mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:nonul:z0 dev-type:str:net
expect_fail "raw: flag with a payload (wrong type)" 1 'Attribute failed policy validation' \
	$NL raw dev-set mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:str:net0 dev-unbound:u32:1
expect_fail "raw: attribute the command does not take" 1 'Unsupported attribute' \
	$NL raw dev-del mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:str:net0 dev-type:str:net
expect_fail "raw: attribute beyond the family's max" 1 'Invalid argument' \
	$NL raw dev-get mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:str:net0 40:str:x
expect_fail "raw: unknown command" 1 '' $NL raw 99
expect_fail "raw: dev-set with driver and unbound" 1 'mutually exclusive' \
	$NL raw dev-set mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:str:net0 dev-driver:str:x dev-unbound:flag
expect_fail "raw: dev-set with neither" 1 'Driver name, unbound flag or configuration is required' \
	$NL raw dev-set mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 dev-name:str:net0
assert_eq "nothing was created by the bad requests" 3 "$($NL dev-get | wc -l)"
note "bad-attribute messages: $($NL raw dev-new mgmtdev-bus-name:str:vbus_sim \
	mgmtdev-dev-name:str:vbus_sim1 dev-name:long:40 dev-type:str:net 2>&1)"

# ---- configuration -------------------------------------------------------------------------
check "dev-new cfg0 net mac=02:00:00:00:00:11 mtu=9000" \
	$NL dev-new $M cfg0 net mac=02:00:00:00:00:11 mtu=9000
assert_eq "dev-get reports the configuration" "mac=02:00:00:00:00:11 mtu=9000" \
	"$($NL dev-config $M cfg0 2>&1 | tr '\n' ' ' | sed 's/ $//')"
check "dev-set cfg0 mtu=1400 (configuration only)" $NL dev-set $M cfg0 mtu=1400
assert_eq "mtu changed, mac kept, still bound" "mac=02:00:00:00:00:11 mtu=1400 vbus_sim_net" \
	"$($NL dev-config $M cfg0 2>&1 | tr '\n' ' ')$(driver_of $V/vbus_sim1.cfg0)"
expect_fail "mtu out of range is refused by the provider" 1 'mtu must be a number from 68 to 65535' \
	$NL dev-set $M cfg0 mac=02:00:00:00:00:22 mtu=20
assert_eq "a refused DEV_SET changes nothing (all or nothing)" "mac=02:00:00:00:00:11 mtu=1400" \
	"$($NL dev-config $M cfg0 2>&1 | tr '\n' ' ' | sed 's/ $//')"
expect_fail "a multicast mac is refused" 1 'mac must be a unicast address' \
	$NL dev-new $M cfg1 net mac=01:00:5e:00:00:01
expect_fail "capacity is not a net key" 1 'type net takes mac and mtu' \
	$NL dev-new $M cfg1 net capacity=1024
check "dev-new cfgb blk capacity=1048576" $NL dev-new $M cfgb blk capacity=1048576
assert_eq "blk reports its capacity" "capacity=1048576" "$($NL dev-config $M cfgb 2>&1)"
expect_fail "capacity must be a multiple of 512" 1 'capacity must be a positive multiple of 512' \
	$NL dev-set $M cfgb capacity=1000
expect_fail "a key with upper case is refused" 1 'Configuration keys are made of ASCII' \
	$NL dev-new $M cfg1 net MTU=1500
expect_fail "a key given twice is refused" 1 'Configuration key given twice' \
	$NL dev-new $M cfg1 net mtu=1500 mtu=1400
expect_fail "raw: an entry without a value is refused" 1 'needs a key and a value' \
	$NL raw dev-new mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 \
	dev-name:str:cfg1 dev-type:str:net dev-config:kv:mtu
assert_absent "no refused device exists" $V/vbus_sim1.cfg1
check "dev-del cfg0 cfgb" sh -c "$NL dev-del $M cfg0 && $NL dev-del $M cfgb"
# Through libvbus: vbusctl --attr on a virtbus device becomes its configuration.
VBUSCTL=$VBUS_BUILD/cli/vbusctl
check "vbusctl create vc0 --kind virtbus --attr mac=02:00:00:00:00:33 --attr mtu=1280" \
	"$VBUSCTL" --direct create vc0 --kind virtbus --parent $M --type net \
	--attr mac=02:00:00:00:00:33 --attr mtu=1280
assert_eq "vc0 has the attributes as its configuration" "mac=02:00:00:00:00:33 mtu=1280" \
	"$($NL dev-config $M vc0 2>&1 | tr '\n' ' ' | sed 's/ $//')"
expect_fail "vbusctl: a key the provider does not know fails with the kernel's message" 1 \
	'type net takes mac and mtu' \
	"$VBUSCTL" --direct create vc1 --kind virtbus --parent $M --type net --attr capacity=512
assert_absent "and no vc1 exists" $V/vbus_sim1.vc1
assert_absent "nor its definition" /etc/vbus/devices.d/vc1.json
check "vbusctl remove vc0" "$VBUSCTL" --direct remove vc0
assert_absent "vc0 is gone" $V/vbus_sim1.vc0

# ---- sysfs: mgmtdevs and their types ---------------------------------------------------------
MD=/sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim1
assert_eq "mgmtdev vbus_sim:vbus_sim1: provider, parent link" "vbus_sim /sys/devices/vbus_sim1" \
	"$(cat $MD/provider) $(readlink -f $MD/parent)"
assert_eq "types net and blk: match id, max_instances, available_instances" \
	"vbus_sim.net 8 7 vbus_sim.blk 8 7" \
	"$(for t in net blk; do echo -n "$(cat $MD/types/$t/match_id) $(cat $MD/types/$t/max_instances) $(cat $MD/types/$t/available_instances) "; done | sed 's/ $//')"
echo 5 >"$DBG/max_net"
assert_eq "available_instances follows max_net" 4 "$(cat $MD/types/net/available_instances)"
echo 8 >"$DBG/max_net"

# ---- rebinding -------------------------------------------------------------------------------
d=$V/vbus_sim1.net0
check "dev-set net0 --unbound" $NL dev-set $M net0 --unbound
assert_eq "net0 is unbound" none "$(driver_of $d)"
assert_eq "dev-get shows it held unbound" \
	"vbus_sim1.net0: mgmtdev $M name net0 type net driver - override - unbound" \
	"$($NL dev-get $M net0 2>&1)"
check "drivers_probe keeps it unbound" sh -c 'echo vbus_sim1.net0 >/sys/bus/virtbus/drivers_probe'
assert_eq "still unbound" none "$(driver_of $d)"
check "dev-set net0 vbus_sim_net" $NL dev-set $M net0 vbus_sim_net
assert_eq "net0 is bound to vbus_sim_net" vbus_sim_net "$(driver_of $d)"
assert_eq "driver_override is vbus_sim_net" vbus_sim_net "$(cat $d/driver_override)"
check "dev-set net0 vbus_sim_blk (override across types)" $NL dev-set $M net0 vbus_sim_blk
assert_eq "net0 is bound to vbus_sim_blk" vbus_sim_blk "$(driver_of $d)"
check "dev-set net0 '' clears the override" $NL dev-set $M net0 ''
assert_eq "net0 is back on vbus_sim_net" vbus_sim_net "$(driver_of $d)"
assert_eq "driver_override reads (null) again" "(null)" "$(cat $d/driver_override)"
out=$($NL dev-set $M net0 nosuch 2>&1)
assert_eq "dev-set to a driver not loaded succeeds with a warning" \
	"vbus-nl: dev-set: warning: vbus: Driver not loaded or refused the device; left unbound" "$out"
assert_eq "and leaves net0 unbound" none "$(driver_of $d)"
check "sysfs driver_override write" sh -c "echo vbus_sim_net >$d/driver_override"
check "sysfs bind" sh -c 'echo vbus_sim1.net0 >/sys/bus/virtbus/drivers/vbus_sim_net/bind'
assert_eq "bound through sysfs" vbus_sim_net "$(driver_of $d)"
expect_fail "sysfs bind to the other driver is refused by the override" '*' '' \
	sh -c 'echo vbus_sim1.blk0 >/sys/bus/virtbus/drivers/vbus_sim_net/bind'
check "sysfs driver_override clear" sh -c "echo >$d/driver_override"
expect_fail "an oversized driver_override is refused" '*' '' \
	sh -c "printf '%0100d' 0 >$d/driver_override"

# ---- monitor ---------------------------------------------------------------------------------
mon=$VM_STATE/monitor.out
$NL monitor 4 >"$mon" 2>"$mon.err" &
monpid=$!
for i in $(seq 50); do grep -q monitoring "$mon.err" 2>/dev/null && break; sleep 0.1; done
check "dev-new mon0" $NL dev-new $M mon0 net
check "dev-del mon0" $NL dev-del $M mon0
for i in $(seq 50); do kill -0 $monpid 2>/dev/null || break; sleep 0.1; done
kill $monpid 2>/dev/null && wait $monpid 2>/dev/null
assert_eq "monitor sees new, bind, unbind, del in order" \
	"[new] vbus_sim1.mon0: mgmtdev $M name mon0 type net driver - override -
[bind] vbus_sim1.mon0: mgmtdev $M name mon0 type net driver vbus_sim_net override -
[unbind] vbus_sim1.mon0: mgmtdev $M name mon0 type net driver - override -
[del] vbus_sim1.mon0: mgmtdev $M name mon0 type net driver - override -" "$(cat "$mon")"

# Notifications of their own ids: a mgmtdev coming and going, override and configuration changes.
$NL monitor 8 >"$mon" 2>"$mon.err" &
monpid=$!
for i in $(seq 50); do grep -q monitoring "$mon.err" 2>/dev/null && break; sleep 0.1; done
check "new_device 4" sh -c 'echo 4 >/sys/bus/vbus_sim/new_device'
check "dev-new m0 on vbus_sim4" $NL dev-new vbus_sim/vbus_sim4 m0 net
check "dev-set m0 mtu=1280" $NL dev-set vbus_sim/vbus_sim4 m0 mtu=1280
check "driver_override write" sh -c "echo vbus_sim_net >$V/vbus_sim4.m0/driver_override"
check "del_device 4" sh -c 'echo 4 >/sys/bus/vbus_sim/del_device'
for i in $(seq 50); do kill -0 $monpid 2>/dev/null || break; sleep 0.1; done
kill $monpid 2>/dev/null && wait $monpid 2>/dev/null
assert_eq "monitor sees mgmtdev-new, new, bind, change (config), change (override), unbind, del, mgmtdev-del" \
	"[mgmtdev-new] vbus_sim/vbus_sim4 provider vbus_sim
[new] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver - override -
[bind] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver vbus_sim_net override -
[change] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver vbus_sim_net override -
[change] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver vbus_sim_net override vbus_sim_net
[unbind] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver - override vbus_sim_net
[del] vbus_sim4.m0: mgmtdev vbus_sim/vbus_sim4 name m0 type net driver - override vbus_sim_net
[mgmtdev-del] vbus_sim/vbus_sim4 provider vbus_sim" "$(cat "$mon")"
assert_absent "its sysfs mgmtdev directory is gone" /sys/bus/virtbus/mgmtdevs/vbus_sim:vbus_sim4

# ---- the locking rule: no global lock across probe ---------------------------------------------
# A probe on vbus_sim1 that sleeps (debugfs probe_delay_ms, up to 60 s, until probe_release is
# written) while 4 processes dump and create on vbus_sim2: they all finish while it sleeps, so
# nothing waits for it beyond its own request, however slow the guest is (at load 20 the 4
# processes took 10 s). Then a probe that calls back into vbus (it would deadlock on a lock held
# across device_add).
echo 60000 >"$DBG/probe_delay_ms"
t=$(now)
$NL dev-new $M slow0 net >"$VM_STATE/slow.out" 2>&1 &
slowpid=$!
wait_for "the probe of slow0 sleeps" 60 sh -c "dmesg | grep -q 'vbus_sim1.slow0: probe: sleeping 60000 ms'"
t_sleep=$(now)
wpids=()
for w in 1 2 3 4; do
	printf '%s\n' "dev-get" "mgmtdev-list" "dev-new vbus_sim/vbus_sim2 w$w net" "dev-get $M" \
		"dev-get vbus_sim/vbus_sim2 w$w" "dev-del vbus_sim/vbus_sim2 w$w" "dev-get" |
		$NL batch >"$VM_STATE/w$w.out" 2>&1 &
	wpids+=($!)
done
wfail=0
for p in "${wpids[@]}"; do wait "$p" || wfail=$((wfail + 1)); done
t_workers=$(awk -v a="$t_sleep" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
slow_running=$(kill -0 $slowpid 2>/dev/null && echo yes || echo no)
echo 1 >"$DBG/probe_release"
wait $slowpid
slow_rc=$?
t_slow=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
note "slow probe: 4 workers done ${t_workers}s after it began to sleep; the slow create took ${t_slow}s"
assert_eq "4 processes dumping and creating on vbus_sim2 all succeeded" 0 "$wfail"
assert_eq "they finished while the probe on vbus_sim1 still slept (no stall)" yes "$slow_running"
assert_eq "probe_release ended the sleep: the slow create succeeded within 60 s, slow0 is bound" \
	"0 yes vbus_sim_net" \
	"$slow_rc $(awk -v s="$t_slow" 'BEGIN { print (s < 60) ? "yes" : "no" }') $(driver_of $V/vbus_sim1.slow0)"
assert_eq "no worker saw slow0 while it was being added" "" "$(grep -h slow0 "$VM_STATE"/w?.out)"
echo 2000 >"$DBG/probe_delay_ms"
check "a probe that sleeps 2 s without a release: dev-new slow1" $NL dev-new $M slow1 net
assert_eq "slow1 is bound" vbus_sim_net "$(driver_of $V/vbus_sim1.slow1)"
echo 0 >"$DBG/probe_delay_ms"
echo Y >"$DBG/probe_reenter"
check "a probe that calls vbus_mgmtdev_available_instances() finishes" timeout 30 $NL dev-new $M re0 net
assert_eq "re0 is bound" vbus_sim_net "$(driver_of $V/vbus_sim1.re0)"
assert_eq "its probe read the instance count through vbus" yes \
	"$(dmesg | grep -q 'vbus_sim1.re0: probe: [0-9]* more net devices available' && echo yes)"
echo N >"$DBG/probe_reenter"
check "dev-del slow0 slow1 re0" sh -c "$NL dev-del $M slow0 && $NL dev-del $M slow1 && $NL dev-del $M re0"

# ---- permissions -----------------------------------------------------------------------------
expect_fail "unprivileged dev-new is refused" 1 'Operation not permitted' \
	"${NOBODY[@]}" $NL dev-new $M u0 net
expect_fail "unprivileged dev-del is refused" 1 'Operation not permitted' \
	"${NOBODY[@]}" $NL dev-del $M net0
expect_fail "unprivileged dev-set is refused" 1 'Operation not permitted' \
	"${NOBODY[@]}" $NL dev-set $M net0 --unbound
assert_eq "unprivileged reading works (dev-get dump)" 3 "$("${NOBODY[@]}" $NL dev-get | wc -l)"
check "unprivileged mgmtdev-list works" "${NOBODY[@]}" $NL mgmtdev-list
assert_eq "net0 is still there and bound" vbus_sim_net "$(driver_of $d)"

# ---- parallel create/delete ------------------------------------------------------------------
t=$(now)
# Each loop is one process reading commands (process creation is slow under TCG).
worker() {
	local w=$1 i n
	for ((i = 0; i < PARALLEL_ITERS; i++)); do
		n=p$(( (w + i) % 3 ))	# shared names: the workers collide on purpose
		echo "dev-new $M $n net"
		echo "dev-get"
		echo "dev-set $M $n --unbound"
		echo "dev-set $M $n ''"
		echo "dev-del $M $n"
	done | $NL batch --keep-going >/dev/null 2>"$VM_STATE/worker$w.err"
}
porter() {
	local i
	for ((i = 0; i < PARALLEL_ITERS / 2; i++)); do
		echo "port add $M flavour pcisf pfnum 0 sfnum 500"
		echo "port function set $M/$((i + 3)) hw_addr 00:11:22:33:44:55 state active"
		echo "port del $M/$((i + 3))"
	done >"$VM_STATE/porter.batch"
	devlink --force --batch "$VM_STATE/porter.batch" >/dev/null 2>&1
}
pids=()
for w in 1 2 3 4; do worker $w & pids+=($!); done
porter & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
note "4 parallel loops x $PARALLEL_ITERS: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s"
for n in p0 p1 p2; do $NL dev-del $M $n >/dev/null 2>&1; done
nerr=$(cat "$VM_STATE"/worker?.err | wc -l)
note "parallel loops: $nerr of $((4 * 5 * PARALLEL_ITERS)) requests refused (names collide on purpose)"
assert_eq "most parallel requests succeeded" yes "$([ "$nerr" -lt $((2 * 5 * PARALLEL_ITERS)) ] && echo yes)"
assert_eq "refusals carry a kernel message" "" \
	"$(cat "$VM_STATE"/worker?.err | grep -v -e 'already exists' -e 'Device not found' | head -n3)"
assert_eq "after the parallel loops, instance counts are exact" "$M: net 1/8 blk 1/8" \
	"$($NL mgmtdev-list $M 2>&1)"
assert_eq "and the bus holds exactly the 3 devices" 3 "$(ls $V | wc -l)"
assert_eq "the SF ports are gone" "" "$(devlink port show | grep 'sfnum 500')"
dmesg_clean "no warnings after the parallel loops"

# ---- teardown with everything live -----------------------------------------------------------
check "port add + active on vbus_sim2" sh -c \
	"devlink port add vbus_sim/vbus_sim2 flavour pcisf pfnum 0 sfnum 7 &&
	 devlink port function set vbus_sim/vbus_sim2/1 state active"
check "del_device 2 with a device, a port and an SF" sh -c 'echo 2 >/sys/bus/vbus_sim/del_device'
assert_absent "vbus_sim2's device is gone" $V/vbus_sim2.net0
assert_absent "vbus_sim2 is gone" /sys/bus/vbus_sim/devices/vbus_sim2
assert_eq "its devlink instance is gone" "" "$(devlink dev show | grep vbus_sim2)"
assert_eq "mgmtdev-list no longer lists it" "$M: net 1/8 blk 1/8" "$($NL mgmtdev-list)"
expect_fail "del_device of an unknown ID" '*' '' sh -c 'echo 2 >/sys/bus/vbus_sim/del_device'
check "port add + active on vbus_sim1" sh -c \
	"devlink port add $M flavour pcisf pfnum 0 sfnum 8 &&
	 devlink port function set \$(devlink port show | awk '/sfnum 8 /{sub(\":\$\",\"\",\$1);print \$1}') state active"
check "rmmod vbus_sim_drv with bound devices" rmmod vbus_sim_drv
assert_eq "its devices stay, unbound" "none none" \
	"$(driver_of $V/vbus_sim1.net0) $(driver_of $V/vbus_sim1.blk0)"
check "rmmod vbus_sim with a live parent, devices, port and SF" rmmod vbus_sim
assert_eq "the virtbus bus is empty" 0 "$(ls $V | wc -l)"
assert_eq "no SF device remains" "" "$(ls /sys/bus/auxiliary/devices | grep vbus_sim)"
assert_eq "no devlink instance remains" "" "$(devlink dev show | grep vbus_sim)"
check "rmmod vbus" rmmod vbus
assert_absent "the virtbus bus is gone" /sys/bus/virtbus
expect_fail "the genl family is gone" '*' '' genl ctrl get name vbus

# ---- load/unload cycles with live devices and ports -------------------------------------------
t=$(now)
# Modules without debug info: insmod of the 700 KB debug build dominates a cycle under TCG.
mkdir -p "$VM_STATE/ko"
for m in vbus vbus_sim vbus_sim_drv; do strip --strip-debug -o "$VM_STATE/ko/$m.ko" "$VBUS_KMOD_DIR/$m.ko"; done
VBUS_KMOD_DIR=$VM_STATE/ko
cycle_fail=
printf '%s\n' "dev-new $M n net" "dev-new $M b blk" "dev-new vbus_sim/vbus_sim3 n net" \
	>"$VM_STATE/cycle.nl"
printf '%s\n' "port add $M flavour pcisf pfnum 0 sfnum 1" \
	"port function set $M/1 hw_addr 00:11:22:33:44:01 state active" \
	"port add vbus_sim/vbus_sim3 flavour pcisf pfnum 0" >"$VM_STATE/cycle.dl"
for ((c = 1; c <= CYCLES; c++)); do
	if ! { load_kmod &&
		echo 1 >/sys/bus/vbus_sim/new_device &&
		echo 3 >/sys/bus/vbus_sim/new_device &&
		$NL batch <"$VM_STATE/cycle.nl" &&
		devlink --batch "$VM_STATE/cycle.dl" >/dev/null &&
		[ -e $V/vbus_sim3.n/driver ] &&
		unload_kmod; } >"$VM_STATE/cycle.log" 2>&1; then
		cycle_fail="cycle $c: $(cat "$VM_STATE/cycle.log")"
		break
	fi
done
if [ -z "$cycle_fail" ]; then
	ok "$CYCLES load/unload cycles with 2 parents, 3 devices, 2 ports, 1 active SF"
else
	fail "$CYCLES load/unload cycles" "$cycle_fail"
fi
note "cycles: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s"
assert_absent "vbus is unloaded at the end" /sys/module/vbus

# ---- autoloading: udev loads vbus_sim_drv through its alias ------------------------------------
# The modules go into extra/ of a module tree of their own with the kernel's built-in list,
# depmod'ed and bound over /lib/modules/KVER: depmod -a of the whole tree over 9p took 422 s
# at load 20. Unmounted at the end, so nothing else can autoload our modules later.
t=$(now)
kver=$(uname -r)
MR=$VM_STATE/modroot
mkdir -p "$MR/lib/modules/$kver/extra"
cp "$VBUS_KMOD_DIR"/vbus.ko "$VBUS_KMOD_DIR"/vbus_sim.ko "$VBUS_KMOD_DIR"/vbus_sim_drv.ko \
	"$MR/lib/modules/$kver/extra/"
cp /lib/modules/"$kver"/modules.builtin /lib/modules/"$kver"/modules.builtin.modinfo \
	/lib/modules/"$kver"/modules.order "$MR/lib/modules/$kver/"
check "depmod our modules (extra/) with the kernel's built-in list" depmod -b "$MR" "$kver"
check "bind that tree over /lib/modules/$kver" mount --bind "$MR/lib/modules/$kver" "/lib/modules/$kver"
note "depmod: $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s"
assert_eq "modprobe resolves virtbus:vbus_sim.net to vbus_sim_drv" vbus_sim_drv \
	"$(modprobe -R virtbus:vbus_sim.net 2>&1)"
check "modprobe vbus_sim (pulls vbus in)" modprobe vbus_sim
assert_absent "vbus_sim_drv is not loaded" /sys/module/vbus_sim_drv
check "udevd running" start_udev
check "new_device 1" sh -c 'echo 1 >/sys/bus/vbus_sim/new_device'
check "dev-new auto0 net" $NL dev-new $M auto0 net
wait_for "udev loaded vbus_sim_drv and vbus_sim_net bound auto0" 60 \
	test -e /sys/bus/virtbus/drivers/vbus_sim_net/vbus_sim1.auto0
assert_exists "vbus_sim_drv is loaded" /sys/module/vbus_sim_drv
check "stop udevd" udevadm control --exit
check "rmmod vbus_sim_drv vbus_sim vbus with auto0 live" rmmod vbus_sim_drv vbus_sim vbus
check "unmount the module tree" umount "/lib/modules/$kver"

dmesg_clean
note "script time: $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"
finish
