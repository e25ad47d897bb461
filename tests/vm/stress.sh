#!/bin/bash
# The stress suite: vbus.ko and vbus_sim.ko under load in the Debian kernel: load/unload cycles
# with live devices, ports and an active SF; 4 processes racing DEV_NEW/DEV_DEL/DEV_SET on shared
# names while a parent comes and goes; a seeded netlink fuzzer as root and as nobody; then a
# consistent state, a clean kernel log, module use counts back to 0 and a clean unload.
#
# Scale from the environment (tests/vm/run --env NAME=VALUE): STRESS_CYCLES, STRESS_SECONDS,
# STRESS_FUZZ, STRESS_SEED. The defaults are the CI scale (vm-stress in meson).
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"

CYCLES=${STRESS_CYCLES:-100}
STORM_SECONDS=${STRESS_SECONDS:-20}
FUZZ=${STRESS_FUZZ:-20000}
SEED=${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

now() {
	read -r t _ </proc/uptime
	echo "$t"
}
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}
t_start=$(now)
note "scale: $CYCLES cycles, storm ${STORM_SECONDS}s, $FUZZ fuzz messages, seed $SEED"

NL=$(guest_client vbus-nl libnl-genl-3.0) || { fail "vbus-nl builds"; finish; }
FZ=$(guest_client nl-fuzz) || { fail "nl-fuzz builds"; finish; }
note "clients: $NL $FZ"

M=vbus_sim/vbus_sim1
V=/sys/bus/virtbus/devices
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

# What the kernel can tell about itself: say which detectors exist rather than pretend.
cfg=/boot/config-$KVER
for o in DEBUG_KMEMLEAK PROVE_LOCKING DEBUG_LIST BUG_ON_DATA_CORRUPTION KASAN SLUB_DEBUG; do
	note "kernel CONFIG_$o: $(sed -n "s/^CONFIG_$o=//p" "$cfg" 2>/dev/null | grep . || echo off)"
done
kmemleak=
if [ -e /sys/kernel/debug/kmemleak ]; then
	kmemleak=/sys/kernel/debug/kmemleak
	echo clear >"$kmemleak"
else
	note "no kmemleak in this kernel: leaks are looked for in unreclaimable slab growth per" \
		"cycle and in module use counts"
fi

# Unreclaimable slab in kB, after dropping what the kernel can drop.
slab_kb() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo
}

refcnt() {
	if [ -r "/sys/module/$1/refcnt" ]; then cat "/sys/module/$1/refcnt"; else echo none; fi
}

driver_of() {
	if [ -L "$1/driver" ]; then basename "$(readlink -f "$1/driver")"; else echo -; fi
}

# consistent: DEV_GET dump, /sys/bus/virtbus/devices and the instance counts agree, and each
# device is bound as its override says. Prints the differences; nothing when consistent.
consistent() {
	local dump sysfs_list nl_list line s mgmt type drv ovr unb want sys_ovr m
	declare -A count=()
	dump=$($NL dev-get 2>&1) || { echo "dev-get dump failed: $dump"; return; }
	nl_list=$(awk -F: 'NF { print $1 }' <<<"$dump" | sort)
	sysfs_list=$(ls $V | sort)
	[ "$nl_list" = "$sysfs_list" ] ||
		echo "DEV_GET dump and $V differ: $(diff <(echo "$nl_list") <(echo "$sysfs_list") | grep '^[<>]' | tr '\n' ' ')"
	while read -r line; do
		[ -n "$line" ] || continue
		# SYSFS: mgmtdev BUS/DEV name N type T driver D override O[ unbound]
		read -r s _ mgmt _ _ _ type _ drv _ ovr unb <<<"$line"
		s=${s%:}
		[ -d "$V/$s" ] || continue
		[ "$(cat "$V/$s/type")" = "$type" ] || echo "$s: type $type in netlink, $(cat "$V/$s/type") in sysfs"
		[ "$(driver_of "$V/$s")" = "$drv" ] || echo "$s: driver $drv in netlink, $(driver_of "$V/$s") in sysfs"
		sys_ovr=$(cat "$V/$s/driver_override")
		[ "$sys_ovr" = "$([ "$ovr" = - ] && echo '(null)' || echo "$ovr")" ] ||
			echo "$s: override $ovr in netlink, $sys_ovr in sysfs"
		if [ -n "$unb" ]; then
			want=-
		elif [ "$ovr" = vbus_sim_net ] || [ "$ovr" = vbus_sim_blk ]; then
			want=$ovr
		elif [ "$ovr" != - ]; then
			want=-
		else
			want=vbus_sim_$type
		fi
		[ "$drv" = "$want" ] || echo "$s: bound to $drv, but override '$ovr'${unb:+ (unbound)} wants $want"
		count[$mgmt:$type]=$((${count[$mgmt:$type]:-0} + 1))
	done <<<"$dump"
	while read -r line; do
		[ -n "$line" ] || continue
		m=${line%%:*}
		want="$m: net ${count[$m:net]:-0}/8 blk ${count[$m:blk]:-0}/8"
		[ "$line" = "$want" ] || echo "instance counts: kernel says '$line', the devices say '$want'"
	done <<<"$($NL mgmtdev-list 2>&1)"
}

# ---- 1. load/unload cycles with live devices, ports and an active SF --------------------------
t=$(now)
# Modules without debug info: insmod of the 700 KB debug build dominates a cycle under TCG.
mkdir -p "$VM_STATE/ko"
for m in vbus vbus_sim vbus_sim_drv; do strip --strip-debug -o "$VM_STATE/ko/$m.ko" "$VBUS_KMOD_DIR/$m.ko"; done
KO=$VM_STATE/ko
printf '%s\n' "dev-new $M n net" "dev-new $M b blk" "dev-new $M o net" \
	"dev-new vbus_sim/vbus_sim3 n net" "dev-set $M o vbus_sim_blk" "dev-set $M b --unbound" \
	>"$VM_STATE/cycle.nl"
printf '%s\n' "port add $M flavour pcisf pfnum 0 sfnum 1" \
	"port function set $M/1 hw_addr 00:11:22:33:44:01 state active" \
	"port add vbus_sim/vbus_sim3 flavour pcisf pfnum 0" >"$VM_STATE/cycle.dl"
D=/sys/bus/virtbus/drivers
cycle_fail=
slab_before=
rmmod_refused=0
for ((c = 1; c <= CYCLES; c++)); do
	# after a few cycles the kernel's own caches have grown to their steady state
	[ $c -eq 6 ] && slab_before=$(slab_kb)
	if ! {
		VBUS_KMOD_DIR=$KO load_kmod &&
		echo 1 >/sys/bus/vbus_sim/new_device &&
		echo 3 >/sys/bus/vbus_sim/new_device &&
		$NL batch <"$VM_STATE/cycle.nl" &&
		devlink --batch "$VM_STATE/cycle.dl" >/dev/null &&
		# type match, override across types, held unbound, a second parent; the SF bound
		[ -e $D/vbus_sim_net/vbus_sim1.n ] && [ -e $D/vbus_sim_blk/vbus_sim1.o ] &&
		[ ! -e $V/vbus_sim1.b/driver ] && [ -e $D/vbus_sim_net/vbus_sim3.n ] &&
		sf=(/sys/bus/auxiliary/drivers/vbus_sim.sf/vbus_sim.sf.*) && [ -e "${sf[0]}" ] &&
		read -r ref </sys/module/vbus/refcnt && [ "$ref" -ge 1 ]
	} >"$VM_STATE/cycle.log" 2>&1; then
		cycle_fail="cycle $c (setup): $(cat "$VM_STATE/cycle.log")"
		break
	fi
	# Three ways down, in turn: rmmod with everything live; parents deleted first; the SF
	# deactivated and one parent deleted first. Every tenth cycle rmmod vbus must be refused
	# while vbus_sim uses it.
	if ((c % 10 == 0)); then
		if rmmod vbus 2>/dev/null; then
			cycle_fail="cycle $c: rmmod vbus succeeded while vbus_sim was loaded"
			break
		fi
		rmmod_refused=$((rmmod_refused + 1))
	fi
	if ! {
		case $((c % 3)) in
		1) echo 3 >/sys/bus/vbus_sim/del_device && echo 1 >/sys/bus/vbus_sim/del_device ;;
		2) devlink port function set $M/1 state inactive && echo 3 >/sys/bus/vbus_sim/del_device ;;
		esac &&
		unload_kmod && [ ! -e /sys/module/vbus ] && [ ! -e /sys/bus/virtbus ]
	} >"$VM_STATE/cycle.log" 2>&1; then
		cycle_fail="cycle $c (teardown, way $((c % 3))): $(cat "$VM_STATE/cycle.log")"
		break
	fi
done
if [ -z "$cycle_fail" ]; then
	ok "$CYCLES load/unload cycles with 2 parents, 4 devices (type, override, unbound), 2 ports, 1 active SF"
else
	fail "$CYCLES load/unload cycles" "$cycle_fail"
fi
cycles_secs=$(since "$t")
note "cycles: ${cycles_secs}s, $(awk -v s="$cycles_secs" -v n="$CYCLES" 'BEGIN { printf "%.2f", s / n }')s each"
assert_eq "rmmod vbus was refused while vbus_sim used it ($((CYCLES / 10)) tries)" \
	$((CYCLES / 10)) "$rmmod_refused"
if [ -n "$slab_before" ] && [ -z "$cycle_fail" ]; then
	slab_after=$(slab_kb)
	grow=$((slab_after - slab_before))
	note "unreclaimable slab over cycles 6-$CYCLES: $slab_before kB -> $slab_after kB ($grow kB)"
	# One cycle allocates ~20 kB of slab (devices, ports, SF, sysfs, module structures); a
	# leak of one virtbus_device per cycle is 1-2 kB. The margin absorbs the kernel's noise.
	limit=$((256 + 2 * (CYCLES - 5)))
	assert_eq "unreclaimable slab grew less than $limit kB over $((CYCLES - 5)) cycles" yes \
		"$([ "$grow" -lt "$limit" ] && echo yes)"
fi
dmesg_clean "no warnings after the load/unload cycles"

# ---- 2. the storm: 4 processes, one socket each, DEV_NEW/DEV_DEL/DEV_SET on shared names -----
check "insmod vbus.ko, vbus_sim.ko and vbus_sim_drv.ko" load_kmod || finish
check "new_device 1 and 2" sh -c 'echo 1 >/sys/bus/vbus_sim/new_device && echo 2 >/sys/bus/vbus_sim/new_device'
# devlink warns "Type was not set for devlink port." only an hour after a port is registered
# (a delayed work in 6.1), longer than any run: what it checks, the port type, is asserted.
check "port add on vbus_sim1" devlink port add $M flavour pcisf pfnum 0 sfnum 5
assert_eq "every vbus_sim1 port (PF and SF) has type eth with its representor netdev" "2 0" \
	"$(devlink port show | grep '^vbus_sim/vbus_sim1/' | grep -c 'type eth netdev vbsim') $(devlink port show | grep '^vbus_sim/vbus_sim1/' | grep -vc 'type eth')"
check "port del" devlink port del $M/1
base_vbus=$(refcnt vbus)
base_sim=$(refcnt vbus_sim)
note "module use counts with 2 idle parents: vbus $base_vbus, vbus_sim $base_sim"

# vbus_sim2 comes and goes during the storm, with a port and an active SF each time.
churn() {
	local n=0
	while [ ! -e "$VM_STATE/churn.stop" ]; do
		echo 2 >/sys/bus/vbus_sim/del_device || { echo "del_device 2 failed"; return 1; }
		sleep 0.1
		echo 2 >/sys/bus/vbus_sim/new_device || { echo "new_device 2 failed"; return 1; }
		if ! devlink port add vbus_sim/vbus_sim2 flavour pcisf pfnum 0 sfnum 9 >/dev/null ||
			! devlink port function set vbus_sim/vbus_sim2/1 state active; then
			echo "port on vbus_sim2 failed"
			return 1
		fi
		n=$((n + 1))
		sleep 0.2
	done
	echo "$n"
}
rm -f "$VM_STATE/churn.stop"
churn >"$VM_STATE/churn.out" 2>&1 &
churn_pid=$!
t=$(now)
$FZ storm -w 4 -t "$STORM_SECONDS" -s "$SEED" -n 6 $M "~vbus_sim/vbus_sim2" >"$VM_STATE/storm.out" 2>&1
storm_rc=$?
touch "$VM_STATE/churn.stop"
wait $churn_pid
churn_rc=$?
sed 's/^/# /' "$VM_STATE/storm.out"
note "storm: $(since "$t")s wall; vbus_sim2 deleted and re-created $(tail -n1 "$VM_STATE/churn.out") times"
assert_eq "storm: every answer was an expected one, no timeouts (nl-fuzz exit status)" 0 "$storm_rc"
assert_eq "parent churn during the storm worked" 0 "$churn_rc"
assert_eq "storm: every worker ran" 4 "$(grep -c '^worker [0-9]*: [1-9][0-9]* ops' "$VM_STATE/storm.out")"
total=$(sed -n 's/^total: \([0-9]*\) ops.*/\1/p' "$VM_STATE/storm.out")
note "storm ops/s per process: $(sed -n 's/^worker \([0-9]*\): .* \([0-9]*\) ops\/s.*/\2/p' "$VM_STATE/storm.out" | tr '\n' ' ')"
# The names are shared on purpose: some creations must have found the name taken and some
# deletions the device gone, and enough of each kind must have succeeded.
tot_new=$(sed -n '/^total:/,/^monitor/ s/^  new //p' "$VM_STATE/storm.out")
tot_del=$(sed -n '/^total:/,/^monitor/ s/^  del //p' "$VM_STATE/storm.out")
tot_set=$(sed -n '/^total:/,/^monitor/ s/^  set //p' "$VM_STATE/storm.out")
assert_eq "storm: the workers collided (EEXIST on new, ENODEV on del)" yes \
	"$([[ $tot_new == *EEXIST=* && $tot_del == *ENODEV=* ]] && echo yes)"
assert_eq "storm: new, del and set each succeeded" yes \
	"$([[ $tot_new == *ok=* && $tot_del == *ok=* && $tot_set == *ok=* ]] && echo yes)"
assert_eq "storm: the monitor listener received notifications" yes \
	"$(grep -q '^monitor: new=[1-9]' "$VM_STATE/storm.out" && echo yes)"
note "storm total: ${total:-?} ops"
assert_eq "after the storm: netlink, sysfs, bindings and instance counts agree" "" "$(consistent)"
note "devices left by the storm: $(ls $V | wc -l)"
check "delete what the storm left" sh -c "$NL dev-get | awk -F'[: ]+' '{ print \"dev-del \" \$3 \" \" \$5 }' | $NL batch"
assert_eq "the bus is empty" 0 "$(ls $V | wc -l)"
assert_eq "instance counts are back to 0" "$M: net 0/8 blk 0/8
vbus_sim/vbus_sim2: net 0/8 blk 0/8" "$($NL mgmtdev-list 2>&1)"
assert_eq "module use counts are back to the idle values" "vbus $base_vbus vbus_sim $base_sim" \
	"vbus $(refcnt vbus) vbus_sim $(refcnt vbus_sim)"
dmesg_clean "no warnings after the storm"

# ---- 3. the fuzzer, as root and as nobody ------------------------------------------------------
check "devices that must survive the fuzzer" sh -c \
	"$NL dev-new $M keep0 net && $NL dev-new $M keep1 blk && $NL dev-set $M keep1 vbus_sim_net"
before=$($NL dev-get)
t=$(now)
$FZ fuzz -n "$FUZZ" -s "$SEED" >"$VM_STATE/fuzz-root.out" 2>&1
fuzz_rc=$?
sed 's/^/# /' "$VM_STATE/fuzz-root.out"
note "fuzz as root: $(since "$t")s"
assert_eq "fuzz as root: every message answered as expected, what it created deleted" 0 "$fuzz_rc"
assert_eq "fuzz as root: all $FUZZ messages answered" yes \
	"$(grep -q "^fuzz: $FUZZ sent, $FUZZ answered" "$VM_STATE/fuzz-root.out" && echo yes)"
assert_eq "fuzz as root reached the ops: it created devices" yes \
	"$(grep -q '^fuzz: [0-9]* successful reads, [1-9][0-9]* devices created' "$VM_STATE/fuzz-root.out" && echo yes)"
assert_eq "after fuzzing as root the devices are those from before, bound as before" "$before" \
	"$($NL dev-get 2>&1)"
assert_eq "after fuzzing as root: netlink, sysfs, bindings and instance counts agree" "" "$(consistent)"

t=$(now)
"${NOBODY[@]}" "$FZ" fuzz -n "$FUZZ" -s "$((SEED + 1))" --unprivileged >"$VM_STATE/fuzz-nobody.out" 2>&1
fuzz_rc=$?
sed 's/^/# /' "$VM_STATE/fuzz-nobody.out"
note "fuzz as nobody: $(since "$t")s"
assert_eq "fuzz as nobody: every change refused with EPERM, every message answered" 0 "$fuzz_rc"
assert_eq "fuzz as nobody: changes were tried and refused" yes \
	"$(grep -Eq '^  cmd 2: .*EPERM=[1-9]' "$VM_STATE/fuzz-nobody.out" && echo yes)"
assert_eq "after fuzzing as nobody nothing changed" "$before" "$($NL dev-get 2>&1)"
dmesg_clean "no warnings after the fuzzers"

# ---- 4. teardown, use counts, the kernel log ---------------------------------------------------
assert_eq "with no fuzzer socket left, module use counts are the idle ones" \
	"vbus $base_vbus vbus_sim $base_sim" "vbus $(refcnt vbus) vbus_sim $(refcnt vbus_sim)"
check "del_device 1 and 2 with devices live" sh -c \
	'echo 1 >/sys/bus/vbus_sim/del_device && echo 2 >/sys/bus/vbus_sim/del_device'
assert_eq "vbus_sim is unused (lsmod use count 0)" 0 "$(refcnt vbus_sim)"
check "rmmod vbus_sim" rmmod vbus_sim
check "rmmod vbus_sim_drv (the drivers of vbus_sim's devices)" rmmod vbus_sim_drv
assert_eq "vbus is unused (lsmod use count 0)" 0 "$(refcnt vbus)"
check "rmmod vbus" rmmod vbus
assert_absent "vbus is unloaded" /sys/module/vbus
assert_absent "the virtbus bus is gone" /sys/bus/virtbus

if [ -n "$kmemleak" ]; then
	echo scan >"$kmemleak"
	assert_eq "kmemleak reports nothing" "" "$(cat "$kmemleak")"
fi
dmesg_clean
# What dmesg_clean does not look for: lockdep, hung tasks, list and slab corruption, RCU stalls.
assert_eq "kernel log has no lockdep, hung task, corruption or stall report" "" \
	"$(dmesg | grep -E 'possible (recursive|circular) locking|lockdep|INFO: task|blocked for more than|corruption|detected stall|unreferenced object|BUG |WARNING' | head -n 20)"
note "kernel log lines: $(dmesg | wc -l); tainted: $(cat /proc/sys/kernel/tainted)"
note "script time: $(since "$t_start")s"
finish
