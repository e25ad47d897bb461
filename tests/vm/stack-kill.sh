#!/bin/bash
# SIGKILL in the middle of an SF + vDPA-on-SF stack against the real 6.1 kernel: sf-a (SF 5
# of vbus_sim1) and vnet-a ("parent": "@sf-a", vhost_vdpa), both start:auto. `vbusctl --direct
# start vnet-a` (sf-a first) and `vbusctl --direct stop sf-a` (vnet-a first) are killed at
# each step of the stack, and vbusd once in its reconcile of the pair. The kill point is a
# syscall: strace --inject=SYSCALL:signal=KILL:when=N kills the process on entering the Nth
# call, N read from a trace of the same command made first (the devlink or vdpa command of a
# sendmsg, the rename of a run record, a line of the intents journal). After each kill: no SF
# port and no vDPA device that no /run/vbus record names, the listing says what the kernel
# has; then the next start completes the pair (or the next stop ends it) and stop leaves no
# port, no device and no record. An SF port left inactive, an active one and a vDPA device on
# it, made by hand, stay as they are throughout. Runs after stack-sf.sh in one boot (vm-stacks).
# shellcheck source=lib/guest.sh
. "$VBUS_SRC/tests/vm/lib/guest.sh"
# shellcheck source=lib/stack.sh
. "$VBUS_SRC/tests/vm/lib/stack.sh"

VBUSCTL=$VBUS_BUILD/cli/vbusctl
VBUSD=$VBUS_BUILD/daemon/vbusd
DL=vbus_sim/vbus_sim1
# LeakSanitizer cannot work under ptrace and would make every traced exit status 1.
export ASAN_OPTIONS=detect_leaks=0

# kill_index TRACE SYSCALL ERE [K]: which call of SYSCALL in TRACE (counted as strace's when=
# counts them) is the Kth (default 1st) whose line matches ERE.
kill_index() {
	grep -E "^[0-9]+ +$1\(" "$2" | grep -nE -- "$3" | sed -n "${4:-1}p" | cut -d: -f1
}

# The commands of the devlink and vdpa families in a traced sendmsg (genl header, 1st byte).
PORT_SET='nlmsg_type=devlink,.*\}, "\\x06'
PORT_DEL='nlmsg_type=devlink,.*\}, "\\x08'
VDPA_DEV_NEW='nlmsg_type=vdpa,.*\}, "\\x03'

recorded() { # NAME: a /run/vbus record names it (its file, or a line of the intents journal)
	[ -f "/run/vbus/$1.json" ] || grep -qs "\"name\":\"$1\"" /run/vbus/.intents
}

yes_no() { # CMD...: "yes" when CMD succeeds, else "no"
	if "$@"; then echo yes; else echo no; fi
}

sf_state() { # SFNUM -> "active", "inactive" or "none", as devlink shows its port (one call)
	devlink port show | awk -v s="sfnum $1 " '
		index($0, s) { f = 1; next }
		f && / state / { for (i = 1; i < NF; i++) if ($i == "state") print $(i + 1); f = 2; exit }
		END { if (f != 2) print "none" }'
}

# The SF ports and vDPA devices that exist and that no record names (hand-made ones aside).
orphans() {
	local s d
	for s in $(devlink port show | sed -n 's/.*flavour pcisf.* sfnum \([0-9]*\).*/\1/p'); do
		case $s in
		8 | 9) continue ;;
		5) recorded sf-a && continue ;;
		esac
		printf 'sf%s ' "$s"
	done
	for d in /sys/bus/vdpa/devices/*; do
		d=${d##*/}
		case $d in
		hand0 | '*') continue ;;
		vnet-a) recorded vnet-a && continue ;;
		esac
		printf '%s ' "$d"
	done
}

listed() { # "sf-a=B vnet-a=B" as `vbusctl -j list --defined` says (ARGS before the verb)
	"$VBUSCTL" "$@" -j list --defined | awk '
		/"name":/ { gsub(/[",]/, "", $2); n = $2 }
		/"active":/ { gsub(/,/, "", $2); a[n] = $2 }
		END { printf "sf-a=%s vnet-a=%s", a["sf-a"], a["vnet-a"] }'
}

hand_state() { # the hand-made devices as the kernel shows them
	devlink port show "$P8"
	devlink port show "$P9"
	vdpa dev show hand0
	drv /sys/bus/vdpa/devices/hand0
}

# killed WHAT SYSCALL N VERB NAME: vbusctl --direct VERB NAME, SIGKILLed entering the Nth SYSCALL.
killed() {
	local rc
	if [ -z "$3" ]; then
		fail "$1: the kill point was not found in the trace"
		return
	fi
	# No --seccomp-bpf here: a signal given at a seccomp stop is not delivered.
	timeout -k 5 120 strace -f -qq -e trace="$2" -o /dev/null \
		--inject="$2:signal=KILL:when=$3" "$VBUSCTL" --direct "$4" "$5"
	rc=$?
	assert_eq "$1: vbusctl $4 $5 is killed (SIGKILL at $2 #$3)" 137 "$rc"
}

# after WHAT EXPECTED ACTUAL: the kill left what that point leaves (the proof of where it
# struck), no SF port or vDPA device without a record, and the listing says what the kernel has.
after() {
	local sf
	assert_eq "$1: the kernel and /run/vbus as that point leaves them" "$2" "$3"
	assert_eq "$1: no SF port or vDPA device without a record" "" "$(orphans)"
	sf=$(sf_state 5)
	assert_eq "$1: list --defined shows what the kernel has" \
		"sf-a=$([ "$sf" = active ] && echo true || echo false) vnet-a=$([ -e /sys/bus/vdpa/devices/vnet-a ] && echo true || echo false)" \
		"$(listed --direct)"
}

# state: SF 5's port, vnet-a's device, sf-a's and vnet-a's record files, the journal
state() {
	echo "sf5=$(sf_state 5) vnet-a=$(yes_no test -e /sys/bus/vdpa/devices/vnet-a)" \
		"records=$(yes_no test -f /run/vbus/sf-a.json),$(yes_no test -f /run/vbus/vnet-a.json)" \
		"journal=$(yes_no test -e /run/vbus/.intents)"
}

pair_ok() { # WHAT: the pair made and recorded in full
	assert_eq "$1: SF 5 active, vnet-a on it, bound to vhost_vdpa; both recorded, no journal" \
		"sf5=active vnet-a=yes records=yes,yes journal=no auxiliary/$(sf_aux 5) vhost_vdpa" \
		"$(state) $(vdpa_mgmt vnet-a) $(drv /sys/bus/vdpa/devices/vnet-a)"
	assert_eq "$1: both records complete (none pending)" "active active" \
		"$(sed -n 's/.*"state": "\([a-z]*\)".*/\1/p' /run/vbus/sf-a.json /run/vbus/vnet-a.json 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
}

gone() { # WHAT: no port 5, no vnet-a, no record; the hand-made devices as they were
	local left
	left=$(find /run/vbus -mindepth 1 -printf '%f ' 2>/dev/null)
	assert_eq "$1: no port, no vDPA device, no record left" "sf5=none vnet-a=no run: " \
		"sf5=$(sf_state 5) vnet-a=$(yes_no test -e /sys/bus/vdpa/devices/vnet-a) run: $left"
	assert_eq "$1: the hand-made devices are untouched" "$HAND" "$(hand_state)"
}

check "load our modules" load_kmod
check "load vhost_vdpa" load_fixture vhost_vdpa
check "load vbus_sim_vdpa" load_fixture vbus_sim_vdpa
check "start udev" start_udev
dmesg_mark
echo 1 >/sys/bus/vbus_sim/new_device

# ---- by hand: SF 8 left inactive, SF 9 active with hand0 on it ------------------------------
check "devlink port add sfnum 8 (left inactive) and 9" sh -c \
	"devlink port add $DL flavour pcisf pfnum 0 sfnum 8 >/dev/null &&
	 devlink port add $DL flavour pcisf pfnum 0 sfnum 9 >/dev/null"
P8=$(port_of 8)
P9=$(port_of 9)
check "set SF 9 active" devlink port function set "$P9" state active
check "vdpa dev add hand0 on SF 9" vdpa dev add name hand0 mgmtdev "auxiliary/$(sf_aux 9)"
HAND=$(hand_state)
mkdir -p /etc/vbus/devices.d
check "define sf-a (SF 5, auto) and vnet-a on @sf-a (vfio, auto)" sh -c \
	"'$VBUSCTL' --direct define sf-a --kind sf --parent $DL --index 5 --auto &&
	 '$VBUSCTL' --direct define vnet-a --kind vdpa --parent @sf-a --type net --driver vfio --auto"
lap "setup"

# ---- the traces the kill points are read from --------------------------------------------------
traced() { # OUT CMD...: CMD's calls that kill points are read from, into OUT
	local out=$1
	shift
	strace -f -qq --seccomp-bpf -y -s 8 -e trace=sendmsg,write,rename,unlink -o "$out" "$@"
}
check "traced: start vnet-a" traced start.trace "$VBUSCTL" --direct start vnet-a
pair_ok "traced start"
check "traced: stop sf-a (vnet-a first)" traced stop.trace "$VBUSCTL" --direct stop sf-a
gone "traced stop"
lap "traces"

# ---- start vnet-a killed at each step of the stack; from a pair so made, stop sf-a killed in
# the middle: vnet-a's vDPA device deleted, then (twice) the SF deactivated, its port left ----
W='start: PORT_NEW done'
killed "$W" sendmsg "$(kill_index sendmsg start.trace "$PORT_SET")" start vnet-a
after "$W" "sf5=inactive vnet-a=no records=no,no journal=yes" "$(state)"
check "$W: start vnet-a" "$VBUSCTL" --direct start vnet-a
pair_ok "$W: then start"
W='stop: vDPA device deleted, its record left'
killed "$W" unlink "$(kill_index unlink stop.trace '/run/vbus/vnet-a\.json"')" stop sf-a
after "$W" "sf5=active vnet-a=no records=yes,yes journal=no" "$(state)"
check "$W: stop sf-a" "$VBUSCTL" --direct stop sf-a
gone "$W: then stop"
lap "PORT_NEW done; vDPA deleted"

W='start: SF active, not recorded'
killed "$W" rename "$(kill_index rename start.trace '/run/vbus/sf-a\.json"')" start vnet-a
after "$W" "sf5=active vnet-a=no records=no,no journal=yes" "$(state)"
check "$W: start vnet-a" "$VBUSCTL" --direct start vnet-a
pair_ok "$W: then start"
W='stop: SF deactivated, its port left'
for then in start stop; do
	killed "$W" sendmsg "$(kill_index sendmsg stop.trace "$PORT_DEL")" stop sf-a
	after "$W" "sf5=inactive vnet-a=no records=yes,no journal=no" "$(state)"
	if [ $then = start ]; then
		check "$W: start vnet-a" "$VBUSCTL" --direct start vnet-a
		pair_ok "$W: then start"
	else
		check "$W: stop sf-a" "$VBUSCTL" --direct stop sf-a
		gone "$W: then stop"
	fi
done
lap "SF active; SF deactivated (twice)"

W='start: vDPA intent written'
killed "$W" sendmsg "$(kill_index sendmsg start.trace "$VDPA_DEV_NEW")" start vnet-a
after "$W" "sf5=active vnet-a=no records=yes,no journal=yes" "$(state)"
check "$W: start vnet-a" "$VBUSCTL" --direct start vnet-a
pair_ok "$W: then start"
check "$W: stop vnet-a, then sf-a" sh -c "'$VBUSCTL' --direct stop vnet-a && '$VBUSCTL' --direct stop sf-a"
gone "$W: then stop"

W='start: vDPA device added, not recorded'
killed "$W" rename "$(kill_index rename start.trace '/run/vbus/vnet-a\.json"')" start vnet-a
after "$W" "sf5=active vnet-a=yes records=yes,no journal=yes" "$(state)"
check "$W: start vnet-a" "$VBUSCTL" --direct start vnet-a
pair_ok "$W: then start"
check "$W: stop sf-a" "$VBUSCTL" --direct stop sf-a
gone "$W: then stop"
lap "vDPA intent; vDPA device added"

# ---- vbusd killed in its reconcile of the pair ------------------------------------------------
: >"$VBUS_OUT/vbusd-kill.log"
if start_dbus "$VBUS_SRC/units"; then ok "start dbus"; else fail "start dbus"; fi
pair_up() {
	[ "$(sf_state 5)" = active ] && [ -e /sys/bus/vdpa/devices/vnet-a/driver ] && [ -f /run/vbus/vnet-a.json ]
}
strace -f -qq --seccomp-bpf -s 8 -e trace=sendmsg -o vbusd.trace "$VBUSD" >>"$VBUS_OUT/vbusd-kill.log" 2>&1 &
STRACE_PID=$!
wait_for "traced vbusd makes the pair at its start" 30 pair_up
pair_ok "traced vbusd"
check "stop sf-a through vbusd (vnet-a first)" "$VBUSCTL" stop sf-a
gone "stop through vbusd"
kill "$(pgrep -x vbusd)"
wait "$STRACE_PID"
assert_eq "traced vbusd exits 0 on SIGTERM" 0 $?

W='vbusd: PORT_NEW done'
n=$(kill_index sendmsg vbusd.trace "$PORT_SET")
if [ -n "$n" ]; then
	timeout -k 5 120 strace -f -qq -e trace=sendmsg -o /dev/null \
		--inject="sendmsg:signal=KILL:when=$n" "$VBUSD" \
		>>"$VBUS_OUT/vbusd-kill.log" 2>&1
	assert_eq "$W: vbusd is killed in its reconcile (SIGKILL at sendmsg #$n)" 137 $?
else
	fail "$W: the kill point was not found in the trace"
fi
after "$W" "sf5=inactive vnet-a=no records=no,no journal=yes" "$(state)"
"$VBUSD" >>"$VBUS_OUT/vbusd-kill.log" 2>&1 &
VBUSD_PID=$!
wait_for "$W: the restarted vbusd makes the pair" 30 pair_up
pair_ok "$W: then vbusd restarted"
assert_eq "$W: vbusd's listing shows both active" "sf-a=true vnet-a=true" "$(listed)"
check "$W: stop sf-a through vbusd (vnet-a first)" "$VBUSCTL" stop sf-a
gone "$W: then stop"
kill "$VBUSD_PID"
wait "$VBUSD_PID"
assert_eq "vbusd exits 0 on SIGTERM" 0 $?
check "vbusd's log has no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $VBUS_OUT/vbusd-kill.log"
lap "$W"

check "undefine vnet-a, then sf-a" sh -c "'$VBUSCTL' --direct undefine vnet-a && '$VBUSCTL' --direct undefine sf-a"
check "rmmod vbus_sim_vdpa vbus_sim_drv vbus_sim" rmmod vbus_sim_vdpa vbus_sim_drv vbus_sim
dmesg_clean
finish
