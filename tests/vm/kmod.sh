#!/bin/bash
# The kmod suite: vbus.ko and vbus_sim.ko in the Debian kernel: the virtbus bus, the vbus genl
# family through vbus-nl (every op, dumps, bad attributes, permissions), devlink subfunctions,
# rebinding, module lifetimes under load, and a clean kernel log.
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
assert_eq "modalias attribute" virtbus:net "$(cat $V/vbus_sim1.net0/modalias)"
assert_file_contains "uevent has MODALIAS=virtbus:net" $V/vbus_sim1.net0/uevent '^MODALIAS=virtbus:net$'
assert_eq "driver_override reads (null)" "(null)" "$(cat $V/vbus_sim1.net0/driver_override)"
assert_eq "net0 is bound to vbus_sim_net" vbus_sim_net "$(driver_of $V/vbus_sim1.net0)"
check "dev-new blk0 blk" $NL dev-new $M blk0 blk
assert_eq "blk0 is bound to vbus_sim_blk" vbus_sim_blk "$(driver_of $V/vbus_sim1.blk0)"
assert_eq "mgmtdev-list counts instances" "$M: net 1/8 blk 1/8" "$($NL mgmtdev-list $M 2>&1)"

assert_eq "dev-get (doit)" \
	"vbus_sim1.net0: mgmtdev $M name net0 type net driver vbus_sim_net override -" \
	"$($NL dev-get $M net0 2>&1)"
assert_eq "dev-get (dump)" \
	"vbus_sim1.net0: mgmtdev $M name net0 type net driver vbus_sim_net override -
vbus_sim1.blk0: mgmtdev $M name blk0 type blk driver vbus_sim_blk override -" \
	"$($NL dev-get 2>&1)"
check "new_device 2" sh -c 'echo 2 >/sys/bus/vbus_sim/new_device'
check "dev-new on vbus_sim2" $NL dev-new vbus_sim/vbus_sim2 net0 net
assert_eq "dev-get dump filtered by mgmtdev" \
	"vbus_sim2.net0: mgmtdev vbus_sim/vbus_sim2 name net0 type net driver vbus_sim_net override -" \
	"$($NL dev-get vbus_sim/vbus_sim2 2>&1)"
assert_eq "dump of all devices has 3 lines" 3 "$($NL dev-get | wc -l)"
# A dump larger than one message (the default skb is ~4-16k): 60 devices.
echo 64 >/sys/kernel/debug/vbus_sim/vbus_sim2/max_blk
for i in $(seq 1 60); do $NL dev-new vbus_sim/vbus_sim2 "b$i" blk || break; done
assert_eq "a 63-device dump is complete (multi-part)" 63 "$($NL dev-get | wc -l)"
for i in $(seq 1 60); do $NL dev-del vbus_sim/vbus_sim2 "b$i" || break; done
assert_eq "after deleting them, 3 remain" 3 "$($NL dev-get | wc -l)"

expect_fail "unknown type is refused" 1 'does not support this device type' \
	$NL dev-new $M x0 gpu
expect_fail "duplicate name is refused" 1 'already exists' $NL dev-new $M net0 net
expect_fail "unknown mgmtdev is refused" 1 'Management device not found' \
	$NL dev-new vbus_sim/nope x0 net
expect_fail "a name with a dot is refused" 1 'Device name must be made of' $NL dev-new $M a.b net
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
expect_fail "raw: dev-set with neither" 1 'Driver name or unbound flag is required' \
	$NL raw dev-set mgmtdev-bus-name:str:vbus_sim mgmtdev-dev-name:str:vbus_sim1 dev-name:str:net0
assert_eq "nothing was created by the bad requests" 3 "$($NL dev-get | wc -l)"
note "bad-attribute messages: $($NL raw dev-new mgmtdev-bus-name:str:vbus_sim \
	mgmtdev-dev-name:str:vbus_sim1 dev-name:long:40 dev-type:str:net 2>&1)"

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
for m in vbus vbus_sim; do strip --strip-debug -o "$VM_STATE/ko/$m.ko" "$VBUS_KMOD_DIR/$m.ko"; done
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

dmesg_clean
note "script time: $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')s"
finish
