#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vbusd on a private system bus (dbus-daemon with the real org.vbus1 policy) over a scratch
# copy of a fake host tree, driven with vbusctl, busctl and gdbus. TAP output.
# Usage: run.sh VBUSD VBUSCTL SRCDIR FAKE_POLKIT VBUSD_FAKE_KERNEL VBUS_UDEV
# (as root: the refusal checks run a caller as nobody)
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
args VBUSD VBUSCTL SRC FAKE_POLKIT VBUSD_FAKE_KERNEL VBUS_UDEV -- "$@"

# A digest of everything under the tree, to prove that a refused call changed nothing. The
# type mtty-1 and auto-here's run record are left out: reconcile keeps retrying to create
# auto-here there (nothing plays the kernel in the tree, so it never appears), and each try
# writes its intent to /run/vbus first (so only the files count there, not the dir's mtime).
tree_digest() {
	(cd "$ROOT" && find . \( -path '*mtty-1*' -o -path ./run/vbus/auto-here.json \) -prune -o \
		\( -path ./run/vbus -printf '%p\n' \) -o -printf '%p %s %T@\n' | sort | md5sum)
}

# gdbus prints the D-Bus error name: "GDBus.Error:org.vbus1.Error.AccessDenied: ...".
gcall() {
	gdbus call --system --dest org.vbus1 --object-path /org/vbus1 \
		--method "org.vbus1.Manager.$1" "${@:2}" 2>&1
}

# expect_error DESCRIPTION ERROR-NAME METHOD ARGS...
expect_error() {
	local what=$1 name=$2 out
	shift 2
	out=$(gcall "$@")
	if [[ $out == *"GDBus.Error:$name:"* ]]; then
		ok "$what"
	else
		not_ok "$what" "expected $name, got: $out"
	fi
}

# ---- setup -------------------------------------------------------------------------------------
cp -a "$SRC/tests/data/host-mixed" "$ROOT"
rm -f "$ROOT/etc/vbus/devices.d/broken.json"
start_bus

# Before vbusd is there: nobody owns org.vbus1 (ServiceUnknown), and with no bus at all, vbusctl
# says what to do instead of D-Bus's words.
for addr in "$DBUS_SYSTEM_BUS_ADDRESS" "unix:path=$T/no-such-bus"; do
	out=$(DBUS_SYSTEM_BUS_ADDRESS=$addr "$VBUSCTL" list 2>&1)
	rc=$?
	if [ "$rc" = 1 ] && [[ $out == *"vbusd is not running; start it (systemctl start vbusd) or use --direct"* ]] &&
		[[ $out != *"org.freedesktop"* && $out != *".service files"* ]]; then
		ok "no vbusd on $addr: vbusctl list says vbusd is not running (exit 1)"
	else
		not_ok "no vbusd on $addr: vbusctl list says vbusd is not running (exit 1)" \
			"exit $rc: $out"
	fi
done

# Definitions for reconcile: one autostart on a present parent, one on an absent parent.
cat >"$ROOT/etc/vbus/devices.d/auto-here.json" <<'EOF'
{ "version": 1, "name": "auto-here", "kind": "mdev", "parent": "mtty", "type": "mtty-1",
  "uuid": "11111111-2222-4333-8444-555555555555", "driver": "auto", "start": "auto" }
EOF
cat >"$ROOT/etc/vbus/devices.d/auto-absent.json" <<'EOF'
{ "version": 1, "name": "auto-absent", "kind": "pci", "parent": "0000:0a:00.0",
  "driver": "vfio", "start": "auto" }
EOF

# Policy: a site profile for the E810 (8086:1593) and a broken file that must be named.
mkdir -p "$ROOT/etc/vbus/policy.d"
cat >"$ROOT/etc/vbus/policy.d/10-site.json" <<'EOF'
{ "version": 1,
  "profiles": { "vm": { "prefer": [ { "match": { "vendor": "0x8086", "device": "0x1593" },
                                      "kinds": [ "vf" ], "driver": "vfio-pci" } ] } } }
EOF
echo '{ "version": 1, "rules": [ ' >"$ROOT/etc/vbus/policy.d/20-broken.json"
# Files changed within the last seconds are read again at each use (lib/policy.c: the stamp
# could miss a second change); these were written well before vbusd starts, as on a host.
touch -d '-10 seconds' "$ROOT/etc/vbus/policy.d" "$ROOT"/etc/vbus/policy.d/*.json

if start_vbusd; then
	ok "vbusd reports READY=1 over NOTIFY_SOCKET"
else
	not_ok "vbusd reports READY=1 over NOTIFY_SOCKET" "$(cat "$T/vbusd.log")"
fi
check "vbusd owns org.vbus1 on the private system bus" busctl status org.vbus1

# ---- introspection -----------------------------------------------------------------------------
intro=$(busctl introspect --xml-interface org.vbus1 /org/vbus1 |
	sed -n '/<interface name="org.vbus1.Manager">/,/<\/interface>/p')
methods=$(grep -o '<method name="[A-Za-z]*"' <<<"$intro" | sort | tr -d '\n')
want=$(grep -o '<method name="[A-Za-z]*"' "$SRC/daemon/org.vbus1.Manager.xml" | sort | tr -d '\n')
all=1
for m in ListParents ListTypes ListDevices Define Undefine Modify ModifyLive Start StartWithFlags \
	Stop Create Remove Assign Apply Import ImportWithFlags PickKind \
	FillDefinition; do
	grep -q "<method name=\"$m\"" <<<"$intro" || all=0
done
if [ "$all" = 1 ] && [ "$methods" = "$want" ]; then
	ok "org.vbus1.Manager has every method, as the installed XML says"
else
	not_ok "org.vbus1.Manager has every method, as the installed XML says" "live: $methods" \
		"xml: $want"
fi
for s in DeviceAdded DeviceRemoved DeviceBound DeviceDefined DeviceModified DeviceUndefined \
	DeviceStarted DeviceStopped DeviceUnbound DeviceFailed DeviceGaveUp; do
	check "org.vbus1.Manager declares signal $s" grep -q "<signal name=\"$s\"" <<<"$intro"
done
mgr_xml=$(sed -n '/<interface name="org.vbus1.Manager">/,/<\/interface>/p' \
	"$SRC/daemon/org.vbus1.Manager.xml")
if [ "$intro" = "$mgr_xml" ]; then
	ok "org.vbus1.Manager is, member for member, what the installed XML says"
else
	not_ok "org.vbus1.Manager is, member for member, what the installed XML says" \
		"$(diff <(echo "$mgr_xml") <(echo "$intro"))"
fi
dev_live=$(busctl introspect --xml-interface org.vbus1 /org/vbus1/device/gpu_2ddesktop |
	sed -n '/<interface name="org.vbus1.Device">/,/<\/interface>/p')
dev_xml=$(sed -n '/<interface name="org.vbus1.Device">/,/<\/interface>/p' \
	"$SRC/daemon/org.vbus1.Device.xml")
if [ -n "$dev_live" ] && [ "$dev_live" = "$dev_xml" ]; then
	ok "device objects implement org.vbus1.Device as the installed XML says"
else
	not_ok "device objects implement org.vbus1.Device as the installed XML says" "$dev_live"
fi

par_live=$(busctl introspect --xml-interface org.vbus1 /org/vbus1/parent/mtty |
	sed -n '/<interface name="org.vbus1.Parent">/,/<\/interface>/p')
par_xml=$(sed -n '/<interface name="org.vbus1.Parent">/,/<\/interface>/p' \
	"$SRC/daemon/org.vbus1.Parent.xml")
if [ -n "$par_live" ] && [ "$par_live" = "$par_xml" ]; then
	ok "parent objects implement org.vbus1.Parent as the installed XML says"
else
	not_ok "parent objects implement org.vbus1.Parent as the installed XML says" "$par_live"
fi

# ---- reading, same output as in-process --------------------------------------------------------
for args in "parents" "types" "types mtty" "list --all" "-j list --all" "-j parents" \
	"list" "-j list" "list --defined" "-j list --defined" "-j list gpu-desktop" \
	"list --all gpu-desktop" "cdi" "-j cdi" "cdi list"; do
	# shellcheck disable=SC2086
	bus_out=$(vbusctl $args 2>&1)
	# shellcheck disable=SC2086
	direct_out=$(vbusctl --root "$ROOT" $args 2>&1)
	if [ -n "$bus_out" ] && [ "$bus_out" = "$direct_out" ]; then
		ok "vbusctl $args over the bus prints what --root prints"
	else
		not_ok "vbusctl $args over the bus prints what --root prints" "bus: $bus_out" \
			"direct: $direct_out"
	fi
done
# ListDevices: the JSON document vbusctl -j prints, rendered by vbusd from its model (the
# same renderer), in a sealed memfd.
list_json_equals() {
	local flags=$1 opt=$2
	"$VBUSCTL" --root "$ROOT" -j list $opt >"$T/lj.direct" &&
		/usr/bin/python3 -c 'import dbus,fcntl,os,sys
m = dbus.Interface(dbus.SystemBus().get_object("org.vbus1", "/org/vbus1"), "org.vbus1.Manager")
fd = m.ListDevices(dbus.UInt32(int(sys.argv[1])), "").take()
seals = fcntl.fcntl(fd, 1034)  # F_GET_SEALS: shrink, grow, write and seal itself
assert seals & 0xf == 0xf, seals
got = os.pread(fd, os.fstat(fd).st_size + 1, 0).decode()
want = open(sys.argv[2]).read()
assert got == want, (got, want)' "$flags" "$T/lj.direct"
}
check "ListDevices 3 is the text of vbusctl --root -j list --all, in a sealed memfd" \
	list_json_equals 3 --all
check "ListDevices 1 is the text of vbusctl --root -j list --defined" \
	list_json_equals 1 --defined
check "ListDevices 2 is the text of vbusctl --root -j list" list_json_equals 2 ""
out=$(gcall ListDevices 1 nope)
check "ListDevices of an unknown name is NoSuchDevice, naming it" \
	bash -c "[[ \"\$1\" == *'GDBus.Error:org.vbus1.Error.NoSuchDevice: '*nope* ]]" _ "$out"
out=$(gcall ListDevices 8 "''")
check "ListDevices refuses unknown flags" \
	bash -c "[[ \"\$1\" == *'GDBus.Error:org.vbus1.Error.InvalidArgument:'* ]]" _ "$out"
check "vbusctl parents lists mtty through vbusd" grep -q '^mtty ' <<<"$(vbusctl parents)"
check "an unprivileged caller can list" as_nobody "$VBUSCTL" list --all
check "parent objects exist" busctl get-property org.vbus1 /org/vbus1/parent/mtty \
	org.vbus1.Parent Kinds
check "adopted active device has its object" \
	test "$(busctl get-property org.vbus1 /org/vbus1/device/gpu_2ddesktop org.vbus1.Device \
		Active)" = "b true"

# ---- define through vbusd, with the signal ---------------------------------------------------
"$VBUSCTL" -j monitor >"$T/monitor.json" 2>"$T/monitor.err" &
MON_PID=$!
busctl monitor --json=short --match "type='signal',path='/org/vbus1/device/vm1'" \
	>"$T/props.json" 2>/dev/null &
BM_PID=$!
sleep 0.5
check "vbusctl define through vbusd" vbusctl define vm1 --kind mdev --parent mtty \
	--type mtty-2 --manual --tag vm
check "the definition is written under the tree" \
	grep -q '"kind": *"mdev"' "$ROOT/etc/vbus/devices.d/vm1.json"
check "device object /org/vbus1/device/vm1 has typed properties" \
	test "$(busctl get-property org.vbus1 /org/vbus1/device/vm1 org.vbus1.Device Kind Defined \
		Active Index Tags | tr '\n' ' ')" = 's "mdev" b true b false x -1 as 1 "vm" '
vm1_listed() {
	"$VBUSCTL" -j list --defined vm1 | grep -q "\"driver\": \"$1\"" &&
		list_json_equals 1 --defined
}
check "after define, the next listing through vbusd shows vm1 as --root does" vm1_listed auto
check "vbusctl modify through vbusd" vbusctl modify vm1 --driver vfio
check "after modify, the next listing shows the new driver" vm1_listed vfio
table_equals() {
	local bus direct
	bus=$("$VBUSCTL" list --all) && direct=$("$VBUSCTL" --root "$ROOT" list --all) &&
		grep -q '^vm1 ' <<<"$bus" && [ "$bus" = "$direct" ]
}
check "after modify, the table vbusd renders is the one --root prints" table_equals
check "Driver property follows the change" \
	test "$(busctl get-property org.vbus1 /org/vbus1/device/vm1 org.vbus1.Device Driver)" \
	= 's "vfio"'
sleep 0.5
kill "$MON_PID" "$BM_PID" 2>/dev/null
wait "$MON_PID" "$BM_PID" 2>/dev/null
MON_PID=
check "monitor -j reports the definition as one JSON object" \
	python3 -c 'import json,sys
evs=[json.loads(l) for l in open(sys.argv[1])]
assert any(e["event"]=="added" and e["name"]=="vm1" and e["device"]["kind"]=="mdev"
           for e in evs), evs' "$T/monitor.json"
check "PropertiesChanged announces Driver with its new value" \
	python3 -c 'import json,sys
ms=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def driver(m):
    d = m.get("payload", {}).get("data", [])
    return d[1].get("Driver", {}).get("data") if len(d) > 1 and isinstance(d[1], dict) else None
assert any(m.get("member")=="PropertiesChanged" and driver(m)=="vfio" for m in ms), ms' \
	"$T/props.json"
check "a definition written behind vbusd's back shows up" \
	bash -c "vbusctl() { \"$VBUSCTL\" \"\$@\"; }; \"$VBUSCTL\" --root '$ROOT' define side \
		--kind pci --parent 0000:05:00.0 --driver vfio --manual >/dev/null &&
		sleep 0.5 && busctl get-property org.vbus1 /org/vbus1/device/side org.vbus1.Device Kind"

# ---- errors ------------------------------------------------------------------------------------
expect_error "a bad name is org.vbus1.Error.InvalidArgument" org.vbus1.Error.InvalidArgument \
	Define "{'name': <'bad name'>, 'kind': <'mdev'>, 'parent': <'mtty'>}"
expect_error "a bad kind is org.vbus1.Error.InvalidArgument" org.vbus1.Error.InvalidArgument \
	Define "{'name': <'k1'>, 'kind': <'gpu'>, 'parent': <'mtty'>}"
expect_error "an unknown name is org.vbus1.Error.NoSuchDevice" org.vbus1.Error.NoSuchDevice \
	Undefine nope
expect_error "a second definition of vm1 is org.vbus1.Error.AlreadyExists" \
	org.vbus1.Error.AlreadyExists \
	Define "{'name': <'vm1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-1'>}"
expect_error "an unknown method is refused" org.freedesktop.DBus.Error.UnknownMethod Frobnicate
out=$(busctl call org.vbus1 /org/vbus1 org.vbus1.Manager Start i 42 2>&1)
check "a call with the wrong signature is refused" test -n "$out"
out=$(vbusctl define k2 --kind mdev --parent mtty --type mtty-2 --driver 'bad driver!' 2>&1)
check "vbusctl: bad options fail without reaching a change" test $? -ne 0
check "vbusd is alive after the bad calls" alive

# ---- refusal of an unprivileged caller -------------------------------------------------------
before=$(tree_digest)
refused=0
total=0
refuse() {
	local out
	total=$((total + 1))
	out=$(as_nobody gdbus call --system --dest org.vbus1 --object-path /org/vbus1 \
		--method "org.vbus1.Manager.$1" "${@:2}" 2>&1)
	if [[ $out == *"GDBus.Error:org.vbus1.Error.AccessDenied:"* ]]; then
		refused=$((refused + 1))
	else
		echo "# $1 as nobody: $out"
	fi
}
refuse Define "{'name': <'nb1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}"
refuse Modify vm1 "{'driver': <'host'>}"
refuse ModifyLive "{'name': <'vm1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}"
refuse Undefine vm1
refuse Start vm1
refuse Stop gpu-desktop
refuse Create "{'name': <'nb2'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}" \
	"''" 0
refuse Remove vm1
refuse Assign vm1 vfio
refuse Import mdevctl "''"
refuse Apply "[{'name': <'nb3'>, 'kind': <'pci'>, 'parent': <'0000:05:00.0'>}]" 0
refuse Apply "[{'name': <'nb3'>, 'kind': <'pci'>, 'parent': <'0000:05:00.0'>}]" 2
if [ "$refused" = "$total" ]; then
	ok "every changing method refuses uid 65534 with org.vbus1.Error.AccessDenied ($total)"
else
	not_ok "every changing method refuses uid 65534 ($refused of $total)"
fi
out=$(as_nobody "$VBUSCTL" define nb4 --kind mdev --parent mtty --type mtty-2 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == *"access denied"* ]]; then
	ok "vbusctl as uid 65534: define fails with exit 1 and says why"
else
	not_ok "vbusctl as uid 65534: define fails with exit 1 and says why" "rc=$rc: $out"
fi
check "nothing changed in the tree after the refusals" test "$before" = "$(tree_digest)"
check "root still can: undefine side" vbusctl undefine side
check "the undefined file is gone" test ! -e "$ROOT/etc/vbus/devices.d/side.json"

# ---- policy ------------------------------------------------------------------------------------
pick() {
	local what=$1 want=$2 out
	shift 2
	out=$(as_nobody gdbus call --system --dest org.vbus1 --object-path /org/vbus1 \
		--method org.vbus1.Manager.PickKind "$@" 2>&1)
	if [[ $out == *"$want"* ]]; then
		ok "$what"
	else
		not_ok "$what" "expected $want, got: $out"
	fi
}
pick "policy: a site profile gives the E810 VFs on vfio-pci for VMs" \
	"('vf', '0000:03:00.0', 'vfio-pci')" 0000:03:00.0 vm
pick "policy: the built-in host profile gives the E810 host VFs" \
	"('vf', '0000:03:00.0', 'host')" 0000:03:00.0 host
pick "policy: a GPU with mdev types gets an mdev for a VM" \
	"('mdev', '0000:00:02.0', 'vfio')" 0000:00:02.0 vm
pick "policy: an NVMe without SR-IOV offers nothing" \
	"GDBus.Error:org.vbus1.Error.NoSuchParent:" 0000:05:00.0 vm
pick "policy: an unknown purpose is InvalidArgument" \
	"GDBus.Error:org.vbus1.Error.InvalidArgument:" mtty storage
check "vbusctl define --for vm through vbusd: policy picks kind and driver" \
	vbusctl define pv1 --for vm --parent 0000:03:00.0 --index 3 --manual
check "... the stored definition is a VF on vfio-pci" \
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
assert (d["kind"], d["parent"], d["driver"]) == ("vf", "0000:03:00.0", "vfio-pci"), d' \
	"$ROOT/etc/vbus/devices.d/pv1.json"
check "vbusctl undefine pv1" vbusctl undefine pv1
check "vbusctl define --for vm of a GPU through vbusd: policy picks the mdev type" \
	vbusctl define pg1 --for vm --parent 0000:00:02.0 --manual \
	--uuid 44444444-2222-4333-8444-888888888888
check "... the type with the most available instances (i915-GVTg_V5_8: 2 left)" \
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
assert (d["kind"], d["type"], d["driver"]) == ("mdev", "i915-GVTg_V5_8", "vfio"), d' \
	"$ROOT/etc/vbus/devices.d/pg1.json"
check "vbusctl undefine pg1" vbusctl undefine pg1
check "the broken policy file is named in the log, once" \
	test "$(grep -c '^<4>policy 20-broken.json' "$T/vbusd.log")" = 1
# The model follows policy.d: a definition's wanted driver (driver "auto") is policy's choice.
wants() {
	vbusctl -j list --defined | python3 -c 'import json,sys
print(next(d["wanted_driver"] for d in json.load(sys.stdin) if d["name"] == sys.argv[1]))' "$1"
}
wanted_before=$(wants auto-here)
cat >"$ROOT/etc/vbus/policy.d/40-none.json" <<'EOF'
{ "version": 1, "rules": [ { "match": { "name": "auto-here" }, "driver": "none" } ] }
EOF
wait_check "a rule added to policy.d reaches vbusd's listing (auto-here: $wanted_before -> none)" 5 \
	test "$(wants auto-here)" = none
rm "$ROOT/etc/vbus/policy.d/40-none.json"
wait_check "... and its removal too (auto-here: $wanted_before again)" 5 \
	test "$(wants auto-here)" = "$wanted_before"

# ---- polkit ------------------------------------------------------------------------------------
echo no >"$T/polkit.answer"
"$FAKE_POLKIT" "$T/polkit.answer" "$T/polkit.log" &
POLKIT_PID=$!
for _ in $(seq 100); do
	busctl status org.freedesktop.PolicyKit1 >/dev/null 2>&1 && break
	sleep 0.05
done
before=$(tree_digest)
expect_polkit() {
	local what=$1 name=$2 out
	shift 2
	out=$(as_nobody gdbus call --system --dest org.vbus1 --object-path /org/vbus1 "$@" 2>&1)
	if [[ $out == *"GDBus.Error:$name:"* ]]; then
		ok "$what"
	else
		not_ok "$what" "expected $name, got: $out"
	fi
}
expect_polkit "polkit saying no: uid 65534 is refused" org.vbus1.Error.AccessDenied \
	--method org.vbus1.Manager.Define \
	"{'name': <'pk1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}"
check "vbusd asked polkit for org.vbus1.manage, not interactively" \
	grep -qx "org.vbus1.manage 0 system-bus-name" "$T/polkit.log"
echo challenge >"$T/polkit.answer"
expect_polkit "polkit wanting a password: InteractiveAuthorizationRequired" \
	org.freedesktop.DBus.Error.InteractiveAuthorizationRequired --interactive \
	--method org.vbus1.Manager.Define \
	"{'name': <'pk1'>, 'kind': <'mdev'>, 'parent': <'mtty'>, 'type': <'mtty-2'>}"
check "the interactive flag reached polkit" \
	grep -qx "org.vbus1.manage 1 system-bus-name" "$T/polkit.log"
check "nothing changed while polkit refused" test "$before" = "$(tree_digest)"
echo yes >"$T/polkit.answer"
check "polkit saying yes: uid 65534 defines through vbusctl" as_nobody "$VBUSCTL" define pk2 \
	--kind pci --parent 0000:05:00.0 --driver vfio --manual
check "... and the definition is written" test -f "$ROOT/etc/vbus/devices.d/pk2.json"
check "polkit saying yes: uid 65534 undefines" as_nobody "$VBUSCTL" undefine pk2
check "... and the file is gone" test ! -e "$ROOT/etc/vbus/devices.d/pk2.json"
kill "$POLKIT_PID"
wait "$POLKIT_PID" 2>/dev/null
POLKIT_PID=
out=$(as_nobody "$VBUSCTL" define pk3 --kind pci --parent 0000:05:00.0 --manual 2>&1)
check "polkit gone again: uid 65534 is refused" test $? = 1
check "vbusd is alive after the polkit round trips" alive

# ---- reconcile ---------------------------------------------------------------------------------
check "reconcile tried to start the autostart definition with its parent present" \
	grep -q "start 'auto-here'" "$T/vbusd.log"
check "reconcile left the definition whose parent is absent alone" \
	bash -c "! grep -q \"start 'auto-absent'\" '$T/vbusd.log'"
check "reconcile adopted the running gpu-desktop (active and defined)" \
	test "$(busctl get-property org.vbus1 /org/vbus1/device/gpu_2ddesktop org.vbus1.Device \
		Defined Active | tr '\n' ' ')" = "b true b true "

# ---- crash and restart -------------------------------------------------------------------------
defs_before=$(vbusctl -j list --defined)
kill -9 "$VBUSD_PID"
wait "$VBUSD_PID" 2>/dev/null
VBUSD_PID=
if start_vbusd; then
	ok "vbusd restarts after kill -9"
else
	not_ok "vbusd restarts after kill -9" "$(tail -5 "$T/vbusd.log")"
fi
check "every definition is intact after kill -9 and restart" \
	test "$defs_before" = "$(vbusctl -j list --defined)"
check "vm1 keeps its changed driver" \
	test "$(busctl get-property org.vbus1 /org/vbus1/device/vm1 org.vbus1.Device Driver)" \
	= 's "vfio"'

# ---- removal and signals -----------------------------------------------------------------------
"$VBUSCTL" -j monitor >"$T/monitor2.json" 2>/dev/null &
MON_PID=$!
sleep 0.5
check "vbusctl undefine vm1 through vbusd" vbusctl undefine vm1
check "the device object is gone" \
	bash -c "! busctl get-property org.vbus1 /org/vbus1/device/vm1 org.vbus1.Device Kind"
sleep 0.3
check "monitor reports the removal" grep -q '"event":"removed","name":"vm1"' "$T/monitor2.json"
check "after undefine, the listing through vbusd leaves vm1 out, as --root does" \
	bash -c "! \"\$1\" -j list --defined | grep -q '\"name\": \"vm1\"'" _ "$VBUSCTL"
check "... and ListDevices is still the text of vbusctl --root -j list --all" \
	list_json_equals 3 --all

# ---- apply ---------------------------------------------------------------------------------------
cat >"$T/apply.json" <<'EOF'
[ { "name": "gpu-desktop", "kind": "mdev", "parent": "0000:00:02.0", "type": "i915-GVTg_V5_4",
    "uuid": "4b6f1c2e-8a3d-4f5e-9c71-2d0e6a5b3f10", "start": "auto", "tags": [ "vm" ] },
  { "name": "ap1", "kind": "pci", "parent": "0000:05:00.0", "driver": "vfio",
    "start": "manual" } ]
EOF
before=$(tree_digest)
bus_out=$(vbusctl apply "$T/apply.json" --dry-run 2>&1)
direct_out=$(vbusctl --root "$ROOT" apply "$T/apply.json" --dry-run 2>&1)
if [[ $bus_out == *"define    ap1"* ]] && [ "$bus_out" = "$direct_out" ]; then
	ok "apply --dry-run over the bus prints the plan --root prints"
else
	not_ok "apply --dry-run over the bus prints the plan --root prints" "bus: $bus_out" \
		"direct: $direct_out"
fi
setpriv --reuid 65534 --regid 65534 --clear-groups "$VBUSCTL" apply "$T/apply.json" --dry-run \
	>/dev/null 2>&1
rc=$?
check "apply --dry-run changes nothing, and is open to uid 65534" \
	test "$rc $before" = "0 $(tree_digest)"
check "apply through vbusd" vbusctl apply "$T/apply.json"
check "apply defined ap1 and undefined nic-vf1" \
	test -f "$ROOT/etc/vbus/devices.d/ap1.json" -a ! -e "$ROOT/etc/vbus/devices.d/nic-vf1.json"
check "ap1 has its device object" busctl get-property org.vbus1 /org/vbus1/device/ap1 \
	org.vbus1.Device Kind

# ---- clean stop --------------------------------------------------------------------------------
kill -TERM "$VBUSD_PID"
wait "$VBUSD_PID"
rc=$?
VBUSD_PID=
check "SIGTERM stops vbusd with status 0" test "$rc" = 0
sleep 0.3
check "monitor ends when vbusd leaves the bus" bash -c "! kill -0 $MON_PID 2>/dev/null"
MON_PID=

# ---- with a fake kernel: mdevs really come and go in the tree ------------------------------------
rm -rf "$ROOT"
cp -a "$SRC/tests/data/host-mixed" "$ROOT"
rm -f "$ROOT/etc/vbus/devices.d/broken.json"
cat >"$ROOT/etc/vbus/devices.d/auto-here.json" <<'EOF'
{ "version": 1, "name": "auto-here", "kind": "mdev", "parent": "mtty", "type": "mtty-1",
  "uuid": "11111111-2222-4333-8444-555555555555", "driver": "auto", "start": "auto" }
EOF
MDEV=$ROOT/sys/bus/mdev/devices/11111111-2222-4333-8444-555555555555
AVAIL=$ROOT/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances
avail_before=$(cat "$AVAIL")
devprop() {
	busctl get-property org.vbus1 "/org/vbus1/device/$1" org.vbus1.Device "${@:2}" | tr '\n' ' '
}
mkfifo "$T/uevents"
export VBUSD_FAKE_UEVENTS=$T/uevents
if start_vbusd "$VBUSD_FAKE_KERNEL"; then
	ok "vbusd (fake kernel) starts on a fresh tree"
else
	not_ok "vbusd (fake kernel) starts on a fresh tree" "$(tail -5 "$T/vbusd.log")"
fi
check "reconcile started the autostart mdev: active, bound to mtty" \
	test "$(devprop auto_2dhere Active BoundDriver)" = 'b true s "mtty" '
check "... and it exists in the tree" test -e "$MDEV"
"$VBUSCTL" -j monitor >"$T/monitor3.json" 2>/dev/null &
MON_PID=$!
sleep 0.5
check "uid 65534 cannot stop it" bash -c "! setpriv --reuid 65534 --regid 65534 \
	--clear-groups '$VBUSCTL' stop auto-here 2>/dev/null && test -e '$MDEV'"
check "vbusctl stop through vbusd" vbusctl stop auto-here
check "stopped: inactive, gone from the tree" \
	bash -c "test \"\$(busctl get-property org.vbus1 /org/vbus1/device/auto_2dhere \
		org.vbus1.Device Active)\" = 'b false' && test ! -e '$MDEV'"
check "vbusctl start through vbusd" vbusctl start auto-here
check "started again: active, in the tree" \
	bash -c "test \"\$(busctl get-property org.vbus1 /org/vbus1/device/auto_2dhere \
		org.vbus1.Device Active)\" = 'b true' && test -e '$MDEV'"
# One decision path: vbusd takes no shortcut on its model, libvbus answers (as with --direct).
out=$(vbusctl start auto-here 2>&1)
rc=$?
direct=$("$VBUSCTL" --root "$ROOT" start auto-here 2>&1)
if [ $rc = 1 ] && [[ $out == *"'auto-here' is already active"* ]] && [ "$out" = "$direct" ]; then
	ok "start of a started device through vbusd fails as with --root: $out"
else
	not_ok "start of a started device through vbusd fails as with --root" "bus ($rc): $out" \
		"root: $direct"
fi
check "... and uid 65534 is refused before libvbus is asked" bash -c "! setpriv --reuid 65534 \
	--regid 65534 --clear-groups '$VBUSCTL' start auto-here 2>/dev/null && test -e '$MDEV'"
check "vbusctl create through vbusd" vbusctl create c1 --kind mdev --parent mtty --type mtty-2 \
	--manual
check "created: defined and active" test "$(devprop c1 Defined Active)" = "b true b true "
check "after start and create, ListDevices is what vbusctl --root -j list --all prints" \
	list_json_equals 3 --all
check "vbusctl remove through vbusd" vbusctl remove c1
check "removed: no file, no object" bash -c "test ! -e '$ROOT/etc/vbus/devices.d/c1.json' &&
	! busctl get-property org.vbus1 /org/vbus1/device/c1 org.vbus1.Device Kind 2>/dev/null"
sleep 0.3
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null
MON_PID=
check "monitor saw auto-here bound again, and c1 added and removed" \
	python3 -c 'import json,sys
evs=[(e["event"], e["name"]) for e in map(json.loads, open(sys.argv[1]))]
for want in [("bound", "auto-here"), ("added", "c1"), ("removed", "c1")]:
    assert want in evs, (want, evs)' "$T/monitor3.json"
# A parent going away and coming back, as udev reports it.
GPU=$ROOT/sys/devices/pci0000:00/0000:00:02.0
mv "$GPU" "$T/gpu.away"
echo "remove pci 0000:00:02.0" >"$T/uevents"
sleep 0.3
check "parent removed: its mdev is marked inactive" \
	test "$(devprop gpu_2ddesktop Active)" = "b false "
check "parent removed: ListDevices follows, as --root lists it" list_json_equals 3 --all
out=$(vbusctl define late1 --kind mdev --parent 0000:00:02.0 --type i915-GVTg_V5_8 --auto 2>&1)
check "an autostart definition on an absent parent is stored, with a warning" \
	bash -c "test -f '$ROOT/etc/vbus/devices.d/late1.json' && [[ '$out' == *'not present'* ]]"
# It comes back before its mdev types are registered: the start is retried.
mv "$T/gpu.away/mdev_supported_types/i915-GVTg_V5_8" "$T/type.away"
mv "$T/gpu.away" "$GPU"
echo "add pci 0000:00:02.0" >"$T/uevents"
sleep 0.2
check "parent back without the type: not started yet" \
	test "$(devprop late1 Active)" = "b false "
mv "$T/type.away" "$GPU/mdev_supported_types/i915-GVTg_V5_8"
sleep 1.5
check "the type registered: the retry brought the definition up, bound to its driver" \
	test "$(devprop late1 Active BoundDriver)" = 'b true s "intel_vgpu_mdev" '
check "parent back: the running mdev is active again" \
	test "$(devprop gpu_2ddesktop Active)" = "b true "
echo "change mtty mtty registered" >"$T/uevents"
sleep 0.3
check "vbusd lives through the uevents" alive

# ---- a pci definition over the life of the host: uevents, restart, someone unbinding ----------
# vbusd-fake-kernel binds PCI functions as the driver core does (override, unbind, probe).
PCI=$ROOT/sys/bus/pci/devices/0000:05:00.0
pci_driver() {
	basename "$(readlink "$PCI/driver" 2>/dev/null)" 2>/dev/null
}
# pci_is DRIVER [OVERRIDE]: bound to DRIVER ("" none), driver_override OVERRIDE when given.
pci_is() {
	[ "$(pci_driver)" = "$1" ] && { [ $# -lt 2 ] || [ "$(cat "$PCI/driver_override")" = "$2" ]; }
}
# hand_bind DRIVER: the function as a person or a fresh boot leaves it (no override, bound to
# DRIVER or, empty, to nothing), without vbusd's knowledge.
hand_bind() {
	rm -f "$PCI/driver" "$ROOT"/sys/bus/pci/drivers/*/0000:05:00.0
	echo '(null)' >"$PCI/driver_override"
	if [ -n "$1" ]; then
		ln -s "$ROOT/sys/bus/pci/drivers/$1" "$PCI/driver"
		ln -s "$(realpath "$PCI")" "$ROOT/sys/bus/pci/drivers/$1/0000:05:00.0"
	fi
}
check "define nvme1 (pci, vfio, auto) through vbusd: nothing bound yet" \
	bash -c "'$VBUSCTL' define nvme1 --kind pci --parent 0000:05:00.0 --driver vfio --auto &&
		test \"\$(basename \"\$(readlink '$PCI/driver')\")\" = nvme"
echo "add pci 0000:05:00.0" >"$T/uevents"
wait_check "a udev add of 0000:05:00.0 binds nvme1 to vfio-pci" 5 pci_is vfio-pci vfio-pci
check "... and vbusd lists it active on vfio-pci" \
	test "$(devprop nvme1 Active BoundDriver)" = 'b true s "vfio-pci" '
kill -9 "$VBUSD_PID"
wait "$VBUSD_PID" 2>/dev/null
VBUSD_PID=
rm -rf "$ROOT/run/vbus"
hand_bind nvme
if start_vbusd "$VBUSD_FAKE_KERNEL"; then
	ok "vbusd restarts after kill -9 with /run/vbus gone and nvme1 back on nvme"
else
	not_ok "vbusd restarts after kill -9 with /run/vbus gone and nvme1 back on nvme"
fi
check "the restart's reconcile bound nvme1 to vfio-pci again" pci_is vfio-pci vfio-pci
# Someone unbinds it: bound again, three times; the fourth is accepted.
for i in 1 2 3; do
	hand_bind ""
	echo "unbind pci 0000:05:00.0" >"$T/uevents"
	wait_check "unbound by someone else ($i): vbusd binds vfio-pci again" 8 pci_is vfio-pci
done
hand_bind ""
echo "unbind pci 0000:05:00.0" >"$T/uevents"
sleep 3
check "unbound a fourth time within a minute: vbusd leaves it unbound" pci_is ""
check "... and says it gave up, naming nvme1 and why" \
	grep -q "Giving up on 'nvme1': unbound by someone else 4 times" "$T/vbusd.log"
check "vbusctl stop nvme1 gives the function back to nvme" \
	bash -c "'$VBUSCTL' stop nvme1 && test \"\$(basename \"\$(readlink '$PCI/driver')\")\" = nvme"
hand_bind ""
echo "unbind pci 0000:05:00.0" >"$T/uevents"
sleep 1
check "a stopped definition is not bound again when its function is unbound" pci_is ""
# At boot, before vbusd: udev's helper puts the override in place on the function's add event.
check "vbus-udev: a start:auto pci definition's override is written, the driver printed" \
	test "$("$VBUS_UDEV" --root "$ROOT" pci-override 0000:05:00.0)" = vfio-pci \
	-a "$(cat "$PCI/driver_override")" = vfio-pci
"$VBUSCTL" --root "$ROOT" define vfb --kind vf --parent 0000:03:00.0 --index 0 --driver vfio \
	--auto >/dev/null 2>&1
check "vbus-udev: a VF whose PF and index a definition names gets vfio-pci" \
	test "$("$VBUS_UDEV" --root "$ROOT" pci-override 0000:03:01.0)" = vfio-pci \
	-a "$(cat "$ROOT/sys/bus/pci/devices/0000:03:01.0/driver_override")" = vfio-pci
out=$("$VBUS_UDEV" --root "$ROOT" pci-override 0000:03:01.1)
rc=$?
check "vbus-udev: a VF only a start:manual definition names: exit 1, nothing printed or set" \
	test "$rc:$out:$(cat "$ROOT/sys/bus/pci/devices/0000:03:01.1/driver_override")" = "1::(null)"
"$VBUSCTL" --root "$ROOT" undefine vfb >/dev/null
check "vbusctl undefine nvme1" "$VBUSCTL" undefine nvme1
hand_bind nvme

kill -9 "$VBUSD_PID"
wait "$VBUSD_PID" 2>/dev/null
VBUSD_PID=
start_vbusd "$VBUSD_FAKE_KERNEL"
check "after kill -9 and restart the running mdev is adopted, not created twice" \
	bash -c "test \"\$(busctl get-property org.vbus1 /org/vbus1/device/auto_2dhere \
		org.vbus1.Device Active)\" = 'b true' && test \$(cat '$AVAIL') = $((avail_before - 1))"
kill -TERM "$VBUSD_PID"
wait "$VBUSD_PID"
rc=$?
VBUSD_PID=
check "SIGTERM stops vbusd (fake kernel) with status 0" test "$rc" = 0

finish
