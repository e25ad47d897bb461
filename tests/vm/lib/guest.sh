# Helpers for scripts that tests/vm/run executes inside the VM: source it, assert, call finish.
#
#   . "$VBUS_SRC/tests/vm/lib/guest.sh"
#   start_udev net vdpa          # optional: subsystems to trigger
#   load_fixture mtty
#   assert_eq "mtty parent exists" mtty "$(basename "$(readlink -f /sys/class/mdev_bus/mtty)")"
#   finish                       # prints "N passed, N failed", exits 1 on any failure
#
# Output is TAP-ish: "ok N - what" / "not ok N - what" followed by "# " detail lines.
# bash only (arrays, [[ ]]).

VM_T_N=0
VM_T_PASS=0
VM_T_FAIL=0
VM_T_FINISHED=0
VM_STATE=/run/vbus-vm
mkdir -p "$VM_STATE"

# ---- results -------------------------------------------------------------------------------

ok() {
	VM_T_N=$((VM_T_N + 1))
	VM_T_PASS=$((VM_T_PASS + 1))
	echo "ok $VM_T_N - $1"
}

# fail WHAT [DETAIL...]: a failed check; each DETAIL is printed as a "# " line.
fail() {
	local what=$1
	shift
	VM_T_N=$((VM_T_N + 1))
	VM_T_FAIL=$((VM_T_FAIL + 1))
	echo "not ok $VM_T_N - $what"
	local d
	for d in "$@"; do
		printf '%s\n' "$d" | sed 's/^/#   /'
	done
}

# note TEXT: a comment line in the output (timings, facts worth reading in the log).
note() {
	echo "# $*"
}

# finish: the summary line; exit status 1 if anything failed or nothing was checked.
finish() {
	VM_T_FINISHED=1
	echo "$VM_T_PASS passed, $VM_T_FAIL failed"
	[ "$VM_T_FAIL" -eq 0 ] && [ "$VM_T_PASS" -gt 0 ] && exit 0
	exit 1
}

vm_on_exit() {
	local st=$?
	[ "$VM_T_FINISHED" = 1 ] && return
	fail "script ended before finish (exit status $st)"
	echo "$VM_T_PASS passed, $VM_T_FAIL failed"
	exit 1
}
trap vm_on_exit EXIT

# ---- assertions ----------------------------------------------------------------------------

# check WHAT CMD...: CMD must succeed; its output is shown when it does not.
check() {
	local what=$1 output
	shift
	if output=$("$@" 2>&1); then
		ok "$what"
	else
		fail "$what" "command: $*" "status: $?" "$output"
		return 1
	fi
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "expected: '$2'" "actual:   '$3'"
		return 1
	fi
}

# assert_file_contains WHAT FILE REGEX (grep -E, one line of FILE must match)
assert_file_contains() {
	if [ ! -e "$2" ]; then
		fail "$1" "no such file: $2"
		return 1
	fi
	if grep -qE -- "$3" "$2"; then
		ok "$1"
	else
		fail "$1" "file $2 does not match /$3/; it holds:" "$(head -c 2000 "$2")"
		return 1
	fi
}

# assert_exists WHAT PATH / assert_absent WHAT PATH
assert_exists() {
	if [ -e "$2" ] || [ -L "$2" ]; then ok "$1"; else fail "$1" "missing: $2"; return 1; fi
}

assert_absent() {
	if [ -e "$2" ] || [ -L "$2" ]; then fail "$1" "still exists: $2"; return 1; else ok "$1"; fi
}

# assert_link_target WHAT LINK TARGET: LINK resolves to TARGET (a path), or, when TARGET has no
# slash, the resolved path's last component is TARGET (e.g. a driver link and a driver name).
assert_link_target() {
	local what=$1 link=$2 want=$3 got
	if [ ! -L "$link" ]; then
		fail "$what" "not a symlink: $link"
		return 1
	fi
	got=$(readlink -f "$link")
	if [[ $want == */* ]]; then
		want=$(readlink -f "$want")
	else
		got=${got##*/}
	fi
	assert_eq "$what" "$want" "$got"
}

# expect_fail WHAT RC MESSAGE CMD...: CMD must exit with status RC ('*' = any non-zero) and its
# output (stdout+stderr) must contain MESSAGE (a fixed string; '' = not checked).
expect_fail() {
	local what=$1 want_rc=$2 msg=$3 output rc=0
	shift 3
	output=$("$@" 2>&1) || rc=$?
	if [ $rc -eq 0 ]; then
		fail "$what" "command succeeded but should fail: $*" "$output"
		return 1
	fi
	if [ "$want_rc" != '*' ] && [ "$rc" != "$want_rc" ]; then
		fail "$what" "command: $*" "expected status $want_rc, got $rc" "$output"
		return 1
	fi
	if [ -n "$msg" ] && [[ $output != *"$msg"* ]]; then
		fail "$what" "command: $*" "output lacks: $msg" "$output"
		return 1
	fi
	ok "$what"
}

# wait_for WHAT SECONDS CMD...: poll CMD every 0.1 s until it succeeds (one result line).
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		if "$@" >/dev/null 2>&1; then
			ok "$what"
			return 0
		fi
		sleep 0.1
	done
	fail "$what" "still false after ${secs}s: $*"
	return 1
}

# ---- kernel log ----------------------------------------------------------------------------

VM_DMESG_MARK=0

# dmesg_mark: later dmesg_clean calls only look at what the kernel logs from now on.
dmesg_mark() {
	VM_DMESG_MARK=$(dmesg | wc -l)
}

# dmesg_clean [WHAT]: no warnings, bugs, refcount or leak reports since boot (or dmesg_mark).
dmesg_clean() {
	local what=${1:-kernel log has no WARNING/BUG/refcount/leak} bad
	bad=$(dmesg | tail -n +$((VM_DMESG_MARK + 1)) |
		grep -E 'WARNING:|BUG:|refcount_t|leak|Oops|general protection|UBSAN:|KASAN:|Call Trace:|Type was not set for devlink port')
	if [ -z "$bad" ]; then
		ok "$what"
	else
		fail "$what" "$bad" "--- context:" "$(dmesg | tail -n 60)"
		return 1
	fi
}

# ---- services ------------------------------------------------------------------------------

# start_udev [SUBSYSTEM...]: systemd-udevd as a daemon; trigger "add" for the given subsystems
# only (a full trigger loads dozens of modules over 9p) and wait for the queue to drain.
start_udev() {
	local udevd s args=()
	for udevd in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do
		[ -x "$udevd" ] && break
	done
	if ! pgrep -x systemd-udevd >/dev/null; then
		"$udevd" --daemon || { echo "start_udev: $udevd failed" >&2; return 1; }
	fi
	for s in "$@"; do
		args+=(--subsystem-match="$s")
	done
	if [ ${#args[@]} -gt 0 ]; then
		udevadm trigger --action=add "${args[@]}" || return 1
	fi
	udevadm settle --timeout=60
}

# start_dbus [POLICY_DIR...]: a private system bus on /run/dbus/system_bus_socket where root
# may own and call anything; extra policy dirs (e.g. the daemon's) are included.
start_dbus() {
	local conf=$VM_STATE/dbus-system.conf d i
	{
		cat <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
EOF
		for d in "$@"; do
			echo "  <includedir>$d</includedir>"
		done
		echo '</busconfig>'
	} >"$conf"
	mkdir -p /run/dbus
	rm -f /run/dbus/system_bus_socket
	dbus-daemon --config-file="$conf" --fork --nopidfile --print-address=1 \
		>"$VM_STATE/dbus.address" || { echo "start_dbus: dbus-daemon failed" >&2; return 1; }
	for ((i = 0; i < 50; i++)); do
		[ -S /run/dbus/system_bus_socket ] && break
		sleep 0.1
	done
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
	[ -S /run/dbus/system_bus_socket ]
}

# ---- modules -------------------------------------------------------------------------------

# load_kmod: our modules, in dependency order.
# guest_client NAME [PKG]: the path of the test client NAME (tests/vm/NAME.c) from the meson
# build dir, else built here with the host's gcc (against pkg-config module PKG when given).
guest_client() {
	local name=$1 pkg=${2:-} exe=${VBUS_BUILD:+$VBUS_BUILD/tests/vm/client/$1}

	if [ -n "$exe" ] && [ -x "$exe" ]; then
		echo "$exe"
		return 0
	fi
	exe=$VM_STATE/$name
	# shellcheck disable=SC2046
	gcc -O2 -I"$VBUS_SRC/kmod/uapi" ${pkg:+$(pkg-config --cflags "$pkg")} \
		"$VBUS_SRC/tests/vm/$name.c" -o "$exe" ${pkg:+$(pkg-config --libs "$pkg")} >&2 ||
		return 1
	echo "$exe"
}

load_kmod() {
	local m
	if [ -z "${VBUS_KMOD_DIR:-}" ]; then
		if [ -f "$VBUS_OUT/kmod-build.log" ]; then
			echo "load_kmod: building kmod/ failed:" >&2
			tail -n 20 "$VBUS_OUT/kmod-build.log" >&2
		else
			echo "load_kmod: VBUS_KMOD_DIR is not set (tests/vm/run --kmod-dir, or kmod/Makefile)" >&2
		fi
		return 1
	fi
	for m in vbus vbus_sim vbus_sim_drv; do
		[ -d "/sys/module/$m" ] && continue
		insmod "$VBUS_KMOD_DIR/$m.ko" || { echo "load_kmod: insmod $m.ko failed" >&2; return 1; }
	done
}

# unload_kmod: the reverse; fails if a module is busy.
unload_kmod() {
	local m
	for m in vbus_sim_drv vbus_sim vbus; do
		[ -d "/sys/module/$m" ] || continue
		rmmod "$m" || return 1
	done
}

# load_fixture NAME: insmod $VBUS_FIXTURES/NAME.ko after its dependencies: the ones built as
# fixtures recursively, the others (vfio, mdev, vhost, vhost_iotlb, ...) with modprobe.
load_fixture() {
	local name=${1//-/_} dep ko
	[ -d "/sys/module/$name" ] && return 0
	ko=${VBUS_FIXTURES:-}/$name.ko
	if [ ! -f "$ko" ]; then
		echo "load_fixture: no $ko" >&2
		return 1
	fi
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		if [ -f "$VBUS_FIXTURES/$dep.ko" ]; then
			load_fixture "$dep" || return 1
		else
			modprobe "$dep" || { echo "load_fixture: modprobe $dep failed" >&2; return 1; }
		fi
	done
	insmod "$ko" || { echo "load_fixture: insmod $ko failed" >&2; return 1; }
}
